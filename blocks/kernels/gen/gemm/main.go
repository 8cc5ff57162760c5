// Command gemm generates the amd64 GEMM micro-kernels of package
// nas/blocks/kernels (gemm_kernels_amd64.s and its Go prototypes in
// gemm_kernels_amd64.go) with avo.
//
// It lives in a module of its own so that avo is a dependency of the
// generator only, never of nas itself. Run it through go generate in
// blocks/kernels:
//
//	cd blocks/kernels && go generate
//
// Each micro-kernel computes one MR x NR tile of C from a packed A panel
// (k steps of MR values, alpha already applied) and a packed B panel (k steps
// of NR values):
//
//	C[i*ldc+j] = sum_p A[p*MR+i]*B[p*NR+j] + beta*C[i*ldc+j]
//
// and does not read C when beta is zero (C may hold NaN then).
package main

import (
	"fmt"
	"strings"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

const (
	signature         = "func(k int, a, b, c []float32, ldc int, beta float32)"
	stridedSignature  = "func(k int, a []float32, rsa, csa int, b, c []float32, ldc int, alpha, beta float32)"
	bStridedSignature = "func(k int, a, b []float32, ldb int, c []float32, ldc int, beta float32)"
	// The epilogue variants also take the bias of the tile's rows (mr
	// values) and a clamp, applied before C is stored.
	epiSignature         = "func(k int, a, b, c []float32, ldc int, beta float32, bias []float32, lo, hi float32)"
	bStridedEpiSignature = "func(k int, a, b []float32, ldb int, c []float32, ldc int, beta float32, bias []float32, lo, hi float32)"
)

func main() {
	ConstraintExpr("!noasm")
	// The 12x32 and 14x32 AVX-512 kernels and the 6x16 AVX2 one, with
	// narrower ones for the last rows of C.
	// Each also comes half as wide (one vector per row) for the last
	// columns.
	for _, mr := range []int{4, 8, 12, 14} {
		for cols := 2; cols >= 1; cols-- {
			kernel(fmt.Sprintf("sgemmKernel%dx%dAVX512", mr, 16*cols), mr, cols, 64, zmm, packedAB)
			kernel(fmt.Sprintf("sgemmKernel%dx%dAVX512Strided", mr, 16*cols), mr, cols, 64, zmm, stridedA)
			kernel(fmt.Sprintf("sgemmKernel%dx%dAVX512BStrided", mr, 16*cols), mr, cols, 64, zmm, stridedB)
			kernel(fmt.Sprintf("sgemmKernel%dx%dAVX512Epi", mr, 16*cols), mr, cols, 64, zmm, packedABEpi)
			kernel(fmt.Sprintf("sgemmKernel%dx%dAVX512BStridedEpi", mr, 16*cols), mr, cols, 64, zmm, stridedBEpi)
		}
		kernel(fmt.Sprintf("sgemmKernel%dx32AVX512BStridedPanels", mr), mr, 2, 64, zmm, stridedB|panels)
		kernel(fmt.Sprintf("sgemmKernel%dx32AVX512BStridedEpiPanels", mr), mr, 2, 64, zmm, stridedBEpi|panels)
	}
	for _, mr := range []int{2, 4, 6} {
		for cols := 2; cols >= 1; cols-- {
			kernel(fmt.Sprintf("sgemmKernel%dx%dAVX2", mr, 8*cols), mr, cols, 32, ymm, packedAB)
			kernel(fmt.Sprintf("sgemmKernel%dx%dAVX2Strided", mr, 8*cols), mr, cols, 32, ymm, stridedA)
			kernel(fmt.Sprintf("sgemmKernel%dx%dAVX2BStrided", mr, 8*cols), mr, cols, 32, ymm, stridedB)
			kernel(fmt.Sprintf("sgemmKernel%dx%dAVX2Epi", mr, 8*cols), mr, cols, 32, ymm, packedABEpi)
			kernel(fmt.Sprintf("sgemmKernel%dx%dAVX2BStridedEpi", mr, 8*cols), mr, cols, 32, ymm, stridedBEpi)
		}
		kernel(fmt.Sprintf("sgemmKernel%dx16AVX2BStridedPanels", mr), mr, 2, 32, ymm, stridedB|panels)
		kernel(fmt.Sprintf("sgemmKernel%dx16AVX2BStridedEpiPanels", mr), mr, 2, 32, ymm, stridedBEpi|panels)
	}
	// The AVX2 5x16 kernel fills the transposed form's rows (X' packed
	// by packATrans5) where a multiple of 6 would leave a short panel:
	// its ten accumulators still hide the FMA latency, so it runs nearly
	// as fast per row as the 6x16, where the 2x16 edge waits on it.
	for cols := 2; cols >= 1; cols-- {
		kernel(fmt.Sprintf("sgemmKernel5x%dAVX2", 8*cols), 5, cols, 32, ymm, packedAB)
	}
	for _, mr := range []int{2, 4, 6, 8, 12, 14} {
		packANoTrans(mr)
		packATrans(mr)
	}
	packATrans(5)
	for _, nr := range []int{8, 16, 32} {
		packBTrans(nr)
		packBNoTrans(nr)
	}
	for segments := 1; segments <= 4; segments++ {
		packBOffsets16(segments)
	}
	fmaPeak("fmaPeakAVX512", 24, zmm)
	fmaPeak("fmaPeakAVX2", 12, ymm)
	Generate()
}

// kernelMode says how a micro-kernel reads its operands.
type kernelMode int

const (
	packedAB    kernelMode = iota // A and B packed
	stridedA                      // A as stored, B packed
	stridedB                      // A packed, B as stored
	packedABEpi                   // packedAB with the epilogue fused into the store
	stridedBEpi                   // stridedB with the epilogue fused into the store

	// panels, or-ed into stridedB or stridedBEpi, makes the kernel loop
	// over np tiles side by side (see kernel).
	panels kernelMode = 1 << 4
)

func zmm(i int) VecPhysical {
	return []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15, Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}[i]
}
func ymm(i int) VecPhysical {
	return []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}[i]
}

// kernel emits one micro-kernel with mr rows and cols vectors of vecBytes
// bytes per row, using the vector registers that vec numbers: the
// accumulators first, then the cols B vectors, then the rest of the register
// file (16 for VEX, 32 for EVEX) rotates through broadcasts of A.
//
// With packedAB, A is a packed panel (k steps of mr values, alpha
// applied). With stridedA, A is read where it is stored, element (i, p)
// at a[i*rsa+p*csa], and the kernel applies alpha itself: C = alpha*A*B +
// beta*C. That saves packing A when each panel of A would be used only
// once or twice. With stridedB, A is packed and B is read where it is
// stored, row p of the panel at b[p*ldb:], which saves packing B when a
// panel of it would be used by few panels of A.
//
// The Epi modes are packedAB and stridedB that also finish C as an
// inference plan's epilogue does (kernels.Epilogue with a bias and a ReLU,
// ReLU6 or no activation, no separate residual): before the tile is
// stored, each row gets its bias and the clamp [lo, hi], in the
// instructions and order of biasClampAVX2 (gen/plan), so that C holds the
// bits the product followed by that pass would give.
//
// With panels (stridedB only), the kernel computes np tiles side by side
// in one call: tile t from the same panel of A, B's columns nr*t on (as
// stored) and the tile of C nr*t columns on. One call then does what np
// calls did, without the call's cost and the Go loop around it, which
// matter when k is small. The same loop over packed panels of B ran
// slower than a call per tile on Zen 3 for k of 16 to 32
// (BenchmarkSgemmPackedPanels), so only B as stored has it.
func kernel(name string, mr, cols, vecBytes int, vec func(int) VecPhysical, mode kernelMode) {
	multi := mode&panels != 0
	mode &^= panels
	if multi && mode != stridedB && mode != stridedBEpi {
		panic(name + ": panels need B as stored")
	}
	// TEXT with np appended to the signature for panels.
	TEXT := func(name string, attr attr.Attribute, sig string) {
		if multi {
			sig = sig[:len(sig)-1] + ", np int)"
		}
		build.TEXT(name, attr, sig)
	}
	Doc := func(line string) {
		if multi {
			line = strings.Replace(line, "one", "np", 1)
			line = strings.Replace(line, "tile of C", "tiles of C side by side", 1)
		}
		build.Doc(line)
	}
	epi := mode == packedABEpi || mode == stridedBEpi
	if mode == packedABEpi {
		mode = packedAB
	}
	if mode == stridedBEpi {
		mode = stridedB
	}
	nregs := 16
	if vecBytes == 64 {
		nregs = 32
	}
	nr := cols * vecBytes / 4
	strided := mode == stridedA
	switch mode {
	case stridedA:
		TEXT(name, NOSPLIT, stridedSignature)
		Pragma("noescape")
		Doc(fmt.Sprintf("%s computes one %dx%d tile of C from A as stored and a packed panel of B.", name, mr, nr))
	case stridedB:
		if epi {
			TEXT(name, NOSPLIT, bStridedEpiSignature)
			Pragma("noescape")
			Doc(fmt.Sprintf("%s computes one %dx%d tile of C from a packed panel of A and B as stored, then adds each row's bias and clamps to [lo, hi].", name, mr, nr))
			break
		}
		TEXT(name, NOSPLIT, bStridedSignature)
		Pragma("noescape")
		Doc(fmt.Sprintf("%s computes one %dx%d tile of C from a packed panel of A and B as stored.", name, mr, nr))
	default:
		if epi {
			TEXT(name, NOSPLIT, epiSignature)
			Pragma("noescape")
			Doc(fmt.Sprintf("%s computes one %dx%d tile of C from packed panels of A and B, then adds each row's bias and clamps to [lo, hi].", name, mr, nr))
			break
		}
		TEXT(name, NOSPLIT, signature)
		Pragma("noescape")
		Doc(fmt.Sprintf("%s computes one %dx%d tile of C from packed panels of A and B.", name, mr, nr))
	}
	k := Load(Param("k"), GP64())
	a := Load(Param("a").Base(), GP64())
	b := Load(Param("b").Base(), GP64())
	c := Load(Param("c").Base(), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(Imm(2), ldc)
	var ldb Register
	if mode == stridedB {
		ldb = Load(Param("ldb"), GP64())
		SHLQ(Imm(2), ldb)
	}

	// aAddr(u, i) addresses A's row i at unrolled step u. Packed, that is a
	// displacement from a; strided, row i is at bases[i/3] + (i%3)*rsa and
	// the bases move by csa each step (u is then always 0).
	var aAddr func(u, i int) Mem
	var advanceA func(steps int)
	if strided {
		rsa := Load(Param("rsa"), GP64())
		SHLQ(Imm(2), rsa)
		csa := Load(Param("csa"), GP64())
		SHLQ(Imm(2), csa)
		bases := []Register{a}
		for len(bases)*3 < mr {
			next := GP64()
			LEAQ(Mem{Base: bases[len(bases)-1], Index: rsa, Scale: 2}, next)
			ADDQ(rsa, next)
			bases = append(bases, next)
		}
		aAddr = func(_, i int) Mem {
			m := Mem{Base: bases[i/3]}
			if i%3 > 0 {
				m.Index, m.Scale = rsa, uint8(i%3)
			}
			return m
		}
		advanceA = func(int) {
			for _, base := range bases {
				ADDQ(csa, base)
			}
		}
	} else {
		aAddr = func(u, i int) Mem { return Mem{Base: a, Disp: 4 * (u*mr + i)} }
		advanceA = func(steps int) { ADDQ(U32(uint32(steps*mr*4)), a) }
	}

	acc := func(i, j int) VecPhysical { return vec(i*cols + j) }
	bv := func(j int) VecPhysical { return vec(mr*cols + j) }
	nbc := nregs - mr*cols - cols
	if nbc < 1 {
		panic(fmt.Sprintf("%s: no register left for broadcasts", name))
	}
	bc := func(i int) VecPhysical { return vec(mr*cols + cols + i%nbc) }

	// For panels: the values every tile starts from, and the tile count.
	var np, kFirst, aFirst, cNext, bNext Register
	if multi {
		np = Load(Param("np"), GP64())
		kFirst, aFirst, cNext = GP64(), GP64(), GP64()
		MOVQ(k, kFirst)
		MOVQ(a, aFirst)
		MOVQ(c, cNext)
		if mode == stridedB {
			bNext = GP64()
			MOVQ(b, bNext)
		}
		TESTQ(np, np)
		JZ(LabelRef(name + "_done"))
		Label(name + "_panel")
		MOVQ(kFirst, k)
		MOVQ(aFirst, a)
		MOVQ(cNext, c)
		if mode == stridedB {
			MOVQ(bNext, b)
		}
	}

	Comment("Prefetch the C tile.")
	row := GP64()
	MOVQ(c, row)
	for i := 0; i < mr; i++ {
		PREFETCHT0(Mem{Base: row})
		if cols*vecBytes > 64 {
			PREFETCHT0(Mem{Base: row, Disp: cols*vecBytes - 4})
		}
		if i < mr-1 {
			ADDQ(ldc, row)
		}
	}

	Comment("Zero the accumulators.")
	for i := 0; i < mr; i++ {
		for j := 0; j < cols; j++ {
			VXORPS(acc(i, j), acc(i, j), acc(i, j))
		}
	}

	step := func(u int) {
		for j := 0; j < cols; j++ {
			if mode == stridedB {
				VMOVUPS(Mem{Base: b, Disp: j * vecBytes}, bv(j))
			} else {
				VMOVUPS(Mem{Base: b, Disp: (u*cols + j) * vecBytes}, bv(j))
			}
		}
		if mode == stridedB {
			ADDQ(ldb, b)
		}
		for i := 0; i < mr; i++ {
			VBROADCASTSS(aAddr(u, i), bc(i))
			for j := 0; j < cols; j++ {
				VFMADD231PS(bv(j), bc(i), acc(i, j))
			}
		}
		if strided {
			advanceA(1)
		}
	}

	const unroll = 4
	Comment(fmt.Sprintf("Main loop, unrolled %d times.", unroll))
	n := GP64()
	MOVQ(k, n)
	SHRQ(Imm(2), n)
	JZ(LabelRef(name + "_tail"))
	Label(name + "_loop")
	for u := 0; u < unroll; u++ {
		step(u)
	}
	if !strided {
		advanceA(unroll)
	}
	if mode != stridedB {
		ADDQ(U32(uint32(unroll*nr*4)), b)
	}
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))

	Label(name + "_tail")
	ANDQ(Imm(unroll-1), k)
	JZ(LabelRef(name + "_store"))
	Label(name + "_tailloop")
	step(0)
	if !strided {
		advanceA(1)
	}
	if mode != stridedB {
		ADDQ(U32(uint32(nr*4)), b)
	}
	DECQ(k)
	JNZ(LabelRef(name + "_tailloop"))

	Label(name + "_store")
	if strided {
		alphaArg, err := Param("alpha").Resolve()
		if err != nil {
			panic(err)
		}
		alpha := bv(1 % cols)
		VBROADCASTSS(alphaArg.Addr, alpha)
		for i := 0; i < mr; i++ {
			for j := 0; j < cols; j++ {
				VMULPS(alpha, acc(i, j), acc(i, j))
			}
		}
	}
	betaArg, err := Param("beta").Resolve()
	if err != nil {
		panic(err)
	}
	// finish applies the fused epilogue to row i's accumulators: bias,
	// then max with lo, then min with hi, as biasClampAVX2 does.
	finish := func(int) {}
	if epi {
		if nregs-mr*cols < 4 {
			panic(fmt.Sprintf("%s: no registers left for the epilogue", name))
		}
		bias := Load(Param("bias").Base(), GP64())
		bReg, lo, hi := vec(mr*cols+1), vec(mr*cols+2), vec(mr*cols+3)
		for _, p := range []struct {
			name string
			reg  VecPhysical
		}{{"lo", lo}, {"hi", hi}} {
			arg, err := Param(p.name).Resolve()
			if err != nil {
				panic(err)
			}
			VBROADCASTSS(arg.Addr, p.reg)
		}
		finish = func(i int) {
			VBROADCASTSS(Mem{Base: bias, Disp: 4 * i}, bReg)
			for j := 0; j < cols; j++ {
				VADDPS(acc(i, j), bReg, acc(i, j))
				VMAXPS(lo, acc(i, j), acc(i, j))
				VMINPS(hi, acc(i, j), acc(i, j))
			}
		}
	}
	bits := GP32()
	MOVL(betaArg.Addr, bits)
	ANDL(U32(0x7fffffff), bits)
	JZ(LabelRef(name + "_overwrite"))

	Comment("beta != 0: C = acc + beta*C.")
	beta := bv(0)
	VBROADCASTSS(betaArg.Addr, beta)
	for i := 0; i < mr; i++ {
		for j := 0; j < cols; j++ {
			VFMADD231PS(Mem{Base: c, Disp: j * vecBytes}, beta, acc(i, j))
			if !epi {
				VMOVUPS(acc(i, j), Mem{Base: c, Disp: j * vecBytes})
			}
		}
		if epi {
			finish(i)
			for j := 0; j < cols; j++ {
				VMOVUPS(acc(i, j), Mem{Base: c, Disp: j * vecBytes})
			}
		}
		if i < mr-1 {
			ADDQ(ldc, c)
		}
	}
	if multi {
		JMP(LabelRef(name + "_next"))
	} else {
		VZEROUPPER()
		RET()
	}

	Label(name + "_overwrite")
	Comment("beta == 0: C = acc, C is not read.")
	for i := 0; i < mr; i++ {
		finish(i)
		for j := 0; j < cols; j++ {
			VMOVUPS(acc(i, j), Mem{Base: c, Disp: j * vecBytes})
		}
		if i < mr-1 {
			ADDQ(ldc, c)
		}
	}
	if multi {
		Label(name + "_next")
		ADDQ(U32(uint32(nr*4)), cNext)
		if mode == stridedB {
			ADDQ(U32(uint32(nr*4)), bNext)
		}
		DECQ(np)
		JNZ(LabelRef(name + "_panel"))
		Label(name + "_done")
	}
	VZEROUPPER()
	RET()
}

// fmaPeak emits a loop of n iterations of chains independent FMAs on vector
// registers and nothing else: the benchmarks time it to measure the CPU's
// FMA peak rather than assume one.
func fmaPeak(name string, chains int, vec func(int) VecPhysical) {
	TEXT(name, NOSPLIT, "func(n int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s runs n iterations of %d independent FMAs, for measuring peak FLOP/s.", name, chains))
	n := Load(Param("n"), GP64())
	x, y := vec(chains), vec(chains+1)
	for i := 0; i < chains+2; i++ {
		VXORPS(vec(i), vec(i), vec(i))
	}
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	Label(name + "_loop")
	for i := 0; i < chains; i++ {
		VFMADD231PS(x, y, vec(i))
	}
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

const packSignature = "func(k int, a []float32, lda int, alpha float32, dst []float32)"

// packANoTrans emits packANoTrans<mr>: for p < k and i < mr it sets
// dst[p*mr+i] = alpha*a[i*lda+p], one full panel of mr rows of a row-major
// A. It needs AVX.
func packANoTrans(mr int) {
	name := fmt.Sprintf("packANoTrans%d", mr)
	TEXT(name, NOSPLIT, packSignature)
	Pragma("noescape")
	Doc(fmt.Sprintf("%s packs %d rows of A, k columns deep, times alpha, as k steps of %d values.", name, mr, mr))
	k := Load(Param("k"), GP64())
	a := Load(Param("a").Base(), GP64())
	lda := Load(Param("lda"), GP64())
	SHLQ(Imm(2), lda)
	dst := Load(Param("dst").Base(), GP64())
	alphaArg, err := Param("alpha").Resolve()
	if err != nil {
		panic(err)
	}
	alpha := X15
	VBROADCASTSS(alphaArg.Addr, alpha)
	// Row i is at bases[i/3] + (i%3)*lda, bases[j] = a + 3*j*lda.
	bases := []Register{a}
	for len(bases)*3 < mr {
		next := GP64()
		LEAQ(Mem{Base: bases[len(bases)-1], Index: lda, Scale: 2}, next)
		ADDQ(lda, next)
		bases = append(bases, next)
	}
	TESTQ(k, k)
	JZ(LabelRef(name + "_done"))
	Label(name + "_loop")
	for i := 0; i < mr; i++ {
		src := Mem{Base: bases[i/3]}
		switch i % 3 {
		case 1:
			src = Mem{Base: bases[i/3], Index: lda, Scale: 1}
		case 2:
			src = Mem{Base: bases[i/3], Index: lda, Scale: 2}
		}
		x := []VecPhysical{X0, X1, X2, X3, X4, X5, X6, X7, X8, X9, X10, X11, X12, X13}[i%14]
		VMULSS(src, alpha, x)
		VMOVSS(x, Mem{Base: dst, Disp: 4 * i})
	}
	for _, b := range bases {
		ADDQ(Imm(4), b)
	}
	ADDQ(U32(uint32(4*mr)), dst)
	DECQ(k)
	JNZ(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// packATrans emits packATrans<mr>: for p < k and i < mr it sets
// dst[p*mr+i] = alpha*a[p*lda+i], one full panel of mr columns of a
// row-major A^T. It needs AVX.
func packATrans(mr int) {
	name := fmt.Sprintf("packATrans%d", mr)
	TEXT(name, NOSPLIT, packSignature)
	Pragma("noescape")
	Doc(fmt.Sprintf("%s packs %d columns of a stored A^T, k rows deep, times alpha, as k steps of %d values.", name, mr, mr))
	k := Load(Param("k"), GP64())
	a := Load(Param("a").Base(), GP64())
	lda := Load(Param("lda"), GP64())
	SHLQ(Imm(2), lda)
	dst := Load(Param("dst").Base(), GP64())
	alphaArg, err := Param("alpha").Resolve()
	if err != nil {
		panic(err)
	}
	VBROADCASTSS(alphaArg.Addr, Y15)
	TESTQ(k, k)
	JZ(LabelRef(name + "_done"))
	Label(name + "_loop")
	off := 0
	for i, left := 0, mr; left > 0; i++ {
		m := Mem{Base: a, Disp: 4 * off}
		d := Mem{Base: dst, Disp: 4 * off}
		switch {
		case left >= 8:
			VMULPS(m, Y15, []VecPhysical{Y0, Y1, Y2}[i%3])
			VMOVUPS([]VecPhysical{Y0, Y1, Y2}[i%3], d)
			off, left = off+8, left-8
		case left >= 4:
			VMULPS(m, X15, X3)
			VMOVUPS(X3, d)
			off, left = off+4, left-4
		case left >= 2:
			VMOVSD(m, X4)
			VMULPS(X4, X15, X4)
			VMOVSD(X4, d)
			off, left = off+2, left-2
		default:
			VMULSS(m, X15, X5)
			VMOVSS(X5, d)
			off, left = off+1, left-1
		}
	}
	ADDQ(lda, a)
	ADDQ(U32(uint32(4*mr)), dst)
	DECQ(k)
	JNZ(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// packBTrans emits packBTrans<nr>: for j < nr and p < k it sets
// dst[p*nr+j] = b[j*ldb+p], one full nr-wide panel of a stored B^T. It
// transposes 8x8 blocks in registers (8 rows of B^T in, 8 steps of the panel
// out), and copies the last k%8 steps one element at a time. It needs AVX.
func packBTrans(nr int) {
	name := fmt.Sprintf("packBTrans%d", nr)
	TEXT(name, NOSPLIT, "func(k int, b []float32, ldb int, dst []float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s packs %d rows of a stored B^T, k deep, as k steps of %d values.", name, nr, nr))
	k := Load(Param("k"), GP64())
	group := Load(Param("b").Base(), GP64())
	ldb := Load(Param("ldb"), GP64())
	SHLQ(Imm(2), ldb)
	ldb3 := GP64()
	LEAQ(Mem{Base: ldb, Index: ldb, Scale: 2}, ldb3)
	col := Load(Param("dst").Base(), GP64())
	g, r0, r4, dst, n := GP64(), GP64(), GP64(), GP64(), GP64()

	// rowAddr addresses row i (0..7) of the current group at displacement d.
	rowAddr := func(i, d int) Mem {
		base := r0
		if i >= 4 {
			base = r4
		}
		switch i % 4 {
		case 1:
			return Mem{Base: base, Index: ldb, Scale: 1, Disp: d}
		case 2:
			return Mem{Base: base, Index: ldb, Scale: 2, Disp: d}
		case 3:
			return Mem{Base: base, Index: ldb3, Scale: 1, Disp: d}
		}
		return Mem{Base: base, Disp: d}
	}
	y := []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}

	MOVQ(U32(uint32(nr/8)), g)
	Label(name + "_group")
	MOVQ(group, r0)
	LEAQ(Mem{Base: group, Index: ldb, Scale: 4}, r4)
	MOVQ(col, dst)
	MOVQ(k, n)
	SHRQ(Imm(3), n)
	JZ(LabelRef(name + "_tail"))
	Label(name + "_loop")
	for i := 0; i < 8; i++ {
		VMOVUPS(rowAddr(i, 0), y[i])
	}
	for i := 0; i < 8; i += 2 {
		VUNPCKLPS(y[i+1], y[i], y[8+i])
		VUNPCKHPS(y[i+1], y[i], y[8+i+1])
	}
	// y[8+2q] holds rows 2q,2q+1 at steps 0,1 | 4,5; y[8+2q+1] at 2,3 | 6,7.
	for h := 0; h < 2; h++ { // rows 0-3, rows 4-7
		t := 8 + 4*h
		VSHUFPS(Imm(0x44), y[t+2], y[t], y[4*h+0])   // step 0 | 4
		VSHUFPS(Imm(0xEE), y[t+2], y[t], y[4*h+1])   // step 1 | 5
		VSHUFPS(Imm(0x44), y[t+3], y[t+1], y[4*h+2]) // step 2 | 6
		VSHUFPS(Imm(0xEE), y[t+3], y[t+1], y[4*h+3]) // step 3 | 7
	}
	for q := 0; q < 4; q++ {
		VPERM2F128(Imm(0x20), y[4+q], y[q], y[8+q])   // step q
		VPERM2F128(Imm(0x31), y[4+q], y[q], y[8+4+q]) // step q+4
	}
	for u := 0; u < 8; u++ {
		VMOVUPS(y[8+u], Mem{Base: dst, Disp: 4 * nr * u})
	}
	ADDQ(Imm(32), r0)
	ADDQ(Imm(32), r4)
	ADDQ(U32(uint32(4*nr*8)), dst)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))

	Label(name + "_tail")
	MOVQ(k, n)
	ANDQ(Imm(7), n)
	JZ(LabelRef(name + "_next"))
	Label(name + "_tailloop")
	for i := 0; i < 8; i++ {
		VMOVSS(rowAddr(i, 0), X0)
		VMOVSS(X0, Mem{Base: dst, Disp: 4 * i})
	}
	ADDQ(Imm(4), r0)
	ADDQ(Imm(4), r4)
	ADDQ(U32(uint32(4*nr)), dst)
	DECQ(n)
	JNZ(LabelRef(name + "_tailloop"))

	Label(name + "_next")
	LEAQ(Mem{Base: group, Index: ldb, Scale: 8}, group)
	ADDQ(Imm(32), col)
	DECQ(g)
	JNZ(LabelRef(name + "_group"))
	VZEROUPPER()
	RET()
}

// packBNoTrans emits packBNoTrans<nr>: for p < k it copies the nr values
// b[p*ldb:p*ldb+nr] to dst[p*nr:], one full nr-wide panel of a row-major B.
// It needs AVX.
func packBNoTrans(nr int) {
	name := fmt.Sprintf("packBNoTrans%d", nr)
	TEXT(name, NOSPLIT, "func(k int, b []float32, ldb int, dst []float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s packs %d columns of a row-major B, k deep, as k steps of %d values.", name, nr, nr))
	k := Load(Param("k"), GP64())
	src := Load(Param("b").Base(), GP64())
	ldb := Load(Param("ldb"), GP64())
	SHLQ(Imm(2), ldb)
	dst := Load(Param("dst").Base(), GP64())
	y := []VecPhysical{Y0, Y1, Y2, Y3}
	TESTQ(k, k)
	JZ(LabelRef(name + "_done"))
	Label(name + "_loop")
	for v := 0; v < nr/8; v++ {
		VMOVUPS(Mem{Base: src, Disp: 32 * v}, y[v])
	}
	for v := 0; v < nr/8; v++ {
		VMOVUPS(y[v], Mem{Base: dst, Disp: 32 * v})
	}
	ADDQ(ldb, src)
	ADDQ(U32(uint32(4*nr)), dst)
	DECQ(k)
	JNZ(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// packBOffsets16 emits the packer of 16 columns of a panel of B =
// im2col(x) at stride 1 read straight from x's zero-padded planes
// (kernels.ImplicitB) for columns that lie in segments output rows: row p
// of the panel is x[bases[0]+offs[p]:][:16], its lanes from mask s-1 on
// (the lanes set in masks[16*(s-1):][:16], all bits) replaced by
// x[bases[s]+offs[p]:][:16]'s, segment s from the next output row. Rows go
// ldd floats apart in dst: 16 for a panel of 16 columns, 32 for either
// half of a panel of 32.
func packBOffsets16(segments int) {
	name := fmt.Sprintf("packBOffsets16S%d", segments)
	TEXT(name, NOSPLIT, "func(k int, x []float32, bases []int, offs []int32, masks []uint32, dst []float32, ldd int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets dst[ldd*p+j] = x[bases[s]+offs[p]+j] for p < k and j < 16, s the last of the %d segments whose mask (masks[16*(s-1)+j], for s > 0) is set.", name, segments))
	k := Load(Param("k"), GP64())
	x := Load(Param("x").Base(), GP64())
	bases := Load(Param("bases").Base(), GP64())
	masks := Load(Param("masks").Base(), GP64())
	src := make([]GPVirtual, segments)
	for i := range src {
		src[i] = GP64()
		MOVQ(Mem{Base: bases, Disp: 8 * i}, src[i])
		LEAQ(Mem{Base: x, Index: src[i], Scale: 4}, src[i])
	}
	// Registers: Y0, Y1 the row, Y2, Y3 a later segment's, Y4 on the masks.
	mask := func(s, half int) VecPhysical { return ymm(4 + 2*(s-1) + half) }
	for sg := 1; sg < segments; sg++ {
		VMOVUPS(Mem{Base: masks, Disp: 64 * (sg - 1)}, mask(sg, 0))
		VMOVUPS(Mem{Base: masks, Disp: 64*(sg-1) + 32}, mask(sg, 1))
	}
	offs := Load(Param("offs").Base(), GP64())
	dst := Load(Param("dst").Base(), GP64())
	ldd := Load(Param("ldd"), GP64())
	SHLQ(Imm(2), ldd)
	o := GP64()
	TESTQ(k, k)
	JZ(LabelRef(name + "_done"))
	Label(name + "_loop")
	MOVLQSX(Mem{Base: offs}, o)
	VMOVUPS(Mem{Base: src[0], Index: o, Scale: 4}, Y0)
	VMOVUPS(Mem{Base: src[0], Index: o, Scale: 4, Disp: 32}, Y1)
	for sg := 1; sg < segments; sg++ {
		VMOVUPS(Mem{Base: src[sg], Index: o, Scale: 4}, Y2)
		VMOVUPS(Mem{Base: src[sg], Index: o, Scale: 4, Disp: 32}, Y3)
		VBLENDVPS(mask(sg, 0), Y2, Y0, Y0)
		VBLENDVPS(mask(sg, 1), Y3, Y1, Y1)
	}
	VMOVUPS(Y0, Mem{Base: dst})
	VMOVUPS(Y1, Mem{Base: dst, Disp: 32})
	ADDQ(Imm(4), offs)
	ADDQ(ldd, dst)
	DECQ(k)
	JNZ(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

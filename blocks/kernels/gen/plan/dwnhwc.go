package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The channels-last depthwise kernels: eight channels of a depthwise
// convolution at once, one channel per lane. dwPack8 moves eight input
// planes into a zero-padded plane of eight-channel positions, dwNHWC8
// computes the output positions from it (one vector per position: every
// lane does useful work however narrow the plane), and dwUnpack8 moves
// them back into eight output planes. This does away with the per-channel
// costs of the row kernels (a padded copy, calls per row, a partly empty
// last vector per row), which on Zen outweigh the arithmetic on every plane
// of the ImageNet networks (7x7 to 112x112).

// transpose8 transposes the 8x8 block in rows (rows[i] lane j is element
// (i, j)) and returns the columns.
func transpose8(rows []VecVirtual) []VecVirtual {
	t := make([]VecVirtual, 8)
	for i := 0; i < 8; i += 2 {
		t[i], t[i+1] = YMM(), YMM()
		VUNPCKLPS(rows[i+1], rows[i], t[i])   // r0[0] r1[0] r0[1] r1[1] | r0[4] r1[4] r0[5] r1[5]
		VUNPCKHPS(rows[i+1], rows[i], t[i+1]) // r0[2] r1[2] r0[3] r1[3] | r0[6] r1[6] r0[7] r1[7]
	}
	s := make([]VecVirtual, 8)
	for h := 0; h < 8; h += 4 {
		for i := 0; i < 2; i++ {
			a, b := t[h+i], t[h+2+i]
			s[h+2*i], s[h+2*i+1] = YMM(), YMM()
			VSHUFPS(U8(0x44), b, a, s[h+2*i])   // column 2i of four rows | column 2i+4
			VSHUFPS(U8(0xEE), b, a, s[h+2*i+1]) // column 2i+1 | column 2i+5
		}
	}
	cols := make([]VecVirtual, 8)
	for j := 0; j < 4; j++ {
		cols[j], cols[j+4] = YMM(), YMM()
		VPERM2F128(U8(0x20), s[4+j], s[j], cols[j])
		VPERM2F128(U8(0x31), s[4+j], s[j], cols[j+4])
	}
	return cols
}

// planePointers returns three base registers and a stride register that
// address eight planes st bytes apart: plane i is at bases and index
// (see planeMem).
type planePointers struct{ a, b, c, st GPVirtual }

func newPlanePointers(base Register, stride Register) planePointers {
	p := planePointers{a: GP64(), b: GP64(), c: GP64(), st: GP64()}
	MOVQ(stride, p.st)
	SHLQ(U8(2), p.st) // bytes
	MOVQ(base, p.a)
	LEAQ(Mem{Base: p.a, Index: p.st, Scale: 2}, p.b)
	ADDQ(p.st, p.b) // a + 3 st
	LEAQ(Mem{Base: p.b, Index: p.st, Scale: 2}, p.c)
	ADDQ(p.st, p.c) // a + 6 st
	return p
}

// mem addresses plane i at byte offset disp.
func (p planePointers) mem(i, disp int) Mem {
	switch i {
	case 0:
		return Mem{Base: p.a, Disp: disp}
	case 1:
		return Mem{Base: p.a, Index: p.st, Scale: 1, Disp: disp}
	case 2:
		return Mem{Base: p.a, Index: p.st, Scale: 2, Disp: disp}
	case 3:
		return Mem{Base: p.b, Disp: disp}
	case 4:
		return Mem{Base: p.a, Index: p.st, Scale: 4, Disp: disp}
	case 5:
		return Mem{Base: p.b, Index: p.st, Scale: 2, Disp: disp}
	case 6:
		return Mem{Base: p.c, Disp: disp}
	}
	return Mem{Base: p.c, Index: p.st, Scale: 1, Disp: disp}
}

func (p planePointers) advance(bytes int) {
	ADDQ(U32(bytes), p.a)
	ADDQ(U32(bytes), p.b)
	ADDQ(U32(bytes), p.c)
}

func dwPack8() {
	TEXT("dwPack8AVX2", NOSPLIT, "func(p, x []float32, plane int, offs []int32)")
	Pragma("noescape")
	Doc("dwPack8AVX2 sets p[8*offs[j]+c] = x[c*plane+j] for c < 8 and j < len(offs)&^7.")
	pp := Load(Param("p").Base(), GP64())
	planes := newPlanePointers(Load(Param("x").Base(), GP64()), Load(Param("plane"), GP64()))
	offs := Load(Param("offs").Base(), GP64())
	n := Load(Param("offs").Len(), GP64())
	SHRQ(U8(3), n)
	TESTQ(n, n)
	JZ(LabelRef("done"))
	t := GP64()
	Label("block")
	rows := make([]VecVirtual, 8)
	for i := range rows {
		rows[i] = YMM()
		VMOVUPS(planes.mem(i, 0), rows[i])
	}
	cols := transpose8(rows)
	for j, c := range cols {
		MOVLQSX(Mem{Base: offs, Disp: 4 * j}, t)
		SHLQ(U8(5), t)
		VMOVUPS(c, Mem{Base: pp, Index: t, Scale: 1})
	}
	planes.advance(32)
	ADDQ(U8(32), offs)
	DECQ(n)
	JNZ(LabelRef("block"))
	Label("done")
	VZEROUPPER()
	RET()
}

func dwUnpack8() {
	TEXT("dwUnpack8AVX2", NOSPLIT, "func(y []float32, plane int, o []float32)")
	Pragma("noescape")
	Doc("dwUnpack8AVX2 sets y[c*plane+j] = o[8*j+c] for c < 8 and j < len(o)/64*8.")
	planes := newPlanePointers(Load(Param("y").Base(), GP64()), Load(Param("plane"), GP64()))
	o := Load(Param("o").Base(), GP64())
	n := Load(Param("o").Len(), GP64())
	SHRQ(U8(6), n)
	TESTQ(n, n)
	JZ(LabelRef("done"))
	Label("block")
	rows := make([]VecVirtual, 8)
	for i := range rows {
		rows[i] = YMM()
		VMOVUPS(Mem{Base: o, Disp: 32 * i}, rows[i])
	}
	cols := transpose8(rows)
	for c, v := range cols {
		VMOVUPS(v, planes.mem(c, 0))
	}
	planes.advance(32)
	ADDQ(U32(256), o)
	DECQ(n)
	JNZ(LabelRef("block"))
	Label("done")
	VZEROUPPER()
	RET()
}

// transposeRows8 emits the 8-row transpose of the transposed GEMM form
// (gemm_t.go): eight rows of the destination from eight columns of the
// source, eight values of each at a time.
//
// With epi it emits transposeRows8EpiAVX2, which also finishes each
// destination row as the GEMM epilogue's pass would (a bias per row, then
// the clamp [lo, hi]), in biasClampAVX2's instructions and order, so the
// transposed form needs no pass over its output after the transpose.
func transposeRows8(epi bool) {
	if epi {
		TEXT("transposeRows8EpiAVX2", NOSPLIT, "func(dst []float32, ldd int, src []float32, lds int, n int, bias []float32, lo, hi float32)")
		Pragma("noescape")
		Doc("transposeRows8EpiAVX2 sets dst[c*ldd+j] = min(max(src[j*lds+c]+bias[c], lo), hi) for c < 8 and j < n&^7.")
	} else {
		TEXT("transposeRows8AVX2", NOSPLIT, "func(dst []float32, ldd int, src []float32, lds int, n int)")
		Pragma("noescape")
		Doc("transposeRows8AVX2 sets dst[c*ldd+j] = src[j*lds+c] for c < 8 and j < n&^7.")
	}
	var bias Register
	var lo, hi VecVirtual
	if epi {
		bias = Load(Param("bias").Base(), GP64())
		lo, hi = broadcastArg("lo"), broadcastArg("hi")
	}
	rows := newPlanePointers(Load(Param("dst").Base(), GP64()), Load(Param("ldd"), GP64()))
	src := Load(Param("src").Base(), GP64())
	lds := Load(Param("lds"), GP64())
	SHLQ(U8(2), lds) // bytes
	n := Load(Param("n"), GP64())
	SHRQ(U8(3), n)
	TESTQ(n, n)
	JZ(LabelRef("done"))
	lds3 := GP64()
	LEAQ(Mem{Base: lds, Index: lds, Scale: 2}, lds3)
	Label("block")
	in := make([]VecVirtual, 8)
	for j := range in {
		in[j] = YMM()
	}
	// Source rows j, j+4 at src + (j%4)*lds + (j/4)*4*lds.
	for h := 0; h < 2; h++ {
		VMOVUPS(Mem{Base: src}, in[4*h])
		VMOVUPS(Mem{Base: src, Index: lds, Scale: 1}, in[4*h+1])
		VMOVUPS(Mem{Base: src, Index: lds, Scale: 2}, in[4*h+2])
		VMOVUPS(Mem{Base: src, Index: lds3, Scale: 1}, in[4*h+3])
		LEAQ(Mem{Base: src, Index: lds, Scale: 4}, src)
	}
	cols := transpose8(in)
	for c, v := range cols {
		if epi {
			b := YMM()
			VBROADCASTSS(Mem{Base: bias, Disp: 4 * c}, b)
			VADDPS(v, b, v)
			VMAXPS(lo, v, v)
			VMINPS(hi, v, v)
		}
		VMOVUPS(v, rows.mem(c, 0))
	}
	rows.advance(32)
	DECQ(n)
	JNZ(LabelRef("block"))
	Label("done")
	VZEROUPPER()
	RET()
}

// dwNHWC8 emits a k x k depthwise convolution at stride s over eight
// channels in channels-last form: p is the zero-padded input, positions of
// eight floats, ldp positions a row; o gets oh x ow positions, each
// min(max(b + sum of taps, lo), hi) with w[tap*8+lane] the tap's weights.
// Outputs are computed 8 at a time along a row (the tap's weights loaded
// once for eight multiply-adds), then 4, 2 and 1 for the rest of the row.
//
// With avx512 (stride 1 only) it emits the AVX-512 form, dwNHWC8K*S1AVX512:
// each ZMM register holds two neighbouring positions of the eight channels
// (at stride 1 their inputs of a tap are neighbours too, one load), the
// tap's eight weights in both halves (VBROADCASTF32X8), so a chunk of 16
// positions takes eight multiply-adds a tap (14: seven, for rows of 14 and
// 28). The rest of a row
// runs the AVX2 chunks. Every lane sums its taps in the AVX2 kernel's order.
func dwNHWC8(k, s int, avx512 bool) {
	name := fmt.Sprintf("dwNHWC8K%dS%dAVX2", k, s)
	if avx512 {
		if s != 1 {
			panic("dwNHWC8: the AVX-512 form is for stride 1")
		}
		name = fmt.Sprintf("dwNHWC8K%dS1AVX512", k)
	}
	TEXT(name, NOSPLIT, "func(o, p []float32, ldp, oh, ow int, w, b []float32, lo, hi float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes a %dx%d depthwise convolution at stride %d over eight channels, channels last (see gen/plan).", name, k, k, s))
	o := Load(Param("o").Base(), GP64())
	p := Load(Param("p").Base(), GP64())
	ld := Load(Param("ldp"), GP64())
	SHLQ(U8(5), ld) // bytes per padded row
	rows := Load(Param("oh"), GP64())
	ow := Load(Param("ow"), GP64())
	w := Load(Param("w").Base(), GP64())
	bias := YMM()
	VMOVUPS(Mem{Base: Load(Param("b").Base(), GP64())}, bias)
	lo, hi := broadcastArg("lo"), broadcastArg("hi")
	step := GP64() // bytes from one output row's inputs to the next's
	MOVQ(ld, step)
	if s == 2 {
		SHLQ(U8(1), step)
	}
	x, xr, n := GP64(), GP64(), GP64()
	// chunk computes regs registers of outputs along a row with the
	// registers of r: YMM, one position each, or ZMM (AVX-512, stride
	// 1), two neighbouring positions each.
	type vecs struct {
		per             int // positions a register
		vec             func() VecVirtual
		bias, lo, hi, w VecVirtual
		loadW           func(Op, Op) // a tap's weights into w
	}
	ymm := vecs{per: 1, vec: YMM, bias: bias, lo: lo, hi: hi, w: YMM(),
		loadW: func(m, r Op) { VMOVUPS(m, r) }}
	chunk := func(r vecs, regs int) {
		width := regs * r.per
		acc := make([]VecVirtual, regs)
		for j := range acc {
			acc[j] = r.vec()
			VMOVAPS(r.bias, acc[j])
		}
		MOVQ(x, xr)
		for kh := 0; kh < k; kh++ {
			for kw := 0; kw < k; kw++ {
				r.loadW(Mem{Base: w, Disp: 32 * (kh*k + kw)}, r.w)
				for j, a := range acc {
					VFMADD231PS(Mem{Base: xr, Disp: 32 * (j*r.per*s + kw)}, r.w, a)
				}
			}
			if kh < k-1 {
				ADDQ(ld, xr)
			}
		}
		for j, a := range acc {
			VMAXPS(a, r.lo, a) // a NaN stays NaN, as with Go's max and min
			VMINPS(a, r.hi, a)
			VMOVUPS(a, Mem{Base: o, Disp: 32 * r.per * j})
		}
		ADDQ(U32(32*width*s), x)
		ADDQ(U32(32*width), o)
		SUBQ(U8(width), n)
	}
	var zmm vecs
	if avx512 {
		zmm = vecs{per: 2, vec: ZMM, bias: ZMM(), lo: ZMM(), hi: ZMM(), w: ZMM(),
			loadW: func(m, r Op) { VBROADCASTF32X8(m, r) }}
		VBROADCASTF32X8(Mem{Base: Load(Param("b").Base(), GP64())}, zmm.bias)
		VBROADCASTSS(lo.AsX(), zmm.lo)
		VBROADCASTSS(hi.AsX(), zmm.hi)
	}
	Label("row")
	MOVQ(p, x)
	MOVQ(ow, n)
	if avx512 {
		// 16 positions at a time, then 14 (the rows of 14x14 and 28x28
		// planes) in seven registers, which still nearly hide the FMA
		// latency.
		Label("wide16")
		CMPQ(n, U8(28))
		JE(LabelRef("wide14"))
		CMPQ(n, U8(16))
		JL(LabelRef("wide14"))
		chunk(zmm, 8)
		JMP(LabelRef("wide16"))
		Label("wide14")
		CMPQ(n, U8(14))
		JL(LabelRef("wide"))
		chunk(zmm, 7)
		JMP(LabelRef("wide14"))
	}
	Label("wide")
	CMPQ(n, U8(8))
	JL(LabelRef("w4"))
	chunk(ymm, 8)
	JMP(LabelRef("wide"))
	for _, width := range []int{4, 2, 1} {
		Label(fmt.Sprintf("w%d", width))
		CMPQ(n, U8(width))
		JL(LabelRef(fmt.Sprintf("after%d", width)))
		chunk(ymm, width)
		Label(fmt.Sprintf("after%d", width))
	}
	ADDQ(step, p)
	DECQ(rows)
	JNZ(LabelRef("row"))
	VZEROUPPER()
	RET()
}

// copyRowsSpill emits copyRowsAVX2 without its masked tail: every row is
// copied in whole vectors, up to 7 floats past its end, both where it is
// read and where it is written. Im2col writes a matrix row by row, and
// what a row's last vector writes past it is written again after it;
// AMD's VMASKMOVPS store is microcoded, and the rows of a late stage are
// 13 to 55 values.
func copyRowsSpill() {
	TEXT("copyRowsSpillAVX2", NOSPLIT, "func(y []float32, ldd int, x []float32, lds, w, h int)")
	Pragma("noescape")
	Doc("copyRowsSpillAVX2 copies h rows of (w+7)&^7 floats from x (rows lds apart) to y (rows ldd apart).")
	y := Load(Param("y").Base(), GP64())
	x := Load(Param("x").Base(), GP64())
	ldd := Load(Param("ldd"), GP64())
	SHLQ(U8(2), ldd)
	lds := Load(Param("lds"), GP64())
	SHLQ(U8(2), lds)
	n := Load(Param("w"), GP64())
	ADDQ(U8(7), n)
	SHRQ(U8(3), n)
	SHLQ(U8(5), n) // bytes in whole vectors
	h := Load(Param("h"), GP64())
	TESTQ(h, h)
	JLE(LabelRef("done"))
	Label("row")
	off := GP64()
	XORQ(off, off)
	Label("vec")
	v := YMM()
	VMOVUPS(Mem{Base: x, Index: off, Scale: 1}, v)
	VMOVUPS(v, Mem{Base: y, Index: off, Scale: 1})
	ADDQ(U8(32), off)
	CMPQ(off, n)
	JB(LabelRef("vec"))
	ADDQ(lds, x)
	ADDQ(ldd, y)
	DECQ(h)
	JNZ(LabelRef("row"))
	Label("done")
	VZEROUPPER()
	RET()
}

// maxPool3S2Plane emits max pooling 3x3 at stride 2 without padding over
// rows [0, oh) of a plane whose windows all lie inside it, ow >= 8 outputs a
// row (rows ld apart in x): every row in whole vectors of eight, the last
// one ending on the row's last output (some outputs twice, the same
// values), so a plane is one call. Eight outputs read 18 columns: one past
// the last window of a row, which the caller provides (the next row).
func maxPool3S2Plane() {
	TEXT("maxPool3S2PlaneAVX2", NOSPLIT, "func(y []float32, ow, oh int, x []float32, ld int)")
	Pragma("noescape")
	Doc("maxPool3S2PlaneAVX2 sets y (oh rows of ow) to the maxima of the 3x3 windows at stride 2 of x, rows ld apart (see gen/plan).")
	y := Load(Param("y").Base(), GP64())
	x := Load(Param("x").Base(), GP64())
	ld := Load(Param("ld"), GP64())
	SHLQ(U8(2), ld)
	ow := Load(Param("ow"), GP64())
	rows := Load(Param("oh"), GP64())
	last := GP64() // byte offset in y of a row's last vector
	MOVQ(ow, last)
	SUBQ(U8(8), last)
	SHLQ(U8(2), last)
	xs, off := GP64(), GP64()
	vector := func() {
		// Outputs y[off/4 ..+8) of this row from x columns 2*off/4 ...
		MOVQ(x, xs)
		ADDQ(off, xs)
		ADDQ(off, xs)
		a0, a1, b0, b1 := YMM(), YMM(), YMM(), YMM()
		VMOVUPS(Mem{Base: xs}, a0)
		VMOVUPS(Mem{Base: xs, Disp: 32}, a1)
		VMOVUPS(Mem{Base: xs, Disp: 8}, b0)
		VMOVUPS(Mem{Base: xs, Disp: 40}, b1)
		for range 2 {
			ADDQ(ld, xs)
			VMAXPS(Mem{Base: xs}, a0, a0)
			VMAXPS(Mem{Base: xs, Disp: 32}, a1, a1)
			VMAXPS(Mem{Base: xs, Disp: 8}, b0, b0)
			VMAXPS(Mem{Base: xs, Disp: 40}, b1, b1)
		}
		ev, od, e2 := YMM(), YMM(), YMM()
		VSHUFPS(U8(0x88), a1, a0, ev)
		VSHUFPS(U8(0xDD), a1, a0, od)
		VSHUFPS(U8(0x88), b1, b0, e2)
		VMAXPS(od, ev, ev)
		VMAXPS(e2, ev, ev)
		VPERMPD(U8(0xD8), ev, ev)
		VMOVUPS(ev, Mem{Base: y, Index: off, Scale: 1})
	}
	TESTQ(rows, rows)
	JLE(LabelRef("done"))
	Label("row")
	XORQ(off, off)
	Label("vec")
	CMPQ(off, last)
	JGE(LabelRef("tail"))
	vector()
	ADDQ(U8(32), off)
	JMP(LabelRef("vec"))
	Label("tail")
	MOVQ(last, off)
	vector()
	MOVQ(ow, off)
	SHLQ(U8(2), off)
	ADDQ(off, y) // next output row
	ADDQ(ld, x)
	ADDQ(ld, x) // two input rows down
	DECQ(rows)
	JNZ(LabelRef("row"))
	Label("done")
	VZEROUPPER()
	RET()
}

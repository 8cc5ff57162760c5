package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/gotypes"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The train set: the per-channel reductions and elementwise passes of a
// training step (train_amd64.s).
//
//   - sumCenteredDotRows and shiftedSumsRows: the reductions of batch
//     normalization's backward and forward passes over one channel's rows
//     in several samples (ld apart) at once, so that small planes do not
//     pay a call per row;
//   - channelAffine and bnInputGrad: batch normalization's forward map and
//     its input gradient, one pass each;
//   - reluGrad, clampGrad and hardSwishGrad: activation gradients;
//   - the gradients in two forms: accumulating (gx +=), and setting
//     (...SetAVX2: gx =) for a gradient that has no value yet, which then
//     needs neither zeroing nor reading;
//   - dwGradRowK3S1 and dwGradRowK3S2: one output row's contribution to
//     the nine weight gradients of a 3x3 depthwise convolution;
//   - interleaveAdd: the stride-2 depthwise input gradient's last step,
//     which adds the even and odd columns back into a row; and
//     interleaveAddRows / interleaveSetRows, the same for all rows of a
//     plane in one call with AVX-512, the rows' last values under masks
//     (the planes of a MobileNet's later stages have rows of 3 to 14
//     pairs, shorter than an AVX2 vector's 8).
func trainSet() {
	sumCenteredDotRows()
	shiftedSumsRows()
	channelAffine()
	for _, set := range []bool{false, true} {
		bnInputGrad(set)
		reluGrad(set)
		clampGrad(set)
		hardSwishGrad(set)
	}
	dwGradRow(1)
	dwGradRow(2)
	interleaveAdd()
	interleaveRows(false)
	interleaveRows(true)
	channelAffineRows(false)
	channelAffineRows(true)
	bnInputGradRows(false)
	bnInputGradRows(true)
	clampGradSumsRows(sumsClamp)
	clampGradSumsRows(sumsReLU)
	clampGradSumsRows(sumsPlain)
	shiftedSumsChannelRows()
	dwGradPlane(1)
	dwGradPlane(2)
	trainRowsAVX2()
}

// The AVX2 kernels move their float arguments and results with VEX
// instructions only (VBROADCASTSS from the argument's slot, VMOVSS to the
// result's), never with SSE's MOVSS: an SSE instruction after a 256-bit one
// has left the upper halves of the registers dirty costs a state
// transition, which on AMD's Zen 3 under a hypervisor took most of the time
// of a short row's call.

// argAddr is the stack slot of the argument or result c.
func argAddr(c gotypes.Component) Mem {
	b, err := c.Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

// at is the vector at byte offset off of the slice based at base.
func at(base, off Register) Mem { return Mem{Base: base, Index: off, Scale: 1} }

// hsumPS returns the sum of the eight lanes of y in the low lane of an XMM
// register: halves, then pairs, then the last two.
func hsumPS(y VecVirtual) VecVirtual {
	x, t := XMM(), XMM()
	VEXTRACTF128(U8(1), y, x)
	VADDPS(y.AsX(), x, x)
	VPERMILPS(U8(0x0E), x, t)
	VADDPS(t, x, x)
	VMOVSHDUP(x, t)
	VADDSS(t, x, x)
	return x
}

// hsumPD returns the sum of the four float64 lanes of y in the low lane.
func hsumPD(y VecVirtual) VecVirtual {
	x, t := XMM(), XMM()
	VEXTRACTF128(U8(1), y, x)
	VADDPD(y.AsX(), x, x)
	VPERMILPD(U8(1), x, t)
	VADDSD(t, x, x)
	return x
}

// pairLoop emits a loop over the whole vectors of the slice argument
// slice, two vectors per iteration (body(off, 0) and body(off, 1)) while
// they fit, then one (body(off, 0)).
func pairLoop(slice string, body func(off GPVirtual, v int)) {
	n := Load(Param(slice).Len(), GP64())
	SHRQ(U8(3), n)
	SHLQ(U8(5), n)
	off := GP64()
	XORQ(off, off)
	pair := GP64()
	MOVQ(n, pair)
	SUBQ(U8(32), pair) // last offset where two vectors fit
	Label("pair")
	CMPQ(off, pair)
	JGE(LabelRef("single"))
	body(off, 0)
	body(off, 1)
	ADDQ(U8(64), off)
	JMP(LabelRef("pair"))
	Label("single")
	CMPQ(off, n)
	JAE(LabelRef("done"))
	body(off, 0)
	ADDQ(U8(32), off)
	JMP(LabelRef("single"))
	Label("done")
}

// rowsLoop emits a loop over rows rows of the slice arguments, ld floats
// apart, and within each over the whole vectors of its first cols floats,
// calling body with the base register of the row's slices and the byte
// offset of each vector.
func rowsLoop(bases []Register, body func(rowBases []Register, off GPVirtual)) {
	rows := Load(Param("rows"), GP64())
	cols := Load(Param("cols"), GP64())
	SHRQ(U8(3), cols)
	SHLQ(U8(5), cols) // bytes in whole vectors
	ld := Load(Param("ld"), GP64())
	SHLQ(U8(2), ld)
	off := GP64()
	Label("row")
	TESTQ(rows, rows)
	JZ(LabelRef("done"))
	XORQ(off, off)
	Label("col")
	CMPQ(off, cols)
	JAE(LabelRef("next"))
	body(bases, off)
	ADDQ(U8(32), off)
	JMP(LabelRef("col"))
	Label("next")
	for _, b := range bases {
		ADDQ(ld, b)
	}
	DECQ(rows)
	JMP(LabelRef("row"))
	Label("done")
}

func sumCenteredDotRows() {
	TEXT("sumCenteredDotRowsAVX2", NOSPLIT, "func(g, x []float32, rows, cols, ld int, mu float32) (s1, s2 float32)")
	Pragma("noescape")
	Doc("sumCenteredDotRowsAVX2 returns sum(g[i]) and sum(g[i]*(x[i]-mu)) over the whole vectors of the first cols values of rows rows, ld apart, of g and x.")
	g := Load(Param("g").Base(), GP64())
	x := Load(Param("x").Base(), GP64())
	mu := broadcastArg("mu")
	s1, s2 := YMM(), YMM()
	VXORPS(s1, s1, s1)
	VXORPS(s2, s2, s2)
	rowsLoop([]Register{g, x}, func(_ []Register, off GPVirtual) {
		gv, d := YMM(), YMM()
		VMOVUPS(at(g, off), gv)
		VMOVUPS(at(x, off), d)
		VSUBPS(mu, d, d)
		VADDPS(gv, s1, s1)
		VFMADD231PS(d, gv, s2)
	})
	VMOVSS(hsumPS(s1), argAddr(ReturnIndex(0)))
	VMOVSS(hsumPS(s2), argAddr(ReturnIndex(1)))
	VZEROUPPER()
	RET()
}

func shiftedSumsRows() {
	TEXT("shiftedSumsRowsAVX2", NOSPLIT, "func(x []float32, rows, cols, ld int, shift float64) (s1, s2 float64)")
	Pragma("noescape")
	Doc("shiftedSumsRowsAVX2 returns sum(x[i]-shift) and sum((x[i]-shift)^2), in float64, over the whole vectors of the first cols values of rows rows, ld apart, of x.")
	x := Load(Param("x").Base(), GP64())
	shift := YMM()
	VBROADCASTSD(argAddr(Param("shift")), shift)
	s1 := []VecVirtual{YMM(), YMM()}
	s2 := []VecVirtual{YMM(), YMM()}
	for _, a := range append(s1, s2...) {
		VXORPD(a, a, a)
	}
	rowsLoop([]Register{x}, func(_ []Register, off GPVirtual) {
		for h := range 2 {
			d := YMM()
			VCVTPS2PD(Mem{Base: x, Index: off, Scale: 1, Disp: 16 * h}, d)
			VSUBPD(shift, d, d)
			VADDPD(d, s1[h], s1[h])
			VFMADD231PD(d, d, s2[h])
		}
	})
	VADDPD(s1[1], s1[0], s1[0])
	VADDPD(s2[1], s2[0], s2[0])
	VMOVSD(hsumPD(s1[0]), argAddr(ReturnIndex(0)))
	VMOVSD(hsumPD(s2[0]), argAddr(ReturnIndex(1)))
	VZEROUPPER()
	RET()
}

// rowLoopBody is rowLoop without the return: the caller finishes.
func rowLoopBody(slice string, body func(off GPVirtual)) {
	n := Load(Param(slice).Len(), GP64())
	SHRQ(U8(3), n)
	SHLQ(U8(5), n) // bytes in whole vectors
	off := GP64()
	XORQ(off, off)
	Label("loop")
	CMPQ(off, n)
	JAE(LabelRef("done"))
	body(off)
	ADDQ(U8(32), off)
	JMP(LabelRef("loop"))
	Label("done")
}

func channelAffine() {
	TEXT("channelAffineAVX2", NOSPLIT, "func(y, x []float32, a, b float32)")
	Pragma("noescape")
	Doc("channelAffineAVX2 sets y[i] = x[i]*a + b (a multiply, then an add) for the whole vectors of y; x is at least as long.")
	y := Load(Param("y").Base(), GP64())
	x := Load(Param("x").Base(), GP64())
	a, b := broadcastArg("a"), broadcastArg("b")
	rowLoop("y", func(off GPVirtual) {
		v := YMM()
		VMULPS(at(x, off), a, v)
		VADDPS(b, v, v)
		VMOVUPS(v, at(y, off))
	})
}

func bnInputGrad(set bool) {
	name, op := gradKernel("bnInputGrad", set)
	TEXT(name, NOSPLIT, "func(gx, gy, x []float32, a, b, c float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets gx[i] %s a*gy[i] + (b*x[i] + c) for the whole vectors of gx; gy and x are at least as long.", name, op))
	gx, gy, x := gradParams()
	a, b, c := broadcastArg("a"), broadcastArg("b"), broadcastArg("c")
	rowLoop("gx", func(off GPVirtual) {
		t := YMM()
		VMOVUPS(c, t)
		VFMADD231PS(at(x, off), b, t)
		VFMADD231PS(at(gy, off), a, t)
		storeGrad(t, gx, off, set)
	})
}

// gradParams loads the bases of the slice arguments gx, gy and x.
func gradParams() (gx, gy, x Register) {
	return Load(Param("gx").Base(), GP64()), Load(Param("gy").Base(), GP64()), Load(Param("x").Base(), GP64())
}

// gradKernel names a gradient kernel and its doc's operator: += , or = for
// the setting form.
func gradKernel(base string, set bool) (name, op string) {
	if set {
		return base + "SetAVX2", "="
	}
	return base + "AVX2", "+="
}

// storeGrad writes the gradient g to gx at off: added to the old value, or
// (set) in its place.
func storeGrad(g VecVirtual, gx, off Register, set bool) {
	if !set {
		VADDPS(at(gx, off), g, g)
	}
	VMOVUPS(g, at(gx, off))
}

// VCMPPS predicates.
const (
	cmpLT  = 0x01 // less than, ordered
	cmpNLT = 0x05 // not less than, unordered
)

func reluGrad(set bool) {
	name, op := gradKernel("reluGrad", set)
	TEXT(name, NOSPLIT, "func(gx, gy, x []float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets gx[i] %s gy[i] where 0 < x[i] (else 0) for the whole vectors of gx; gy and x are at least as long.", name, op))
	gx, gy, x := gradParams()
	zero := YMM()
	VXORPS(zero, zero, zero)
	rowLoop("gx", func(off GPVirtual) {
		m, g := YMM(), YMM()
		VCMPPS(U8(cmpLT), at(x, off), zero, m) // 0 < x
		VANDPS(at(gy, off), m, g)
		storeGrad(g, gx, off, set)
	})
}

func clampGrad(set bool) {
	name, op := gradKernel("clampGrad", set)
	TEXT(name, NOSPLIT, "func(gx, gy, x []float32, lo, hi float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets gx[i] %s gy[i] where lo < x[i] < hi (else 0) for the whole vectors of gx; gy and x are at least as long.", name, op))
	gx, gy, x := gradParams()
	lo, hi := broadcastArg("lo"), broadcastArg("hi")
	rowLoop("gx", func(off GPVirtual) {
		v, m, u, g := YMM(), YMM(), YMM(), YMM()
		VMOVUPS(at(x, off), v)
		VCMPPS(U8(cmpLT), v, lo, m) // lo < x
		VCMPPS(U8(cmpLT), hi, v, u) // x < hi
		VANDPS(u, m, m)
		VANDPS(at(gy, off), m, g)
		storeGrad(g, gx, off, set)
	})
}

// hardSwishGrad follows kernels.HardSwishGrad: d = x*(1/3)+1/2 (a multiply,
// then an add) below 3, 1 from 3 on, and nothing below -3.
func hardSwishGrad(set bool) {
	name, op := gradKernel("hardSwishGrad", set)
	TEXT(name, NOSPLIT, "func(gx, gy, x []float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets gx[i] %s gy[i]*d(x[i]), d the hard swish's derivative (see kernels.HardSwishGrad), for the whole vectors of gx; gy and x are at least as long.", name, op))
	gx, gy, x := gradParams()
	third := constant(name+"Third", float32(1.0/3))
	half := constant(name+"Half", 0.5)
	one := constant(name+"One", 1)
	three := constant(name+"Three", 3)
	minus3 := constant(name+"Minus3", -3)
	rowLoop("gx", func(off GPVirtual) {
		v, d, m, g := YMM(), YMM(), YMM(), YMM()
		VMOVUPS(at(x, off), v)
		VMULPS(third, v, d)
		VADDPS(half, d, d)
		VCMPPS(U8(cmpLT), three, v, m) // x < 3
		VBLENDVPS(m, d, one, d)
		VMULPS(at(gy, off), d, g)
		VCMPPS(U8(cmpNLT), minus3, v, m) // !(x < -3)
		VANDPS(m, g, g)
		storeGrad(g, gx, off, set)
	})
}

// dwGradRow emits the weight-gradient step of a 3x3 depthwise convolution
// for one output row at stride s: acc[t*8+l] += gy[i]*p(t, i) over the
// whole vectors of gy, i = 8j+l, where tap t = kh*3+kw reads, at stride 1,
// p = x[kh*ld + kw + i] of the padded plane, and at stride 2 the even (e)
// or odd (o) columns of the padded plane as dwRow does. acc holds nine
// vectors of lane sums, loaded on entry and stored on exit; the caller sums
// the lanes.
func dwGradRow(s int) {
	name := fmt.Sprintf("dwGradRowK3S%dAVX2", s)
	sig := "func(gy, x []float32, ld int, acc []float32)"
	if s == 2 {
		sig = "func(gy, e, o []float32, ld int, acc []float32)"
	}
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(fmt.Sprintf("%s adds one output row's products to the lane sums of the nine weight gradients of a 3x3 depthwise convolution at stride %d (see gen/plan).", name, s))
	gy := Load(Param("gy").Base(), GP64())
	rows := tapRows(s)
	acc := Load(Param("acc").Base(), GP64())
	sums := make([]VecVirtual, 9)
	for t := range sums {
		sums[t] = YMM()
		VMOVUPS(Mem{Base: acc, Disp: 32 * t}, sums[t])
	}
	rowLoopBody("gy", func(off GPVirtual) {
		g := YMM()
		VMOVUPS(at(gy, off), g)
		for kh := 0; kh < 3; kh++ {
			for kw := 0; kw < 3; kw++ {
				p, shift := 0, kw
				if s == 2 {
					p, shift = kw%2, kw/2
				}
				VFMADD231PS(Mem{Base: rows[p][kh], Index: off, Scale: 1, Disp: 4 * shift}, g, sums[kh*3+kw])
			}
		}
	})
	for t, v := range sums {
		VMOVUPS(v, Mem{Base: acc, Disp: 32 * t})
	}
	VZEROUPPER()
	RET()
}

func interleaveAdd() {
	TEXT("interleaveAddAVX2", NOSPLIT, "func(y, a, b []float32)")
	Pragma("noescape")
	Doc("interleaveAddAVX2 sets y[2i] += a[i] and y[2i+1] += b[i] for the whole vectors of a; b and y/2 are at least as long.")
	y := Load(Param("y").Base(), GP64())
	a := Load(Param("a").Base(), GP64())
	b := Load(Param("b").Base(), GP64())
	rowLoop("a", func(off GPVirtual) {
		va, vb, lo, hi, out := YMM(), YMM(), YMM(), YMM(), YMM()
		VMOVUPS(at(a, off), va)
		VMOVUPS(at(b, off), vb)
		// Within each 128-bit lane: a0 b0 a1 b1 | a4 b4 a5 b5 and
		// a2 b2 a3 b3 | a6 b6 a7 b7, then the lanes in order.
		VUNPCKLPS(vb, va, lo)
		VUNPCKHPS(vb, va, hi)
		VPERM2F128(U8(0x20), hi, lo, out)
		VADDPS(Mem{Base: y, Index: off, Scale: 2}, out, out)
		VMOVUPS(out, Mem{Base: y, Index: off, Scale: 2})
		VPERM2F128(U8(0x31), hi, lo, out)
		VADDPS(Mem{Base: y, Index: off, Scale: 2, Disp: 32}, out, out)
		VMOVUPS(out, Mem{Base: y, Index: off, Scale: 2, Disp: 32})
	})
}

// interleaveRows emits interleaveAddRowsAVX512 (or, with set,
// interleaveSetRowsAVX512): for each of rows rows, y[2i] (+)= a[i] and
// y[2i+1] (+)= b[i], 16 pairs a vector; full vectors per row, then one
// under masks m: m[0] a's lanes, m[1] b's, m[2] and m[3] the two output
// vectors' (a mask of 0 loads and stores nothing). idx holds VPERMI2PS's
// indexes: 0,16,1,17,...,7,23 then 8,24,...,15,31.
func interleaveRows(set bool) {
	name, verb := "interleaveAddRowsAVX512", "adds"
	if set {
		name, verb = "interleaveSetRowsAVX512", "sets"
	}
	TEXT(name, NOSPLIT, "func(y, a, b []float32, rows, full, ldy, lda int, idx *[32]int32, m *[4]uint16)")
	Pragma("noescape")
	Doc(name+" "+verb+" the pairs (a[i], b[i]) into y[2i], y[2i+1] of each of rows rows (y rows ldy apart, a and b rows lda apart):",
		"full vectors of 16 pairs, then the last pairs under the masks m (a's, b's, then the two output vectors').")
	y := Load(Param("y").Base(), GP64())
	a := Load(Param("a").Base(), GP64())
	b := Load(Param("b").Base(), GP64())
	rows := Load(Param("rows"), GP64())
	full := Load(Param("full"), GP64())
	ldy := Load(Param("ldy"), GP64())
	lda := Load(Param("lda"), GP64())
	SHLQ(U8(2), ldy)
	SHLQ(U8(2), lda)
	idx := Load(Param("idx"), GP64())
	m := Load(Param("m"), GP64())
	ilo, ihi := ZMM(), ZMM()
	VMOVUPS(Mem{Base: idx}, ilo)
	VMOVUPS(Mem{Base: idx, Disp: 64}, ihi)
	ka, kb, klo, khi := K(), K(), K(), K()
	KMOVW(Mem{Base: m}, ka)
	KMOVW(Mem{Base: m, Disp: 2}, kb)
	KMOVW(Mem{Base: m, Disp: 4}, klo)
	KMOVW(Mem{Base: m, Disp: 6}, khi)
	// store writes lo and hi, the output vectors at byte offset 2*off of
	// the row, under the masks (nil: whole vectors).
	store := func(lo, hi VecVirtual, off GPVirtual, kl, kh Op) {
		for j, v := range []VecVirtual{lo, hi} {
			dst := Mem{Base: y, Index: off, Scale: 2, Disp: 64 * j}
			k := kl
			if j == 1 {
				k = kh
			}
			if !set {
				t := ZMM()
				if k == nil {
					VMOVUPS(dst, t)
				} else {
					VMOVUPS_Z(dst, k, t)
				}
				VADDPS(t, v, v)
			}
			if k == nil {
				VMOVUPS(v, dst)
			} else {
				VMOVUPS(v, k, dst)
			}
		}
	}
	Label("row")
	TESTQ(rows, rows)
	JZ(LabelRef("done"))
	off := GP64()
	XORQ(off, off)
	n := GP64()
	MOVQ(full, n)
	Label("vec")
	TESTQ(n, n)
	JZ(LabelRef("tail"))
	{
		va, vb, lo, hi := ZMM(), ZMM(), ZMM(), ZMM()
		VMOVUPS(at(a, off), va)
		VMOVUPS(at(b, off), vb)
		VMOVAPS(ilo, lo)
		VPERMI2PS(vb, va, lo)
		VMOVAPS(ihi, hi)
		VPERMI2PS(vb, va, hi)
		store(lo, hi, off, nil, nil)
	}
	ADDQ(U8(64), off)
	DECQ(n)
	JMP(LabelRef("vec"))
	Label("tail")
	{
		va, vb, lo, hi := ZMM(), ZMM(), ZMM(), ZMM()
		VMOVUPS_Z(at(a, off), ka, va)
		VMOVUPS_Z(at(b, off), kb, vb)
		VMOVAPS(ilo, lo)
		VPERMI2PS(vb, va, lo)
		VMOVAPS(ihi, hi)
		VPERMI2PS(vb, va, hi)
		store(lo, hi, off, klo, khi)
	}
	ADDQ(ldy, y)
	ADDQ(lda, a)
	ADDQ(lda, b)
	DECQ(rows)
	JMP(LabelRef("row"))
	Label("done")
	VZEROUPPER()
	RET()
}

// channelRows emits the row loop of the per-channel AVX-512 kernels: rows
// rows of hw values each (the channels of one sample, contiguous), whole
// vectors of 16 and then the row's last values under the mask tail
// (hw%16 ones; 0 loads and stores nothing). start(r) runs at the start of
// row r (r: the row index), body(off, k) for each vector at byte offset
// off of the row (k: nil, or the tail mask). The slices in bases advance
// a row at a time.
func channelRows(bases []Register, start func(r GPVirtual), body func(off GPVirtual, k Op)) {
	channelRowsEnd(bases, start, body, nil)
}

// channelRowsEnd is channelRows with end, when not nil, run at the end of
// each row.
func channelRowsEnd(bases []Register, start func(r GPVirtual), body func(off GPVirtual, k Op), end func()) {
	rows := Load(Param("rows"), GP64())
	hw := Load(Param("hw"), GP64())
	full := GP64()
	MOVQ(hw, full)
	SHRQ(U8(4), full)
	SHLQ(U8(6), full) // bytes in whole vectors
	SHLQ(U8(2), hw)   // bytes in a row
	t := Load(Param("tail"), GP32())
	k := K()
	KMOVW(t, k)
	r := GP64()
	XORQ(r, r)
	off := GP64()
	Label("row")
	CMPQ(r, rows)
	JAE(LabelRef("done"))
	start(r)
	XORQ(off, off)
	Label("vec")
	CMPQ(off, full)
	JAE(LabelRef("tail"))
	body(off, nil)
	ADDQ(U8(64), off)
	JMP(LabelRef("vec"))
	Label("tail")
	body(off, k)
	if end != nil {
		end()
	}
	for _, b := range bases {
		ADDQ(hw, b)
	}
	INCQ(r)
	JMP(LabelRef("row"))
	Label("done")
	VZEROUPPER()
	RET()
}

// loadRow loads the vector at off of the row at base, under k unless it
// is nil (the masked lanes zero).
func loadRow(base, off Register, k Op) VecVirtual {
	v := ZMM()
	if k == nil {
		VMOVUPS(at(base, off), v)
	} else {
		VMOVUPS_Z(at(base, off), k, v)
	}
	return v
}

// storeRow stores v at off of the row at base, under k unless it is nil.
func storeRow(v VecVirtual, base, off Register, k Op) {
	if k == nil {
		VMOVUPS(v, at(base, off))
	} else {
		VMOVUPS(v, k, at(base, off))
	}
}

// channelAffineRows emits channelAffineRowsAVX512 (y = x*scale[r] +
// shift[r] in row r, a multiply then an add, as channelAffineAVX2) or,
// with clamp, channelAffineClampRowsAVX512 (then max with 0 and min with
// hi, as biasClampAVX2): batch normalization's forward map, and with its
// ReLU or ReLU6, over all channels of a sample in one call.
func channelAffineRows(clamp bool) {
	name, sig := "channelAffineRowsAVX512", "func(y, x []float32, rows, hw int, scale, shift []float32, tail uint16)"
	what := "y = x*scale[r] + shift[r] (a multiply, then an add)"
	if clamp {
		name, sig = "channelAffineClampRowsAVX512", "func(y, x []float32, rows, hw int, scale, shift []float32, tail uint16, hi float32)"
		what = "y = min(max(x*scale[r] + shift[r], 0), hi)"
	}
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(name + " sets " + what + " in each row r of rows rows of hw values; tail is the mask of the hw%16 values after a row's whole vectors.")
	y := Load(Param("y").Base(), GP64())
	x := Load(Param("x").Base(), GP64())
	sc := Load(Param("scale").Base(), GP64())
	sh := Load(Param("shift").Base(), GP64())
	a, b := ZMM(), ZMM()
	var zero, hi VecVirtual
	if clamp {
		zero = ZMM()
		VXORPS(zero, zero, zero)
		hx := Load(Param("hi"), XMM())
		hi = ZMM()
		VBROADCASTSS(hx, hi)
	}
	channelRows([]Register{y, x}, func(r GPVirtual) {
		VBROADCASTSS(Mem{Base: sc, Index: r, Scale: 4}, a)
		VBROADCASTSS(Mem{Base: sh, Index: r, Scale: 4}, b)
	}, func(off GPVirtual, k Op) {
		v := loadRow(x, off, k)
		VMULPS(v, a, v)
		VADDPS(b, v, v)
		if clamp {
			VMAXPS(zero, v, v)
			VMINPS(hi, v, v)
		}
		storeRow(v, y, off, k)
	})
}

// bnInputGradRows emits bnInputGradRowsAVX512 (or, with set,
// bnInputGradSetRowsAVX512): bnInputGradAVX2 over all channels of a
// sample, each row r with its own coefficients coef[3r:3r+3].
func bnInputGradRows(set bool) {
	name, op := "bnInputGradRowsAVX512", "+="
	if set {
		name, op = "bnInputGradSetRowsAVX512", "="
	}
	TEXT(name, NOSPLIT, "func(gx, gy, x []float32, rows, hw int, coef []float32, tail uint16)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets gx %s a*gy + (b*x + c) in each row r of rows rows of hw values, with (a, b, c) = coef[3r:3r+3]; tail is the mask of the hw%%16 values after a row's whole vectors.", name, op))
	gx, gy, x := gradParams()
	cf := Load(Param("coef").Base(), GP64())
	a, b, c := ZMM(), ZMM(), ZMM()
	channelRows([]Register{gx, gy, x}, func(r GPVirtual) {
		i := GP64()
		LEAQ(Mem{Base: r, Index: r, Scale: 2}, i) // 3r
		VBROADCASTSS(Mem{Base: cf, Index: i, Scale: 4}, a)
		VBROADCASTSS(Mem{Base: cf, Index: i, Scale: 4, Disp: 4}, b)
		VBROADCASTSS(Mem{Base: cf, Index: i, Scale: 4, Disp: 8}, c)
	}, func(off GPVirtual, k Op) {
		t := ZMM()
		VMOVAPS(c, t)
		VFMADD231PS(loadRow(x, off, k), b, t)
		VFMADD231PS(loadRow(gy, off, k), a, t)
		if !set {
			VADDPS(loadRow(gx, off, k), t, t)
		}
		storeRow(t, gx, off, k)
	})
}

// hsumZ returns the sum of the sixteen lanes of z, as float64, in the low
// lane of an XMM register: the halves added, then hsumPS, then converted.
func hsumZ(z VecVirtual) VecVirtual {
	h := YMM()
	VEXTRACTF64X4(U8(1), z, h)
	VADDPS(z.AsY(), h, h)
	x := hsumPS(h)
	VCVTSS2SD(x, x, x)
	return x
}

// sumsMode says which activation gradient clampGradSumsRows applies
// first.
type sumsMode int

const (
	sumsClamp sumsMode = iota // ReLU6: 0 < y < hi
	sumsReLU                  // 0 < y
	sumsPlain                 // none: the sums of gy itself
)

// clampGradSumsRows emits clampGradSumsRowsAVX512 (ReLU6: lo 0, hi),
// reluGradSumsRowsAVX512 (0 < y only) or gradSumsRowsAVX512 (no
// activation): an activation's gradient into the batch norm before it and
// that batch norm's two gradient sums in one pass, over all channels of a
// sample. The three add the same way, so that the sums of a fused
// activation equal those taken after it.
func clampGradSumsRows(mode sumsMode) {
	var name, sig, cond string
	switch mode {
	case sumsClamp:
		name, sig, cond = "clampGradSumsRowsAVX512", "func(g, gy, y, x []float32, rows, hw int, mean []float32, tail uint16, sums []float64, hi float32)", "0 < y < hi"
	case sumsReLU:
		name, sig, cond = "reluGradSumsRowsAVX512", "func(g, gy, y, x []float32, rows, hw int, mean []float32, tail uint16, sums []float64)", "0 < y"
	default:
		name, sig = "gradSumsRowsAVX512", "func(gy, x []float32, rows, hw int, mean []float32, tail uint16, sums []float64)"
	}
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	if mode == sumsPlain {
		Doc(name+" adds, in each row r of rows rows of hw values, sum(gy) to sums[r] and sum(gy*(x-mean[r])) to sums[rows+r]",
			"(float32 lanes, then float64); tail is the mask of the hw%16 values after a row's whole vectors.")
	} else {
		Doc(name+" sets g = gy where "+cond+" (else 0) in each row r of rows rows of hw values, and adds sum(g) to sums[r] and sum(g*(x-mean[r])) to sums[rows+r]",
			"(float32 lanes, then float64); tail is the mask of the hw%16 values after a row's whole vectors.")
	}
	if mode == sumsPlain {
		plainSums()
		return
	}
	g, gy := Load(Param("g").Base(), GP64()), Load(Param("gy").Base(), GP64())
	y, x := Load(Param("y").Base(), GP64()), Load(Param("x").Base(), GP64())
	mean := Load(Param("mean").Base(), GP64())
	sums := Load(Param("sums").Base(), GP64())
	second := Load(Param("rows"), GP64())
	SHLQ(U8(3), second) // bytes from sums[r] to sums[rows+r]
	zero := ZMM()
	VXORPS(zero, zero, zero)
	var hi VecVirtual
	if mode == sumsClamp {
		hx := Load(Param("hi"), XMM())
		hi = ZMM()
		VBROADCASTSS(hx, hi)
	}
	mu, s1, s2 := ZMM(), ZMM(), ZMM()
	var row GPVirtual
	channelRowsEnd([]Register{g, gy, y, x}, func(r GPVirtual) {
		row = r
		VBROADCASTSS(Mem{Base: mean, Index: r, Scale: 4}, mu)
		VXORPS(s1, s1, s1)
		VXORPS(s2, s2, s2)
	}, func(off GPVirtual, k Op) {
		v := loadRow(y, off, k)
		m := K()
		VCMPPS(U8(cmpLT), v, zero, m) // 0 < y
		if mode == sumsClamp {
			u := K()
			VCMPPS(U8(cmpLT), hi, v, u) // y < hi
			KANDW(u, m, m)
		}
		if k != nil {
			KANDW(k, m, m)
		}
		gv := ZMM()
		VMOVUPS_Z(at(gy, off), m, gv)
		storeRow(gv, g, off, k)
		accumulateSums(gv, x, off, k, mu, s1, s2)
	}, func() { addRowSums(s1, s2, sums, row, second) })
}

// accumulateSums adds the gradient vector gv to s1 and gv*(x-mu) to s2, x
// at off (under k unless nil).
func accumulateSums(gv VecVirtual, x, off Register, k Op, mu, s1, s2 VecVirtual) {
	VADDPS(gv, s1, s1)
	d := loadRow(x, off, k)
	VSUBPS(mu, d, d)
	VFMADD231PS(d, gv, s2)
}

// addRowSums adds the lane sums s1 and s2, as float64, to sums[row] and to
// the value second bytes after it.
func addRowSums(s1, s2 VecVirtual, sums, row, second Register) {
	a := hsumZ(s1)
	VADDSD(Mem{Base: sums, Index: row, Scale: 8}, a, a)
	VMOVSD(a, Mem{Base: sums, Index: row, Scale: 8})
	b := hsumZ(s2)
	t := GP64()
	LEAQ(Mem{Base: sums, Index: row, Scale: 8}, t)
	ADDQ(second, t)
	VADDSD(Mem{Base: t}, b, b)
	VMOVSD(b, Mem{Base: t})
}

// plainSums is gradSumsRowsAVX512's body: clampGradSumsRows's sums of gy
// itself.
func plainSums() {
	gy, x := Load(Param("gy").Base(), GP64()), Load(Param("x").Base(), GP64())
	mean := Load(Param("mean").Base(), GP64())
	sums := Load(Param("sums").Base(), GP64())
	second := Load(Param("rows"), GP64())
	SHLQ(U8(3), second)
	mu, s1, s2 := ZMM(), ZMM(), ZMM()
	var row GPVirtual
	channelRowsEnd([]Register{gy, x}, func(r GPVirtual) {
		row = r
		VBROADCASTSS(Mem{Base: mean, Index: r, Scale: 4}, mu)
		VXORPS(s1, s1, s1)
		VXORPS(s2, s2, s2)
	}, func(off GPVirtual, k Op) {
		accumulateSums(loadRow(gy, off, k), x, off, k, mu, s1, s2)
	}, func() { addRowSums(s1, s2, sums, row, second) })
}

// shiftedSumsChannelRows emits shiftedSumsChannelRowsAVX512: batch
// normalization's forward sums over all channels of a sample, in float64
// lanes (eight values a conversion), each row r shifted by shift[r].
func shiftedSumsChannelRows() {
	TEXT("shiftedSumsChannelRowsAVX512", NOSPLIT, "func(x []float32, rows, hw int, shift []float64, tail uint16, sums []float64)")
	Pragma("noescape")
	Doc("shiftedSumsChannelRowsAVX512 adds, in each row r of rows rows of hw values, sum(x-shift[r]) to sums[r] and sum((x-shift[r])^2) to sums[rows+r], in float64;",
		"tail is the mask of the hw%16 values after a row's whole vectors.")
	x := Load(Param("x").Base(), GP64())
	sh := Load(Param("shift").Base(), GP64())
	sums := Load(Param("sums").Base(), GP64())
	second := Load(Param("rows"), GP64())
	SHLQ(U8(3), second)
	shift := ZMM()
	s1 := []VecVirtual{ZMM(), ZMM()}
	s2 := []VecVirtual{ZMM(), ZMM()}
	var row GPVirtual
	channelRowsEnd([]Register{x}, func(r GPVirtual) {
		row = r
		VBROADCASTSD(Mem{Base: sh, Index: r, Scale: 8}, shift)
		for _, a := range append(append([]VecVirtual{}, s1...), s2...) {
			VXORPD(a, a, a)
		}
	}, func(off GPVirtual, k Op) {
		v := loadRow(x, off, k) // masked lanes are 0: shifted, they count
		for h := range 2 {
			d := ZMM()
			if h == 0 {
				VCVTPS2PD(v.AsY(), d)
			} else {
				half := YMM()
				VEXTRACTF64X4(U8(1), v, half)
				VCVTPS2PD(half, d)
			}
			VSUBPD(shift, d, d)
			if k != nil {
				// Zero the lanes past the row: the tail mask's bits 8h to
				// 8h+7, as a float64 lane mask.
				m := K()
				KMOVW(k, m)
				if h == 1 {
					KSHIFTRW(U8(8), m, m)
				}
				VMOVAPD_Z(d, m, d)
			}
			VADDPD(d, s1[h], s1[h])
			VFMADD231PD(d, d, s2[h])
		}
	}, func() {
		VADDPD(s1[1], s1[0], s1[0])
		VADDPD(s2[1], s2[0], s2[0])
		for j, acc := range []VecVirtual{s1[0], s2[0]} {
			h := YMM()
			VEXTRACTF64X4(U8(1), acc, h)
			VADDPD(acc.AsY(), h, h)
			a := hsumPD(h)
			if j == 0 {
				VADDSD(Mem{Base: sums, Index: row, Scale: 8}, a, a)
				VMOVSD(a, Mem{Base: sums, Index: row, Scale: 8})
				continue
			}
			t := GP64()
			LEAQ(Mem{Base: sums, Index: row, Scale: 8}, t)
			ADDQ(second, t)
			VADDSD(Mem{Base: t}, a, a)
			VMOVSD(a, Mem{Base: t})
		}
	})
}

// dwGradPlane emits dwGradPlaneK3S1AVX512 (or S2): dwGradRow's nine lane
// sums over a whole flat output gradient plane in one call, 16 lanes, the
// last vector under a mask, the lane sums added into float64 sums every
// dwPlaneChunk vectors (and at the end).
func dwGradPlane(s int) {
	name := fmt.Sprintf("dwGradPlaneK3S%dAVX512", s)
	sig := "func(gy, x []float32, ld int, tail uint16, sums *[9]float64)"
	if s == 2 {
		sig = "func(gy, e, o []float32, ld int, tail uint16, sums *[9]float64)"
	}
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(fmt.Sprintf("%s adds the products of the flat output gradient gy with the padded input planes to the nine weight gradient sums of a 3x3 depthwise convolution at stride %d (see gen/plan);", name, s),
		"tail is the mask of the len(gy)%16 values after the whole vectors.")
	const dwPlaneChunk = 64 // vectors, as dwFlushLanes products per lane
	gy := Load(Param("gy").Base(), GP64())
	rows := tapRows(s)
	left := Load(Param("gy").Len(), GP64())
	SHRQ(U8(4), left) // whole vectors still to do
	t := Load(Param("tail"), GP32())
	kt := K()
	KMOVW(t, kt)
	out := Load(Param("sums"), GP64())
	sums := make([]VecVirtual, 9)
	off := GP64()
	XORQ(off, off)
	cnt := GP64()
	// body adds one vector's products (under k unless nil).
	body := func(k Op) {
		g := ZMM()
		if k == nil {
			VMOVUPS(at(gy, off), g)
		} else {
			VMOVUPS_Z(at(gy, off), k, g)
		}
		for kh := 0; kh < 3; kh++ {
			for kw := 0; kw < 3; kw++ {
				p, shift := 0, kw
				if s == 2 {
					p, shift = kw%2, kw/2
				}
				m := Mem{Base: rows[p][kh], Index: off, Scale: 1, Disp: 4 * shift}
				if k == nil {
					VFMADD231PS(m, g, sums[kh*3+kw])
				} else {
					VFMADD231PS(m, g, k, sums[kh*3+kw]) // masked lanes neither read nor added
				}
			}
		}
	}
	Label("chunk")
	for i := range sums {
		sums[i] = ZMM()
		VXORPS(sums[i], sums[i], sums[i])
	}
	MOVQ(U32(dwPlaneChunk), cnt)
	Label("vec")
	TESTQ(left, left)
	JZ(LabelRef("last"))
	TESTQ(cnt, cnt)
	JZ(LabelRef("flush"))
	body(nil)
	ADDQ(U8(64), off)
	DECQ(left)
	DECQ(cnt)
	JMP(LabelRef("vec"))
	Label("last")
	body(kt)
	flushSums(sums, out)
	VZEROUPPER()
	RET()
	Label("flush")
	flushSums(sums, out)
	JMP(LabelRef("chunk"))
}

// flushSums adds the lane sums of each vector in sums, as float64, to
// out[t].
func flushSums(sums []VecVirtual, out Register) {
	for t, v := range sums {
		a := hsumZ(v)
		VADDSD(Mem{Base: out, Disp: 8 * t}, a, a)
		VMOVSD(a, Mem{Base: out, Disp: 8 * t})
	}
}

// tapRows loads the padded input planes of a 3x3 depthwise weight
// gradient kernel at stride s (x, or e and o) and the row stride ld, and
// returns rows[p][kh], the start of row kh of plane p.
func tapRows(s int) [][3]Register {
	planes := loadPlanes(s)
	ld := Load(Param("ld"), GP64())
	SHLQ(U8(2), ld) // bytes
	rows := make([][3]Register, len(planes))
	for p, base := range planes {
		rows[p][0] = base
		for kh := 1; kh < 3; kh++ {
			r := GP64()
			MOVQ(rows[p][kh-1], r)
			ADDQ(ld, r)
			rows[p][kh] = r
		}
	}
	return rows
}

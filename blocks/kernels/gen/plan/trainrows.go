package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The per-channel row kernels of batch normalization for AVX2: the
// AVX-512 kernels' work (channelAffineRows, bnInputGradRows,
// clampGradSumsRows, shiftedSumsChannelRows) over all channels of a sample
// in one call, each row with its own coefficients. A row's whole vectors of
// 8 go two at a time, then its last hw%8 values one at a time with VEX
// scalar instructions: AVX2 has no masked store but VMASKMOVPS, which is
// microcoded on AMD's cores, and the late stages' planes of 7x7 and 14x14
// leave 1 and 4 values after the vectors.
func trainRowsAVX2() {
	channelAffineRows8(false)
	channelAffineRows8(true)
	bnInputGradRows8(false)
	bnInputGradRows8(true)
	gradSumsRows8(sumsClamp)
	gradSumsRows8(sumsReLU)
	gradSumsRows8(sumsPlain)
	shiftedSumsChannelRows8()
	interleaveRows8(false)
	interleaveRows8(true)
	dwGradPlane8(1)
	dwGradPlane8(2)
}

// rowPart says which part of a row a body of channelRows8 computes: one
// of a pair of whole vectors (the first or the second), or one value.
type rowPart struct {
	second bool // the pair's second vector (a reduction's second accumulator)
	scalar bool // one value, in the low lane of XMM registers
}

// channelRows8 emits the row loop of the AVX2 per-channel kernels: rows
// rows of hw values each (the channels of one sample, contiguous). start(r)
// runs at the start of row r, body(m, p) for each vector or value (m gives
// its address in a row's slice from that slice's base), mid (when not nil)
// after a row's whole vectors and before its last values, end (when not
// nil) at the end of each row. The slices in bases advance a row at a time.
func channelRows8(bases []Register, start func(r GPVirtual), body func(m func(base Register) Mem, p rowPart), mid, end func()) {
	rows := Load(Param("rows"), GP64())
	hw := Load(Param("hw"), GP64())
	full := GP64()
	MOVQ(hw, full)
	SHRQ(U8(3), full)
	SHLQ(U8(5), full) // bytes in whole vectors
	SHLQ(U8(2), hw)   // bytes in a row
	r := GP64()
	XORQ(r, r)
	off := GP64()
	at := func(disp int) func(base Register) Mem {
		return func(base Register) Mem { return Mem{Base: base, Index: off, Scale: 1, Disp: disp} }
	}
	Label("row")
	CMPQ(r, rows)
	JAE(LabelRef("done"))
	start(r)
	XORQ(off, off)
	Label("pair")
	t := GP64()
	LEAQ(Mem{Base: off, Disp: 64}, t)
	CMPQ(t, full)
	JA(LabelRef("single"))
	body(at(0), rowPart{})
	body(at(32), rowPart{second: true})
	ADDQ(U8(64), off)
	JMP(LabelRef("pair"))
	Label("single")
	CMPQ(off, full)
	JAE(LabelRef("vecdone"))
	body(at(0), rowPart{})
	ADDQ(U8(32), off)
	Label("vecdone")
	if mid != nil {
		mid()
	}
	Label("scalar")
	CMPQ(off, hw)
	JAE(LabelRef("rowdone"))
	body(at(0), rowPart{scalar: true})
	ADDQ(U8(4), off)
	JMP(LabelRef("scalar"))
	Label("rowdone")
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

// lanes returns v, or for a scalar part its low XMM register.
func lanes(v VecVirtual, p rowPart) Register {
	if p.scalar {
		return v.AsX()
	}
	return v
}

// loadPart loads the vector, or the value, at m into a new register.
func loadPart(m Mem, p rowPart) Register {
	if p.scalar {
		v := XMM()
		VMOVSS(m, v)
		return v
	}
	v := YMM()
	VMOVUPS(m, v)
	return v
}

// storePart stores the vector, or the low value, of v at m.
func storePart(v Register, m Mem, p rowPart) {
	if p.scalar {
		VMOVSS(v, m)
		return
	}
	VMOVUPS(v, m)
}

// channelAffineRows8 emits channelAffineRowsAVX2, or with clamp
// channelAffineClampRowsAVX2: channelAffineRows's map (a multiply, then an
// add, then the clamp) over all channels of a sample.
func channelAffineRows8(clamp bool) {
	name, sig := "channelAffineRowsAVX2", "func(y, x []float32, rows, hw int, scale, shift []float32)"
	what := "y = x*scale[r] + shift[r] (a multiply, then an add)"
	if clamp {
		name, sig = "channelAffineClampRowsAVX2", "func(y, x []float32, rows, hw int, scale, shift []float32, hi float32)"
		what = "y = min(max(x*scale[r] + shift[r], 0), hi)"
	}
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(name + " sets " + what + " in each row r of rows rows of hw values: whole vectors, then the row's last values one at a time.")
	y := Load(Param("y").Base(), GP64())
	x := Load(Param("x").Base(), GP64())
	sc := Load(Param("scale").Base(), GP64())
	sh := Load(Param("shift").Base(), GP64())
	a, b := YMM(), YMM()
	var zero, hi VecVirtual
	if clamp {
		zero = YMM()
		VXORPS(zero, zero, zero)
		hi = broadcastArg("hi")
	}
	channelRows8([]Register{y, x}, func(r GPVirtual) {
		VBROADCASTSS(Mem{Base: sc, Index: r, Scale: 4}, a)
		VBROADCASTSS(Mem{Base: sh, Index: r, Scale: 4}, b)
	}, func(m func(Register) Mem, p rowPart) {
		v := loadPart(m(x), p)
		if p.scalar {
			VMULSS(a.AsX(), v, v)
			VADDSS(b.AsX(), v, v)
			if clamp {
				VMAXSS(zero.AsX(), v, v)
				VMINSS(hi.AsX(), v, v)
			}
		} else {
			VMULPS(a, v, v)
			VADDPS(b, v, v)
			if clamp {
				VMAXPS(zero, v, v)
				VMINPS(hi, v, v)
			}
		}
		storePart(v, m(y), p)
	}, nil, nil)
}

// bnInputGradRows8 emits bnInputGradRowsAVX2 (or, with set,
// bnInputGradSetRowsAVX2): bnInputGradRows's map over all channels of a
// sample, row r with the coefficients coef[3r:3r+3].
func bnInputGradRows8(set bool) {
	name, op := "bnInputGradRowsAVX2", "+="
	if set {
		name, op = "bnInputGradSetRowsAVX2", "="
	}
	TEXT(name, NOSPLIT, "func(gx, gy, x []float32, rows, hw int, coef []float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets gx %s a*gy + (b*x + c) in each row r of rows rows of hw values, with (a, b, c) = coef[3r:3r+3]: whole vectors, then the row's last values one at a time.", name, op))
	gx, gy, x := gradParams()
	cf := Load(Param("coef").Base(), GP64())
	a, b, c := YMM(), YMM(), YMM()
	channelRows8([]Register{gx, gy, x}, func(r GPVirtual) {
		i := GP64()
		LEAQ(Mem{Base: r, Index: r, Scale: 2}, i) // 3r
		VBROADCASTSS(Mem{Base: cf, Index: i, Scale: 4}, a)
		VBROADCASTSS(Mem{Base: cf, Index: i, Scale: 4, Disp: 4}, b)
		VBROADCASTSS(Mem{Base: cf, Index: i, Scale: 4, Disp: 8}, c)
	}, func(m func(Register) Mem, p rowPart) {
		t := YMM()
		if p.scalar {
			VMOVAPS(c.AsX(), t.AsX())
			VFMADD231SS(m(x), b.AsX(), t.AsX())
			VFMADD231SS(m(gy), a.AsX(), t.AsX())
			if !set {
				VADDSS(m(gx), t.AsX(), t.AsX())
			}
		} else {
			VMOVAPS(c, t)
			VFMADD231PS(m(x), b, t)
			VFMADD231PS(m(gy), a, t)
			if !set {
				VADDPS(m(gx), t, t)
			}
		}
		storePart(lanes(t, p), m(gx), p)
	}, nil, nil)
}

// gradSumsRows8 emits clampGradSumsRowsAVX2 (ReLU6: 0 < y < hi),
// reluGradSumsRowsAVX2 (0 < y) or gradSumsRowsAVX2 (no activation):
// clampGradSumsRows's work over all channels of a sample. All three add
// the same way, so that the sums of a fused activation equal those taken
// after it: each row's products in two float32 accumulators of 8 lanes
// (even and odd vectors), added, their lanes summed (hsumPS), the row's
// last values added one at a time, and the result added in float64.
func gradSumsRows8(mode sumsMode) {
	var name, sig, cond string
	switch mode {
	case sumsClamp:
		name, sig, cond = "clampGradSumsRowsAVX2", "func(g, gy, y, x []float32, rows, hw int, mean []float32, sums []float64, hi float32)", "0 < y < hi"
	case sumsReLU:
		name, sig, cond = "reluGradSumsRowsAVX2", "func(g, gy, y, x []float32, rows, hw int, mean []float32, sums []float64)", "0 < y"
	default:
		name, sig = "gradSumsRowsAVX2", "func(gy, x []float32, rows, hw int, mean []float32, sums []float64)"
	}
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	if mode == sumsPlain {
		Doc(name+" adds, in each row r of rows rows of hw values, sum(gy) to sums[r] and sum(gy*(x-mean[r])) to sums[rows+r]",
			"(float32 lanes, the row's last values one at a time, then float64).")
	} else {
		Doc(name+" sets g = gy where "+cond+" (else 0) in each row r of rows rows of hw values, and adds sum(g) to sums[r] and sum(g*(x-mean[r])) to sums[rows+r]",
			"(float32 lanes, the row's last values one at a time, then float64).")
	}
	var g, gy, y, x Register
	bases := []Register{}
	if mode == sumsPlain {
		gy, x = Load(Param("gy").Base(), GP64()), Load(Param("x").Base(), GP64())
		bases = append(bases, gy, x)
	} else {
		g, gy = Load(Param("g").Base(), GP64()), Load(Param("gy").Base(), GP64())
		y, x = Load(Param("y").Base(), GP64()), Load(Param("x").Base(), GP64())
		bases = append(bases, g, gy, y, x)
	}
	mean := Load(Param("mean").Base(), GP64())
	sums := Load(Param("sums").Base(), GP64())
	var zero, hi VecVirtual
	if mode != sumsPlain {
		zero = YMM()
		VXORPS(zero, zero, zero)
	}
	if mode == sumsClamp {
		hi = broadcastArg("hi")
	}
	mu := YMM()
	s1 := []VecVirtual{YMM(), YMM()}
	s2 := []VecVirtual{YMM(), YMM()}
	var t1, t2 VecVirtual // the row's sums after its whole vectors
	var row GPVirtual
	channelRows8(bases, func(r GPVirtual) {
		row = r
		VBROADCASTSS(Mem{Base: mean, Index: r, Scale: 4}, mu)
		for _, a := range append(append([]VecVirtual{}, s1...), s2...) {
			VXORPS(a, a, a)
		}
	}, func(m func(Register) Mem, p rowPart) {
		j := 0
		if p.second {
			j = 1
		}
		gv := loadPart(m(gy), p)
		if mode != sumsPlain {
			v := loadPart(m(y), p)
			k := lanes(YMM(), p)
			VCMPPS(U8(cmpLT), v, lanes(zero, p), k) // 0 < y
			if mode == sumsClamp {
				u := lanes(YMM(), p)
				VCMPPS(U8(cmpLT), lanes(hi, p), v, u) // y < hi
				VANDPS(u, k, k)
			}
			VANDPS(gv, k, gv)
			storePart(gv, m(g), p)
		}
		d := loadPart(m(x), p)
		if p.scalar {
			VSUBSS(mu.AsX(), d, d)
			VADDSS(gv, t1, t1)
			VFMADD231SS(d, gv, t2)
			return
		}
		VSUBPS(mu, d, d)
		VADDPS(gv, s1[j], s1[j])
		VFMADD231PS(d, gv, s2[j])
	}, func() {
		VADDPS(s1[1], s1[0], s1[0])
		VADDPS(s2[1], s2[0], s2[0])
		t1, t2 = hsumPS(s1[0]), hsumPS(s2[0])
	}, func() {
		for h, t := range []VecVirtual{t1, t2} {
			VCVTSS2SD(t, t, t)
			p := GP64()
			LEAQ(Mem{Base: sums, Index: row, Scale: 8}, p)
			if h == 1 {
				second := Load(Param("rows"), GP64())
				LEAQ(Mem{Base: p, Index: second, Scale: 8}, p)
			}
			VADDSD(Mem{Base: p}, t, t)
			VMOVSD(t, Mem{Base: p})
		}
	})
}

// shiftedSumsChannelRows8 emits shiftedSumsChannelRowsAVX2: batch
// normalization's forward sums over all channels of a sample in float64
// lanes (four values a conversion), each row r shifted by shift[r], the
// row's last values added one at a time.
func shiftedSumsChannelRows8() {
	TEXT("shiftedSumsChannelRowsAVX2", NOSPLIT, "func(x []float32, rows, hw int, shift []float64, sums []float64)")
	Pragma("noescape")
	Doc("shiftedSumsChannelRowsAVX2 adds, in each row r of rows rows of hw values, sum(x-shift[r]) to sums[r] and sum((x-shift[r])^2) to sums[rows+r], in float64:",
		"whole vectors, then the row's last values one at a time.")
	x := Load(Param("x").Base(), GP64())
	sh := Load(Param("shift").Base(), GP64())
	sums := Load(Param("sums").Base(), GP64())
	shift := YMM()
	// s1[j][h], s2[j][h]: j the pair's vector, h its half.
	var s1, s2 [2][2]VecVirtual
	for j := range 2 {
		for h := range 2 {
			s1[j][h], s2[j][h] = YMM(), YMM()
		}
	}
	var t1, t2 VecVirtual
	var row GPVirtual
	channelRows8([]Register{x}, func(r GPVirtual) {
		row = r
		VBROADCASTSD(Mem{Base: sh, Index: r, Scale: 8}, shift)
		for j := range 2 {
			for h := range 2 {
				VXORPD(s1[j][h], s1[j][h], s1[j][h])
				VXORPD(s2[j][h], s2[j][h], s2[j][h])
			}
		}
	}, func(m func(Register) Mem, p rowPart) {
		if p.scalar {
			d := XMM()
			VCVTSS2SD(m(x), d, d)
			VSUBSD(shift.AsX(), d, d)
			VADDSD(d, t1, t1)
			VFMADD231SD(d, d, t2)
			return
		}
		j := 0
		if p.second {
			j = 1
		}
		for h := range 2 {
			d := YMM()
			mh := m(x)
			mh.Disp += 16 * h
			VCVTPS2PD(mh, d)
			VSUBPD(shift, d, d)
			VADDPD(d, s1[j][h], s1[j][h])
			VFMADD231PD(d, d, s2[j][h])
		}
	}, func() {
		for _, s := range [][2][2]VecVirtual{s1, s2} {
			VADDPD(s[0][1], s[0][0], s[0][0])
			VADDPD(s[1][1], s[1][0], s[1][0])
			VADDPD(s[1][0], s[0][0], s[0][0])
		}
		t1, t2 = hsumPD(s1[0][0]), hsumPD(s2[0][0])
	}, func() {
		for h, t := range []VecVirtual{t1, t2} {
			p := GP64()
			LEAQ(Mem{Base: sums, Index: row, Scale: 8}, p)
			if h == 1 {
				second := Load(Param("rows"), GP64())
				LEAQ(Mem{Base: p, Index: second, Scale: 8}, p)
			}
			VADDSD(Mem{Base: p}, t, t)
			VMOVSD(t, Mem{Base: p})
		}
	})
}

// interleaveRows8 emits interleaveAddRowsAVX2 (or, with set,
// interleaveSetRowsAVX2), interleaveRows's work with AVX2: for each of rows
// rows, y[2i] (+)= a[i] and y[2i+1] (+)= b[i] for the w values of the row
// of y, vectors of 8 pairs (VUNPCKLPS, VUNPCKHPS and VPERM2F128, as
// interleaveAdd), then the row's last pairs one at a time and, when w is
// odd, its last value from a.
func interleaveRows8(set bool) {
	name, verb := "interleaveAddRowsAVX2", "adds"
	if set {
		name, verb = "interleaveSetRowsAVX2", "sets"
	}
	TEXT(name, NOSPLIT, "func(y, a, b []float32, rows, w, ldy, lda int)")
	Pragma("noescape")
	Doc(name+" "+verb+" the pairs (a[i], b[i]) into y[2i], y[2i+1] of each of rows rows (y rows ldy apart, a and b rows lda apart) for the w values of a row of y:",
		"vectors of 8 pairs, then the last pairs one at a time, and the last value from a when w is odd.")
	y := Load(Param("y").Base(), GP64())
	a := Load(Param("a").Base(), GP64())
	b := Load(Param("b").Base(), GP64())
	rows := Load(Param("rows"), GP64())
	w := Load(Param("w"), GP64())
	ldy := Load(Param("ldy"), GP64())
	lda := Load(Param("lda"), GP64())
	SHLQ(U8(2), ldy)
	SHLQ(U8(2), lda)
	pairs := GP64() // bytes of a in a row's whole pairs
	MOVQ(w, pairs)
	SHRQ(U8(1), pairs)
	SHLQ(U8(2), pairs)
	full := GP64() // bytes of a in a row's whole vectors of pairs
	MOVQ(pairs, full)
	ANDQ(I8(-32), full)
	ANDQ(U8(1), w) // whether a row ends with a value of a alone
	// put stores v at m, after adding what is there unless set.
	put := func(v Register, m Mem, scalar bool) {
		if scalar {
			if !set {
				VADDSS(m, v, v)
			}
			VMOVSS(v, m)
			return
		}
		if !set {
			VADDPS(m, v, v)
		}
		VMOVUPS(v, m)
	}
	off := GP64()
	Label("row")
	TESTQ(rows, rows)
	JZ(LabelRef("done"))
	XORQ(off, off)
	Label("vec")
	CMPQ(off, full)
	JAE(LabelRef("pair"))
	{
		va, vb, lo, hi, out := YMM(), YMM(), YMM(), YMM(), YMM()
		VMOVUPS(at(a, off), va)
		VMOVUPS(at(b, off), vb)
		VUNPCKLPS(vb, va, lo)
		VUNPCKHPS(vb, va, hi)
		VPERM2F128(U8(0x20), hi, lo, out)
		put(out, Mem{Base: y, Index: off, Scale: 2}, false)
		VPERM2F128(U8(0x31), hi, lo, out)
		put(out, Mem{Base: y, Index: off, Scale: 2, Disp: 32}, false)
	}
	ADDQ(U8(32), off)
	JMP(LabelRef("vec"))
	Label("pair")
	CMPQ(off, pairs)
	JAE(LabelRef("odd"))
	{
		va, vb := XMM(), XMM()
		VMOVSS(at(a, off), va)
		VMOVSS(at(b, off), vb)
		put(va, Mem{Base: y, Index: off, Scale: 2}, true)
		put(vb, Mem{Base: y, Index: off, Scale: 2, Disp: 4}, true)
	}
	ADDQ(U8(4), off)
	JMP(LabelRef("pair"))
	Label("odd")
	TESTQ(w, w)
	JZ(LabelRef("next"))
	{
		va := XMM()
		VMOVSS(at(a, off), va)
		put(va, Mem{Base: y, Index: off, Scale: 2}, true)
	}
	Label("next")
	ADDQ(ldy, y)
	ADDQ(lda, a)
	ADDQ(lda, b)
	DECQ(rows)
	JMP(LabelRef("row"))
	Label("done")
	VZEROUPPER()
	RET()
}

// dwGradPlane8 emits dwGradPlaneK3S1AVX2 (or S2): dwGradRow's nine lane
// sums over a whole flat output gradient plane in one call, its lane sums
// added into float64 sums every dwPlaneChunk vectors and at the end, as
// dwGradPlane does with AVX-512. The flat plane is whole vectors long (the
// caller rounds it up with zeros).
func dwGradPlane8(s int) {
	name := fmt.Sprintf("dwGradPlaneK3S%dAVX2", s)
	sig := "func(gy, x []float32, ld int, sums *[9]float64)"
	if s == 2 {
		sig = "func(gy, e, o []float32, ld int, sums *[9]float64)"
	}
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(fmt.Sprintf("%s adds the products of the whole vectors of the flat output gradient gy with the padded input planes to the nine weight gradient sums of a 3x3 depthwise convolution at stride %d (see gen/plan).", name, s))
	const dwPlaneChunk = 64 // vectors, as dwFlushLanes products per lane
	gy := Load(Param("gy").Base(), GP64())
	rows := tapRows(s)
	left := Load(Param("gy").Len(), GP64())
	SHRQ(U8(3), left) // whole vectors still to do
	out := Load(Param("sums"), GP64())
	sums := make([]VecVirtual, 9)
	off := GP64()
	XORQ(off, off)
	cnt := GP64()
	Label("chunk")
	for i := range sums {
		sums[i] = YMM()
		VXORPS(sums[i], sums[i], sums[i])
	}
	MOVQ(U32(dwPlaneChunk), cnt)
	Label("vec")
	TESTQ(left, left)
	JZ(LabelRef("last"))
	TESTQ(cnt, cnt)
	JZ(LabelRef("flush"))
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
	ADDQ(U8(32), off)
	DECQ(left)
	DECQ(cnt)
	JMP(LabelRef("vec"))
	Label("last")
	flushSums8(sums, out)
	VZEROUPPER()
	RET()
	Label("flush")
	flushSums8(sums, out)
	JMP(LabelRef("chunk"))
}

// flushSums8 adds the lane sums of each vector in sums (hsumPS), as
// float64, to out[t].
func flushSums8(sums []VecVirtual, out Register) {
	for t, v := range sums {
		a := hsumPS(v)
		VCVTSS2SD(a, a, a)
		VADDSD(Mem{Base: out, Disp: 8 * t}, a, a)
		VMOVSD(a, Mem{Base: out, Disp: 8 * t})
	}
}

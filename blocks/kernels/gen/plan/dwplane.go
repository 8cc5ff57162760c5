package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// dwPlane emits dwPlaneK*S1AVX512: a k x k depthwise convolution at stride
// 1 with "same" padding (k/2 on every side) over c channel planes of h
// rows of w <= 16 values, in their own layout: one ZMM register holds a
// row, the left and right padding are the lanes a masked load leaves zero
// (masks[dx+k/2] are the lanes of a row shifted by dx that fall inside
// it), and the top and bottom padding are rows never added. Input row i
// is loaded once, as k shifted registers, and added to the k output rows
// it reaches, whose sums stay in k registers while the rows pass: no
// padded copy of the plane and no move into channels-last form, where
// those are most of the work on the planes of 7x7 and 14x14 at the end of
// a network. Each output sums the bias, then its taps row by row of the
// window, as dwNHWC8 does, and is clamped to [lo, hi] before its row is
// stored under masks[k/2] (see rows for the loop). It needs h >= k.
func dwPlane(k int) {
	name := fmt.Sprintf("dwPlaneK%dS1AVX512", k)
	a := planeHead(name, fmt.Sprintf("%s computes a %dx%d depthwise convolution at stride 1, padding %d, over c planes of h rows of w <= 16 values, h >= %d (see gen/plan).", name, k, k, k/2, k), false, false)
	p := k / 2
	mask := make([]Register, k)
	for i := range mask {
		mask[i] = K()
		KMOVW(Mem{Base: a.mp, Disp: 2 * i}, mask[i])
	}
	acc := accumulators(1, k)
	v := zmms(k) // input row i shifted by dx = d-p
	a.rows(k, 1, 1, acc, v, nil, func(_ int, xr Register) {
		for d := range k {
			VMOVUPS_Z(Mem{Base: xr, Disp: 4 * (d - p)}, mask[d], v[d])
		}
	}, func(r int, yr Register) {
		a.store(acc[0][r], mask[p], Mem{Base: yr})
	})
}

// dwPlaneS2 emits dwPlaneK*S2AVX512, dwPlane's form at stride 2: input
// rows of w <= 32 values in two registers (loaded under lmask[0] and
// lmask[1]), from which one permute per column offset dx takes the values
// at 2j+dx for the output columns j (idx[dx+k/2], lanes outside the row
// zero under pmask[dx+k/2], which for dx = 0 are the output row's lanes,
// its store mask). Input row i is the window row kh of the output rows
// (i+k/2-kh)/2 of its parity, about k/2 of them, whose sums stay in
// registers; each output sums the bias, then its taps row by row, as
// dwNHWC8 does. It needs h >= k.
func dwPlaneS2(k int) {
	name := fmt.Sprintf("dwPlaneK%dS2AVX512", k)
	a := planeHead(name, fmt.Sprintf("%s computes a %dx%d depthwise convolution at stride 2, padding %d, over c planes of h rows of w <= 32 values into oh rows of ow, h >= %d (see gen/plan).", name, k, k, k/2, k), true, false)
	p := k / 2
	ip := Load(Param("idx").Base(), GP64())
	idx := zmms(k)
	for d := range idx {
		VMOVUPS(Mem{Base: ip, Disp: 64 * d}, idx[d])
	}
	lmask := []Register{K(), K()}
	KMOVW(Mem{Base: a.mp}, lmask[0])
	KMOVW(Mem{Base: a.mp, Disp: 2}, lmask[1])
	pmask := make([]Register, k)
	for d := range pmask {
		pmask[d] = K()
		KMOVW(Mem{Base: a.mp, Disp: 4 + 2*d}, pmask[d])
	}
	acc := accumulators(1, p+1)
	in0, in1 := ZMM(), ZMM()
	v := zmms(k) // the input row's values at 2j+dx, dx = d-p
	a.rows(k, 2, 1, acc, v, func(xr Register) {
		VMOVUPS_Z(Mem{Base: xr}, lmask[0], in0)
		VMOVUPS_Z(Mem{Base: xr, Disp: 64}, lmask[1], in1)
	}, func(int, Register) {
		for d := range k {
			VMOVAPS(idx[d], v[d])
			VPERMI2PS_Z(in1, in0, pmask[d], v[d])
		}
	}, func(r int, yr Register) {
		a.store(acc[0][r], pmask[p], Mem{Base: yr})
	})
}

// floorDiv is a/b rounded down (b > 0).
func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// dwPlaneS2Wide emits dwPlaneK*S2N*AVX512, dwPlaneS2 for input rows of up
// to 32*nb values (output rows of up to 16*nb, in nb registers): an input
// row is loaded once into 2*nb registers (under masks[r], zero past the
// row), and for output block b and column offset dx the 32 input values
// from column 32b+dx are two VALIGNDs of neighbouring registers (a zero
// register beyond either end of the row), from which one VPERMI2PS takes
// the even ones (idx: 2j). Output block b is stored under masks[2*nb+b].
func dwPlaneS2Wide(k, nb int) {
	name := fmt.Sprintf("dwPlaneK%dS2N%dAVX512", k, nb)
	a := planeHead(name, fmt.Sprintf("%s computes a %dx%d depthwise convolution at stride 2, padding %d, over c planes of h rows of at most %d values into oh rows of ow, h >= %d (see gen/plan).", name, k, k, k/2, 32*nb, k), true, false)
	p := k / 2
	idx := ZMM()
	VMOVUPS(Mem{Base: Load(Param("idx").Base(), GP64())}, idx)
	km := K()
	zero := ZMM()
	VXORPS(zero, zero, zero)
	acc := accumulators(nb, p+1)
	in := zmms(2 * nb)
	reg := func(r int) VecVirtual {
		if r < 0 || r >= len(in) {
			return zero
		}
		return in[r]
	}
	tlo, thi := ZMM(), ZMM()
	v := zmms(k)
	a.rows(k, 2, nb, acc, v, func(xr Register) {
		for r := range in {
			KMOVW(Mem{Base: a.mp, Disp: 2 * r}, km)
			VMOVUPS_Z(Mem{Base: xr, Disp: 64 * r}, km, in[r])
		}
	}, func(b int, _ Register) {
		for d := range k {
			dx := d - p
			l, u := in[2*b], in[2*b+1]
			switch {
			case dx > 0:
				VALIGND(U8(dx), reg(2*b), reg(2*b+1), tlo)
				VALIGND(U8(dx), reg(2*b+1), reg(2*b+2), thi)
				l, u = tlo, thi
			case dx < 0:
				VALIGND(U8(16+dx), reg(2*b-1), reg(2*b), tlo)
				VALIGND(U8(16+dx), reg(2*b), reg(2*b+1), thi)
				l, u = tlo, thi
			}
			VMOVAPS(idx, v[d])
			VPERMI2PS(u, l, v[d])
		}
	}, func(r int, yr Register) {
		for b := range nb {
			KMOVW(Mem{Base: a.mp, Disp: 2 * (2*nb + b)}, km)
			a.store(acc[b][r], km, Mem{Base: yr, Disp: 64 * b})
		}
	})
}

// dwPlaneS1Wide emits dwPlaneK*S1N*AVX512, dwPlane for rows of up to 16*nb
// values, nb registers a row: per output register b and column offset dx
// the input row's values from column 16b+dx are loaded under
// masks[b*k+dx+k/2] (zero outside the row), and output register b is
// stored under masks[nb*k+b]. The k output rows in flight keep their nb
// registers each.
func dwPlaneS1Wide(k, nb int) {
	name := fmt.Sprintf("dwPlaneK%dS1N%dAVX512", k, nb)
	a := planeHead(name, fmt.Sprintf("%s computes a %dx%d depthwise convolution at stride 1, padding %d, over c planes of h rows of at most %d values, h >= %d (see gen/plan).", name, k, k, k/2, 16*nb, k), false, false)
	p := k / 2
	km := K()
	acc := accumulators(nb, k)
	v := zmms(k)
	a.rows(k, 1, nb, acc, v, nil, func(b int, xr Register) {
		for d := range k {
			KMOVW(Mem{Base: a.mp, Disp: 2 * (b*k + d)}, km)
			VMOVUPS_Z(Mem{Base: xr, Disp: 64*b + 4*(d-p)}, km, v[d])
		}
	}, func(r int, yr Register) {
		for b := range nb {
			KMOVW(Mem{Base: a.mp, Disp: 2 * (nb*k + b)}, km)
			a.store(acc[b][r], km, Mem{Base: yr, Disp: 64 * b})
		}
	})
}

// dwPlaneAVX2 emits dwPlaneK*S1N*AVX2, dwPlaneS1Wide's AVX2 form: rows of
// up to 8*nb values in nb YMM registers, the values from column 8b+dx
// loaded under masks[8*(b*k+dx+k/2):] (VMASKMOVPS, int32 lanes: zero
// outside the row). AMD's masked stores are microcoded, so rows are
// stored whole: each row's last register runs up to 8*nb-w values into
// the next row, which is stored after it, and the last row of the last
// plane as far past the planes (the caller stores that plane through a
// buffer). With 16 registers, it takes 3x3 windows on rows of up to 16
// values and 5x5 ones on rows of up to 8; the plan generates nb = 1 only
// (the planes of 7x7): on 14x14 planes the channels-last kernels measured
// as fast (BenchmarkDepthwisePlanes with AVX-512 off).
func dwPlaneAVX2(k, nb int) {
	name := fmt.Sprintf("dwPlaneK%dS1N%dAVX2", k, nb)
	a := planeHead(name, fmt.Sprintf("%s computes a %dx%d depthwise convolution at stride 1, padding %d, over c planes of h rows of at most %d values, h >= %d, each row's last vector written whole (see gen/plan).", name, k, k, k/2, 8*nb, k), false, true)
	p := k / 2
	acc := accumulatorsOf(nb, k, YMM)
	v := vecsOf(k, YMM)
	m := YMM()
	a.rows(k, 1, nb, acc, v, nil, func(b int, xr Register) {
		for d := range k {
			VMOVDQU(Mem{Base: a.mp, Disp: 32 * (b*k + d)}, m)
			VMASKMOVPS(Mem{Base: xr, Disp: 32*b + 4*(d-p)}, m, v[d])
		}
	}, func(r int, yr Register) {
		for b := range nb {
			a.store(acc[b][r], nil, Mem{Base: yr, Disp: 32 * b})
		}
	})
}

// planeArgs holds the arguments every plane kernel has, in registers:
// the planes, their count, the input plane's rows and row bytes, the
// output row's bytes and both planes' bytes, the weights, the biases and
// the masks; lo and hi broadcast, and bias for each plane's.
type planeArgs struct {
	y, x, ch, h, inRow, outRow, inPlane, outPlane, wt, bp, mp Register
	lo, hi, bias                                              VecVirtual
	// w is the AVX2 kernels' register for a tap's broadcast weight
	// (their multiply-adds have no broadcast operand); nil in AVX-512's.
	w VecVirtual
	// hs, in the AVX-512 kernels, is the hswish argument: when it is not
	// zero, store applies hard swish after the clamp, in t.
	hs Register
	t  VecVirtual
}

// hardSwishConst returns the float32 constant v of the hard swish that
// the plane kernels apply (in RODATA, one per value).
func hardSwishConst(name string, v float32) Mem {
	if m, ok := hardSwishConsts[name]; ok {
		return m
	}
	m := GLOBL(name, RODATA|NOPTR)
	DATA(0, F32(v))
	hardSwishConsts[name] = m
	return m
}

var hardSwishConsts = map[string]Mem{}

// storeLabels numbers the labels store emits.
var storeLabels int

// planeHead emits a plane kernel's TEXT and loads its arguments. Strided
// kernels (stride 2) have the output planes' oh and ow after h and w, and
// idx before masks; at stride 1 the output plane is the input's shape.
// The AVX2 kernels (stride 1) have YMM registers, masks of int32 lanes
// (VMASKMOVPS) and no hswish argument.
func planeHead(name, doc string, strided, avx2 bool) planeArgs {
	sig := "func(y, x []float32, c, h, w int, wt, b []float32, masks []uint16, lo, hi float32, hswish int)"
	switch {
	case avx2:
		sig = "func(y, x []float32, c, h, w int, wt, b []float32, masks []int32, lo, hi float32)"
	case strided:
		sig = "func(y, x []float32, c, h, w, oh, ow int, wt, b []float32, idx []int32, masks []uint16, lo, hi float32, hswish int)"
	}
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(doc)
	var a planeArgs
	a.y = Load(Param("y").Base(), GP64())
	a.x = Load(Param("x").Base(), GP64())
	a.ch = Load(Param("c"), GP64())
	a.h = Load(Param("h"), GP64())
	a.inRow = Load(Param("w"), GP64())
	SHLQ(U8(2), a.inRow)
	a.inPlane = GP64()
	MOVQ(a.h, a.inPlane)
	IMULQ(a.inRow, a.inPlane)
	a.outRow, a.outPlane = a.inRow, a.inPlane
	if strided {
		a.outRow = Load(Param("ow"), GP64())
		SHLQ(U8(2), a.outRow)
		a.outPlane = Load(Param("oh"), GP64())
		IMULQ(a.outRow, a.outPlane)
	}
	a.wt = Load(Param("wt").Base(), GP64())
	a.bp = Load(Param("b").Base(), GP64())
	a.mp = Load(Param("masks").Base(), GP64())
	if avx2 {
		a.lo, a.hi, a.bias, a.w = YMM(), YMM(), YMM(), YMM()
	} else {
		a.lo, a.hi, a.bias = ZMM(), ZMM(), ZMM()
	}
	VBROADCASTSS(argAddr(Param("lo")), a.lo)
	VBROADCASTSS(argAddr(Param("hi")), a.hi)
	if !avx2 {
		a.hs = Load(Param("hswish"), GP64())
		a.t = ZMM()
	}
	return a
}

// store clamps v to [lo, hi] and stores it at m, under mask (nil: the
// whole register).
func (a planeArgs) store(v VecVirtual, mask Op, m Mem) {
	VMAXPS(v, a.lo, v) // a NaN stays NaN, as with Go's max and min
	VMINPS(v, a.hi, v)
	if a.hs != nil {
		// Hard swish as the epilogue's pass after the kernels computes
		// it (biasHardSwishAVX2 with a zero bias), to the bit:
		// v*min(max(v+3, 0), 6)*(1/6) with v = v+0.
		storeLabels++
		plain := fmt.Sprintf("store%d", storeLabels)
		CMPQ(a.hs, U8(0))
		JE(LabelRef(plain))
		VXORPS(a.t, a.t, a.t)
		VADDPS(a.t, v, v)
		VADDPS_BCST(hardSwishConst("planeHardSwishThree", 3), v, a.t)
		VMAXPS_BCST(hardSwishConst("planeHardSwishZero", 0), a.t, a.t)
		VMINPS_BCST(hardSwishConst("planeHardSwishSix", 6), a.t, a.t)
		VMULPS(a.t, v, v)
		VMULPS_BCST(hardSwishConst("planeHardSwishSixth", float32(1.0/6)), v, v)
		Label(plain)
	}
	if mask == nil {
		VMOVUPS(v, m)
		return
	}
	VMOVUPS(v, mask, m)
}

// addTaps adds row kh of a k x k window, the weights times the input
// values v (the row's values at the window's columns), to acc.
func (a planeArgs) addTaps(k, kh int, v []VecVirtual, acc VecVirtual) {
	for kw := 0; kw < k; kw++ {
		m := Mem{Base: a.wt, Disp: 4 * (kh*k + kw)}
		if a.w != nil {
			VBROADCASTSS(m, a.w)
			VFMADD231PS(v[kw], a.w, acc)
			continue
		}
		VFMADD231PS_BCST(m, v[kw], acc)
	}
}

// channels emits the loop over the c planes of a k x k window: per plane
// the bias broadcast, then body, whose every path ends at "nextchan";
// then the next plane's planes, weights and bias.
func (a planeArgs) channels(k int, body func()) {
	Label("chan")
	CMPQ(a.ch, U8(0))
	JLE(LabelRef("done"))
	VBROADCASTSS(Mem{Base: a.bp}, a.bias)
	body()
	Label("nextchan")
	ADDQ(a.inPlane, a.x)
	ADDQ(a.outPlane, a.y)
	ADDQ(U8(4*k*k), a.wt)
	ADDQ(U8(4), a.bp)
	DECQ(a.ch)
	JMP(LabelRef("chan"))
	Label("done")
	VZEROUPPER()
	RET()
}

// rows emits the row loop of a plane kernel at stride s with nb output
// registers a row, inside channels: acc[b][r%len(acc[b])] holds register
// b of output row r, ceil(k/s) rows in flight. loadRow loads input row i
// (at xr) where the kernel loads a whole row at once, values(b) fills v
// with its values at s*j+dx (dx = d-k/2) for output register b, and
// store(r) stores output row r (modulo the registers) at yr. Input row i
// is row kh of the windows of the output rows (i+k/2-kh)/s that divide
// exactly; an output row starts at the bias with its window's row 0, is
// stored after its last row, and the rows of its window above and below
// the plane are never added. The bodies are emitted one per input row
// modulo s*ceil(k/s), each with the registers in the roles that row gives
// them, so that no sum moves between registers; the loop needs h >= k.
func (a planeArgs) rows(k, s, nb int, acc [][]VecVirtual, v []VecVirtual, loadRow func(xr Register), values func(b int, xr Register), store func(r int, yr Register)) {
	p := k / 2
	nacc := len(acc[0])
	period := s * nacc
	i, xr, yr := GP64(), GP64(), GP64() // input row i at xr; the next output row to store at yr
	a.channels(k, func() {
		for r := 0; s*r-p < 0; r++ {
			for b := range nb {
				VMOVAPS(a.bias, acc[b][r%nacc])
			}
		}
		MOVQ(a.x, xr)
		MOVQ(a.y, yr)
		XORQ(i, i)
		Label("row")
		for j := range period {
			CMPQ(i, a.h)
			JGE(LabelRef(fmt.Sprintf("tail%d", j)))
			if loadRow != nil {
				loadRow(xr)
			}
			for b := range nb {
				values(b, xr)
				for kh := 0; kh < k; kh++ {
					if mod(j-kh+p, s) != 0 {
						continue
					}
					// Output row (i+p-kh)/s; above the plane near the
					// top, a register whose row starts later, at the bias.
					r := acc[b][mod((j-kh+p)/s, nacc)]
					if kh == 0 {
						VMOVAPS(a.bias, r)
					}
					a.addTaps(k, kh, v, r)
				}
			}
			if mod(j-p, s) == 0 {
				// Output row (i-p)/s is complete, once i >= p.
				skip := fmt.Sprintf("next%d", j)
				CMPQ(i, U8(p))
				JL(LabelRef(skip))
				store(mod((j-p)/s, nacc), yr)
				ADDQ(a.outRow, yr)
				Label(skip)
			}
			ADDQ(a.inRow, xr)
			INCQ(i)
		}
		JMP(LabelRef("row"))
		for j := range period {
			// i == h, h%period == j: the output rows whose windows reach
			// below the plane, from ceil((h-p)/s) to oh-1 = ceil(h/s)-1,
			// counted from (h-j)/s, a multiple of the registers.
			Label(fmt.Sprintf("tail%d", j))
			for r := -floorDiv(p-j, s); r <= -floorDiv(-j, s)-1; r++ {
				store(mod(r, nacc), yr)
				ADDQ(a.outRow, yr)
			}
			JMP(LabelRef("nextchan"))
		}
	})
}

// accumulators returns nb ZMM registers for each of n output rows.
func accumulators(nb, n int) [][]VecVirtual { return accumulatorsOf(nb, n, ZMM) }

// accumulatorsOf returns nb registers of vec for each of n output rows.
func accumulatorsOf(nb, n int, vec func() VecVirtual) [][]VecVirtual {
	acc := make([][]VecVirtual, nb)
	for b := range acc {
		acc[b] = vecsOf(n, vec)
	}
	return acc
}

// zmms returns n ZMM registers.
func zmms(n int) []VecVirtual { return vecsOf(n, ZMM) }

// vecsOf returns n registers of vec.
func vecsOf(n int, vec func() VecVirtual) []VecVirtual {
	v := make([]VecVirtual, n)
	for i := range v {
		v[i] = vec()
	}
	return v
}

// mod is a modulo n in [0, n).
func mod(a, n int) int { return (a%n + n) % n }

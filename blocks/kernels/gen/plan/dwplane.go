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
// stored under masks[k/2]. It needs h >= k.
//
// The k bodies of the row loop are emitted one per row modulo k, each
// with the registers in the roles that row gives them, so that no sum
// moves between registers.
func dwPlane(k int) {
	name := fmt.Sprintf("dwPlaneK%dS1AVX512", k)
	a := planeHead(name, fmt.Sprintf("%s computes a %dx%d depthwise convolution at stride 1, padding %d, over c planes of h rows of w <= 16 values, h >= %d (see gen/plan).", name, k, k, k/2, k), false)
	p := k / 2
	mask := make([]Register, k)
	for i := range mask {
		mask[i] = K()
		KMOVW(Mem{Base: a.mp, Disp: 2 * i}, mask[i])
	}
	acc := make([]VecVirtual, k) // acc[r%k]: the sum of output row r
	for i := range acc {
		acc[i] = ZMM()
	}
	v := make([]VecVirtual, k) // input row i shifted by dx = j-p
	for i := range v {
		v[i] = ZMM()
	}
	i := GP64()  // input row
	xr := GP64() // input row i
	yr := GP64() // output row i-p
	a.channels(k, func() {
		// The rows above the plane add nothing: rows 0 to p-1 start at
		// the bias.
		for r := 0; r < p; r++ {
			VMOVAPS(a.bias, acc[r%k])
		}
		MOVQ(a.x, xr)
		MOVQ(a.y, yr)
		for range p {
			SUBQ(a.inRow, yr)
		}
		XORQ(i, i)
		Label("row")
		for j := range k { // the body for input rows i with i%k == j
			CMPQ(i, a.h)
			JGE(LabelRef(fmt.Sprintf("tail%d", j)))
			for d := range k {
				VMOVUPS_Z(Mem{Base: xr, Disp: 4 * (d - p)}, mask[d], v[d])
			}
			// Output row i+p starts here; input row i is its window's
			// row 0, and row kh of the window of output row i+p-kh.
			VMOVAPS(a.bias, acc[mod(j+p, k)])
			for kh := 0; kh < k; kh++ {
				a.addTaps(k, kh, v, acc[mod(j+p-kh, k)])
			}
			// Output row i-p is complete.
			skip := fmt.Sprintf("next%d", j)
			CMPQ(i, U8(p))
			JL(LabelRef(skip))
			a.store(acc[mod(j-p, k)], mask[p], Mem{Base: yr})
			Label(skip)
			ADDQ(a.inRow, xr)
			ADDQ(a.inRow, yr)
			INCQ(i)
		}
		JMP(LabelRef("row"))
		for j := range k {
			// i == h, h%k == j: output rows h-p to h-1 have no rows
			// below the plane to add.
			Label(fmt.Sprintf("tail%d", j))
			for q := range p {
				a.store(acc[mod(j-p+q, k)], mask[p], Mem{Base: yr})
				ADDQ(a.inRow, yr)
			}
			JMP(LabelRef("nextchan"))
		}
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
//
// The bodies of the row loop are emitted one per input row modulo 2r,
// where r = k/2+1 registers hold the sums in flight, so that every sum
// keeps its register.
func dwPlaneS2(k int) {
	name := fmt.Sprintf("dwPlaneK%dS2AVX512", k)
	a := planeHead(name, fmt.Sprintf("%s computes a %dx%d depthwise convolution at stride 2, padding %d, over c planes of h rows of w <= 32 values into oh rows of ow, h >= %d (see gen/plan).", name, k, k, k/2, k), true)
	p := k / 2
	nacc := p + 1
	period := 2 * nacc
	ip := Load(Param("idx").Base(), GP64())
	idx := make([]VecVirtual, k)
	for d := range idx {
		idx[d] = ZMM()
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
	acc := make([]VecVirtual, nacc) // acc[r%nacc]: the sum of output row r
	for i := range acc {
		acc[i] = ZMM()
	}
	in0, in1 := ZMM(), ZMM()
	v := make([]VecVirtual, k) // the input row's values at 2j+dx, dx = d-p
	for d := range v {
		v[d] = ZMM()
	}
	i, xr, yr := GP64(), GP64(), GP64()
	store := func(r int) {
		a.store(acc[mod(r, nacc)], pmask[p], Mem{Base: yr})
		ADDQ(a.outRow, yr)
	}
	a.channels(k, func() {
		// Output rows whose window starts above the plane start at the
		// bias.
		for r := 0; 2*r-p < 0; r++ {
			VMOVAPS(a.bias, acc[r%nacc])
		}
		MOVQ(a.x, xr)
		MOVQ(a.y, yr)
		XORQ(i, i)
		Label("row")
		for j := range period { // the body for input rows i with i%period == j
			CMPQ(i, a.h)
			JGE(LabelRef(fmt.Sprintf("tail%d", j)))
			VMOVUPS_Z(Mem{Base: xr}, lmask[0], in0)
			VMOVUPS_Z(Mem{Base: xr, Disp: 64}, lmask[1], in1)
			for d := range k {
				VMOVAPS(idx[d], v[d])
				VPERMI2PS_Z(in1, in0, pmask[d], v[d])
			}
			for kh := 0; kh < k; kh++ {
				if mod(j-kh+p, 2) != 0 {
					continue
				}
				// Output row (i+p-kh)/2; above the plane (below 0) near
				// the top, a register whose row starts later, at the bias.
				r := acc[mod((j-kh+p)/2, nacc)]
				if kh == 0 {
					VMOVAPS(a.bias, r) // output row (i+p)/2 starts here
				}
				a.addTaps(k, kh, v, r)
			}
			if mod(j-p, 2) == 0 {
				// Output row (i-p)/2 is complete (once i >= p).
				skip := fmt.Sprintf("next%d", j)
				CMPQ(i, U8(p))
				JL(LabelRef(skip))
				store((j - p) / 2)
				Label(skip)
			}
			ADDQ(a.inRow, xr)
			INCQ(i)
		}
		JMP(LabelRef("row"))
		for j := range period {
			// i == h, h%period == j: the output rows whose windows reach
			// below the plane, from row ceil((h-p)/2) to oh-1 =
			// ceil(h/2)-1, counted from (h-j)/2, a multiple of the
			// registers.
			Label(fmt.Sprintf("tail%d", j))
			for r := -floorDiv(p-j, 2); r <= (j+1)/2-1; r++ {
				store(r)
			}
			JMP(LabelRef("nextchan"))
		}
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
	a := planeHead(name, fmt.Sprintf("%s computes a %dx%d depthwise convolution at stride 2, padding %d, over c planes of h rows of at most %d values into oh rows of ow, h >= %d (see gen/plan).", name, k, k, k/2, 32*nb, k), true)
	p := k / 2
	nacc := p + 1
	period := 2 * nacc
	idx := ZMM()
	VMOVUPS(Mem{Base: Load(Param("idx").Base(), GP64())}, idx)
	km := K()
	zero := ZMM()
	VXORPS(zero, zero, zero)
	acc := make([][]VecVirtual, nb) // acc[b][r%nacc]: block b of output row r
	for b := range acc {
		acc[b] = make([]VecVirtual, nacc)
		for i := range acc[b] {
			acc[b][i] = ZMM()
		}
	}
	in := make([]VecVirtual, 2*nb)
	for r := range in {
		in[r] = ZMM()
	}
	reg := func(r int) VecVirtual {
		if r < 0 || r >= len(in) {
			return zero
		}
		return in[r]
	}
	tlo, thi := ZMM(), ZMM()
	v := make([]VecVirtual, k)
	for d := range v {
		v[d] = ZMM()
	}
	i, xr, yr := GP64(), GP64(), GP64()
	store := func(r int) {
		for b := range nb {
			KMOVW(Mem{Base: a.mp, Disp: 2 * (2*nb + b)}, km)
			a.store(acc[b][mod(r, nacc)], km, Mem{Base: yr, Disp: 64 * b})
		}
		ADDQ(a.outRow, yr)
	}
	a.channels(k, func() {
		for r := 0; 2*r-p < 0; r++ {
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
			for r := range in {
				KMOVW(Mem{Base: a.mp, Disp: 2 * r}, km)
				VMOVUPS_Z(Mem{Base: xr, Disp: 64 * r}, km, in[r])
			}
			for b := range nb {
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
				for kh := 0; kh < k; kh++ {
					if mod(j-kh+p, 2) != 0 {
						continue
					}
					r := acc[b][mod((j-kh+p)/2, nacc)]
					if kh == 0 {
						VMOVAPS(a.bias, r)
					}
					a.addTaps(k, kh, v, r)
				}
			}
			if mod(j-p, 2) == 0 {
				skip := fmt.Sprintf("next%d", j)
				CMPQ(i, U8(p))
				JL(LabelRef(skip))
				store((j - p) / 2)
				Label(skip)
			}
			ADDQ(a.inRow, xr)
			INCQ(i)
		}
		JMP(LabelRef("row"))
		for j := range period {
			Label(fmt.Sprintf("tail%d", j))
			for r := -floorDiv(p-j, 2); r <= (j+1)/2-1; r++ {
				store(r)
			}
			JMP(LabelRef("nextchan"))
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
	a := planeHead(name, fmt.Sprintf("%s computes a %dx%d depthwise convolution at stride 1, padding %d, over c planes of h rows of at most %d values, h >= %d (see gen/plan).", name, k, k, k/2, 16*nb, k), false)
	p := k / 2
	km := K()
	acc := make([][]VecVirtual, nb) // acc[b][r%k]: register b of output row r
	for b := range acc {
		acc[b] = make([]VecVirtual, k)
		for i := range acc[b] {
			acc[b][i] = ZMM()
		}
	}
	v := make([]VecVirtual, k)
	for d := range v {
		v[d] = ZMM()
	}
	i, xr, yr := GP64(), GP64(), GP64()
	store := func(r int) {
		for b := range nb {
			KMOVW(Mem{Base: a.mp, Disp: 2 * (nb*k + b)}, km)
			a.store(acc[b][mod(r, k)], km, Mem{Base: yr, Disp: 64 * b})
		}
	}
	a.channels(k, func() {
		for r := 0; r < p; r++ {
			for b := range nb {
				VMOVAPS(a.bias, acc[b][r])
			}
		}
		MOVQ(a.x, xr)
		MOVQ(a.y, yr)
		for range p {
			SUBQ(a.inRow, yr)
		}
		XORQ(i, i)
		Label("row")
		for j := range k {
			CMPQ(i, a.h)
			JGE(LabelRef(fmt.Sprintf("tail%d", j)))
			for b := range nb {
				for d := range k {
					KMOVW(Mem{Base: a.mp, Disp: 2 * (b*k + d)}, km)
					VMOVUPS_Z(Mem{Base: xr, Disp: 64*b + 4*(d-p)}, km, v[d])
				}
				VMOVAPS(a.bias, acc[b][mod(j+p, k)])
				for kh := 0; kh < k; kh++ {
					a.addTaps(k, kh, v, acc[b][mod(j+p-kh, k)])
				}
			}
			skip := fmt.Sprintf("next%d", j)
			CMPQ(i, U8(p))
			JL(LabelRef(skip))
			store(j - p)
			Label(skip)
			ADDQ(a.inRow, xr)
			ADDQ(a.inRow, yr)
			INCQ(i)
		}
		JMP(LabelRef("row"))
		for j := range k {
			Label(fmt.Sprintf("tail%d", j))
			for q := range p {
				store(j - p + q)
				ADDQ(a.inRow, yr)
			}
			JMP(LabelRef("nextchan"))
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
}

// planeHead emits a plane kernel's TEXT and loads its arguments. Strided
// kernels (stride 2) have the output planes' oh and ow after h and w, and
// idx before masks; at stride 1 the output plane is the input's shape.
func planeHead(name, doc string, strided bool) planeArgs {
	sig := "func(y, x []float32, c, h, w int, wt, b []float32, masks []uint16, lo, hi float32)"
	if strided {
		sig = "func(y, x []float32, c, h, w, oh, ow int, wt, b []float32, idx []int32, masks []uint16, lo, hi float32)"
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
	a.lo, a.hi, a.bias = ZMM(), ZMM(), ZMM()
	VBROADCASTSS(argAddr(Param("lo")), a.lo)
	VBROADCASTSS(argAddr(Param("hi")), a.hi)
	return a
}

// store clamps v to [lo, hi] and stores it under mask at m.
func (a planeArgs) store(v VecVirtual, mask Op, m Mem) {
	VMAXPS(v, a.lo, v) // a NaN stays NaN, as with Go's max and min
	VMINPS(v, a.hi, v)
	VMOVUPS(v, mask, m)
}

// addTaps adds row kh of a k x k window, the weights times the input
// values v (the row's values at the window's columns), to acc.
func (a planeArgs) addTaps(k, kh int, v []VecVirtual, acc VecVirtual) {
	for kw := 0; kw < k; kw++ {
		VFMADD231PS_BCST(Mem{Base: a.wt, Disp: 4 * (kh*k + kw)}, v[kw], acc)
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

// mod is a modulo n in [0, n).
func mod(a, n int) int { return (a%n + n) % n }

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
	TEXT(name, NOSPLIT, "func(y, x []float32, c, h, w int, wt, b []float32, masks []uint16, lo, hi float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes a %dx%d depthwise convolution at stride 1, padding %d, over c planes of h rows of w <= 16 values, h >= %d (see gen/plan).", name, k, k, k/2, k))
	p := k / 2
	y := Load(Param("y").Base(), GP64())
	x := Load(Param("x").Base(), GP64())
	ch := Load(Param("c"), GP64())
	h := Load(Param("h"), GP64())
	rowBytes := Load(Param("w"), GP64())
	SHLQ(U8(2), rowBytes)
	wt := Load(Param("wt").Base(), GP64())
	bp := Load(Param("b").Base(), GP64())
	mp := Load(Param("masks").Base(), GP64())
	mask := make([]Register, k)
	for i := range mask {
		mask[i] = K()
		KMOVW(Mem{Base: mp, Disp: 2 * i}, mask[i])
	}
	lo, hi := ZMM(), ZMM()
	VBROADCASTSS(argAddr(Param("lo")), lo)
	VBROADCASTSS(argAddr(Param("hi")), hi)
	bias := ZMM()
	acc := make([]VecVirtual, k) // acc[r%k]: the sum of output row r
	for i := range acc {
		acc[i] = ZMM()
	}
	v := make([]VecVirtual, k) // input row i shifted by dx = j-p
	for i := range v {
		v[i] = ZMM()
	}
	i := GP64()      // input row
	xr := GP64()     // input row i
	yr := GP64()     // output row i-p
	planeB := GP64() // bytes in a plane
	MOVQ(h, planeB)
	IMULQ(rowBytes, planeB)
	store := func(a VecVirtual, at Mem) {
		VMAXPS(a, lo, a) // a NaN stays NaN, as with Go's max and min
		VMINPS(a, hi, a)
		VMOVUPS(a, mask[p], at)
	}

	Label("chan")
	CMPQ(ch, U8(0))
	JLE(LabelRef("done"))
	VBROADCASTSS(Mem{Base: bp}, bias)
	// The rows above the plane add nothing: rows 0 to p-1 start at the bias.
	for r := 0; r < p; r++ {
		VMOVAPS(bias, acc[r%k])
	}
	MOVQ(x, xr)
	MOVQ(y, yr)
	for range p {
		SUBQ(rowBytes, yr)
	}
	XORQ(i, i)
	Label("row")
	for j := range k { // the body for input rows i with i%k == j
		CMPQ(i, h)
		JGE(LabelRef(fmt.Sprintf("tail%d", j)))
		for d := range k {
			VMOVUPS_Z(Mem{Base: xr, Disp: 4 * (d - p)}, mask[d], v[d])
		}
		// Output row i+p starts here; input row i is its window's row 0,
		// and row kh of the window of output row i+p-kh.
		VMOVAPS(bias, acc[(j+p)%k])
		for kh := 0; kh < k; kh++ {
			a := acc[((j+p-kh)%k+k)%k]
			for kw := 0; kw < k; kw++ {
				VFMADD231PS_BCST(Mem{Base: wt, Disp: 4 * (kh*k + kw)}, v[kw], a)
			}
		}
		// Output row i-p is complete.
		skip := fmt.Sprintf("next%d", j)
		CMPQ(i, U8(p))
		JL(LabelRef(skip))
		store(acc[((j-p)%k+k)%k], Mem{Base: yr})
		Label(skip)
		ADDQ(rowBytes, xr)
		ADDQ(rowBytes, yr)
		INCQ(i)
	}
	JMP(LabelRef("row"))
	for j := range k {
		// i == h, h%k == j: output rows h-p to h-1 have no rows below
		// the plane to add.
		Label(fmt.Sprintf("tail%d", j))
		for q := range p {
			store(acc[((j-p+q)%k+k)%k], Mem{Base: yr})
			ADDQ(rowBytes, yr)
		}
		JMP(LabelRef("nextchan"))
	}
	Label("nextchan")
	ADDQ(planeB, x)
	ADDQ(planeB, y)
	ADDQ(U8(4*k*k), wt)
	ADDQ(U8(4), bp)
	DECQ(ch)
	JMP(LabelRef("chan"))
	Label("done")
	VZEROUPPER()
	RET()
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
	TEXT(name, NOSPLIT, "func(y, x []float32, c, h, w, oh, ow int, wt, b []float32, idx []int32, masks []uint16, lo, hi float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes a %dx%d depthwise convolution at stride 2, padding %d, over c planes of h rows of w <= 32 values into oh rows of ow, h >= %d (see gen/plan).", name, k, k, k/2, k))
	p := k / 2
	nacc := p + 1
	period := 2 * nacc
	y := Load(Param("y").Base(), GP64())
	x := Load(Param("x").Base(), GP64())
	ch := Load(Param("c"), GP64())
	h := Load(Param("h"), GP64())
	inRow := Load(Param("w"), GP64())
	SHLQ(U8(2), inRow)
	outRow := Load(Param("ow"), GP64())
	SHLQ(U8(2), outRow)
	inPlane, outPlane := GP64(), GP64()
	MOVQ(h, inPlane)
	IMULQ(inRow, inPlane)
	Load(Param("oh"), outPlane)
	IMULQ(outRow, outPlane)
	wt := Load(Param("wt").Base(), GP64())
	bp := Load(Param("b").Base(), GP64())
	ip := Load(Param("idx").Base(), GP64())
	idx := make([]VecVirtual, k)
	for d := range idx {
		idx[d] = ZMM()
		VMOVUPS(Mem{Base: ip, Disp: 64 * d}, idx[d])
	}
	mp := Load(Param("masks").Base(), GP64())
	lmask := []Register{K(), K()}
	KMOVW(Mem{Base: mp}, lmask[0])
	KMOVW(Mem{Base: mp, Disp: 2}, lmask[1])
	pmask := make([]Register, k)
	for d := range pmask {
		pmask[d] = K()
		KMOVW(Mem{Base: mp, Disp: 4 + 2*d}, pmask[d])
	}
	lo, hi := ZMM(), ZMM()
	VBROADCASTSS(argAddr(Param("lo")), lo)
	VBROADCASTSS(argAddr(Param("hi")), hi)
	bias := ZMM()
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
	store := func(a VecVirtual) {
		VMAXPS(a, lo, a) // a NaN stays NaN, as with Go's max and min
		VMINPS(a, hi, a)
		VMOVUPS(a, pmask[p], Mem{Base: yr})
		ADDQ(outRow, yr)
	}
	mod := func(a, n int) int { return (a%n + n) % n }

	Label("chan")
	CMPQ(ch, U8(0))
	JLE(LabelRef("done"))
	VBROADCASTSS(Mem{Base: bp}, bias)
	// Output rows whose window starts above the plane start at the bias.
	for r := 0; 2*r-p < 0; r++ {
		VMOVAPS(bias, acc[r%nacc])
	}
	MOVQ(x, xr)
	MOVQ(y, yr)
	XORQ(i, i)
	Label("row")
	for j := range period { // the body for input rows i with i%period == j
		CMPQ(i, h)
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
			// Output row (i+p-kh)/2; above the plane (below 0) near the
			// top, a register whose row starts later, at the bias.
			a := acc[mod((j-kh+p)/2, nacc)]
			if kh == 0 {
				VMOVAPS(bias, a) // output row (i+p)/2 starts here
			}
			for kw := 0; kw < k; kw++ {
				VFMADD231PS_BCST(Mem{Base: wt, Disp: 4 * (kh*k + kw)}, v[kw], a)
			}
		}
		if mod(j-p, 2) == 0 {
			// Output row (i-p)/2 is complete (once i >= p).
			skip := fmt.Sprintf("next%d", j)
			CMPQ(i, U8(p))
			JL(LabelRef(skip))
			store(acc[mod((j-p)/2, nacc)])
			Label(skip)
		}
		ADDQ(inRow, xr)
		INCQ(i)
	}
	JMP(LabelRef("row"))
	for j := range period {
		// i == h, h%period == j: the output rows whose windows reach
		// below the plane, from row ceil((h-p)/2) to oh-1 = ceil(h/2)-1.
		Label(fmt.Sprintf("tail%d", j))
		// Rows counted from (h-j)/2, a multiple of the registers.
		first := -floorDiv(p-j, 2) // ceil((j-p)/2)
		last := (j+1)/2 - 1
		for r := first; r <= last; r++ {
			store(acc[mod(r, nacc)])
		}
		JMP(LabelRef("nextchan"))
	}
	Label("nextchan")
	ADDQ(inPlane, x)
	ADDQ(outPlane, y)
	ADDQ(U8(4*k*k), wt)
	ADDQ(U8(4), bp)
	DECQ(ch)
	JMP(LabelRef("chan"))
	Label("done")
	VZEROUPPER()
	RET()
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
	TEXT(name, NOSPLIT, "func(y, x []float32, c, h, w, oh, ow int, wt, b []float32, idx []int32, masks []uint16, lo, hi float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes a %dx%d depthwise convolution at stride 2, padding %d, over c planes of h rows of at most %d values into oh rows of ow, h >= %d (see gen/plan).", name, k, k, k/2, 32*nb, k))
	p := k / 2
	nacc := p + 1
	period := 2 * nacc
	y := Load(Param("y").Base(), GP64())
	x := Load(Param("x").Base(), GP64())
	ch := Load(Param("c"), GP64())
	h := Load(Param("h"), GP64())
	inRow := Load(Param("w"), GP64())
	SHLQ(U8(2), inRow)
	outRow := Load(Param("ow"), GP64())
	SHLQ(U8(2), outRow)
	inPlane, outPlane := GP64(), GP64()
	MOVQ(h, inPlane)
	IMULQ(inRow, inPlane)
	Load(Param("oh"), outPlane)
	IMULQ(outRow, outPlane)
	wt := Load(Param("wt").Base(), GP64())
	bp := Load(Param("b").Base(), GP64())
	idx := ZMM()
	VMOVUPS(Mem{Base: Load(Param("idx").Base(), GP64())}, idx)
	mp := Load(Param("masks").Base(), GP64())
	km := K()
	lo, hi := ZMM(), ZMM()
	VBROADCASTSS(argAddr(Param("lo")), lo)
	VBROADCASTSS(argAddr(Param("hi")), hi)
	bias := ZMM()
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
	store := func(b int, a VecVirtual) {
		VMAXPS(a, lo, a) // a NaN stays NaN, as with Go's max and min
		VMINPS(a, hi, a)
		KMOVW(Mem{Base: mp, Disp: 2 * (2*nb + b)}, km)
		VMOVUPS(a, km, Mem{Base: yr, Disp: 64 * b})
	}
	mod := func(a, n int) int { return (a%n + n) % n }

	Label("chan")
	CMPQ(ch, U8(0))
	JLE(LabelRef("done"))
	VBROADCASTSS(Mem{Base: bp}, bias)
	for r := 0; 2*r-p < 0; r++ {
		for b := range nb {
			VMOVAPS(bias, acc[b][r%nacc])
		}
	}
	MOVQ(x, xr)
	MOVQ(y, yr)
	XORQ(i, i)
	Label("row")
	for j := range period {
		CMPQ(i, h)
		JGE(LabelRef(fmt.Sprintf("tail%d", j)))
		for r := range in {
			KMOVW(Mem{Base: mp, Disp: 2 * r}, km)
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
				a := acc[b][mod((j-kh+p)/2, nacc)]
				if kh == 0 {
					VMOVAPS(bias, a)
				}
				for kw := 0; kw < k; kw++ {
					VFMADD231PS_BCST(Mem{Base: wt, Disp: 4 * (kh*k + kw)}, v[kw], a)
				}
			}
		}
		if mod(j-p, 2) == 0 {
			skip := fmt.Sprintf("next%d", j)
			CMPQ(i, U8(p))
			JL(LabelRef(skip))
			for b := range nb {
				store(b, acc[b][mod((j-p)/2, nacc)])
			}
			ADDQ(outRow, yr)
			Label(skip)
		}
		ADDQ(inRow, xr)
		INCQ(i)
	}
	JMP(LabelRef("row"))
	for j := range period {
		Label(fmt.Sprintf("tail%d", j))
		first := -floorDiv(p-j, 2)
		last := (j+1)/2 - 1
		for r := first; r <= last; r++ {
			for b := range nb {
				store(b, acc[b][mod(r, nacc)])
			}
			ADDQ(outRow, yr)
		}
		JMP(LabelRef("nextchan"))
	}
	Label("nextchan")
	ADDQ(inPlane, x)
	ADDQ(outPlane, y)
	ADDQ(U8(4*k*k), wt)
	ADDQ(U8(4), bp)
	DECQ(ch)
	JMP(LabelRef("chan"))
	Label("done")
	VZEROUPPER()
	RET()
}

// dwPlaneS1Wide emits dwPlaneK*S1N*AVX512, dwPlane for rows of up to 16*nb
// values, nb registers a row: per output register b and column offset dx
// the input row's values from column 16b+dx are loaded under
// masks[b*k+dx+k/2] (zero outside the row), and output register b is
// stored under masks[nb*k+b]. The k output rows in flight keep their nb
// registers each.
func dwPlaneS1Wide(k, nb int) {
	name := fmt.Sprintf("dwPlaneK%dS1N%dAVX512", k, nb)
	TEXT(name, NOSPLIT, "func(y, x []float32, c, h, w int, wt, b []float32, masks []uint16, lo, hi float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes a %dx%d depthwise convolution at stride 1, padding %d, over c planes of h rows of at most %d values, h >= %d (see gen/plan).", name, k, k, k/2, 16*nb, k))
	p := k / 2
	y := Load(Param("y").Base(), GP64())
	x := Load(Param("x").Base(), GP64())
	ch := Load(Param("c"), GP64())
	h := Load(Param("h"), GP64())
	rowBytes := Load(Param("w"), GP64())
	SHLQ(U8(2), rowBytes)
	wt := Load(Param("wt").Base(), GP64())
	bp := Load(Param("b").Base(), GP64())
	mp := Load(Param("masks").Base(), GP64())
	km := K()
	lo, hi := ZMM(), ZMM()
	VBROADCASTSS(argAddr(Param("lo")), lo)
	VBROADCASTSS(argAddr(Param("hi")), hi)
	bias := ZMM()
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
	i, xr, yr, planeB := GP64(), GP64(), GP64(), GP64()
	MOVQ(h, planeB)
	IMULQ(rowBytes, planeB)
	store := func(r int) {
		for b := range nb {
			a := acc[b][r]
			VMAXPS(a, lo, a) // a NaN stays NaN, as with Go's max and min
			VMINPS(a, hi, a)
			KMOVW(Mem{Base: mp, Disp: 2 * (nb*k + b)}, km)
			VMOVUPS(a, km, Mem{Base: yr, Disp: 64 * b})
		}
	}
	mod := func(a, n int) int { return (a%n + n) % n }

	Label("chan")
	CMPQ(ch, U8(0))
	JLE(LabelRef("done"))
	VBROADCASTSS(Mem{Base: bp}, bias)
	for r := 0; r < p; r++ {
		for b := range nb {
			VMOVAPS(bias, acc[b][r])
		}
	}
	MOVQ(x, xr)
	MOVQ(y, yr)
	for range p {
		SUBQ(rowBytes, yr)
	}
	XORQ(i, i)
	Label("row")
	for j := range k {
		CMPQ(i, h)
		JGE(LabelRef(fmt.Sprintf("tail%d", j)))
		for b := range nb {
			for d := range k {
				KMOVW(Mem{Base: mp, Disp: 2 * (b*k + d)}, km)
				VMOVUPS_Z(Mem{Base: xr, Disp: 64*b + 4*(d-p)}, km, v[d])
			}
			VMOVAPS(bias, acc[b][mod(j+p, k)])
			for kh := 0; kh < k; kh++ {
				a := acc[b][mod(j+p-kh, k)]
				for kw := 0; kw < k; kw++ {
					VFMADD231PS_BCST(Mem{Base: wt, Disp: 4 * (kh*k + kw)}, v[kw], a)
				}
			}
		}
		skip := fmt.Sprintf("next%d", j)
		CMPQ(i, U8(p))
		JL(LabelRef(skip))
		store(mod(j-p, k))
		Label(skip)
		ADDQ(rowBytes, xr)
		ADDQ(rowBytes, yr)
		INCQ(i)
	}
	JMP(LabelRef("row"))
	for j := range k {
		Label(fmt.Sprintf("tail%d", j))
		for q := range p {
			store(mod(j-p+q, k))
			ADDQ(rowBytes, yr)
		}
		JMP(LabelRef("nextchan"))
	}
	Label("nextchan")
	ADDQ(planeB, x)
	ADDQ(planeB, y)
	ADDQ(U8(4*k*k), wt)
	ADDQ(U8(4), bp)
	DECQ(ch)
	JMP(LabelRef("chan"))
	Label("done")
	VZEROUPPER()
	RET()
}

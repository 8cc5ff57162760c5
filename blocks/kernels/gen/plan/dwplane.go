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

package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// stemBlock emits the stem convolution kernel: a dense k x k convolution
// at stride 2 over a few input channels, for four output channels at once,
// over the whole vectors of one output row.
//
// The input is each channel's zero-padded plane split into its even
// columns e and odd columns o, as for the stride-2 depthwise kernels: e and
// o point at channel 0, padded row 2*oh, the row's first output column;
// channel c's planes are c*ldc floats further, rows ld floats apart. w is
// the block's packed weights: the four biases, then for each input channel
// and tap (kh, kw) the four outputs' weights. Output channel j's row is
// written at y + j*ldy, nvec vectors of eight.
//
// Each input vector is loaded once per tap and feeds the four outputs:
// three vectors at a time (12 accumulators), then one. The outputs are
// clamped to [lo, hi] as they are stored (ReLU, ReLU6; -Inf and +Inf for
// none).
//
// With avx512 it emits the AVX-512 form (stemConvK3S2AVX512 for k = 3):
// the same in vectors of 16, whose sums are the AVX2 kernel's, value for
// value.
func stemBlock(k int, avx512 bool) {
	const outs = 4
	name := fmt.Sprintf("stemConvK%dS2AVX2", k)
	vecBytes, vec, shift := 32, YMM, 5
	if avx512 {
		name = fmt.Sprintf("stemConvK%dS2AVX512", k)
		vecBytes, vec, shift = 64, ZMM, 6
	}
	TEXT(name, NOSPLIT, "func(y []float32, ldy, nvec int, e, o []float32, ldc, ld int, w []float32, c int, lo, hi float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes nvec vectors of %d of one output row of four output channels of a %dx%d convolution at stride 2 over c input channels (see gen/plan).", name, vecBytes/4, k, k))
	y := Load(Param("y").Base(), GP64())
	ldy := Load(Param("ldy"), GP64())
	SHLQ(U8(2), ldy)
	n := Load(Param("nvec"), GP64())
	SHLQ(U8(shift), n) // bytes
	ld := Load(Param("ld"), GP64())
	SHLQ(U8(2), ld)
	// From the last tap row of one channel to the first of the next.
	cstep := Load(Param("ldc"), GP64())
	SHLQ(U8(2), cstep)
	back := GP64()
	IMUL3Q(U32(k-1), ld, back)
	SUBQ(back, cstep)
	off := GP64()
	XORQ(off, off)

	block := func(vecs int) {
		acc := make([][]VecVirtual, outs)
		w := Load(Param("w").Base(), GP64())
		for j := range acc {
			acc[j] = make([]VecVirtual, vecs)
			for v := range acc[j] {
				acc[j][v] = vec()
				VBROADCASTSS(Mem{Base: w, Disp: 4 * j}, acc[j][v])
			}
		}
		ADDQ(U8(4*outs), w)
		pe := Load(Param("e").Base(), GP64())
		po := Load(Param("o").Base(), GP64())
		ADDQ(off, pe)
		ADDQ(off, po)
		cnt := Load(Param("c"), GP64())
		in := make([]VecVirtual, vecs)
		for v := range in {
			in[v] = vec()
		}
		wv := vec()
		Label(fmt.Sprintf("chan%d", vecs))
		for kh := 0; kh < k; kh++ {
			for kw := 0; kw < k; kw++ {
				p := pe
				if kw%2 == 1 {
					p = po
				}
				for v := range in {
					VMOVUPS(Mem{Base: p, Disp: 4*(kw/2) + vecBytes*v}, in[v])
				}
				for j := range acc {
					VBROADCASTSS(Mem{Base: w, Disp: 4 * ((kh*k+kw)*outs + j)}, wv)
					for v := range in {
						VFMADD231PS(in[v], wv, acc[j][v])
					}
				}
			}
			if kh < k-1 {
				ADDQ(ld, pe)
				ADDQ(ld, po)
			}
		}
		ADDQ(U32(4*k*k*outs), w)
		ADDQ(cstep, pe)
		ADDQ(cstep, po)
		DECQ(cnt)
		JNZ(LabelRef(fmt.Sprintf("chan%d", vecs)))
		dst := GP64()
		MOVQ(y, dst)
		ADDQ(off, dst)
		// The activation's clamp, in the input registers (free now).
		lo, hi := in[0], wv
		for _, b := range []struct {
			name string
			r    VecVirtual
		}{{"lo", lo}, {"hi", hi}} {
			arg, err := Param(b.name).Resolve()
			if err != nil {
				panic(err)
			}
			VBROADCASTSS(arg.Addr, b.r)
		}
		for j := range acc {
			for v, a := range acc[j] {
				VMAXPS(a, lo, a) // a NaN stays NaN, as with Go's max and min
				VMINPS(a, hi, a)
				VMOVUPS(a, Mem{Base: dst, Disp: vecBytes * v})
			}
			if j < outs-1 {
				ADDQ(ldy, dst)
			}
		}
		ADDQ(U32(vecBytes*vecs), off)
	}

	wide := GP64()
	MOVQ(n, wide)
	SUBQ(U32(2*vecBytes), wide) // last offset where three vectors fit
	Label("wide")
	CMPQ(off, wide)
	JGE(LabelRef("narrow"))
	block(3)
	JMP(LabelRef("wide"))
	Label("narrow")
	CMPQ(off, n)
	JAE(LabelRef("done"))
	block(1)
	JMP(LabelRef("narrow"))
	Label("done")
	VZEROUPPER()
	RET()
}

// dwRows emits four output rows of a k x k depthwise convolution at stride
// s, one vector of each row at a time: four independent sums where the
// one-row kernel, on a row of one to three vectors (planes of 24 columns
// or fewer), has one chain of k*k dependent multiply-adds per vector. The
// planes are as for dwRow, x (or e and o) at the first output row's first
// input row; output row r is written at y + r*ldy, n values (whole
// vectors) each, n a multiple of 8.
func dwRows(k, s int) {
	const rows = 4
	name := fmt.Sprintf("dwRows4K%dS%dAVX2", k, s)
	sig := "func(y []float32, ldy, n int, x []float32, ld int, w []float32, b float32)"
	if s == 2 {
		sig = "func(y []float32, ldy, n int, e, o []float32, ld int, w []float32, b float32)"
	}
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes the whole vectors of four output rows of a %dx%d depthwise convolution at stride %d (see gen/plan).", name, k, k, s))
	ld := Load(Param("ld"), GP64())
	SHLQ(U8(2), ld)
	w := Load(Param("w").Base(), GP64())
	bx := broadcastArg("b")
	// Last vector first: a row's last vector may run past the row into
	// the next one's first values (the caller allows it where the next
	// row is computed after), which the next row's first vector, written
	// last, then overwrites.
	off := Load(Param("n"), GP64())
	SHLQ(U8(2), off)
	names := []string{"x"}
	if s == 2 {
		names = []string{"e", "o"}
	}
	Label("loop")
	CMPQ(off, U8(0))
	JLE(LabelRef("done"))
	SUBQ(U8(32), off)
	// ptr[p][r]: plane p at output row r's first input row, this vector.
	ptr := make([][]GPVirtual, len(names))
	for p, nm := range names {
		ptr[p] = make([]GPVirtual, rows)
		for r := range rows {
			ptr[p][r] = GP64()
			if r == 0 {
				Load(Param(nm).Base(), ptr[p][r])
				ADDQ(off, ptr[p][r])
			} else {
				MOVQ(ptr[p][r-1], ptr[p][r])
				for range s {
					ADDQ(ld, ptr[p][r])
				}
			}
		}
	}
	acc := make([]VecVirtual, rows)
	for r := range acc {
		acc[r] = YMM()
		VMOVAPS(bx, acc[r])
	}
	wv := YMM()
	for kh := 0; kh < k; kh++ {
		for kw := 0; kw < k; kw++ {
			VBROADCASTSS(Mem{Base: w, Disp: 4 * (kh*k + kw)}, wv)
			p, shift := 0, kw
			if s == 2 {
				p, shift = kw%2, kw/2
			}
			for r, a := range acc {
				VFMADD231PS(Mem{Base: ptr[p][r], Disp: 4 * shift}, wv, a)
			}
		}
		if kh < k-1 {
			for p := range ptr {
				for r := range rows {
					ADDQ(ld, ptr[p][r])
				}
			}
		}
	}
	dst := Load(Param("y").Base(), GP64())
	ADDQ(off, dst)
	ldy := Load(Param("ldy"), GP64())
	SHLQ(U8(2), ldy)
	for r, a := range acc {
		VMOVUPS(a, Mem{Base: dst})
		if r < rows-1 {
			ADDQ(ldy, dst)
		}
	}
	JMP(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

func scale() {
	TEXT("scaleAVX2", NOSPLIT, "func(y, x []float32, a float32)")
	Pragma("noescape")
	Doc("scaleAVX2 sets y[i] = a*x[i] for the whole vectors of y; x is at least as long.")
	y := Load(Param("y").Base(), GP64())
	x := Load(Param("x").Base(), GP64())
	a := broadcastArg("a")
	rowLoop("y", func(off GPVirtual) {
		v := YMM()
		VMULPS(Mem{Base: x, Index: off, Scale: 1}, a, v)
		VMOVUPS(v, Mem{Base: y, Index: off, Scale: 1})
	})
}

// copyRows emits the copy of h rows of w floats from x (rows lds floats
// apart) to y (rows ldd apart): the interior of a zero-padded plane, one
// call per plane instead of one copy per row. The last w%8 floats of a row
// are moved with masked loads and stores, so nothing outside the rows is
// read or written.
func copyRows() {
	TEXT("copyRowsAVX2", NOSPLIT, "func(y []float32, ldd int, x []float32, lds, w, h int)")
	Pragma("noescape")
	Doc("copyRowsAVX2 copies h rows of w floats from x (rows lds apart) to y (rows ldd apart).")
	mask := GLOBL("copyRowsMask", RODATA|NOPTR)
	for i := range 16 {
		v := uint32(0)
		if i < 8 {
			v = 0xFFFFFFFF
		}
		DATA(4*i, U32(v))
	}
	y := Load(Param("y").Base(), GP64())
	x := Load(Param("x").Base(), GP64())
	ldd := Load(Param("ldd"), GP64())
	SHLQ(U8(2), ldd)
	lds := Load(Param("lds"), GP64())
	SHLQ(U8(2), lds)
	w := Load(Param("w"), GP64())
	full := GP64()
	MOVQ(w, full)
	ANDQ(I32(-8), full)
	SHLQ(U8(2), full) // bytes in whole vectors
	tail := GP64()
	ANDQ(U8(7), w) // floats after them
	// The mask of the tail: w%8 ones from copyRowsMask + 4*(8 - w%8).
	m := YMM()
	MOVQ(U32(8), tail)
	SUBQ(w, tail)
	addr := GP64()
	LEAQ(mask, addr)
	VMOVUPS(Mem{Base: addr, Index: tail, Scale: 4}, m)
	h := Load(Param("h"), GP64())
	Label("row")
	CMPQ(h, U8(0))
	JLE(LabelRef("done"))
	off := GP64()
	XORQ(off, off)
	Label("vec")
	CMPQ(off, full)
	JAE(LabelRef("tail"))
	v := YMM()
	VMOVUPS(Mem{Base: x, Index: off, Scale: 1}, v)
	VMOVUPS(v, Mem{Base: y, Index: off, Scale: 1})
	ADDQ(U8(32), off)
	JMP(LabelRef("vec"))
	Label("tail")
	CMPQ(w, U8(0))
	JE(LabelRef("next"))
	t := YMM()
	VMASKMOVPS(Mem{Base: x, Index: off, Scale: 1}, m, t)
	VMASKMOVPS(t, m, Mem{Base: y, Index: off, Scale: 1})
	Label("next")
	ADDQ(lds, x)
	ADDQ(ldd, y)
	DECQ(h)
	JMP(LabelRef("row"))
	Label("done")
	VZEROUPPER()
	RET()
}

// copyRowsAVX512 emits copyRowsAVX2's AVX-512 form: 16 values a vector,
// the last ones of a row under the mask tail (w%16 ones). AMD's VMASKMOVPS
// store is microcoded (a few per hundred cycles), and the padded planes of
// a small network's depthwise convolutions have rows of 4 to 28 values, so
// nearly every row ended in one; an AVX-512 masked store is one uop.
func copyRowsAVX512() {
	TEXT("copyRowsAVX512", NOSPLIT, "func(y []float32, ldd int, x []float32, lds, w, h int, tail uint16)")
	Pragma("noescape")
	Doc("copyRowsAVX512 copies h rows of w floats from x (rows lds apart) to y (rows ldd apart); tail is the mask of the w%16 values after the whole vectors.")
	y := Load(Param("y").Base(), GP64())
	x := Load(Param("x").Base(), GP64())
	ldd := Load(Param("ldd"), GP64())
	SHLQ(U8(2), ldd)
	lds := Load(Param("lds"), GP64())
	SHLQ(U8(2), lds)
	full := Load(Param("w"), GP64())
	ANDQ(I32(-16), full)
	SHLQ(U8(2), full) // bytes in whole vectors
	t := Load(Param("tail"), GP32())
	k := K()
	KMOVW(t, k)
	h := Load(Param("h"), GP64())
	Label("row")
	CMPQ(h, U8(0))
	JLE(LabelRef("done"))
	off := GP64()
	XORQ(off, off)
	Label("vec")
	CMPQ(off, full)
	JAE(LabelRef("tail"))
	v := ZMM()
	VMOVUPS(Mem{Base: x, Index: off, Scale: 1}, v)
	VMOVUPS(v, Mem{Base: y, Index: off, Scale: 1})
	ADDQ(U8(64), off)
	JMP(LabelRef("vec"))
	Label("tail")
	r := ZMM()
	VMOVUPS_Z(Mem{Base: x, Index: off, Scale: 1}, k, r)
	VMOVUPS(r, k, Mem{Base: y, Index: off, Scale: 1})
	ADDQ(lds, x)
	ADDQ(ldd, y)
	DECQ(h)
	JMP(LabelRef("row"))
	Label("done")
	VZEROUPPER()
	RET()
}

// sumF64 emits the float64 sum of the whole 16-value blocks of a float32
// slice (global average pooling): four float64 accumulators of four lanes.
func sumF64() {
	TEXT("sumF64AVX2", NOSPLIT, "func(x []float32) float64")
	Pragma("noescape")
	Doc("sumF64AVX2 returns the sum in float64 of x[:len(x)&^15].")
	x := Load(Param("x").Base(), GP64())
	n := Load(Param("x").Len(), GP64())
	SHRQ(U8(4), n)
	SHLQ(U8(6), n) // bytes in whole blocks of 16
	acc := []VecVirtual{YMM(), YMM(), YMM(), YMM()}
	for _, a := range acc {
		VXORPD(a, a, a)
	}
	off := GP64()
	XORQ(off, off)
	Label("loop")
	CMPQ(off, n)
	JAE(LabelRef("sum"))
	for i, a := range acc {
		v := YMM()
		VCVTPS2PD(Mem{Base: x, Index: off, Scale: 1, Disp: 16 * i}, v)
		VADDPD(v, a, a)
	}
	ADDQ(U8(64), off)
	JMP(LabelRef("loop"))
	Label("sum")
	VADDPD(acc[1], acc[0], acc[0])
	VADDPD(acc[3], acc[2], acc[2])
	VADDPD(acc[2], acc[0], acc[0])
	hi := XMM()
	VEXTRACTF128(U8(1), acc[0], hi)
	lo := acc[0].AsX()
	VADDPD(hi, lo, lo)
	sw := XMM()
	VPERMILPD(U8(1), lo, sw)
	VADDSD(sw, lo, lo)
	VZEROUPPER()
	Store(lo, ReturnIndex(0))
	RET()
}

// maxPool3S2 emits one output row of 3x3 stride-2 max pooling over
// windows inside the plane: output i is the maximum of x[r*ld + 2i + j]
// for r, j < 3. For eight outputs it takes the rows' maximum of columns
// 2i..2i+15 and 2i+2..2i+17 (four loads per row) and then the maximum of
// the first pair's even and odd columns and the second pair's even ones
// (the shuffles of deinterleave); it reads one column past the last
// window.
func maxPool3S2() {
	TEXT("maxPool3S2AVX2", NOSPLIT, "func(y, x []float32, ld int)")
	Pragma("noescape")
	Doc("maxPool3S2AVX2 sets the whole vectors of y to the maxima of 3x3 windows at stride 2 of x, rows ld apart (see gen/plan).")
	y := Load(Param("y").Base(), GP64())
	x := Load(Param("x").Base(), GP64())
	ld := Load(Param("ld"), GP64())
	SHLQ(U8(2), ld)
	n := Load(Param("y").Len(), GP64())
	SHRQ(U8(3), n)
	Label("loop")
	CMPQ(n, U8(0))
	JE(LabelRef("done"))
	a0, a1, b0, b1 := YMM(), YMM(), YMM(), YMM()
	VMOVUPS(Mem{Base: x}, a0)
	VMOVUPS(Mem{Base: x, Disp: 32}, a1)
	VMOVUPS(Mem{Base: x, Disp: 8}, b0)
	VMOVUPS(Mem{Base: x, Disp: 40}, b1)
	r := GP64()
	MOVQ(x, r)
	for range 2 {
		ADDQ(ld, r)
		VMAXPS(Mem{Base: r}, a0, a0)
		VMAXPS(Mem{Base: r, Disp: 32}, a1, a1)
		VMAXPS(Mem{Base: r, Disp: 8}, b0, b0)
		VMAXPS(Mem{Base: r, Disp: 40}, b1, b1)
	}
	ev, od, e2 := YMM(), YMM(), YMM()
	VSHUFPS(U8(0x88), a1, a0, ev)
	VSHUFPS(U8(0xDD), a1, a0, od)
	VSHUFPS(U8(0x88), b1, b0, e2)
	VMAXPS(od, ev, ev)
	VMAXPS(e2, ev, ev)
	VPERMPD(U8(0xD8), ev, ev)
	VMOVUPS(ev, Mem{Base: y})
	ADDQ(U8(32), y)
	ADDQ(U8(64), x)
	DECQ(n)
	JMP(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

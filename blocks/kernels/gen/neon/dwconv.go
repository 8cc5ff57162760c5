package main

import "fmt"

// The depthwise kernels keep the k*k weights in registers (V8 on, four a
// register, weight t in lane t%4 of V8+t/4; k*k is 1 mod 4 for k = 3, 5, 7,
// so the last one is loaded alone into lane 0), the bias in all lanes of
// V21, the sums in V24-V31 and the input values in V0-V7, and multiply-add
// by element. Input rows are read through post-incremented pointers, one
// column further for each tap (R7 holds 4).

// wreg is the register and lane of weight t.
func wreg(t int) (int, int) { return 8 + t/4, t % 4 }

// loadWeights loads the k*k weights w into V8... and b into V21.
func loadWeights(f *file, k int) {
	kk := k * k
	f.i("MOVD %s, R4", f.arg("w_base"))
	full := kk / 4
	adv := 0 // bytes R4 has advanced
	for v := 0; v < full; v += 4 {
		n := min(4, full-v)
		if v+n < full {
			f.i("VLD1.P %d(R4), %s", 16*n, regs(8+v, n))
			adv += 16 * n
		} else {
			f.i("VLD1 (R4), %s", regs(8+v, n))
		}
	}
	f.i("FMOVS %d(R4), F%d", 4*(kk-1)-adv, 8+full)
	broadcastArg(f, "b", 21)
	f.i("MOVD $4, R7")
}

// planes loads the input planes: x into R1 at stride 1; e into R1 and o
// into R2 at stride 2.
func planes(f *file, s int) {
	if s == 1 {
		f.i("MOVD %s, R1", f.arg("x_base"))
		return
	}
	f.i("MOVD %s, R1", f.arg("e_base"))
	f.i("MOVD %s, R2", f.arg("o_base"))
}

func planeParams(s int) []param {
	if s == 1 {
		return []param{{"x", "[]float32"}}
	}
	return []param{{"e", "[]float32"}, {"o", "[]float32"}}
}

// dwRow emits one output row of a k x k depthwise convolution at stride s
// (dwRowK<k>S<s>NEON), with the contract of the AVX2 kernel of the same
// shape: stride 1 reads the padded plane x (rows ld floats apart), output i
// summing w[kh*k+kw] * x[kh*ld + kw + i]; stride 2 reads the plane's even
// and odd columns e and o, output i summing w[kh*k+kw] * p[kh*ld + kw/2 + i]
// with p = e for even kw, o for odd. Sixteen outputs at a time, then
// eight.
func dwRow(f *file, k, s int) {
	name := fmt.Sprintf("dwRowK%dS%dNEON", k, s)
	params := append([]param{{"y", "[]float32"}}, planeParams(s)...)
	params = append(params, param{"ld", "int"}, param{"w", "[]float32"}, param{"b", "float32"})
	f.text(name, fmt.Sprintf("%s computes the whole vectors of eight of one output row of a %dx%d depthwise convolution at stride %d (see gen/neon).", name, k, k, s), params)
	f.i("MOVD %s, R0", f.arg("y_base"))
	planes(f, s)
	f.i("MOVD %s, R3", f.arg("ld"))
	f.i("LSL $2, R3, R3")
	loadWeights(f, k)
	f.i("MOVD %s, R5", f.arg("y_len"))
	f.i("LSR $3, R5, R5")
	f.i("LSL $5, R5, R5") // bytes in whole vectors of eight
	f.i("MOVD $0, R6")
	chunk := func(w int) {
		for i := 0; i < w; i++ {
			f.i("VMOV V21.B16, V%d.B16", 24+i)
		}
		f.i("ADD R6, R1, R8")
		if s == 2 {
			f.i("ADD R6, R2, R9")
		}
		tap := 0
		for kh := 0; kh < k; kh++ {
			f.i("MOVD R8, R10")
			if s == 2 {
				f.i("MOVD R9, R11")
			}
			for kw := 0; kw < k; kw++ {
				p := "R10"
				if s == 2 && kw%2 == 1 {
					p = "R11"
				}
				in := 4 * (tap % 2)
				f.i("VLD1.P (%s)(R7), %s", p, regs(in, w))
				wr, wl := wreg(kh*k + kw)
				for i := 0; i < w; i++ {
					f.word(fmlaElem(24+i, in+i, wr, wl))
				}
				tap++
			}
			if kh < k-1 {
				f.i("ADD R3, R8, R8")
				if s == 2 {
					f.i("ADD R3, R9, R9")
				}
			}
		}
		f.i("ADD R6, R0, R12")
		f.i("VST1 %s, (R12)", regs(24, w))
	}
	f.label("wide")
	f.i("SUB R6, R5, R9")
	f.i("CMP $64, R9")
	f.i("BLT narrow")
	chunk(4)
	f.i("ADD $64, R6, R6")
	f.i("B wide")
	f.label("narrow")
	f.i("CMP R5, R6")
	f.i("BGE done")
	chunk(2)
	f.i("ADD $32, R6, R6")
	f.i("B narrow")
	f.label("done")
	f.i("RET")
}

// dwRows emits four output rows of a k x k depthwise convolution at
// stride s (dwRows4K<k>S<s>NEON), eight outputs of each row at a time, with
// the contract of the AVX2 kernel: the planes are as for dwRow, at the
// first output row's first input row; output row r is written at
// y + r*ldy, n values (a multiple of 8) each, the last eight first (a
// row's last vector may run into the next row, whose first vector, written
// last, overwrites it). Each input row is loaded once per tap column and
// feeds every output row whose window holds it.
func dwRows(f *file, k, s int) {
	const rows = 4
	name := fmt.Sprintf("dwRows4K%dS%dNEON", k, s)
	params := []param{{"y", "[]float32"}, {"ldy", "int"}, {"n", "int"}}
	params = append(params, planeParams(s)...)
	params = append(params, param{"ld", "int"}, param{"w", "[]float32"}, param{"b", "float32"})
	f.text(name, fmt.Sprintf("%s computes the whole vectors of eight of four output rows of a %dx%d depthwise convolution at stride %d (see gen/neon).", name, k, k, s), params)
	f.i("MOVD %s, R0", f.arg("y_base"))
	f.i("MOVD %s, R13", f.arg("ldy"))
	f.i("LSL $2, R13, R13")
	f.i("MOVD %s, R6", f.arg("n"))
	f.i("LSL $2, R6, R6")
	planes(f, s)
	f.i("MOVD %s, R3", f.arg("ld"))
	f.i("LSL $2, R3, R3")
	loadWeights(f, k)
	f.label("loop")
	f.i("CMP $0, R6")
	f.i("BLE done")
	f.i("SUB $32, R6, R6")
	for v := 24; v < 32; v++ {
		f.i("VMOV V21.B16, V%d.B16", v)
	}
	f.i("ADD R6, R1, R8")
	if s == 2 {
		f.i("ADD R6, R2, R9")
	}
	nin := (rows-1)*s + k
	load := 0
	for ir := 0; ir < nin; ir++ {
		f.i("MOVD R8, R10")
		if s == 2 {
			f.i("MOVD R9, R11")
		}
		for kw := 0; kw < k; kw++ {
			p := "R10"
			if s == 2 && kw%2 == 1 {
				p = "R11"
			}
			in := 2 * (load % 4)
			load++
			f.i("VLD1.P (%s)(R7), %s", p, regs(in, 2))
			for r := 0; r < rows; r++ {
				kh := ir - s*r
				if kh < 0 || kh >= k {
					continue
				}
				wr, wl := wreg(kh*k + kw)
				f.word(fmlaElem(24+2*r, in, wr, wl))
				f.word(fmlaElem(25+2*r, in+1, wr, wl))
			}
		}
		if ir < nin-1 {
			f.i("ADD R3, R8, R8")
			if s == 2 {
				f.i("ADD R3, R9, R9")
			}
		}
	}
	f.i("ADD R6, R0, R12")
	for r := 0; r < rows; r++ {
		f.i("VST1 %s, (R12)", regs(24+2*r, 2))
		if r < rows-1 {
			f.i("ADD R13, R12, R12")
		}
	}
	f.i("B loop")
	f.label("done")
	f.i("RET")
}

func deinterleave(f *file) {
	f.text("deinterleaveNEON", "deinterleaveNEON sets even[i] = x[2i] and odd[i] = x[2i+1] for the whole vectors of eight of even; odd and x/2 are at least as long.",
		[]param{{"even", "[]float32"}, {"odd", "[]float32"}, {"x", "[]float32"}})
	f.i("MOVD %s, R0", f.arg("even_base"))
	f.i("MOVD %s, R1", f.arg("odd_base"))
	f.i("MOVD %s, R2", f.arg("x_base"))
	f.i("MOVD %s, R3", f.arg("even_len"))
	f.i("LSR $3, R3, R3")
	f.i("CBZ R3, done")
	f.label("loop")
	f.i("VLD1.P 64(R2), %s", regs(0, 4))
	f.i("VUZP1 V1.S4, V0.S4, V4.S4")
	f.i("VUZP1 V3.S4, V2.S4, V5.S4")
	f.i("VUZP2 V1.S4, V0.S4, V6.S4")
	f.i("VUZP2 V3.S4, V2.S4, V7.S4")
	f.i("VST1.P %s, 32(R0)", regs(4, 2))
	f.i("VST1.P %s, 32(R1)", regs(6, 2))
	f.i("SUBS $1, R3, R3")
	f.i("BNE loop")
	f.label("done")
	f.i("RET")
}

func dwconvSet(f *file) {
	stem(f)
	for _, k := range []int{3, 5, 7} {
		for _, s := range []int{1, 2} {
			dwRow(f, k, s)
			dwRows(f, k, s)
		}
	}
	deinterleave(f)
	copyRows(f)
}

// copyRows emits copyRowsNEON, the copy of h rows of w floats from x (rows
// lds floats apart) to y (rows ldd apart): the interior of a zero-padded
// plane, one call per plane instead of one copy per row. Sixteen floats at
// a time, then four, then one; nothing outside the rows is read or
// written.
func copyRows(f *file) {
	in := func(n string) param { return param{n, "int"} }
	f.text("copyRowsNEON", "copyRowsNEON copies h rows of w floats from x (rows lds apart) to y (rows ldd apart).",
		[]param{{"y", "[]float32"}, in("ldd"), {"x", "[]float32"}, in("lds"), in("w"), in("h")})
	f.i("MOVD %s, R0", f.arg("y_base"))
	f.i("MOVD %s, R1", f.arg("x_base"))
	f.i("MOVD %s, R2", f.arg("ldd"))
	f.i("LSL $2, R2, R2")
	f.i("MOVD %s, R3", f.arg("lds"))
	f.i("LSL $2, R3, R3")
	f.i("MOVD %s, R4", f.arg("w"))
	f.i("MOVD %s, R5", f.arg("h"))
	f.i("LSR $4, R4, R6")      // blocks of sixteen
	f.i("UBFX $2, R4, $2, R7") // then vectors of four
	f.i("AND $3, R4, R8")      // then floats
	f.label("row")
	f.i("CBZ R5, done")
	f.i("MOVD R0, R9")
	f.i("MOVD R1, R10")
	f.i("MOVD R6, R11")
	f.i("CBZ R11, vec")
	f.label("block")
	f.i("VLD1.P 64(R10), %s", regs(0, 4))
	f.i("VST1.P %s, 64(R9)", regs(0, 4))
	f.i("SUBS $1, R11, R11")
	f.i("BNE block")
	f.label("vec")
	f.i("MOVD R7, R11")
	f.i("CBZ R11, one")
	f.label("vecl")
	f.i("VLD1.P 16(R10), [V0.S4]")
	f.i("VST1.P [V0.S4], 16(R9)")
	f.i("SUBS $1, R11, R11")
	f.i("BNE vecl")
	f.label("one")
	f.i("MOVD R8, R11")
	f.i("CBZ R11, next")
	f.label("onel")
	f.i("MOVWU.P 4(R10), R12")
	f.i("MOVW.P R12, 4(R9)")
	f.i("SUBS $1, R11, R11")
	f.i("BNE onel")
	f.label("next")
	f.i("ADD R3, R1, R1")
	f.i("ADD R2, R0, R0")
	f.i("SUB $1, R5, R5")
	f.i("B row")
	f.label("done")
	f.i("RET")
}

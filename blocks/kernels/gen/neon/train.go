package main

import "fmt"

// The kernels of a training step, with the contracts of the AVX2 kernels of
// the same names in gen/plan (train.go) but vectors of four: the
// elementwise passes and gradients over the whole vectors of gx (or y), the
// Go callers finishing the rest, in two forms for the gradients (adding to
// gx, or setting it); the reductions of batch normalization over a
// channel's rows in several samples; the depthwise weight gradient's row
// step (vectors of eight, as its caller lays out its sums); and the
// interleave of the stride-2 depthwise input gradient.

// trainKernel starts a gradient kernel over gx, gy and x with the extra
// float32 arguments extra; gx's base is in R0 and its vectors in R1, gy's
// base in R2, x's in R3.
func trainKernel(f *file, base string, set bool, doc string, extra ...string) {
	name, op := base+"NEON", "+="
	if set {
		name, op = base+"SetNEON", "="
	}
	params := []param{{"gx", "[]float32"}, {"gy", "[]float32"}, {"x", "[]float32"}}
	for _, e := range extra {
		params = append(params, param{e, "float32"})
	}
	f.text(name, fmt.Sprintf("%s sets gx[i] %s %s for the whole vectors of gx; gy and x are at least as long.", name, op, doc), params)
	rowStart(f, "gx")
	f.i("MOVD %s, R2", f.arg("gy_base"))
	f.i("MOVD %s, R3", f.arg("x_base"))
}

// storeGrad writes the gradients in V16.. to gx: added to its values, or
// over them with set.
func storeGrad(f *file, w int, set bool) {
	if !set {
		f.i("VLD1 (R0), %s", regs(24, w))
		for v := 0; v < w; v++ {
			f.word(fadd(16+v, 24+v, 16+v))
		}
	}
	f.i("VST1.P %s, %d(R0)", regs(16, w), 16*w)
}

func trainSet(f *file) {
	f.text("channelAffineNEON", "channelAffineNEON sets y[i] = x[i]*a + b (a multiply, then an add) for the whole vectors of y; x is at least as long.",
		[]param{{"y", "[]float32"}, {"x", "[]float32"}, {"a", "float32"}, {"b", "float32"}})
	rowStart(f, "y")
	f.i("MOVD %s, R2", f.arg("x_base"))
	f.i("FMOVS %s, F20", f.arg("a"))
	broadcastArg(f, "b", 21)
	vecLoop(f, func(w int) {
		f.i("VLD1.P %d(R2), %s", 16*w, regs(4, w))
		for v := 0; v < w; v++ {
			f.word(fmulElem(v, 4+v, 20, 0))
			f.word(fadd(v, v, 21))
		}
		f.i("VST1.P %s, %d(R0)", regs(0, w), 16*w)
	})

	for _, set := range []bool{false, true} {
		trainKernel(f, "bnInputGrad", set, "a*gy[i] + (b*x[i] + c)", "a", "b", "c")
		f.i("FMOVS %s, F20", f.arg("a"))
		f.i("FMOVS %s, F21", f.arg("b"))
		broadcastArg(f, "c", 22)
		vecLoop(f, func(w int) {
			f.i("VLD1.P %d(R3), %s", 16*w, regs(0, w))
			f.i("VLD1.P %d(R2), %s", 16*w, regs(4, w))
			for v := 0; v < w; v++ {
				f.i("VMOV V22.B16, V%d.B16", 16+v)
				f.word(fmlaElem(16+v, v, 21, 0))
				f.word(fmlaElem(16+v, 4+v, 20, 0))
			}
			storeGrad(f, w, set)
		})

		trainKernel(f, "reluGrad", set, "gy[i] where 0 < x[i] (else 0)")
		f.i("VEOR V20.B16, V20.B16, V20.B16")
		vecLoop(f, func(w int) {
			f.i("VLD1.P %d(R3), %s", 16*w, regs(0, w))
			f.i("VLD1.P %d(R2), %s", 16*w, regs(4, w))
			for v := 0; v < w; v++ {
				f.word(fcmgt(v, v, 20))
				f.i("VAND V%d.B16, V%d.B16, V%d.B16", 4+v, v, 16+v)
			}
			storeGrad(f, w, set)
		})

		trainKernel(f, "clampGrad", set, "gy[i] where lo < x[i] < hi (else 0)", "lo", "hi")
		broadcastArg(f, "lo", 20)
		broadcastArg(f, "hi", 21)
		vecLoop(f, func(w int) {
			f.i("VLD1.P %d(R3), %s", 16*w, regs(0, w))
			f.i("VLD1.P %d(R2), %s", 16*w, regs(4, w))
			for v := 0; v < w; v++ {
				f.word(fcmgt(8+v, v, 20))  // lo < x
				f.word(fcmgt(12+v, 21, v)) // x < hi
				f.i("VAND V%d.B16, V%d.B16, V%d.B16", 12+v, 8+v, 8+v)
				f.i("VAND V%d.B16, V%d.B16, V%d.B16", 4+v, 8+v, 16+v)
			}
			storeGrad(f, w, set)
		})

		hardSwishGrad(f, set)
	}
	sumCenteredDotRows(f)
	shiftedSumsRows(f)
	dwGradRow(f, 1)
	dwGradRow(f, 2)
	interleaveAdd(f)
	interleaveRows(f, false)
	interleaveRows(f, true)
	hardSwish(f)
}

// hardSwishGrad follows kernels.HardSwishGrad as Go compiles it on arm64:
// d = x*(1/3) + 1/2 in one fused multiply-add below 3, 1 from 3 on (and
// for NaN), then gy*d, or 0 below -3.
func hardSwishGrad(f *file, set bool) {
	trainKernel(f, "hardSwishGrad", set, "gy[i]*d(x[i]), d the hard swish's derivative (see kernels.HardSwishGrad)")
	broadcastConst(f, float32(1.0/3), 20)
	broadcastConst(f, 0.5, 21)
	broadcastConst(f, 1, 22)
	broadcastConst(f, 3, 23)
	broadcastConst(f, -3, 28)
	f.i("VEOR V29.B16, V29.B16, V29.B16")
	vecLoop(f, func(w int) {
		f.i("VLD1.P %d(R3), %s", 16*w, regs(0, w))
		f.i("VLD1.P %d(R2), %s", 16*w, regs(4, w))
		for v := 0; v < w; v++ {
			d, m, g := 8+v, 12+v, 16+v
			f.i("VMOV V21.B16, V%d.B16", d)
			f.word(fmla(d, v, 20))                      // x*(1/3) + 1/2
			f.word(fcmgt(m, 23, v))                     // x < 3
			f.i("VBIF V%d.B16, V22.B16, V%d.B16", m, d) // else 1
			f.word(fmul(g, 4+v, d))
			f.word(fcmgt(m, 28, v))                     // x < -3
			f.i("VBIT V%d.B16, V29.B16, V%d.B16", m, g) // then 0
		}
		storeGrad(f, w, set)
	})
}

// rowsLoop emits a loop over rows rows (R2) of slices based at bases, ld
// bytes (R4) apart, and within each over its first cols (R3) values: body
// emits the work on w vectors of four (w = 2 while whole pairs last, then
// one more vector when there is one), reading through the row pointers
// R5, R6, ... (one per base, post-incremented). The values after the
// whole vectors are the caller's.
func rowsLoop(f *file, bases []string, body func(w int)) {
	f.i("CBZ R2, done")
	f.label("row")
	for i, b := range bases {
		f.i("MOVD %s, R%d", b, 5+i)
	}
	f.i("LSR $3, R3, R7") // pairs of vectors
	f.i("CBZ R7, single")
	f.label("pair")
	body(2)
	f.i("SUBS $1, R7, R7")
	f.i("BNE pair")
	f.label("single")
	f.i("TBZ $2, R3, next")
	body(1)
	f.label("next")
	for _, b := range bases {
		f.i("ADD R4, %s, %s", b, b)
	}
	f.i("SUBS $1, R2, R2")
	f.i("BNE row")
	f.label("done")
}

// rowsArgs loads rows into R2, cols into R3 and ld, in bytes, into R4.
func rowsArgs(f *file) {
	f.i("MOVD %s, R2", f.arg("rows"))
	f.i("MOVD %s, R3", f.arg("cols"))
	f.i("MOVD %s, R4", f.arg("ld"))
	f.i("LSL $2, R4, R4")
}

func sumCenteredDotRows(f *file) {
	f.textResults("sumCenteredDotRowsNEON",
		"sumCenteredDotRowsNEON returns sum(g[i]) and sum(g[i]*(x[i]-mu)) (float32 lanes) over the whole vectors of four of the first cols values of rows rows, ld apart, of g and x.",
		[]param{{"g", "[]float32"}, {"x", "[]float32"}, {"rows", "int"}, {"cols", "int"}, {"ld", "int"}, {"mu", "float32"}},
		[]param{{"s1", "float32"}, {"s2", "float32"}})
	f.i("MOVD %s, R0", f.arg("g_base"))
	f.i("MOVD %s, R1", f.arg("x_base"))
	rowsArgs(f)
	broadcastArg(f, "mu", 20)
	for v := 16; v < 20; v++ {
		f.i("VEOR V%d.B16, V%d.B16, V%d.B16", v, v, v)
	}
	// s1 in V16 and V17, s2 in V18 and V19.
	rowsLoop(f, []string{"R0", "R1"}, func(w int) {
		f.i("VLD1.P %d(R5), %s", 16*w, regs(0, w))
		f.i("VLD1.P %d(R6), %s", 16*w, regs(2, w))
		for v := 0; v < w; v++ {
			f.word(fsub(2+v, 2+v, 20))
			f.word(fadd(16+v, 16+v, v))
			f.word(fmla(18+v, v, 2+v))
		}
	})
	for _, s := range []struct {
		v   int
		res string
	}{{16, "s1"}, {18, "s2"}} {
		f.word(fadd(s.v, s.v, s.v+1))
		f.word(faddp(s.v, s.v, s.v))
		f.word(faddpS(s.v, s.v))
		f.i("FMOVS F%d, %s", s.v, f.arg(s.res))
	}
	f.i("RET")
}

func shiftedSumsRows(f *file) {
	f.textResults("shiftedSumsRowsNEON",
		"shiftedSumsRowsNEON returns sum(x[i]-shift) and sum((x[i]-shift)^2), in float64, over the whole vectors of four of the first cols values of rows rows, ld apart, of x.",
		[]param{{"x", "[]float32"}, {"rows", "int"}, {"cols", "int"}, {"ld", "int"}, {"shift", "float64"}},
		[]param{{"s1", "float64"}, {"s2", "float64"}})
	f.i("MOVD %s, R0", f.arg("x_base"))
	rowsArgs(f)
	f.i("FMOVD %s, F28", f.arg("shift"))
	f.i("VDUP V28.D[0], V28.D2")
	// The sums of the four float64 lanes of a pair of vectors: s1 in
	// V16-V19, s2 in V24-V27.
	for _, v := range []int{16, 17, 18, 19, 24, 25, 26, 27} {
		f.i("VEOR V%d.B16, V%d.B16, V%d.B16", v, v, v)
	}
	rowsLoop(f, []string{"R0"}, func(w int) {
		f.i("VLD1.P %d(R5), %s", 16*w, regs(0, w))
		for h := 0; h < 2*w; h++ {
			d := 4 + h
			if h%2 == 0 {
				f.word(fcvtl(d, h/2))
			} else {
				f.word(fcvtl2(d, h/2))
			}
			f.word(fsubD(d, d, 28))
			f.word(faddD(16+h, 16+h, d))
			f.word(fmlaD(24+h, d, d))
		}
	})
	for _, s := range []struct {
		v   int
		res string
	}{{16, "s1"}, {24, "s2"}} {
		f.word(faddD(s.v, s.v, s.v+1))
		f.word(faddD(s.v+2, s.v+2, s.v+3))
		f.word(faddD(s.v, s.v, s.v+2))
		f.word(faddpD(s.v, s.v))
		f.i("FMOVD F%d, %s", s.v, f.arg(s.res))
	}
	f.i("RET")
}

// dwGradRow emits the weight-gradient step of a 3x3 depthwise convolution
// for one output row at stride s, with the contract of the AVX2 kernel of
// the same name in gen/plan: acc[t*8+l] += gy[i]*p(t, i) over the whole
// vectors of eight of gy, i = 8j+l, where tap t = kh*3+kw reads, at
// stride 1, p = x[kh*ld + kw + i] of the padded plane, and at stride 2 the
// even (e) or odd (o) columns of the padded plane, p = e or o[kh*ld + kw/2
// + i] for even or odd kw. The nine taps' eight lane sums stay in V0-V17
// (tap t in V2t and V2t+1), gy's eight values in V18 and V19; each tap
// reads through its own post-incremented pointer (R3-R11).
func dwGradRow(f *file, s int) {
	name := fmt.Sprintf("dwGradRowK3S%dNEON", s)
	params := append([]param{{"gy", "[]float32"}}, planeParams(s)...)
	params = append(params, param{"ld", "int"}, param{"acc", "[]float32"})
	f.text(name, fmt.Sprintf("%s adds one output row's products to the lane sums of the nine weight gradients of a 3x3 depthwise convolution at stride %d (see gen/neon).", name, s), params)
	f.i("MOVD %s, R0", f.arg("gy_base"))
	planes(f, s)
	f.i("MOVD %s, R12", f.arg("gy_len"))
	f.i("LSR $3, R12, R12")
	f.i("MOVD %s, R13", f.arg("ld"))
	f.i("LSL $2, R13, R13")
	for kh := 0; kh < 3; kh++ {
		for kw := 0; kw < 3; kw++ {
			t := kh*3 + kw
			src, shift := "R1", kw
			if s == 2 {
				shift = kw / 2
				if kw%2 == 1 {
					src = "R2"
				}
			}
			// R(3+t) = src + kh*ld + 4*shift
			f.i("MOVD %s, R%d", src, 3+t)
			for range kh {
				f.i("ADD R13, R%d, R%d", 3+t, 3+t)
			}
			if shift > 0 {
				f.i("ADD $%d, R%d, R%d", 4*shift, 3+t, 3+t)
			}
		}
	}
	f.i("MOVD %s, R14", f.arg("acc_base"))
	f.i("MOVD R14, R15")
	for v := 0; v < 18; v += 4 {
		n := min(4, 18-v)
		f.i("VLD1.P %d(R15), %s", 16*n, regs(v, n))
	}
	f.i("CBZ R12, done")
	f.label("loop")
	f.i("VLD1.P 32(R0), [V18.S4, V19.S4]")
	for t := 0; t < 9; t++ {
		p := 20 + 2*(t%6) // six pairs of load registers in turn
		f.i("VLD1.P 32(R%d), [V%d.S4, V%d.S4]", 3+t, p, p+1)
		f.word(fmla(2*t, 18, p))
		f.word(fmla(2*t+1, 19, p+1))
	}
	f.i("SUBS $1, R12, R12")
	f.i("BNE loop")
	f.label("done")
	for v := 0; v < 18; v += 4 {
		n := min(4, 18-v)
		f.i("VST1.P %s, %d(R14)", regs(v, n), 16*n)
	}
	f.i("RET")
}

func interleaveAdd(f *file) {
	f.text("interleaveAddNEON", "interleaveAddNEON sets y[2i] += a[i] and y[2i+1] += b[i] for the whole vectors of four of a; b and y/2 are at least as long.",
		[]param{{"y", "[]float32"}, {"a", "[]float32"}, {"b", "[]float32"}})
	rowStart(f, "a")
	f.i("MOVD R0, R2")
	f.i("MOVD %s, R3", f.arg("b_base"))
	f.i("MOVD %s, R0", f.arg("y_base"))
	vecLoop(f, func(w int) {
		f.i("VLD1.P %d(R2), %s", 16*w, regs(8, w))
		f.i("VLD1.P %d(R3), %s", 16*w, regs(12, w))
		for v := 0; v < w; v++ {
			// VLD2 splits y's even and odd values, VST2 joins them.
			f.i("VLD2 (R0), [V%d.S4, V%d.S4]", 2*v, 2*v+1)
			f.word(fadd(2*v, 2*v, 8+v))
			f.word(fadd(2*v+1, 2*v+1, 12+v))
			f.i("VST2.P [V%d.S4, V%d.S4], 32(R0)", 2*v, 2*v+1)
		}
	})
}

// hardSwish emits the hard swish of a training step's forward pass,
// x*min(max(x+3, 0), 6)*(1/6) in kernels.HardSwish's order (a product,
// then the scaling), as biasHardSwishNEON does without the bias.
func hardSwish(f *file) {
	f.text("hardSwishNEON", "hardSwishNEON sets y[i] = x[i]*min(max(x[i]+3, 0), 6)*(1/6) for the whole vectors of y; x is at least as long (and may be y).",
		[]param{{"y", "[]float32"}, {"x", "[]float32"}})
	rowStart(f, "y")
	f.i("MOVD %s, R2", f.arg("x_base"))
	broadcastConst(f, 3, 21)
	broadcastConst(f, 6, 22)
	broadcastConst(f, float32(1.0/6), 23)
	f.i("VEOR V24.B16, V24.B16, V24.B16")
	vecLoop(f, func(w int) {
		f.i("VLD1.P %d(R2), %s", 16*w, regs(0, w))
		for v := 0; v < w; v++ {
			t := 4 + v
			f.word(fadd(t, v, 21))
			f.word(fmax(t, t, 24))
			f.word(fmin(t, t, 22))
			f.word(fmul(t, v, t))
			f.word(fmul(t, t, 23))
		}
		f.i("VST1.P %s, %d(R0)", regs(4, w), 16*w)
	})
}

// interleaveRows emits interleaveAddRowsNEON (or, with set,
// interleaveSetRowsNEON): for each of rows rows, y[2i] (+)= a[i] and
// y[2i+1] (+)= b[i] for the w values of the row of y (a's value alone at
// the end of an odd row), rows ldy apart in y and lda in a and b; four
// pairs a vector while whole vectors last, then pair by pair, so that the
// short rows of a network's later stages cost one call.
func interleaveRows(f *file, set bool) {
	name, verb := "interleaveAddRowsNEON", "adds"
	if set {
		name, verb = "interleaveSetRowsNEON", "sets"
	}
	f.text(name, fmt.Sprintf("%s %s the pairs (a[i], b[i]) into y[2i], y[2i+1] of each of rows rows of w values of y (a's value alone at the end of an odd row); y's rows are ldy apart, a's and b's lda (see gen/neon).", name, verb),
		[]param{{"y", "[]float32"}, {"a", "[]float32"}, {"b", "[]float32"}, {"rows", "int"}, {"w", "int"}, {"ldy", "int"}, {"lda", "int"}})
	f.i("MOVD %s, R0", f.arg("y_base"))
	f.i("MOVD %s, R1", f.arg("a_base"))
	f.i("MOVD %s, R2", f.arg("b_base"))
	f.i("MOVD %s, R3", f.arg("rows"))
	f.i("MOVD %s, R4", f.arg("w"))
	f.i("MOVD %s, R5", f.arg("ldy"))
	f.i("LSL $2, R5, R5")
	f.i("MOVD %s, R6", f.arg("lda"))
	f.i("LSL $2, R6, R6")
	f.i("LSR $1, R4, R7") // pairs
	f.i("LSR $2, R7, R8") // whole vectors of pairs
	f.i("AND $3, R7, R9") // pairs after them
	f.i("CBZ R3, done")
	f.label("row")
	f.i("MOVD R0, R10")
	f.i("MOVD R1, R11")
	f.i("MOVD R2, R12")
	f.i("MOVD R8, R13")
	f.i("CBZ R13, pairs")
	f.label("vec")
	f.i("VLD1.P 16(R11), [V0.S4]")
	f.i("VLD1.P 16(R12), [V1.S4]")
	if !set {
		f.i("VLD2 (R10), [V2.S4, V3.S4]")
		f.word(fadd(0, 0, 2))
		f.word(fadd(1, 1, 3))
	}
	f.i("VST2.P [V0.S4, V1.S4], 32(R10)")
	f.i("SUBS $1, R13, R13")
	f.i("BNE vec")
	f.label("pairs")
	f.i("MOVD R9, R13")
	f.i("CBZ R13, odd")
	f.label("pair")
	f.i("FMOVS.P 4(R11), F0")
	f.i("FMOVS.P 4(R12), F1")
	if !set {
		f.i("FMOVS (R10), F2")
		f.i("FMOVS 4(R10), F3")
		f.i("FADDS F2, F0, F0")
		f.i("FADDS F3, F1, F1")
	}
	f.i("FMOVS F0, (R10)")
	f.i("FMOVS F1, 4(R10)")
	f.i("ADD $8, R10, R10")
	f.i("SUBS $1, R13, R13")
	f.i("BNE pair")
	f.label("odd")
	f.i("TBZ $0, R4, next")
	f.i("FMOVS (R11), F0")
	if !set {
		f.i("FMOVS (R10), F2")
		f.i("FADDS F2, F0, F0")
	}
	f.i("FMOVS F0, (R10)")
	f.label("next")
	f.i("ADD R5, R0, R0")
	f.i("ADD R6, R1, R1")
	f.i("ADD R6, R2, R2")
	f.i("SUBS $1, R3, R3")
	f.i("BNE row")
	f.label("done")
	f.i("RET")
}

package main

import (
	"fmt"
	"math"
	"strings"
)

// regs is the register list [Vfirst.S4, ...] of w consecutive registers.
func regs(first, w int) string {
	var l []string
	for v := first; v < first+w; v++ {
		l = append(l, fmt.Sprintf("V%d.S4", v))
	}
	return "[" + strings.Join(l, ", ") + "]"
}

// vecLoop emits a loop over the R1 four-float vectors of a row: four
// vectors at a time, then one; body emits the work on w vectors (w = 4 or
// 1) and advances its pointers past them.
func vecLoop(f *file, body func(w int)) {
	f.i("CMP $4, R1")
	f.i("BLT one")
	f.label("four")
	body(4)
	f.i("SUB $4, R1, R1")
	f.i("CMP $4, R1")
	f.i("BGE four")
	f.label("one")
	f.i("CBZ R1, done")
	f.label("next")
	body(1)
	f.i("SUBS $1, R1, R1")
	f.i("BNE next")
	f.label("done")
	f.i("RET")
}

// rowStart loads the base of slice y into R0 and its whole vectors into R1.
func rowStart(f *file, y string) {
	f.i("MOVD %s, R0", f.arg(y+"_base"))
	f.i("MOVD %s, R1", f.arg(y+"_len"))
	f.i("LSR $2, R1, R1")
}

// broadcastArg sets all lanes of Vv to the float32 argument name.
func broadcastArg(f *file, name string, v int) {
	f.i("FMOVS %s, F%d", f.arg(name), v)
	f.i("VDUP V%d.S[0], V%d.S4", v, v)
}

// broadcastConst sets all lanes of Vv to c.
func broadcastConst(f *file, c float32, v int) {
	f.i("MOVW $0x%08x, R7 // %v", math.Float32bits(c), c)
	f.i("VDUP R7, V%d.S4", v)
}

func epilogueSet(f *file) {
	f32 := func(n string) param { return param{n, "float32"} }
	sl := func(n string) param { return param{n, "[]float32"} }

	f.text("biasClampNEON", "biasClampNEON sets y[i] = min(max(y[i]+b, lo), hi) for the whole vectors of y.",
		[]param{sl("y"), f32("b"), f32("lo"), f32("hi")})
	rowStart(f, "y")
	broadcastArg(f, "b", 20)
	broadcastArg(f, "lo", 21)
	broadcastArg(f, "hi", 22)
	vecLoop(f, func(w int) {
		f.i("VLD1 (R0), %s", regs(0, w))
		for v := 0; v < w; v++ {
			f.word(fadd(v, v, 20))
			f.word(fmax(v, v, 21))
			f.word(fmin(v, v, 22))
		}
		f.i("VST1.P %s, %d(R0)", regs(0, w), 16*w)
	})

	for _, sigmoid := range []bool{false, true} {
		name, what := "biasHardSwishNEON", "v*min(max(v+3, 0), 6)*(1/6)"
		if sigmoid {
			name, what = "biasHardSigmoidNEON", "min(max(v+3, 0), 6)*(1/6)"
		}
		f.text(name, fmt.Sprintf("%s sets y[i] = %s with v = y[i]+b for the whole vectors of y, in the order the Go kernels compute it.", name, what),
			[]param{sl("y"), f32("b")})
		rowStart(f, "y")
		broadcastArg(f, "b", 20)
		broadcastConst(f, 3, 21)
		broadcastConst(f, 6, 22)
		broadcastConst(f, float32(1.0/6), 23)
		f.i("VEOR V24.B16, V24.B16, V24.B16")
		vecLoop(f, func(w int) {
			f.i("VLD1 (R0), %s", regs(0, w))
			for v := 0; v < w; v++ {
				t := 4 + v
				f.word(fadd(v, v, 20))
				f.word(fadd(t, v, 21))
				f.word(fmax(t, t, 24))
				f.word(fmin(t, t, 22))
				if !sigmoid {
					f.word(fmul(t, v, t))
				}
				f.word(fmul(t, t, 23))
			}
			f.i("VST1.P %s, %d(R0)", regs(4, w), 16*w)
		})
	}

	f.text("biasResidualNEON", "biasResidualNEON sets y[i] += b + r[i] for the whole vectors of y; r is at least as long.",
		[]param{sl("y"), sl("r"), f32("b")})
	rowStart(f, "y")
	f.i("MOVD %s, R2", f.arg("r_base"))
	broadcastArg(f, "b", 20)
	vecLoop(f, func(w int) {
		f.i("VLD1 (R0), %s", regs(0, w))
		f.i("VLD1.P %d(R2), %s", 16*w, regs(4, w))
		for v := 0; v < w; v++ {
			f.word(fadd(4+v, 4+v, 20))
			f.word(fadd(v, v, 4+v))
		}
		f.i("VST1.P %s, %d(R0)", regs(0, w), 16*w)
	})

	f.text("axpyNEON", "axpyNEON sets y[i] += a*w[i] for the whole vectors of y; w is at least as long.",
		[]param{sl("y"), sl("w"), f32("a")})
	rowStart(f, "y")
	f.i("MOVD %s, R2", f.arg("w_base"))
	f.i("FMOVS %s, F20", f.arg("a"))
	vecLoop(f, func(w int) {
		f.i("VLD1 (R0), %s", regs(0, w))
		f.i("VLD1.P %d(R2), %s", 16*w, regs(4, w))
		for v := 0; v < w; v++ {
			f.word(fmlaElem(v, 4+v, 20, 0))
		}
		f.i("VST1.P %s, %d(R0)", regs(0, w), 16*w)
	})

	f.text("maxIntoNEON", "maxIntoNEON sets y[i] = max(y[i], x[i]) (NaN where either is NaN) for the whole vectors of y; x is at least as long.",
		[]param{sl("y"), sl("x")})
	rowStart(f, "y")
	f.i("MOVD %s, R2", f.arg("x_base"))
	vecLoop(f, func(w int) {
		f.i("VLD1 (R0), %s", regs(0, w))
		f.i("VLD1.P %d(R2), %s", 16*w, regs(4, w))
		for v := 0; v < w; v++ {
			f.word(fmax(v, v, 4+v))
		}
		f.i("VST1.P %s, %d(R0)", regs(0, w), 16*w)
	})

	f.text("scaleNEON", "scaleNEON sets y[i] = a*x[i] for the whole vectors of y; x is at least as long.",
		[]param{sl("y"), sl("x"), f32("a")})
	rowStart(f, "y")
	f.i("MOVD %s, R2", f.arg("x_base"))
	f.i("FMOVS %s, F20", f.arg("a"))
	vecLoop(f, func(w int) {
		f.i("VLD1.P %d(R2), %s", 16*w, regs(4, w))
		for v := 0; v < w; v++ {
			f.word(fmulElem(v, 4+v, 20, 0))
		}
		f.i("VST1.P %s, %d(R0)", regs(0, w), 16*w)
	})
}

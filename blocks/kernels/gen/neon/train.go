package main

import "fmt"

// The elementwise kernels of a training step, with the contracts of the
// AVX2 kernels of the same names in gen/plan (train.go): whole vectors of
// four of gx (or y), the Go callers finishing the rest. The gradient kernels
// come in two forms: adding to gx, or setting it.

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
	}
}

package main

// The pooling kernels of inference, with the contracts of the AVX2 kernels
// of the same names in gen/plan (infer.go).

func poolSet(f *file) {
	maxPool3S2(f)
	sumF64(f)
}

// maxPool3S2 emits one output row of 3x3 stride-2 max pooling over windows
// inside the plane: output i is the maximum of x[r*ld + 2i + j] for r, j <
// 3, eight outputs at a time. For four outputs, VLD2 splits each row's
// columns from 2i on into their even and odd values, and again from 2i+2
// for the third column of the windows (the even values only); the rows'
// maxima of the three, then their maximum. It reads one column past the
// last window, as the AVX2 kernel does. The row pointers R4-R9 (each
// row's values from 2i and from 2i+2) advance with the loads.
func maxPool3S2(f *file) {
	f.text("maxPool3S2NEON", "maxPool3S2NEON sets the whole vectors of eight of y to the maxima of 3x3 windows at stride 2 of x, rows ld apart (see gen/neon).",
		[]param{{"y", "[]float32"}, {"x", "[]float32"}, {"ld", "int"}})
	f.i("MOVD %s, R0", f.arg("y_base"))
	f.i("MOVD %s, R1", f.arg("y_len"))
	f.i("LSR $3, R1, R1")
	f.i("MOVD %s, R2", f.arg("x_base"))
	f.i("MOVD %s, R3", f.arg("ld"))
	f.i("LSL $2, R3, R3")
	for r := 0; r < 3; r++ {
		p := 4 + 2*r
		if r == 0 {
			f.i("MOVD R2, R%d", p)
		} else {
			f.i("ADD R3, R%d, R%d", p-2, p)
		}
		f.i("ADD $8, R%d, R%d", p, p+1)
	}
	f.i("CBZ R1, done")
	f.label("loop")
	for h := 0; h < 2; h++ {
		// Row r's even values in V(6r), odd in V(6r+1), the evens from
		// 2i+2 in V(6r+2) (V(6r+3) takes their odd ones, unused).
		for r := 0; r < 3; r++ {
			b := 6 * r
			f.i("VLD2.P 32(R%d), [V%d.S4, V%d.S4]", 4+2*r, b, b+1)
			f.i("VLD2.P 32(R%d), [V%d.S4, V%d.S4]", 5+2*r, b+2, b+3)
			f.word(fmax(b, b, b+1))
			f.word(fmax(b, b, b+2))
		}
		f.word(fmax(0, 0, 6))
		f.word(fmax(20+h, 0, 12))
	}
	f.i("VST1.P [V20.S4, V21.S4], 32(R0)")
	f.i("SUBS $1, R1, R1")
	f.i("BNE loop")
	f.label("done")
	f.i("RET")
}

// sumF64 emits the float64 sum of the whole vectors of eight of a float32
// slice (global average pooling): each widened to four pairs of float64
// lanes, summed in V16-V19, then added up.
func sumF64(f *file) {
	f.textResults("sumF64NEON", "sumF64NEON returns the sum in float64 of x[:len(x)&^7].",
		[]param{{"x", "[]float32"}}, []param{{"s", "float64"}})
	f.i("MOVD %s, R0", f.arg("x_base"))
	f.i("MOVD %s, R1", f.arg("x_len"))
	f.i("LSR $3, R1, R1")
	for v := 16; v < 20; v++ {
		f.i("VEOR V%d.B16, V%d.B16, V%d.B16", v, v, v)
	}
	f.i("CBZ R1, sum")
	f.label("loop")
	f.i("VLD1.P 32(R0), [V0.S4, V1.S4]")
	for h := 0; h < 4; h++ {
		if h%2 == 0 {
			f.word(fcvtl(4+h, h/2))
		} else {
			f.word(fcvtl2(4+h, h/2))
		}
		f.word(faddD(16+h, 16+h, 4+h))
	}
	f.i("SUBS $1, R1, R1")
	f.i("BNE loop")
	f.label("sum")
	f.word(faddD(16, 16, 17))
	f.word(faddD(18, 18, 19))
	f.word(faddD(16, 16, 18))
	f.word(faddpD(16, 16))
	f.i("FMOVD F16, %s", f.arg("s"))
	f.i("RET")
}

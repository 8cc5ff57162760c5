package main

// stem emits stemConvK3S2NEON, the stem convolution with the contract of
// the AVX2 kernel of the amd64 generator (gen/plan, stemBlock): a dense 3x3
// convolution at stride 2 over c input channels, for four output channels
// at once, over nvec vectors of eight of one output row. e and o are the
// even and odd columns of channel 0's padded plane at the output row's
// first input row; channel c's planes are c*ldc floats further, rows ld
// floats apart. w holds the four biases, then for each input channel and
// tap the four outputs' weights (one register, multiplied by lane). Output
// channel j's row is written at y + j*ldy.
//
// Sixteen outputs of each channel at a time (16 sums in V8-V23), then
// eight.
func stem(f *file) {
	const outs = 4
	sl := func(n string) param { return param{n, "[]float32"} }
	in := func(n string) param { return param{n, "int"} }
	f.text("stemConvK3S2NEON", "stemConvK3S2NEON computes nvec vectors of eight of one output row of four output channels of a 3x3 convolution at stride 2 over c input channels (see gen/neon).",
		[]param{sl("y"), in("ldy"), in("nvec"), sl("e"), sl("o"), in("ldc"), in("ld"), sl("w"), in("c")})
	f.i("MOVD %s, R0", f.arg("y_base"))
	f.i("MOVD %s, R13", f.arg("ldy"))
	f.i("LSL $2, R13, R13")
	f.i("MOVD %s, R5", f.arg("nvec"))
	f.i("LSL $5, R5, R5") // bytes
	f.i("MOVD %s, R1", f.arg("e_base"))
	f.i("MOVD %s, R2", f.arg("o_base"))
	f.i("MOVD %s, R3", f.arg("ld"))
	f.i("LSL $2, R3, R3")
	// From the last tap row of one channel to the first of the next.
	f.i("MOVD %s, R14", f.arg("ldc"))
	f.i("LSL $2, R14, R14")
	f.i("SUB R3, R14, R14")
	f.i("SUB R3, R14, R14")
	f.i("MOVD $4, R7")
	f.i("MOVD $0, R6")
	acc := func(j, i int) int { return 8 + 4*j + i }
	block := func(w int, label string) {
		f.i("MOVD %s, R8", f.arg("w_base"))
		f.i("VLD1.P 16(R8), [V24.S4]")
		for j := 0; j < outs; j++ {
			for i := 0; i < w; i++ {
				f.i("VDUP V24.S[%d], V%d.S4", j, acc(j, i))
			}
		}
		f.i("ADD R6, R1, R9")
		f.i("ADD R6, R2, R10")
		f.i("MOVD %s, R11", f.arg("c"))
		f.label(label)
		tap := 0
		for kh := 0; kh < 3; kh++ {
			f.i("MOVD R9, R12")
			for kw := 0; kw < 3; kw++ {
				inr := 4 * (tap % 2)
				wr := 25 + tap%2
				switch kw {
				case 0:
					f.i("VLD1.P (R12)(R7), %s", regs(inr, w))
				case 1:
					f.i("VLD1 (R10), %s", regs(inr, w))
				case 2:
					f.i("VLD1 (R12), %s", regs(inr, w))
				}
				f.i("VLD1.P 16(R8), [V%d.S4]", wr)
				for j := 0; j < outs; j++ {
					for i := 0; i < w; i++ {
						f.word(fmlaElem(acc(j, i), inr+i, wr, j))
					}
				}
				tap++
			}
			if kh < 2 {
				f.i("ADD R3, R9, R9")
				f.i("ADD R3, R10, R10")
			}
		}
		f.i("ADD R14, R9, R9")
		f.i("ADD R14, R10, R10")
		f.i("SUBS $1, R11, R11")
		f.i("BNE %s", label)
		f.i("ADD R6, R0, R12")
		for j := 0; j < outs; j++ {
			f.i("VST1 %s, (R12)", regs(acc(j, 0), w))
			if j < outs-1 {
				f.i("ADD R13, R12, R12")
			}
		}
	}
	f.label("wide")
	f.i("SUB R6, R5, R9")
	f.i("CMP $64, R9")
	f.i("BLT narrow")
	block(4, "chan4")
	f.i("ADD $64, R6, R6")
	f.i("B wide")
	f.label("narrow")
	f.i("CMP R5, R6")
	f.i("BGE done")
	block(2, "chan2")
	f.i("ADD $32, R6, R6")
	f.i("B narrow")
	f.label("done")
	f.i("RET")
}

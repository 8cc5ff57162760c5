package main

import "fmt"

// The GEMM micro-kernel: an 8x12 tile of C in 24 registers (V8-V31, row r
// in V8+3r..V10+3r), the eight values of A of one step in V0-V1 and the
// twelve of B in V2-V4. Each step is two loads and 24 multiply-adds by
// element (FMLA Vc, Vb, Va.S[i]), two steps per iteration.
const (
	gemmMR = 8
	gemmNR = 12
)

// gemmKernel emits sgemmKernel8x12NEON (A and B packed) or, with
// bStrided, sgemmKernel8x12NEONBStrided (B read where it is stored, row p
// of the panel at b + p*ldb).
func gemmKernel(f *file, bStrided bool) {
	name := fmt.Sprintf("sgemmKernel%dx%dNEON", gemmMR, gemmNR)
	params := []param{{"k", "int"}, {"a", "[]float32"}, {"b", "[]float32"}, {"c", "[]float32"}, {"ldc", "int"}, {"beta", "float32"}}
	doc := fmt.Sprintf("%s computes one %dx%d tile of C from packed panels of A and B.", name, gemmMR, gemmNR)
	if bStrided {
		name += "BStrided"
		params = []param{{"k", "int"}, {"a", "[]float32"}, {"b", "[]float32"}, {"ldb", "int"}, {"c", "[]float32"}, {"ldc", "int"}, {"beta", "float32"}}
		doc = fmt.Sprintf("%s computes one %dx%d tile of C from a packed panel of A and B as stored.", name, gemmMR, gemmNR)
	}
	f.text(name, doc, params)
	f.i("MOVD %s, R0", f.arg("k"))
	f.i("MOVD %s, R1", f.arg("a_base"))
	f.i("MOVD %s, R2", f.arg("b_base"))
	f.i("MOVD %s, R3", f.arg("c_base"))
	f.i("MOVD %s, R4", f.arg("ldc"))
	f.i("LSL $2, R4, R4")
	if bStrided {
		f.i("MOVD %s, R5", f.arg("ldb"))
		f.i("LSL $2, R5, R5")
	}
	acc := func(r, j int) int { return 8 + 3*r + j }
	for v := 8; v < 32; v++ {
		f.i("VEOR V%d.B16, V%d.B16, V%d.B16", v, v, v)
	}
	step := func() {
		f.i("VLD1.P 32(R1), [V0.S4, V1.S4]")
		if bStrided {
			f.i("VLD1.P (R2)(R5), [V2.S4, V3.S4, V4.S4]")
		} else {
			f.i("VLD1.P 48(R2), [V2.S4, V3.S4, V4.S4]")
		}
		for r := 0; r < gemmMR; r++ {
			for j := 0; j < 3; j++ {
				f.word(fmlaElem(acc(r, j), 2+j, r/4, r%4))
			}
		}
	}
	// One step when k is odd, then two per iteration.
	f.i("TBZ $0, R0, pairs")
	step()
	f.i("SUB $1, R0, R0")
	f.label("pairs")
	f.i("CBZ R0, store")
	f.label("loop")
	step()
	step()
	f.i("SUBS $2, R0, R0")
	f.i("BNE loop")
	f.label("store")
	f.i("FMOVS %s, F7", f.arg("beta"))
	f.i("FCMPS $(0.0), F7")
	f.i("BEQ overwrite")
	// C = acc + beta*C.
	for r := 0; r < gemmMR; r++ {
		f.i("VLD1 (R3), [V0.S4, V1.S4, V2.S4]")
		for j := 0; j < 3; j++ {
			f.word(fmlaElem(acc(r, j), j, 7, 0))
		}
		f.i("VST1.P [V%d.S4, V%d.S4, V%d.S4], (R3)(R4)", acc(r, 0), acc(r, 1), acc(r, 2))
	}
	f.i("RET")
	f.label("overwrite")
	for r := 0; r < gemmMR; r++ {
		f.i("VST1.P [V%d.S4, V%d.S4, V%d.S4], (R3)(R4)", acc(r, 0), acc(r, 1), acc(r, 2))
	}
	f.i("RET")
}

// packB emits packBNoTrans12NEON, which packs one 12-wide panel of B (not
// transposed), k rows ldb apart, into dst: row p at dst[12p:12p+12].
func packB(f *file) {
	f.text("packBNoTrans12NEON", "packBNoTrans12NEON packs k rows of 12 values of b, ldb apart, into dst, 12 values a row.",
		[]param{{"k", "int"}, {"b", "[]float32"}, {"ldb", "int"}, {"dst", "[]float32"}})
	f.i("MOVD %s, R0", f.arg("k"))
	f.i("MOVD %s, R1", f.arg("b_base"))
	f.i("MOVD %s, R2", f.arg("ldb"))
	f.i("LSL $2, R2, R2")
	f.i("MOVD %s, R3", f.arg("dst_base"))
	f.i("CBZ R0, done")
	f.label("loop")
	f.i("VLD1.P (R1)(R2), [V0.S4, V1.S4, V2.S4]")
	f.i("VST1.P [V0.S4, V1.S4, V2.S4], 48(R3)")
	f.i("SUBS $1, R0, R0")
	f.i("BNE loop")
	f.label("done")
	f.i("RET")
}

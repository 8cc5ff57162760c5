package main

import "fmt"

// Encodings of the AArch64 Advanced SIMD instructions that Go's assembler
// does not accept (as of Go 1.26): single-precision, four lanes. Each
// returns the instruction word and its GNU syntax for the comment.

func vreg(v int) uint32 {
	if v < 0 || v > 31 {
		panic(fmt.Sprintf("V%d", v))
	}
	return uint32(v)
}

// three-register same-type vector instructions (.4S).
func threeSame(op uint32, mn string, d, n, m int) (uint32, string) {
	return op | vreg(m)<<16 | vreg(n)<<5 | vreg(d), fmt.Sprintf("%s V%d.4S, V%d.4S, V%d.4S", mn, d, n, m)
}

// fadd: Vd = Vn + Vm.
func fadd(d, n, m int) (uint32, string) { return threeSame(0x4e20d400, "FADD", d, n, m) }

// fmul: Vd = Vn * Vm.
func fmul(d, n, m int) (uint32, string) { return threeSame(0x6e20dc00, "FMUL", d, n, m) }

// fmax: Vd = max(Vn, Vm), NaN if either is NaN.
func fmax(d, n, m int) (uint32, string) { return threeSame(0x4e20f400, "FMAX", d, n, m) }

// fmin: Vd = min(Vn, Vm), NaN if either is NaN.
func fmin(d, n, m int) (uint32, string) { return threeSame(0x4ea0f400, "FMIN", d, n, m) }

// fmlaElem: Vd += Vn * Vm.S[idx] (FMLA by element).
func fmlaElem(d, n, m, idx int) (uint32, string) {
	if idx < 0 || idx > 3 {
		panic("lane")
	}
	l, h := uint32(idx&1), uint32(idx>>1)
	enc := 0x4f801000 | l<<21 | (vreg(m)>>4)<<20 | (vreg(m)&15)<<16 | h<<11 | vreg(n)<<5 | vreg(d)
	return enc, fmt.Sprintf("FMLA V%d.4S, V%d.4S, V%d.S[%d]", d, n, m, idx)
}

// fmulElem: Vd = Vn * Vm.S[idx] (FMUL by element).
func fmulElem(d, n, m, idx int) (uint32, string) {
	l, h := uint32(idx&1), uint32(idx>>1)
	enc := 0x4f809000 | l<<21 | (vreg(m)>>4)<<20 | (vreg(m)&15)<<16 | h<<11 | vreg(n)<<5 | vreg(d)
	return enc, fmt.Sprintf("FMUL V%d.4S, V%d.4S, V%d.S[%d]", d, n, m, idx)
}

// fcmgt: Vd = all ones where Vn > Vm, else zero (false for NaN).
func fcmgt(d, n, m int) (uint32, string) { return threeSame(0x6ea0e400, "FCMGT", d, n, m) }

// fsub: Vd = Vn - Vm.
func fsub(d, n, m int) (uint32, string) { return threeSame(0x4ea0d400, "FSUB", d, n, m) }

// fmla: Vd += Vn * Vm (fused).
func fmla(d, n, m int) (uint32, string) { return threeSame(0x4e20cc00, "FMLA", d, n, m) }

// faddp: Vd = the pairwise sums of Vn's lanes, then Vm's.
func faddp(d, n, m int) (uint32, string) { return threeSame(0x6e20d400, "FADDP", d, n, m) }

// faddpS: Sd = Vn.S[0] + Vn.S[1] (scalar pairwise add).
func faddpS(d, n int) (uint32, string) {
	return 0x7e30d800 | vreg(n)<<5 | vreg(d), fmt.Sprintf("FADDP S%d, V%d.2S", d, n)
}

// Double precision, two lanes.

// threeSameD: three-register same-type vector instructions (.2D).
func threeSameD(op uint32, mn string, d, n, m int) (uint32, string) {
	return op | vreg(m)<<16 | vreg(n)<<5 | vreg(d), fmt.Sprintf("%s V%d.2D, V%d.2D, V%d.2D", mn, d, n, m)
}

// faddD: Vd = Vn + Vm.
func faddD(d, n, m int) (uint32, string) { return threeSameD(0x4e60d400, "FADD", d, n, m) }

// fsubD: Vd = Vn - Vm.
func fsubD(d, n, m int) (uint32, string) { return threeSameD(0x4ee0d400, "FSUB", d, n, m) }

// fmlaD: Vd += Vn * Vm (fused).
func fmlaD(d, n, m int) (uint32, string) { return threeSameD(0x4e60cc00, "FMLA", d, n, m) }

// faddpD: Dd = Vn.D[0] + Vn.D[1] (scalar pairwise add).
func faddpD(d, n int) (uint32, string) {
	return 0x7e70d800 | vreg(n)<<5 | vreg(d), fmt.Sprintf("FADDP D%d, V%d.2D", d, n)
}

// fcvtl: Vd.2D = the low two lanes of Vn.4S, widened.
func fcvtl(d, n int) (uint32, string) {
	return 0x0e617800 | vreg(n)<<5 | vreg(d), fmt.Sprintf("FCVTL V%d.2D, V%d.2S", d, n)
}

// fcvtl2: Vd.2D = the high two lanes of Vn.4S, widened.
func fcvtl2(d, n int) (uint32, string) {
	return 0x4e617800 | vreg(n)<<5 | vreg(d), fmt.Sprintf("FCVTL2 V%d.2D, V%d.4S", d, n)
}

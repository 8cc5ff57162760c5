package kernels

// MatVecT sets y = x*wt for the row vector x (k values) and the k x ld
// row-major matrix wt, of which it reads the first len(y) columns:
// y[j] = sum_i x[i]*wt[i*ld+j]. It is a fully connected layer on one image
// with its weight stored transposed: each step streams one row of wt into y,
// which stays in L1. Rows whose x is zero (after a ReLU, often) are skipped,
// as the reference GEMM skips them.
func MatVecT(y, x, wt []float32, ld int) {
	clear(y)
	n := len(y)
	for i, a := range x {
		if a == 0 {
			continue
		}
		row := wt[i*ld : i*ld+n]
		if axpySIMD(y, row, a) {
			continue
		}
		for j, v := range row {
			y[j] += a * v
		}
	}
}

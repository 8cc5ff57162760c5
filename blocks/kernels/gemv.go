package kernels

// MatVecT sets y = x*wt for the row vector x (k values) and the k x ld
// row-major matrix wt, of which it reads the first len(y) columns:
// y[j] = sum_i x[i]*wt[i*ld+j]. It is a fully connected layer on one image
// with its weight stored transposed: each step streams rows of wt into y,
// which stays in L1, four rows to a pass where the CPU has a kernel for
// it (the sums are the same as one row to a pass). Rows whose x is zero
// (after a ReLU, often) are skipped, as the reference GEMM skips them.
func MatVecT(y, x, wt []float32, ld int) {
	clear(y)
	n := len(y)
	var rows [4]int
	var as [4]float32
	g := 0
	for i, a := range x {
		if a == 0 {
			continue
		}
		rows[g], as[g] = i*ld, a
		if g++; g == len(rows) {
			if !axpy4SIMD(y, wt[rows[0]:rows[0]+n], wt[rows[1]:rows[1]+n], wt[rows[2]:rows[2]+n], wt[rows[3]:rows[3]+n], &as) {
				axpyRows(y, wt, rows[:], as[:])
			}
			g = 0
		}
	}
	axpyRows(y, wt, rows[:g], as[:g])
}

// axpyRows adds as[r] times the row of wt at rows[r] to y, row by row.
func axpyRows(y, wt []float32, rows []int, as []float32) {
	n := len(y)
	for r, off := range rows {
		row, a := wt[off:off+n], as[r]
		if axpySIMD(y, row, a) {
			continue
		}
		for j, v := range row {
			y[j] += a * v
		}
	}
}

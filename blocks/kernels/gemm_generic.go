package kernels

// genericKernel is the pure-Go micro-kernel: the fast path on architectures
// without assembly, and with the noasm build tag.
var genericKernel = microKernel{name: "generic-4x4", mr: 4, nr: 4, kc: 256, nc: 1024, run: sgemmKernel4x4Go}

// sgemmKernel4x4Go sets the 4x4 tile c to a*b + beta*c, where a and b hold
// k steps of 4 values each. It keeps the tile in sixteen locals.
func sgemmKernel4x4Go(k int, a, b, c []float32, ldc int, beta float32) {
	var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 float32
	a, b = a[:4*k], b[:4*k]
	for p := 0; p+4 <= len(a) && p+4 <= len(b); p += 4 {
		ap, bp := a[p:p+4:p+4], b[p:p+4:p+4]
		a0, a1, a2, a3 := ap[0], ap[1], ap[2], ap[3]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	storeRow4(c[0:4], c00, c01, c02, c03, beta)
	storeRow4(c[ldc:ldc+4], c10, c11, c12, c13, beta)
	storeRow4(c[2*ldc:2*ldc+4], c20, c21, c22, c23, beta)
	storeRow4(c[3*ldc:3*ldc+4], c30, c31, c32, c33, beta)
}

// storeRow4 sets the four values of c to v + beta*c, not reading c when beta
// is 0.
func storeRow4(c []float32, v0, v1, v2, v3, beta float32) {
	c = c[:4]
	if beta == 0 {
		c[0], c[1], c[2], c[3] = v0, v1, v2, v3
		return
	}
	c[0] = v0 + beta*c[0]
	c[1] = v1 + beta*c[1]
	c[2] = v2 + beta*c[2]
	c[3] = v3 + beta*c[3]
}

//go:build !noasm

package kernels

// transposeFast reports whether the transposed GEMM form may be chosen
// here: wherever transposeRows moves eight rows at a time with the AVX2
// kernel (the form needs it to pay), AVX-512 machines included.
var transposeFast = hasAVX2

// transposeRows8 sets dst[c*ldd+j] = src[j*lds+c] for c < 8 and j <
// n&^7, and returns n&^7.
func transposeRows8(dst []float32, ldd int, src []float32, lds, n int) int {
	n &^= 7
	if !hasAVX2 || n == 0 {
		return 0
	}
	_ = dst[7*ldd+n-1]
	_ = src[(n-1)*lds+7]
	transposeRows8AVX2(dst, ldd, src, lds, n)
	return n
}

// transposeRows8Epi is transposeRows8 that also sets each destination row
// c to min(max(v+bias[c], lo), hi), as the epilogue pass does over a row's
// whole vectors, and returns n&^7.
func transposeRows8Epi(dst []float32, ldd int, src []float32, lds, n int, bias []float32, lo, hi float32) int {
	n &^= 7
	if !hasAVX2 || n == 0 {
		return 0
	}
	_ = dst[7*ldd+n-1]
	_ = src[(n-1)*lds+7]
	_ = bias[7]
	transposeRows8EpiAVX2(dst, ldd, src, lds, n, bias, lo, hi)
	return n
}

//go:build !amd64 || noasm

package kernels

// Without the amd64 assembly transposeRows moves one value at a time,
// and PreferT never chooses the transposed GEMM form.

var transposeFast = false

func transposeRows8(_ []float32, _ int, _ []float32, _, _ int) int { return 0 }

func transposeRows8Epi(_ []float32, _ int, _ []float32, _, _ int, _ []float32, _, _ float32) int {
	return 0
}

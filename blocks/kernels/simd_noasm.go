//go:build (!amd64 && !arm64) || noasm

package kernels

// Without assembly every case takes the pure-Go loops.

func biasActRowSIMD(ActKind, []float32, float32) bool { return false }

func biasResidualRowSIMD(_, _ []float32, _ float32) bool { return false }

func axpySIMD(_, _ []float32, _ float32) bool { return false }

func maxIntoSIMD(_, _ []float32) bool { return false }

func deinterleaveSIMD(_, _, _ []float32) bool { return false }

func dwSIMD(_, _ int) bool { return false }

func dwRowSIMD(_, _ int, _, _, _, _ []float32, _ int, _ []float32, _ float32) {
	panic("kernels: no depthwise row kernel without assembly")
}

func stemSIMD() bool { return false }

func stemConvSIMD(_ []float32, _, _ int, _, _ []float32, _, _ int, _ []float32, _ int) {
	panic("kernels: no stem kernel without assembly")
}

func dwRowsSIMD(_, _ int, _ []float32, _, _ int, _, _, _ []float32, _ int, _ []float32, _ float32) {
	panic("kernels: no depthwise row kernel without assembly")
}

func scaleSIMD(_, _ []float32, _ float32) int { return 0 }

func copyRowsSIMD(_ []float32, _ int, _ []float32, _, _, _ int) bool { return false }

func sumF64SIMD([]float32) (float64, int) { return 0, 0 }

func maxPool3S2SIMD() bool { return false }

func maxPool3S2AVX2(_, _ []float32, _ int) { panic("kernels: no max pooling kernel without assembly") }

// axpy4SIMD has no kernel here: MatVecT adds the rows one at a time.
func axpy4SIMD(_, _, _, _, _ []float32, _ *[4]float32) bool { return false }

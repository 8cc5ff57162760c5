//go:build !noasm

package kernels

// fmaPeakLoop returns the FMA loop that matches a micro-kernel's
// instruction set and the floating-point operations per iteration, or nil
// when there is none.
func fmaPeakLoop(kern *microKernel) (loop func(n int), flopsPerIter float64) {
	switch kern {
	case &avx512Kernel, &avx512Kernel14:
		return fmaPeakAVX512, 24 * 16 * 2
	case &avx2Kernel:
		return fmaPeakAVX2, 12 * 8 * 2
	}
	return nil, 0
}

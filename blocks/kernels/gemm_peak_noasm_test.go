//go:build !amd64 || noasm

package kernels

// fmaPeakLoop returns nil: this build has no assembly FMA loop.
func fmaPeakLoop(*microKernel) (loop func(n int), flopsPerIter float64) { return nil, 0 }

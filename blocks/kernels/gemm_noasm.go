//go:build (!amd64 && !arm64) || noasm

package kernels

// gemmKernels lists the micro-kernels this build can run: only the pure-Go
// one.
func gemmKernels() []*microKernel { return []*microKernel{&genericKernel} }

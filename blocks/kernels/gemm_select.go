package kernels

// defaultKernel is the micro-kernel family behind Sgemm: the first, fastest,
// that this CPU and build can run. It is chosen once at start-up and never
// changed.
var defaultKernel = gemmKernels()[0]

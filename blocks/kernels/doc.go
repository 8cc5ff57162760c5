// Package kernels holds the float32 compute kernels behind the nn engine:
// GEMM, convolution (im2col and direct depthwise), pooling, elementwise
// operations. Each kernel has a pure-Go reference that is the oracle for the
// faster paths (SIMD assembly on amd64, chosen at run time from the CPU's
// features, and disabled with the build tag noasm).
//
// Kernels take slices and sizes and trust them: the nn layers check shapes
// before they call in.
package kernels

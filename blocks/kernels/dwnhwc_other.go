//go:build !amd64 || noasm

package kernels

// Without the amd64 assembly the depthwise convolution takes its
// per-channel paths.

func dwNHWC8SIMD(_, _ int) bool { return false }

func dwPlaneSIMD(_, _ int) bool { return false }

func dwPlaneAVX2SIMD(_, _ int) bool { return false }

func dwPlaneAVX2(_, _ int, _, _ []float32, _, _, _ int, _, _ []float32, _ []int32, _, _ float32, _ []float32) {
	panic("kernels: no depthwise plane kernel")
}

// dwPlaneWide is false here: there are no plane kernels.
var dwPlaneWide = false

func dwPlane(_ int, _, _ []float32, _, _, _ int, _, _ []float32, _ []uint16, _, _ float32, _ bool) {
	panic("kernels: no depthwise plane kernel")
}

func dwPlaneS2(_ int, _, _ []float32, _, _, _, _, _ int, _, _ []float32, _ []int32, _ []uint16, _, _ float32, _ bool) {
	panic("kernels: no depthwise plane kernel")
}

func dwPlaneS2WideSIMD(_, _ int) bool { return false }

func dwPlaneS1WideSIMD(_, _ int) bool { return false }

func dwPlaneS1Wide(_, _ int, _, _ []float32, _, _, _ int, _, _ []float32, _ []uint16, _, _ float32, _ bool) {
	panic("kernels: no depthwise plane kernel")
}

func dwPlaneS2Wide(_, _ int, _, _ []float32, _, _, _, _, _ int, _, _ []float32, _ []int32, _ []uint16, _, _ float32, _ bool) {
	panic("kernels: no depthwise plane kernel")
}

func dwPack8(_, _ []float32, _ int, _ []int32) { panic("kernels: no channels-last depthwise kernel") }

func dwUnpack8(_ []float32, _ int, _ []float32) { panic("kernels: no channels-last depthwise kernel") }

func dwNHWC8(_, _ int, _, _ []float32, _, _, _ int, _, _ []float32, _, _ float32) {
	panic("kernels: no channels-last depthwise kernel")
}

func copyRowsSpill(_ []float32, _ int, _ []float32, _, _, _ int) bool { return false }

func stemClampSIMD() bool { return false }

func stemWideSIMD() bool { return false }

func stemConvWideSIMD(_ []float32, _, _ int, _, _ []float32, _, _ int, _ []float32, _ int, _, _ float32) {
	panic("kernels: no wide stem kernel")
}

func stemConvClampSIMD(_ []float32, _, _ int, _, _ []float32, _, _ int, _ []float32, _ int, _, _ float32) {
	panic("kernels: no clamping stem kernel")
}

func maxPool3S2Plane(_ []float32, _, _ int, _ []float32) bool { return false }

// dwNHWC8Wide is false here: there are no channels-last kernels.
var dwNHWC8Wide = false

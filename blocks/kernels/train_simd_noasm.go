//go:build (!amd64 && !arm64) || noasm

package kernels

// Without assembly the training kernels take their pure-Go loops.

func sumCenteredDotRowsSIMD(_, _ []float32, _, _, _ int, _ float32) (s1, s2 float32, done int) {
	return 0, 0, 0
}

func shiftedSumsRowsSIMD(_ []float32, _, _, _ int, _ float64) (s1, s2 float64, done int) {
	return 0, 0, 0
}

func channelAffineSIMD(_, _ []float32, _, _ float32) int { return 0 }

func bnInputGradSIMD(_, _, _ []float32, _, _, _ float32, _ bool) int { return 0 }

func reluGradSIMD(_, _, _ []float32, _ bool) int { return 0 }

func clampGradSIMD(_, _, _ []float32, _, _ float32, _ bool) int { return 0 }

func hardSwishGradSIMD(_, _, _ []float32, _ bool) int { return 0 }

func interleaveAddSIMD(_, _, _ []float32) int { return 0 }

func interleaveRowsSIMD(_, _, _ []float32, _, _, _, _ int, _ bool) bool { return false }

func dwGradSIMD(int) bool { return false }

func channelAffineRowsSIMD(_, _ []float32, _, _ int, _, _ []float32, _ bool, _ float32) bool {
	return false
}

func rowsSIMD() bool { return false }

func dwGradPlaneSIMD(int, []float32, []float32, []float32, []float32, int, *[9]float64) bool {
	return false
}

func shiftedSumsChannelRowsSIMD(_ []float32, _, _ int, _, _ []float64) {
	panic("kernels: no batch norm sums row kernel without assembly")
}

func gradSumsRowsSIMD(_, _ []float32, _, _ int, _ []float32, _ []float64) {
	panic("kernels: no gradient sums row kernel without assembly")
}

func clampGradSumsRowsSIMD(_, _, _, _ []float32, _, _ int, _ []float32, _ float32, _ []float64) bool {
	return false
}

func bnInputGradRowsSIMD(_, _, _ []float32, _, _ int, _ []float32, _ bool) bool { return false }

func dwGradRowSIMD(int, []float32, []float32, []float32, []float32, int, *[72]float32) {
	panic("kernels: no depthwise gradient row kernel without assembly")
}

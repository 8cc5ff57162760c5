package kernels

import (
	"fmt"
	"testing"
)

// BenchmarkEpilogueRows applies a bias and ReLU6 to 96 x 512 values (a
// GEMM step's column chunk of MobileNetV2's 96-channel expansion) as the
// plan does, a call per row, and as one row: the difference is the cost
// of a call, which a kernel's prologue can dominate.
func BenchmarkEpilogueRows(b *testing.B) {
	bias := make([]float32, 96)
	for i := range bias {
		bias[i] = float32(i) / 96
	}
	y := make([]float32, 96*512)
	for i := range y {
		y[i] = float32(i%17) - 8
	}
	for _, rows := range []int{96, 1} {
		cols := len(y) / rows
		b.Run(fmt.Sprintf("rows%d", rows), func(b *testing.B) {
			e := &Epilogue{Bias: bias[:rows], Act: ActReLU6}
			for b.Loop() {
				e.Apply(y, cols, 0, rows, cols, nil, 0)
			}
			b.ReportMetric(float64(len(y))*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gvalues/s")
		})
	}
}

package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// trainBenchShapes are batch-64 tensors of the MobileNetV2-style network of
// bench/trainbench: channels and plane size.
var trainBenchShapes = []struct{ c, hw int }{{96, 28 * 28}, {144, 14 * 14}, {192, 7 * 7}, {384, 4 * 4}}

// BenchmarkBatchNormTrain runs the batch norm training kernels (statistics,
// gradient sums, input gradient) and reports GB/s of the tensors they read
// and write.
func BenchmarkBatchNormTrain(b *testing.B) {
	const n = 64
	for _, s := range trainBenchShapes {
		rng := rand.New(rand.NewPCG(1, 2))
		x, gy, gx := randSlice(rng, n*s.c*s.hw), randSlice(rng, n*s.c*s.hw), make([]float32, n*s.c*s.hw)
		mean, variance := make([]float32, s.c), make([]float32, s.c)
		sumGy, sumGyXhat := make([]float32, s.c), make([]float32, s.c)
		invStd, scale := randSlice(rng, s.c), randSlice(rng, s.c)
		bytes := float64(4 * len(x))
		for _, k := range []struct {
			name    string
			tensors float64
			run     func()
		}{
			{"stats", 1, func() { BatchNormStats(0, x, n, s.c, s.hw, mean, variance) }},
			{"gradsums", 2, func() { BatchNormGradSums(0, gy, x, n, s.c, s.hw, mean, invStd, sumGy, sumGyXhat) }},
			{"inputgrad_set", 3, func() {
				BatchNormTrainGradSet(0, gx, gy, x, n, s.c, s.hw, mean, invStd, scale, sumGy, sumGyXhat)
			}},
		} {
			b.Run(fmt.Sprintf("%s_c%d_hw%d", k.name, s.c, s.hw), func(b *testing.B) {
				for b.Loop() {
					k.run()
				}
				b.ReportMetric(k.tensors*bytes*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
			})
		}
	}
}

// BenchmarkDepthwiseBackward runs the weight and input gradients of a 3x3
// depthwise convolution on one image, DepthwiseBackward against the
// reference kernels, and reports GFLOP/s (2 per multiply-accumulate).
func BenchmarkDepthwiseBackward(b *testing.B) {
	for _, c := range []struct{ ch, h, s int }{{96, 28, 1}, {96, 28, 2}, {144, 14, 1}, {384, 4, 1}} {
		oh := (c.h-1)/c.s + 1
		win := Window{InH: c.h, InW: c.h, KH: 3, KW: 3, StrideH: c.s, StrideW: c.s, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: oh, OutW: oh}
		rng := rand.New(rand.NewPCG(1, 2))
		x, gy, w := randSlice(rng, c.ch*c.h*c.h), randSlice(rng, c.ch*oh*oh), randSlice(rng, c.ch*9)
		gx, gw := make([]float32, len(x)), make([]float32, len(w))
		flops := 2 * 9 * float64(c.ch*oh*oh)
		bw := NewDepthwiseBackward(win, c.ch, 1)
		scratch := make([]float32, bw.ScratchLen())
		name := fmt.Sprintf("c%d_%dx%d_s%d", c.ch, c.h, c.h, c.s)
		for _, k := range []struct {
			name string
			run  func()
		}{
			{"filter_" + name, func() { bw.Filter(x, gy, gw, scratch) }},
			{"filter_ref_" + name, func() { DepthwiseConv2DBackwardFilter(win, c.ch, 1, x, gy, gw) }},
			{"data_" + name, func() { bw.Data(gy, w, gx, scratch) }},
			{"data_ref_" + name, func() { DepthwiseConv2DBackwardData(win, c.ch, 1, gy, w, gx) }},
		} {
			b.Run(k.name, func(b *testing.B) {
				for b.Loop() {
					k.run()
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkDepthwiseBackwardBoth runs both gradients of a stride-1 3x3
// depthwise convolution for one image, as two calls (the forward kernel on
// the flipped weights, then Filter) and as Both, alternating the two in
// each iteration, and reports each one's time per image and their ratio
// (a drift of the machine's speed cancels in the ratio).
func BenchmarkDepthwiseBackwardBoth(b *testing.B) {
	for _, c := range []struct{ ch, h int }{{16, 28}, {96, 14}, {192, 7}, {384, 4}} {
		win := Window{InH: c.h, InW: c.h, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: c.h, OutW: c.h}
		bw := NewDepthwiseBackward(win, c.ch, 1)
		if !bw.CanBoth() {
			b.Skip("no Both on this kernel path")
		}
		rng := rand.New(rand.NewPCG(1, 2))
		x, gy, w := randSlice(rng, c.ch*c.h*c.h), randSlice(rng, c.ch*c.h*c.h), randSlice(rng, c.ch*9)
		gx, gw := make([]float32, len(x)), make([]float32, len(w))
		dt := NewDepthwiseConv(win, c.ch, 1) // the transposed window is the same
		dtScratch := make([]float32, dt.ScratchLen())
		scratch := make([]float32, bw.ScratchLen())
		both := make([]float32, bw.BothScratchLen())
		b.Run(fmt.Sprintf("c%d_%dx%d", c.ch, c.h, c.h), func(b *testing.B) {
			var sep, one time.Duration
			for b.Loop() {
				t0 := time.Now()
				dt.Run(gy, w, gx, 0, c.ch, &Epilogue{}, dtScratch)
				bw.Filter(x, gy, gw, scratch)
				t1 := time.Now()
				bw.Both(gy, w, w, x, gx, gw, both)
				sep, one = sep+t1.Sub(t0), one+time.Since(t1)
			}
			b.ReportMetric(float64(sep.Nanoseconds())/float64(b.N), "ns/two-calls")
			b.ReportMetric(float64(one.Nanoseconds())/float64(b.N), "ns/both")
			b.ReportMetric(float64(one)/float64(sep), "both/two-calls")
		})
	}
}

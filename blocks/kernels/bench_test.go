package kernels

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkConv2DImage runs one image through Conv2D (forward) for
// MobileNetV2-like shapes and reports GFLOP/s (2 per multiply-accumulate).
// The depthwise shapes also run through im2col+Sgemm, the path the direct
// kernel replaces.
func BenchmarkConv2DImage(b *testing.B) {
	for _, c := range []struct {
		name string
		cc   convCase
	}{
		{"stem_3x3s2_3to32_224", convCase{in: 3, out: 32, groups: 1, h: 224, w: 224, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1, dh: 1, dw: 1}},
		{"expand_1x1_24to144_56", convCase{in: 24, out: 144, groups: 1, h: 56, w: 56, kh: 1, kw: 1, sh: 1, sw: 1, dh: 1, dw: 1}},
		{"depthwise_3x3_144_56", convCase{in: 144, out: 144, groups: 144, h: 56, w: 56, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1}},
		{"depthwise_3x3s2_144_56", convCase{in: 144, out: 144, groups: 144, h: 56, w: 56, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1, dh: 1, dw: 1}},
	} {
		d := c.cc.dims()
		rng := rand.New(rand.NewPCG(1, 2))
		x := randSlice(rng, d.In*d.InH*d.InW)
		w := randSlice(rng, d.Out*d.In/d.Groups*d.KH*d.KW)
		y := make([]float32, d.Out*d.OutH*d.OutW)
		flops := 2 * float64(d.Out*d.In/d.Groups*d.KH*d.KW*d.OutH*d.OutW)
		b.Run(c.name, func(b *testing.B) {
			scratch := make([]float32, d.ScratchLen())
			for b.Loop() {
				Conv2D(d, x, w, nil, y, scratch)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		if d.Depthwise() {
			b.Run(c.name+"_im2col", func(b *testing.B) {
				ohw := d.OutH * d.OutW
				taps := d.KH * d.KW
				cols := make([]float32, taps*ohw)
				for b.Loop() {
					for ci := 0; ci < d.In; ci++ {
						Im2col(d.Window, 1, x[ci*d.InH*d.InW:], cols)
						Sgemm(false, false, 1, ohw, taps, 1, w[ci*taps:], taps, cols, ohw, 0, y[ci*ohw:], ohw)
					}
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

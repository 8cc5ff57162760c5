package kernels

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// BenchmarkDepthwiseConv runs the plan's depthwise kernel (one thread,
// ReLU fused) on the shapes of mnasnet1_0 and mobilenet_v3_small at 224,
// reporting multiply-adds per second, by the channels-last path (where it
// runs) and by the per-channel row kernels.
func BenchmarkDepthwiseConv(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ c, hw, k, s int }{
		{32, 112, 3, 1}, {48, 112, 3, 2}, {72, 56, 3, 1}, {72, 56, 5, 2}, {120, 28, 5, 1},
		{240, 28, 5, 2}, {480, 14, 5, 1}, {576, 14, 3, 1}, {576, 14, 5, 2}, {1152, 7, 5, 1},
		{144, 56, 3, 1}, {144, 56, 3, 2}, {192, 28, 3, 1}, {960, 7, 3, 1},
	} {
		for _, rows := range []bool{false, true} {
			b.Run(fmt.Sprintf("c%d_%d_k%d_s%d/rows=%v", c.c, c.hw, c.k, c.s, rows), func(b *testing.B) {
				o := (c.hw+2*(c.k/2)-c.k)/c.s + 1
				win := Window{InH: c.hw, InW: c.hw, KH: c.k, KW: c.k, StrideH: c.s, StrideW: c.s, PadH: c.k / 2, PadW: c.k / 2,
					DilH: 1, DilW: 1, OutH: o, OutW: o}
				d := NewDepthwiseConv(win, c.c, 1)
				d.planes = false // BenchmarkDepthwisePlanes compares them
				if rows {
					d.nhwc = false
				} else if !d.nhwc {
					b.Skip("no channels-last path")
				}
				x, w := randSlice(rng, c.c*c.hw*c.hw), randSlice(rng, c.c*c.k*c.k)
				y, s := make([]float32, c.c*o*o), make([]float32, d.ScratchLen())
				e := &Epilogue{Bias: randSlice(rng, c.c), Act: ActReLU}
				for b.Loop() {
					d.Run(x, w, y, 0, c.c, e, s)
				}
				b.ReportMetric(float64(c.c*o*o*c.k*c.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
			})
		}
	}
}

// BenchmarkDepthwiseBands compares, on the shapes of BenchmarkDepthwiseConv
// whose channels-last path takes bands, that path by bands of its own
// choosing (dwBandBytes) and over whole planes, one thread, alternating in
// each iteration. It reports the median ratio of their times.
func BenchmarkDepthwiseBands(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ c, hw, k, s int }{
		{32, 112, 3, 1}, {48, 112, 3, 2}, {96, 112, 3, 2}, {72, 56, 3, 1}, {72, 56, 5, 2}, {144, 56, 3, 1}, {144, 56, 3, 2},
		{120, 28, 5, 1}, {240, 28, 5, 2}, {192, 28, 3, 1},
	} {
		o := (c.hw+2*(c.k/2)-c.k)/c.s + 1
		win := Window{InH: c.hw, InW: c.hw, KH: c.k, KW: c.k, StrideH: c.s, StrideW: c.s, PadH: c.k / 2, PadW: c.k / 2,
			DilH: 1, DilW: 1, OutH: o, OutW: o}
		banded := NewDepthwiseConv(win, c.c, 1)
		if !banded.nhwc || banded.bandRows == o {
			continue
		}
		whole := NewDepthwiseConv(win, c.c, 1)
		whole.setBands(o)
		x, w := randSlice(rng, c.c*c.hw*c.hw), randSlice(rng, c.c*c.k*c.k)
		y := make([]float32, c.c*o*o)
		sb, sw := make([]float32, banded.ScratchLen()), make([]float32, whole.ScratchLen())
		e := &Epilogue{Bias: randSlice(rng, c.c), Act: ActReLU}
		b.Run(fmt.Sprintf("c%d_%d_k%d_s%d/rows%d", c.c, c.hw, c.k, c.s, banded.bandRows), func(b *testing.B) {
			var ratios []float64
			var tb, tw time.Duration
			for b.Loop() {
				t0 := time.Now()
				banded.Run(x, w, y, 0, c.c, e, sb)
				t1 := time.Now()
				whole.Run(x, w, y, 0, c.c, e, sw)
				t2 := time.Now()
				tb += t1.Sub(t0)
				tw += t2.Sub(t1)
				ratios = append(ratios, float64(t1.Sub(t0))/float64(t2.Sub(t1)))
			}
			slices.Sort(ratios)
			b.ReportMetric(ratios[len(ratios)/2], "bands/plane")
			macs := float64(c.c*o*o*c.k*c.k) * float64(b.N)
			b.ReportMetric(macs/tb.Seconds()/1e9, "bands-GMAC/s")
			b.ReportMetric(macs/tw.Seconds()/1e9, "plane-GMAC/s")
		})
	}
}

// BenchmarkMatVecT compares MatVecT (four rows of wt a pass where the CPU
// has the kernel) with adding the rows one at a time, on the classifiers
// of mobilenet_v2 and mnasnet1_0 (1280 x 1000), mobilenet_v3_small (576 x
// 1024, 1024 x 1000) and shufflenet_v2_x1_0 (1024 x 1000), one thread,
// alternating in each iteration: wt hot (in L3, 2 to 5 MB) and cold (a
// 64 MB sweep before each call, as in a plan whose other weights and
// activations pass through the caches between two runs of a layer), with
// x dense and with half of it zero (rows MatVecT skips, as after a
// ReLU). It reports the median ratio of their times (run it with
// -benchtime 100x: the sweeps take most of the time).
func BenchmarkMatVecT(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	sweep := make([]float32, 16<<20)
	for _, c := range []struct{ k, n int }{{1280, 1000}, {576, 1024}, {1024, 1000}} {
		for _, zeros := range []float64{0, 0.5} {
			for _, cold := range []bool{false, true} {
				b.Run(fmt.Sprintf("k%d_n%d/zeros=%v/cold=%v", c.k, c.n, zeros, cold), func(b *testing.B) {
					x, wt, y := randSlice(rng, c.k), randSlice(rng, c.k*c.n), make([]float32, c.n)
					for i := range x {
						if rng.Float64() < zeros {
							x[i] = 0
						}
					}
					flush := func() {
						if cold {
							for i := range sweep {
								sweep[i]++
							}
						}
					}
					var ratios []float64
					for b.Loop() {
						flush()
						t0 := time.Now()
						MatVecT(y, x, wt, c.n)
						t1 := time.Now()
						flush()
						t2 := time.Now()
						clear(y)
						for i, a := range x {
							if a != 0 {
								axpyRows(y, wt, []int{i * c.n}, []float32{a})
							}
						}
						ratios = append(ratios, float64(t1.Sub(t0))/float64(time.Since(t2)))
					}
					slices.Sort(ratios)
					b.ReportMetric(ratios[len(ratios)/2], "four/one")
				})
			}
		}
	}
}

// BenchmarkDepthwiseWide compares, on the stride-1 shapes of
// BenchmarkDepthwiseConv, the channels-last kernels in ZMM registers (two
// positions a vector, AVX-512) with those in YMM registers, one thread,
// alternating in each iteration. It reports the median ratio of their
// times.
func BenchmarkDepthwiseWide(b *testing.B) {
	if !hasAVX512 {
		b.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ c, hw, k int }{
		{32, 112, 3}, {72, 56, 3}, {144, 56, 3}, {120, 28, 5}, {192, 28, 3}, {480, 14, 5}, {576, 14, 3}, {1152, 7, 5}, {960, 7, 3},
	} {
		b.Run(fmt.Sprintf("c%d_%d_k%d", c.c, c.hw, c.k), func(b *testing.B) {
			win := Window{InH: c.hw, InW: c.hw, KH: c.k, KW: c.k, StrideH: 1, StrideW: 1, PadH: c.k / 2, PadW: c.k / 2,
				DilH: 1, DilW: 1, OutH: c.hw, OutW: c.hw}
			d := NewDepthwiseConv(win, c.c, 1)
			d.planes = false // BenchmarkDepthwisePlanes compares them
			if !d.nhwc {
				b.Skip("no channels-last path")
			}
			x, w := randSlice(rng, c.c*c.hw*c.hw), randSlice(rng, c.c*c.k*c.k)
			y, s := make([]float32, c.c*c.hw*c.hw), make([]float32, d.ScratchLen())
			e := &Epilogue{Bias: randSlice(rng, c.c), Act: ActReLU}
			defer func() { dwNHWC8Wide = true }()
			var ratios []float64
			for b.Loop() {
				dwNHWC8Wide = true
				t0 := time.Now()
				d.Run(x, w, y, 0, c.c, e, s)
				t1 := time.Now()
				dwNHWC8Wide = false
				d.Run(x, w, y, 0, c.c, e, s)
				ratios = append(ratios, float64(t1.Sub(t0))/float64(time.Since(t1)))
			}
			slices.Sort(ratios)
			b.ReportMetric(ratios[len(ratios)/2], "zmm/ymm")
		})
	}
}

// BenchmarkDepthwisePlanes compares the plane kernels (a row a register;
// AVX-512, and their AVX2 form on the planes of 7x7) with the
// channels-last path on the depthwise convolutions of the zoo's networks
// at 224x224, one thread, alternating in each iteration; it reports the
// median ratio of the two times (with the bias and ReLU6, or hard swish).
func BenchmarkDepthwisePlanes(b *testing.B) {
	if !dwPlaneWide {
		b.Skip("no plane kernels")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		c, hw, k, s int
		act         ActKind
	}{
		{384, 14, 3, 1, ActReLU6}, {576, 14, 3, 1, ActReLU6}, {480, 14, 3, 1, ActReLU6}, {480, 14, 5, 1, ActReLU6}, {672, 14, 5, 1, ActReLU6}, {116, 14, 3, 1, ActReLU6},
		{960, 7, 3, 1, ActReLU6}, {1152, 7, 5, 1, ActReLU6}, {1152, 7, 3, 1, ActReLU6}, {232, 7, 3, 1, ActReLU6}, {576, 7, 5, 1, ActReLU6},
		{192, 28, 3, 2, ActReLU6}, {240, 28, 5, 2, ActReLU6}, {116, 28, 3, 2, ActReLU6}, {96, 28, 5, 2, ActReLU6}, {576, 14, 3, 2, ActReLU6}, {576, 14, 5, 2, ActReLU6}, {232, 14, 3, 2, ActReLU6}, {288, 14, 5, 2, ActReLU6},
		{96, 112, 3, 2, ActReLU6}, {48, 112, 3, 2, ActReLU6}, {16, 112, 3, 2, ActReLU6}, {144, 56, 3, 2, ActReLU6}, {72, 56, 5, 2, ActReLU6}, {58, 56, 3, 2, ActReLU6}, {24, 56, 3, 2, ActReLU6},
		{32, 112, 3, 1, ActReLU6}, {144, 56, 3, 1, ActReLU6}, {72, 56, 3, 1, ActReLU6}, {192, 28, 3, 1, ActReLU6}, {120, 28, 5, 1, ActReLU6}, {58, 28, 3, 1, ActReLU6},
		// mobilenet_v3_small's, under hard swish
		{240, 14, 5, 1, ActHardSwish}, {144, 14, 5, 1, ActHardSwish}, {288, 14, 5, 2, ActHardSwish}, {576, 7, 5, 1, ActHardSwish},
	} {
		act, name := c.act, ""
		if act == ActHardSwish {
			name = "_hswish"
		}
		b.Run(fmt.Sprintf("c%d_%d_k%d_s%d%s", c.c, c.hw, c.k, c.s, name), func(b *testing.B) {
			o := (c.hw-1)/c.s + 1
			win := Window{InH: c.hw, InW: c.hw, KH: c.k, KW: c.k, StrideH: c.s, StrideW: c.s, PadH: c.k / 2, PadW: c.k / 2,
				DilH: 1, DilW: 1, OutH: o, OutW: o}
			d := NewDepthwiseConv(win, c.c, 1)
			if !d.planes {
				b.Skip("no plane kernel")
			}
			x, w := randSlice(rng, c.c*c.hw*c.hw), randSlice(rng, c.c*c.k*c.k)
			y, s := make([]float32, c.c*o*o), make([]float32, d.ScratchLen())
			e := &Epilogue{Bias: randSlice(rng, c.c), Act: act}
			defer func() { dwPlaneWide = true }()
			var ratios []float64
			for b.Loop() {
				dwPlaneWide = true
				t0 := time.Now()
				d.Run(x, w, y, 0, c.c, e, s)
				t1 := time.Now()
				dwPlaneWide = false
				d.Run(x, w, y, 0, c.c, e, s)
				ratios = append(ratios, float64(t1.Sub(t0))/float64(time.Since(t1)))
			}
			slices.Sort(ratios)
			b.ReportMetric(ratios[len(ratios)/2], "planes/nhwc")
		})
	}
}

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// measurePeak times a micro-kernel's FMA loop and returns the best of many
// short runs in FLOP/s, or 0 when the kernel has no such loop. Short runs
// and the best of them, because other processes share the cores: some runs
// get a core to themselves.
func measurePeak(kern *microKernel) float64 {
	loop, flopsPerIter := fmaPeakLoop(kern)
	if loop == nil {
		return 0
	}
	const iters = 1 << 15
	best := 0.0
	for range 300 {
		start := time.Now()
		loop(iters)
		best = max(best, flopsPerIter*iters/time.Since(start).Seconds())
	}
	return best
}

// BenchmarkFMAPeak reports the single-core FMA peak of each instruction set
// that this CPU runs, as measured by a loop of independent FMAs: the mean
// GFLOP/s and the best of many short runs (the figure the %peak metrics of
// BenchmarkSgemm divide by).
func BenchmarkFMAPeak(b *testing.B) {
	for _, kern := range gemmKernels() {
		loop, flopsPerIter := fmaPeakLoop(kern)
		if loop == nil {
			continue
		}
		b.Run(kern.name, func(b *testing.B) {
			const iters = 1 << 16
			for b.Loop() {
				loop(iters)
			}
			b.ReportMetric(flopsPerIter*iters*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			b.ReportMetric(measurePeak(kern)/1e9, "best-GFLOP/s")
		})
	}
}

// benchShapes are the products the benchmarks time: large squares, the 1x1
// convolutions of MobileNetV2 (M output channels, N pixels, K input
// channels) and small ones.
var benchShapes = []struct {
	name    string
	m, n, k int
}{
	{"square512", 512, 512, 512},
	{"square1024", 1024, 1024, 1024},
	{"mbv2_144x3136x24", 144, 56 * 56, 24},
	{"mbv2_96x12544x16", 96, 112 * 112, 16},
	{"mbv2_1280x49x320", 1280, 49, 320},
	{"mbv2_384x196x64", 384, 14 * 14, 64},
	{"mbv2_192x784x32", 192, 28 * 28, 32},
	{"small16", 16, 16, 16},
	{"small64", 64, 64, 64},
	{"small128", 128, 128, 128},
}

// BenchmarkSgemm times every micro-kernel, the reference loop and
// SgemmParallel with 2 threads on benchShapes. It reports the mean GFLOP/s,
// the GFLOP/s of the fastest batch of calls (other processes share the
// cores, and the fastest batch is the one they disturbed least) and, for the
// assembly kernels, that best as a fraction of the measured single-core FMA
// peak (for the 2-thread runs, of twice that peak).
func BenchmarkSgemm(b *testing.B) {
	peaks := map[*microKernel]float64{}
	for _, kern := range gemmKernels() {
		peaks[kern] = measurePeak(kern)
	}
	for _, s := range benchShapes {
		rng := rand.New(rand.NewPCG(7, 8))
		a, bm, c := randomSlice(rng, s.m*s.k), randomSlice(rng, s.k*s.n), randomSlice(rng, s.m*s.n)
		flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
		run := func(name string, peak float64, gemm func()) {
			b.Run(s.name+"/"+name, func(b *testing.B) {
				// One op is a batch of calls worth about a MFLOP, timed on
				// its own so that the fastest batch can be reported too.
				batch := max(1, int(1e6/flops))
				best := math.Inf(1)
				for b.Loop() {
					start := time.Now()
					for range batch {
						gemm()
					}
					best = min(best, time.Since(start).Seconds()/float64(batch))
				}
				b.ReportMetric(flops*float64(b.N*batch)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				b.ReportMetric(flops/best/1e9, "best-GFLOP/s")
				if peak > 0 {
					b.ReportMetric(100*flops/best/peak, "best-%peak")
				}
			})
		}
		for _, kern := range gemmKernels() {
			run(kern.name, peaks[kern], func() {
				sgemmWith(kern, false, false, s.m, s.n, s.k, 1, a, s.k, bm, s.n, 0, c, s.n)
			})
		}
		run(fmt.Sprintf("%s-2threads", defaultKernel.name), 2*peaks[defaultKernel], func() {
			SgemmParallel(2, false, false, s.m, s.n, s.k, 1, a, s.k, bm, s.n, 0, c, s.n)
		})
		run("ref", 0, func() {
			sgemmRef(false, false, s.m, s.n, s.k, 1, a, s.k, bm, s.n, 0, c, s.n)
		})
	}
}

func randomSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
	return s
}

// BenchmarkSgemmImages compares, on the 1x1 convolutions of the small
// layers of bench/trainbench's network (4x4, 7x7 and 14x14 positions, a
// shard of 32 images), a GEMM per image with one GEMM over all the images
// laid side by side (which NCHW tensors are not): the forward product
// (C[m x hw] = A[m x k] B[k x hw], A packed once) and the weight gradient
// (gW[m x n] += gY[m x hw] X[n x hw]^T). It reports the batched form's
// time as a fraction of the per-image form's (batched/per-image).
func BenchmarkSgemmImages(b *testing.B) {
	const imgs = 32
	for _, s := range []struct{ m, k, hw int }{{384, 64, 16}, {64, 384, 16}, {192, 32, 49}, {32, 192, 49}, {96, 24, 196}, {24, 96, 196}, {80, 384, 16}} {
		a := make([]float32, s.m*s.k)
		x := make([]float32, imgs*s.k*s.hw)
		y := make([]float32, imgs*s.m*s.hw)
		for i := range a {
			a[i] = float32(i%7) * 0.1
		}
		for i := range x {
			x[i] = float32(i%5) * 0.1
		}
		pa := PackA(false, s.m, s.k, 1, a, s.k)
		ws := make([]float32, pa.WorkspaceLen(imgs*s.hw))
		gw := make([]float32, s.m*s.k)
		b.Run(fmt.Sprintf("forward/%dx%dx%d", s.m, s.k, s.hw), func(b *testing.B) {
			var per, all time.Duration
			for range b.N {
				t := time.Now()
				for i := range imgs {
					SgemmPacked(pa, false, s.hw, x[i*s.k*s.hw:], s.hw, 0, y[i*s.m*s.hw:], s.hw, ws)
				}
				per += time.Since(t)
				t = time.Now()
				SgemmPacked(pa, false, imgs*s.hw, x, imgs*s.hw, 0, y, imgs*s.hw, ws)
				all += time.Since(t)
			}
			b.ReportMetric(float64(all)/float64(per), "batched/per-image")
		})
		b.Run(fmt.Sprintf("wgrad/%dx%dx%d", s.m, s.k, s.hw), func(b *testing.B) {
			var per, all time.Duration
			for range b.N {
				t := time.Now()
				for i := range imgs {
					Sgemm(false, true, s.m, s.k, s.hw, 1, y[i*s.m*s.hw:], s.hw, x[i*s.k*s.hw:], s.hw, 1, gw, s.k)
				}
				per += time.Since(t)
				t = time.Now()
				Sgemm(false, true, s.m, s.k, imgs*s.hw, 1, y, imgs*s.hw, x, imgs*s.hw, 1, gw, s.k)
				all += time.Since(t)
			}
			b.ReportMetric(float64(all)/float64(per), "batched/per-image")
		})
	}
}

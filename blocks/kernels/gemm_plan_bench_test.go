package kernels

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// planShapes are products of the 1x1 convolutions of the zoo's networks at
// batch 1 and 224x224 (m output channels, k input channels, n positions),
// whole, as one thread of an inference plan runs them.
var planShapes = [][3]int{
	{16, 32, 12544}, // mobilenet_v2: first projection
	{96, 16, 12544}, // mobilenet_v2: first expansion
	{48, 16, 12544}, // mnasnet1_0: first expansion
	{24, 48, 3136},  // mnasnet1_0: projection at 56x56
	{24, 96, 3136},  // mobilenet_v2: projection at 56x56
	{144, 24, 3136}, // mobilenet_v2: expansion at 56x56
	{24, 144, 3136}, // mobilenet_v2: projection at 56x56
	{16, 128, 3025}, // squeezenet1_1: squeeze at 55x55
	{64, 144, 3025}, // squeezenet1_1: expand 3x3 at 55x55 (im2col)
	{128, 288, 729}, // squeezenet1_1: expand 3x3 at 27x27 (im2col)
	{64, 16, 3025},  // squeezenet1_1: expand 1x1 at 55x55
	{32, 192, 784},  // mobilenet_v2: projection at 28x28
	{192, 32, 784},  // mobilenet_v2: expansion at 28x28
	{384, 64, 196},  // mobilenet_v2: expansion at 14x14
	{160, 960, 49},  // mobilenet_v2: projection at 7x7
	{1280, 320, 49}, // mobilenet_v2: last 1x1
}

// BenchmarkSgemmPackedShapes times SgemmPacked (B not transposed, beta 0)
// on planShapes with the default kernel, in GFLOP/s.
func BenchmarkSgemmPackedShapes(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, s := range planShapes {
		m, k, n := s[0], s[1], s[2]
		a, bm, c := randomSlice(rng, m*k), randomSlice(rng, k*n), make([]float32, m*n)
		pa := PackA(false, m, k, 1, a, k)
		ws := make([]float32, pa.WorkspaceLen(n))
		b.Run(fmt.Sprintf("%dx%dx%d", m, k, n), func(b *testing.B) {
			for b.Loop() {
				SgemmPacked(pa, false, n, bm, n, 0, c, n, ws)
			}
			b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// inChunks returns a function that runs SgemmPackedEpilogue with the
// epilogue e on x (k x n) into c, in column chunks of 512 as a plan's GEMM
// step runs them, with a packed A of pa's shape, and returns its time.
func inChunks(pa *PackedA, e *Epilogue, n int, x, c []float32) func(*PackedA) time.Duration {
	chunk := min(n, 512)
	ws := make([]float32, pa.WorkspaceLen(chunk))
	return func(pa *PackedA) time.Duration {
		t0 := time.Now()
		for j := 0; j < n; j += chunk {
			epi := RowEpilogue{E: e}
			SgemmPackedEpilogue(pa, false, min(chunk, n-j), x[j:], n, 0, c[j:], n, ws, &epi)
		}
		return time.Since(t0)
	}
}

// BenchmarkSgemmPackedFusedEpilogue compares, on planShapes, one thread,
// SgemmPackedEpilogue with a bias and ReLU6 fused into the kernels' stores
// against the same product finished by the pass over each strip (the
// kernel family without its fused kernels), alternating in each
// iteration, in column chunks of 512 as a plan's GEMM step runs them. It
// reports the median ratio of the two times over the iterations.
func BenchmarkSgemmPackedFusedEpilogue(b *testing.B) {
	if defaultKernel.runEpi == nil {
		b.Skipf("the %s kernels have no fused epilogue", defaultKernel.name)
	}
	unfused := *defaultKernel
	unfused.runEpi, unfused.runBStridedEpi = nil, nil
	rng := rand.New(rand.NewPCG(7, 7))
	for _, s := range planShapes {
		m, k, n := s[0], s[1], s[2]
		a, x, c := randomSlice(rng, m*k), randomSlice(rng, k*n), make([]float32, m*n)
		e := Epilogue{Bias: randomSlice(rng, m), Act: ActReLU6}
		fused, plain := PackA(false, m, k, 1, a, k), packAWith(&unfused, false, m, k, 1, a, k)
		run := inChunks(fused, &e, n, x, c)
		b.Run(fmt.Sprintf("%dx%dx%d", m, k, n), func(b *testing.B) {
			var ratios []float64
			var tF, tP time.Duration
			for b.Loop() {
				f, p := run(fused), run(plain)
				tF += f
				tP += p
				ratios = append(ratios, float64(f)/float64(p))
			}
			slices.Sort(ratios)
			b.ReportMetric(ratios[len(ratios)/2], "fused/pass")
			b.ReportMetric(2*float64(m*n*k)*float64(b.N)/tF.Seconds()/1e9, "fused-GFLOP/s")
			b.ReportMetric(2*float64(m*n*k)*float64(b.N)/tP.Seconds()/1e9, "pass-GFLOP/s")
		})
	}
}

// withoutPanels returns a copy of the kernel family kern (main kernel and
// edges) without its Panels kernels: one call per tile.
func withoutPanels(kern *microKernel) *microKernel {
	strip := func(k *microKernel) *microKernel {
		c := *k
		c.runBStridedPanels, c.runBStridedEpiPanels = nil, nil
		return &c
	}
	c := strip(kern)
	c.edges = nil
	for _, e := range kern.edges {
		c.edges = append(c.edges, strip(e))
	}
	return c
}

// BenchmarkSgemmPackedPanels compares, on planShapes, one thread,
// SgemmPackedEpilogue (a bias and ReLU) with the Panels kernels, one
// call per row of a group of tiles where B is read as stored (products
// of at most unpackedBMaxRows panels of rows), against the same family
// calling its kernels tile by tile, alternating in each iteration, in
// column chunks of 512 as a plan's GEMM step runs them. It reports the
// median ratio of the two times over the iterations and the median
// time of each.
func BenchmarkSgemmPackedPanels(b *testing.B) {
	if defaultKernel.runBStridedPanels == nil {
		b.Skipf("the %s kernels have no Panels kernels", defaultKernel.name)
	}
	single := withoutPanels(defaultKernel)
	rng := rand.New(rand.NewPCG(9, 9))
	for _, s := range planShapes {
		m, k, n := s[0], s[1], s[2]
		a, x, c := randomSlice(rng, m*k), randomSlice(rng, k*n), make([]float32, m*n)
		e := Epilogue{Bias: randomSlice(rng, m), Act: ActReLU}
		panels, tiles := PackA(false, m, k, 1, a, k), packAWith(single, false, m, k, 1, a, k)
		run := inChunks(panels, &e, n, x, c)
		b.Run(fmt.Sprintf("%dx%dx%d", m, k, n), func(b *testing.B) {
			var ratios, tp, tt []float64
			for b.Loop() {
				p, t := run(panels), run(tiles)
				ratios = append(ratios, float64(p)/float64(t))
				tp, tt = append(tp, float64(p.Microseconds())), append(tt, float64(t.Microseconds()))
			}
			slices.Sort(ratios)
			slices.Sort(tp)
			slices.Sort(tt)
			b.ReportMetric(ratios[len(ratios)/2], "panels/tiles")
			b.ReportMetric(tp[len(tp)/2], "panels-us")
			b.ReportMetric(tt[len(tt)/2], "tiles-us")
		})
	}
}

//go:build !noasm

package kernels

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestRowSplitAVX2 checks where the AVX2 family's rows split: the 5-row
// fill kernel after panels of 6 where the rest would otherwise take a
// short edge panel, the 4x16 edge kept for a rest of 4.
func TestRowSplitAVX2(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2")
	}
	for _, tc := range []struct {
		m, at int
		tail  *microKernel
	}{
		{49, 24, avx2Kernel.fill}, {55, 30, avx2Kernel.fill}, {5, 0, avx2Kernel.fill},
		{196, 192, &avx2Edge4}, {48, 48, &avx2Kernel}, {13, 12, &avx2Edge2}, {9, 6, &avx2Edge4},
	} {
		if at, tail := rowSplit(&avx2Kernel, tc.m); at != tc.at || tail != tc.tail {
			t.Errorf("rowSplit(%d) = %d, %s; want %d, %s", tc.m, at, tail.name, tc.at, tc.tail.name)
		}
	}
}

// BenchmarkSgemmPackedTFill compares the transposed form with its rows
// split by the fill kernel (49 rows: 4 panels of 6 and 5 of 5) against
// the same products with an edge panel last (8 of 6 and one of 2), on
// tShapes, one thread, alternating in each iteration. It reports the
// median ratio of the two times over the iterations.
func BenchmarkSgemmPackedTFill(b *testing.B) {
	if defaultKernel.fill == nil {
		b.Skipf("the %s kernels have no fill kernel", defaultKernel.name)
	}
	edgeOnly := *defaultKernel
	edgeOnly.fill = nil
	rng := rand.New(rand.NewPCG(27, 28))
	for _, s := range tShapes {
		m, k, n := s[0], s[1], s[2]
		a, x, y := randomSlice(rng, m*k), randomSlice(rng, k*n), make([]float32, m*n)
		pf, pe := packTWith(defaultKernel, m, k, 1, a, k), packTWith(&edgeOnly, m, k, 1, a, k)
		wsF, wsE := make([]float32, pf.WorkspaceLen(n)), make([]float32, pe.WorkspaceLen(n))
		b.Run(fmt.Sprintf("%dx%dx%d", m, k, n), func(b *testing.B) {
			var ratios []float64
			for b.Loop() {
				t0 := time.Now()
				SgemmPackedT(pf, n, x, n, 0, y, n, wsF, nil)
				t1 := time.Now()
				SgemmPackedT(pe, n, x, n, 0, y, n, wsE, nil)
				t2 := time.Now()
				ratios = append(ratios, float64(t1.Sub(t0))/float64(t2.Sub(t1)))
			}
			slices.Sort(ratios)
			b.ReportMetric(ratios[len(ratios)/2], "fill/edge")
		})
	}
}

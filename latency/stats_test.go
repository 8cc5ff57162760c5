package latency

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestQuantile(t *testing.T) {
	tests := []struct {
		xs   []float64
		q    float64
		want float64
	}{
		{[]float64{5}, 0.5, 5},
		{[]float64{1, 2, 3}, 0.5, 2},
		{[]float64{1, 2, 3, 4}, 0.5, 2.5},
		{[]float64{0, 10}, 0.1, 1},
		{[]float64{0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, 0.9, 90},
		{[]float64{1, 2}, 0, 1},
		{[]float64{1, 2}, 1, 2},
	}
	for _, tt := range tests {
		require.InDelta(t, tt.want, quantile(tt.xs, tt.q), 1e-12, "%v q=%v", tt.xs, tt.q)
	}
	require.True(t, math.IsNaN(quantile(nil, 0.5)))
}

func TestQuantileCIShrinksWithSamples(t *testing.T) {
	// Values spread evenly over [90, 110]: the interval of the median
	// narrows as 1/sqrt(n).
	even := func(n int) []float64 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = 90 + 20*float64(i)/float64(n-1)
		}
		return xs
	}
	require.True(t, math.IsInf(quantileCIRelHalfWidth([]float64{1, 2}, 0.5), 1))
	prev := math.Inf(1)
	for _, n := range []int{10, 40, 160, 640} {
		w := quantileCIRelHalfWidth(even(n), 0.5)
		require.Less(t, w, prev, "n=%d", n)
		prev = w
	}
	// Half-width ~ 1.96/sqrt(n) * (range/2) / median for a uniform spread.
	require.InDelta(t, 1.96/math.Sqrt(640)*10/100, quantileCIRelHalfWidth(even(640), 0.5), 0.002)
	// All equal: a zero-width interval.
	require.Zero(t, quantileCIRelHalfWidth([]float64{7, 7, 7, 7, 7, 7, 7, 7, 7, 7}, 0.5))
}

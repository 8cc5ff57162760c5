package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Cases worked by hand.
func TestKendallTauB(t *testing.T) {
	x := []float64{1, 2, 3, 4, 5}
	require.InDelta(t, 1, kendallTauB(x, []float64{2, 4, 6, 8, 10}), 1e-12)
	require.InDelta(t, -1, kendallTauB(x, []float64{5, 4, 3, 2, 1}), 1e-12)
	require.InDelta(t, 0.8, kendallTauB(x, []float64{1, 3, 2, 4, 5}), 1e-12) // one swap of ten pairs
	// A tie in y: 9 pairs not tied in y, C = 9, D = 0: 9 / sqrt(10 * 9).
	require.InDelta(t, 9/(3*3.1622776601683795), kendallTauB(x, []float64{1, 1, 3, 4, 5}), 1e-12)
}

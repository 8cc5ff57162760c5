package rankcorr

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Small cases worked by hand.
func TestRankCorrelations(t *testing.T) {
	x := []float64{1, 2, 3, 4, 5}
	require.InDelta(t, 1, KendallTauB(x, []float64{2, 4, 6, 8, 10}), 1e-12)
	require.InDelta(t, -1, KendallTauB(x, []float64{5, 4, 3, 2, 1}), 1e-12)
	require.InDelta(t, 1, Spearman(x, []float64{1, 8, 27, 64, 125}), 1e-12)
	// One swap among five: tau = (9 - 1) / 10, rho = 1 - 6*2/(5*24).
	y := []float64{1, 3, 2, 4, 5}
	require.InDelta(t, 0.8, KendallTauB(x, y), 1e-12)
	require.InDelta(t, 0.9, Spearman(x, y), 1e-12)
	// Ties: 4 concordant pairs, one tied in x only, one in y only:
	// tau-b = 4/sqrt(5*5). Ranks [1 2.5 2.5 4] and [1 2 3.5 3.5]:
	// rho = 3.75/4.5.
	require.InDelta(t, 0.8, KendallTauB([]float64{1, 2, 2, 3}, []float64{1, 2, 3, 3}), 1e-12)
	require.InDelta(t, 3.75/4.5, Spearman([]float64{1, 2, 2, 3}, []float64{1, 2, 3, 3}), 1e-12)
}

package rankcorr

import (
	"math"
	"testing"
)

// The figures are SciPy's (scipy.stats.spearmanr and kendalltau, whose
// default is tau-b), from the examples of their documentation.
func TestAgainstSciPy(t *testing.T) {
	if got, want := Spearman([]float64{1, 2, 3, 4, 5}, []float64{5, 6, 7, 8, 7}), 0.8207826816681233; math.Abs(got-want) > 1e-12 {
		t.Errorf("Spearman: got %v, want %v", got, want)
	}
	if got, want := KendallTauB([]float64{12, 2, 1, 12, 2}, []float64{1, 4, 7, 1, 0}), -0.47140452079103173; math.Abs(got-want) > 1e-12 {
		t.Errorf("KendallTauB: got %v, want %v", got, want)
	}
}

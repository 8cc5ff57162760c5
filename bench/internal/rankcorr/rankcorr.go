// Package rankcorr holds the rank correlations the bench commands report:
// Kendall's tau-b and Spearman's rho.
package rankcorr

import (
	"math"
	"sort"

	"gonum.org/v1/gonum/stat"
)

// KendallTauB is Kendall's tau-b of x and y: (concordant - discordant)
// pairs over the geometric mean of the pairs untied in x and in y. It is
// written here because gonum's stat.Kendall is tau-a, which does not
// correct for ties (accuracies tie often on a fixed validation set).
func KendallTauB(x, y []float64) float64 {
	var conc, disc, tx, ty float64
	for i := range x {
		for j := i + 1; j < len(x); j++ {
			dx, dy := x[i]-x[j], y[i]-y[j]
			switch {
			case dx == 0 && dy == 0:
			case dx == 0:
				tx++
			case dy == 0:
				ty++
			case (dx > 0) == (dy > 0):
				conc++
			default:
				disc++
			}
		}
	}
	den := (conc + disc + tx) * (conc + disc + ty)
	if den == 0 {
		return 0
	}
	return (conc - disc) / math.Sqrt(den)
}

// Spearman is Spearman's rho: Pearson's correlation of the ranks, ties
// taking their mean rank.
func Spearman(x, y []float64) float64 {
	return pearson(ranks(x), ranks(y))
}

func ranks(x []float64) []float64 {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return x[idx[a]] < x[idx[b]] })
	r := make([]float64, len(x))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && x[idx[j+1]] == x[idx[i]] {
			j++
		}
		mean := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			r[idx[k]] = mean
		}
		i = j + 1
	}
	return r
}

func pearson(x, y []float64) float64 {
	if stat.Variance(x, nil) == 0 || stat.Variance(y, nil) == 0 {
		return 0
	}
	return stat.Correlation(x, y, nil)
}

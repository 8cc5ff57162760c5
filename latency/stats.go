package latency

import (
	"math"
	"time"
)

// quantile returns the q-quantile of sorted values, interpolating linearly
// between order statistics (the "type 7" definition of R and NumPy).
//
// Every entry's percentiles are type-7 quantiles. gonum's stat.Quantile
// defines quantiles otherwise (Empirical is R's type 1, LinInterp type
// 4: the median of 1, 2, 3, 4 is 2 by either, 2.5 here), so it would
// give other figures for the same samples.
func quantile(sorted []float64, q float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	pos := q * float64(n-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, n-1)
	return sorted[lo] + (pos-float64(lo))*(sorted[hi]-sorted[lo])
}

// quantileCIRelHalfWidth returns the half-width of a distribution-free 95%
// confidence interval of the q-quantile, relative to it: the order
// statistics at ranks n·q ± 1.96·√(n·q·(1-q)) bound it. It is infinite
// while there are too few samples for those ranks to exist.
func quantileCIRelHalfWidth(sorted []float64, q float64) float64 {
	n := len(sorted)
	m := quantile(sorted, q)
	if n < 3 || m <= 0 {
		return math.Inf(1)
	}
	nq := float64(n) * q
	h := 1.96 * math.Sqrt(nq*(1-q))
	lo := int(math.Floor(nq - h))
	hi := int(math.Ceil(nq + h))
	if lo < 0 || hi > n-1 {
		return math.Inf(1)
	}
	return (sorted[hi] - sorted[lo]) / 2 / m
}

// percentiles is the entry of sorted samples: their median, 10th and 90th
// percentiles, their number, and the time now as the measurement's.
func percentiles(sorted []float64) Entry {
	return Entry{
		MedianNs:   quantile(sorted, 0.5),
		P10Ns:      quantile(sorted, 0.1),
		P90Ns:      quantile(sorted, 0.9),
		Samples:    len(sorted),
		MeasuredAt: time.Now().UTC(),
	}
}

package results

import (
	"cmp"
	"math"
	"slices"
)

// Point is a candidate on the accuracy/latency plane.
type Point struct {
	LatencyMs float64
	Accuracy  float64
}

// dominates reports whether p is at least as good as q in both objectives
// (latency no higher, accuracy no lower) and strictly better in one.
func (p Point) dominates(q Point) bool {
	return p.LatencyMs <= q.LatencyMs && p.Accuracy >= q.Accuracy &&
		(p.LatencyMs < q.LatencyMs || p.Accuracy > q.Accuracy)
}

// Front returns the indices of the points no other point dominates
// (maximising accuracy, minimising latency), ordered by latency, then
// index. Equal points do not dominate each other, so duplicates on the
// front are all kept; of points with equal latency only the most accurate
// can be on it, and of points with equal accuracy only the fastest. Points
// with a NaN coordinate are left out. It runs in O(n log n).
func Front(points []Point) []int {
	idx := make([]int, 0, len(points))
	for i, p := range points {
		if !math.IsNaN(p.LatencyMs) && !math.IsNaN(p.Accuracy) {
			idx = append(idx, i)
		}
	}
	// Fastest first; among equal latencies, most accurate first.
	slices.SortFunc(idx, func(a, b int) int {
		pa, pb := points[a], points[b]
		return cmp.Or(cmp.Compare(pa.LatencyMs, pb.LatencyMs), cmp.Compare(pb.Accuracy, pa.Accuracy), cmp.Compare(a, b))
	})
	var front []int
	best := math.Inf(-1) // highest accuracy among strictly faster points
	for g := 0; g < len(idx); {
		// The group of points with the latency of idx[g].
		lat, top := points[idx[g]].LatencyMs, points[idx[g]].Accuracy
		end := g
		for end < len(idx) && points[idx[end]].LatencyMs == lat {
			end++
		}
		if top > best {
			for _, i := range idx[g:end] {
				if points[i].Accuracy == top {
					front = append(front, i) // the group's best and its duplicates
				}
			}
			best = top
		}
		g = end
	}
	return front
}

// TrialFront returns the trials with status ok that are on the front of
// validation accuracy against latency (measured where there is one, else
// predicted), fastest first.
func TrialFront(trials []Trial) []Trial {
	var ok []Trial
	var points []Point
	for _, t := range trials {
		if t.Status == TrialOK {
			ok = append(ok, t)
			points = append(points, Point{LatencyMs: t.LatencyMs(), Accuracy: t.ValAccuracy})
		}
	}
	front := Front(points)
	out := make([]Trial, len(front))
	for i, j := range front {
		out[i] = ok[j]
	}
	return out
}

package results

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFront(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name   string
		points []Point
		want   []int
	}{
		{"empty", nil, nil},
		{"one", []Point{{5, 0.7}}, []int{0}},
		{"chain", []Point{{3, 0.6}, {1, 0.5}, {5, 0.8}}, []int{1, 0, 2}},
		{"dominated", []Point{{1, 0.9}, {2, 0.8}, {3, 0.95}}, []int{0, 2}},
		{"equal latency keeps the most accurate", []Point{{2, 0.7}, {2, 0.8}, {1, 0.6}}, []int{2, 1}},
		{"equal accuracy keeps the fastest", []Point{{2, 0.7}, {1, 0.7}, {3, 0.7}}, []int{1}},
		{"duplicates both stay", []Point{{2, 0.7}, {1, 0.5}, {2, 0.7}}, []int{1, 0, 2}},
		{"duplicate of a dominated point", []Point{{2, 0.7}, {2, 0.7}, {1, 0.8}}, []int{2}},
		{"all equal", []Point{{1, 0.5}, {1, 0.5}, {1, 0.5}}, []int{0, 1, 2}},
		{"NaN left out", []Point{{nan, 0.9}, {1, nan}, {2, 0.5}}, []int{2}},
		{"infinite latency", []Point{{math.Inf(1), 0.99}, {1, 0.5}}, []int{1, 0}},
		{"zero accuracy", []Point{{1, 0}, {2, 0}}, []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, Front(tt.points))
		})
	}
}

// frontByDefinition is the O(n^2) oracle: a point is on the front when no
// other point dominates it.
func frontByDefinition(points []Point) []int {
	var front []int
	for i, p := range points {
		if math.IsNaN(p.LatencyMs) || math.IsNaN(p.Accuracy) {
			continue
		}
		dominated := false
		for j, q := range points {
			if j != i && !math.IsNaN(q.LatencyMs) && !math.IsNaN(q.Accuracy) && q.dominates(p) {
				dominated = true
				break
			}
		}
		if !dominated {
			front = append(front, i)
		}
	}
	return front
}

func TestFrontAgainstDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for trial := range 500 {
		n := rng.IntN(40)
		points := make([]Point, n)
		for i := range points {
			// Few distinct values, so that ties are common.
			points[i] = Point{LatencyMs: float64(rng.IntN(8)), Accuracy: float64(rng.IntN(8)) / 8}
		}
		got := Front(points)
		want := frontByDefinition(points)
		require.ElementsMatch(t, want, got, "trial %d: %v", trial, points)
		require.True(t, slices.IsSortedFunc(got, func(a, b int) int {
			if points[a].LatencyMs != points[b].LatencyMs {
				if points[a].LatencyMs < points[b].LatencyMs {
					return -1
				}
				return 1
			}
			return a - b
		}), "trial %d: front not ordered by latency then index: %v", trial, got)
	}
}

func TestTrialFront(t *testing.T) {
	measured := 0.5
	trials := []Trial{
		{Seq: 1, Arch: "a", Status: TrialOK, PredictedLatencyMs: 1, ValAccuracy: 0.6},
		{Seq: 2, Arch: "b", Status: TrialFailed, Reason: "diverged", PredictedLatencyMs: 0.1, ValAccuracy: 0.99},
		{Seq: 3, Arch: "c", Status: TrialOK, PredictedLatencyMs: 2, MeasuredLatencyMs: &measured, ValAccuracy: 0.7},
		{Seq: 4, Arch: "d", Status: TrialOK, PredictedLatencyMs: 3, ValAccuracy: 0.8},
	}
	var seqs []uint64
	for _, tr := range TrialFront(trials) {
		seqs = append(seqs, tr.Seq)
	}
	// c is measured faster than a and more accurate: a drops out; the
	// failed trial b is never on the front.
	require.Equal(t, []uint64{3, 4}, seqs)
}

func BenchmarkFront(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	points := make([]Point, 10000)
	for i := range points {
		points[i] = Point{LatencyMs: rng.Float64() * 10, Accuracy: rng.Float64()}
	}
	for b.Loop() {
		Front(points)
	}
}

package search

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRewardWorkedExamples(t *testing.T) {
	soft := SoftObjective(10, DefaultW)
	cases := []struct {
		name     string
		o        Objective
		acc, lat float64
		want     float64
	}{
		// On target the reward is the accuracy, whatever the exponents.
		{"soft on target", soft, 0.9, 10, 0.9},
		{"hard on target", HardObjective(10), 0.9, 10, 0.9},
		// Twice as slow: 0.9 * 2^-0.15 = 0.9 * 0.90125...
		{"soft 2x slower", soft, 0.9, 20, 0.9 * 0.9012504626108302},
		// Twice as fast: 0.9 * 0.5^-0.15 = 0.9 * 1.10957...
		{"soft 2x faster", soft, 0.9, 5, 0.9 * 1.1095694720678451},
		// Hard: faster earns nothing, slower is divided by the ratio.
		{"hard faster", HardObjective(10), 0.8, 5, 0.8},
		{"hard 25% slower", HardObjective(10), 0.8, 12.5, 0.64},
		// MnasNet's own exponent: 5% less accuracy buys about 2x speed.
		{"mnasnet w", SoftObjective(80, -0.07), 0.75, 160, 0.75 * math.Pow(2, -0.07)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.InDelta(t, c.want, c.o.Reward(c.acc, c.lat), 1e-12)
		})
	}
}

func TestRewardTradeOff(t *testing.T) {
	// With w = -0.15, doubling latency must be paid for by ~11% relative
	// accuracy: a network 2x slower and 10% better still loses.
	o := SoftObjective(10, DefaultW)
	require.Greater(t, o.Reward(0.80, 10), o.Reward(0.88, 20))
	require.Less(t, o.Reward(0.80, 10), o.Reward(0.90, 20))
}

func TestObjectiveValidate(t *testing.T) {
	require.NoError(t, SoftObjective(5, DefaultW).Validate())
	require.NoError(t, HardObjective(5).Validate())
	require.ErrorContains(t, SoftObjective(0, DefaultW).Validate(), "target latency")
	require.ErrorContains(t, SoftObjective(math.NaN(), DefaultW).Validate(), "target latency")
	require.NotContains(t, SoftObjective(0, DefaultW).Validate().Error(), "--", "the library names settings, not a command's flags")
	require.ErrorContains(t, SoftObjective(5, 0.1).Validate(), "<= 0")
	require.True(t, HardObjective(5).Hard())
	require.False(t, SoftObjective(5, DefaultW).Hard())
}

func TestHopeless(t *testing.T) {
	h := HardObjective(10)
	// Best so far 0.7: a network 1.5x over target can reach at most 0.667.
	require.True(t, h.Hopeless(15, 0.7))
	require.False(t, h.Hopeless(12, 0.7))
	require.False(t, h.Hopeless(5, 0.7))
}

func TestBetter(t *testing.T) {
	in := Trial{LatencyMs: 0.5, Reward: 0.80}
	over := Trial{LatencyMs: 0.6, Reward: 0.90}
	higher := Trial{LatencyMs: 0.4, Reward: 0.85}
	if !Better(in, over, 0.5) || Better(over, in, 0.5) {
		t.Error("a trial that meets the target must rank above one over it, whatever their rewards")
	}
	if !Better(higher, in, 0.5) || Better(in, higher, 0.5) {
		t.Error("of two trials within the target, the higher reward must rank first")
	}
	if Better(in, in, 0.5) {
		t.Error("a trial is not better than its equal (the earliest of equals stays best)")
	}
	if !Better(over, Trial{LatencyMs: 0.7, Reward: 0.7}, 0.5) {
		t.Error("of two trials over the target, the higher reward must rank first")
	}
}

package trainer

import (
	"math"

	"testing"

	"github.com/stretchr/testify/require"
)

func TestScheduleLR(t *testing.T) {
	s := Schedule{Base: 0.1, Min: 0.01, Warmup: 4, Total: 14}
	cases := []struct {
		step int
		want float64
	}{
		{0, 0.025}, {1, 0.05}, {3, 0.1}, // warm-up reaches the peak on its last step
		{4, 0.1},   // the cosine starts at the peak
		{9, 0.055}, // half-way: (Base+Min)/2
		{13, 0.01 + 0.09*(1+math.Cos(math.Pi*0.9))/2},
		{14, 0.01}, {100, 0.01}, // past the end
	}
	for _, c := range cases {
		require.InDelta(t, c.want, s.LR(c.step), 1e-12, "step %d", c.step)
	}
	noWarmup := Schedule{Base: 1, Total: 4}
	require.Equal(t, 1.0, noWarmup.LR(0))
	require.InDelta(t, 0.5, noWarmup.LR(2), 1e-12)
}

func TestScheduleErrors(t *testing.T) {
	cases := []struct {
		s    Schedule
		want string
	}{
		{Schedule{Base: 0, Total: 1}, "learning rate 0"},
		{Schedule{Base: 0.1, Min: 0.2, Total: 1}, "final learning rate 0.2"},
		{Schedule{Base: 0.1, Total: 0}, "schedule of 0 steps"},
		{Schedule{Base: 0.1, Warmup: 5, Total: 5}, "warm-up of 5 steps"},
	}
	for _, c := range cases {
		require.ErrorContains(t, c.s.check(), c.want)
	}
}

package search

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
	"nas/space"
)

// toySpace has 8 decisions of 4 options. Accuracy rises with each decision
// that matches a hidden target; latency rises with the option index, so the
// reward has a real trade-off for the strategies to find.
type toySpace struct{ target []int }

func (s toySpace) Cardinalities() []int { return []int{4, 4, 4, 4, 4, 4, 4, 4} }

func (s toySpace) Arch(c []int) (*space.Arch, error) {
	if c[0] == 3 && c[1] == 3 {
		return nil, errors.New("invalid combination")
	}
	return &space.Arch{
		Name:    fmt.Sprint(c),
		Input:   blocks.Shape{C: 1, H: 8, W: 8},
		Classes: 2,
		Layers: []blocks.Spec{
			&blocks.Conv{Out: 4 + c[0], Kernel: 3},
			&blocks.GlobalPool{},
			&blocks.Linear{Out: 2},
		},
	}, nil
}

type toyEval struct {
	target   []int
	calls    int
	cancelAt int
	cancel   context.CancelFunc
	fail     bool
}

func parseChoices(name string) []int {
	var c []int
	var v int
	for _, ch := range name {
		switch {
		case ch >= '0' && ch <= '9':
			v = int(ch - '0')
			c = append(c, v)
		}
	}
	return c
}

func (e *toyEval) Accuracy(ctx context.Context, a *space.Arch, seed uint64) (float64, error) {
	e.calls++
	if e.cancel != nil && e.calls == e.cancelAt {
		e.cancel()
		return 0, ctx.Err()
	}
	if e.fail {
		return 0, errors.New("loss is NaN at step 3")
	}
	acc := 0.5
	for d, v := range parseChoices(a.Name) {
		if v == e.target[d] {
			acc += 0.06
		}
	}
	return acc, nil
}

func (e *toyEval) LatencyMs(a *space.Arch) (float64, error) {
	lat := 1.0
	for _, v := range parseChoices(a.Name) {
		lat += 0.25 * float64(v)
	}
	return lat, nil
}

type memRecorder struct {
	trials []Trial
	states [][]byte
}

func (m *memRecorder) Record(t Trial, state []byte) error {
	m.trials = append(m.trials, t)
	m.states = append(m.states, state)
	return nil
}

var toyTarget = []int{2, 3, 1, 2, 3, 0, 3, 2}

func newToySearch(t *testing.T, strategy string, seed uint64, budget int, ev *toyEval, rec Recorder) *Search {
	t.Helper()
	sp := toySpace{toyTarget}
	st, err := NewStrategy(strategy, sp.Cardinalities(), seed, StrategySettings{})
	require.NoError(t, err)
	return &Search{
		Space: sp, Strategy: st, Latency: ev, Accuracy: ev, Recorder: rec,
		Settings: Settings{
			Objective: SoftObjective(4, DefaultW), Budget: budget, Seed: seed,
			Key: func(a *space.Arch) string { return a.Name },
		},
	}
}

func bestReward(t *testing.T, strategy string, seed uint64, budget int) float64 {
	s := newToySearch(t, strategy, seed, budget, &toyEval{target: toyTarget}, nil)
	require.NoError(t, s.Run(context.Background()))
	b, ok := s.Best()
	require.True(t, ok)
	return b.Reward
}

// The bar, on a problem where the answer is known: at equal budget,
// evolution and rl beat random on average over three seeds.
func TestStrategiesBeatRandom(t *testing.T) {
	const budget = 150
	mean := map[string]float64{}
	for _, name := range Strategies {
		for seed := uint64(1); seed <= 3; seed++ {
			r := bestReward(t, name, seed, budget)
			t.Logf("%-9s seed %d: best reward %.4f", name, seed, r)
			mean[name] += r / 3
		}
	}
	require.Greater(t, mean["evolution"], mean["random"])
	require.Greater(t, mean["rl"], mean["random"])
}

func TestDeterministic(t *testing.T) {
	for _, name := range Strategies {
		a := newToySearch(t, name, 7, 30, &toyEval{target: toyTarget}, nil)
		b := newToySearch(t, name, 7, 30, &toyEval{target: toyTarget}, nil)
		require.NoError(t, a.Run(context.Background()))
		require.NoError(t, b.Run(context.Background()))
		require.Equal(t, a.Trials(), zeroWall(b.Trials(), a.Trials()), name)
	}
}

// zeroWall copies the wall times of want into got so trials compare equal.
func zeroWall(got, want []Trial) []Trial {
	out := append([]Trial(nil), got...)
	for i := range out {
		if i < len(want) {
			out[i].Wall = want[i].Wall
		}
	}
	return out
}

// A run killed in the middle of a trial and resumed from its recorded
// trials and state ends exactly as an uninterrupted run.
func TestResumeMatchesUninterrupted(t *testing.T) {
	for _, name := range Strategies {
		t.Run(name, func(t *testing.T) {
			full := newToySearch(t, name, 11, 40, &toyEval{target: toyTarget}, nil)
			require.NoError(t, full.Run(context.Background()))

			ctx, cancel := context.WithCancel(context.Background())
			rec := &memRecorder{}
			first := newToySearch(t, name, 11, 40, &toyEval{target: toyTarget, cancelAt: 23, cancel: cancel}, rec)
			require.ErrorIs(t, first.Run(ctx), context.Canceled)
			require.Len(t, rec.trials, 22, "the trial in flight is lost, the others are kept")

			second := newToySearch(t, name, 11, 40, &toyEval{target: toyTarget}, rec)
			require.NoError(t, second.Resume(rec.trials, rec.states[len(rec.states)-1]))
			require.NoError(t, second.Run(context.Background()))
			require.Equal(t, full.Trials(), zeroWall(second.Trials(), full.Trials()))
		})
	}
}

func TestHardConstraintSkips(t *testing.T) {
	s := newToySearch(t, "random", 3, 60, &toyEval{target: toyTarget}, nil)
	s.Settings.Objective = HardObjective(2)
	require.NoError(t, s.Run(context.Background()))
	skipped := 0
	for _, tr := range s.Trials() {
		if tr.Status == StatusSkipped {
			skipped++
			require.Zero(t, tr.Accuracy)
			require.Contains(t, tr.Reason, "hard constraint")
		}
	}
	require.Positive(t, skipped)
}

func TestFailuresStopTheRun(t *testing.T) {
	rec := &memRecorder{}
	s := newToySearch(t, "random", 3, 10, &toyEval{target: toyTarget, fail: true}, rec)
	err := s.Run(context.Background())
	require.ErrorContains(t, err, "NaN")
	require.Len(t, rec.trials, maxConsecutiveFailures)
	for _, tr := range rec.trials {
		require.Equal(t, StatusFailed, tr.Status)
	}
}

func TestBudgetLargerThanSpace(t *testing.T) {
	sp := tinySpace{}
	st, err := NewStrategy("random", sp.Cardinalities(), 1, StrategySettings{})
	require.NoError(t, err)
	ev := &toyEval{target: toyTarget}
	s := &Search{Space: sp, Strategy: st, Latency: ev, Accuracy: ev, Settings: Settings{
		Objective: SoftObjective(4, DefaultW), Budget: 5, Key: func(a *space.Arch) string { return a.Name }}}
	require.NoError(t, s.Run(context.Background()))
	require.Contains(t, s.Stopped, "smaller than the budget")
	require.Len(t, s.Trials(), 2)
}

type tinySpace struct{ toySpace }

func (tinySpace) Cardinalities() []int { return []int{2} }

func TestMutateChangesOneDecision(t *testing.T) {
	src := newSource(5)
	card := []int{3, 1, 4, 2}
	for range 200 {
		c := uniform(card, src.rng)
		m := mutate(c, card, src.rng)
		diff := 0
		for i := range c {
			if c[i] != m[i] {
				diff++
				require.Less(t, m[i], card[i])
			}
		}
		require.Equal(t, 1, diff)
		require.Equal(t, 0, m[1])
	}
}

func TestNewStrategyErrors(t *testing.T) {
	_, err := NewStrategy("anneal", []int{2}, 1, StrategySettings{})
	require.ErrorContains(t, err, "unknown strategy")
	_, err = NewStrategy("rl", []int{2, 0}, 1, StrategySettings{})
	require.ErrorContains(t, err, "decision 1")
}

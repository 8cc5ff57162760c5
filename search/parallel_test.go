package search

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/space"
)

// shuffledEval is toyEval's accuracy, finishing in an order drawn from
// its own seed: each call waits until a driver releases it, and the driver
// releases a random one of the calls waiting. It records how many calls
// ran at once.
type shuffledEval struct {
	toyEval
	parallel int

	mu      sync.Mutex
	running int
	most    int
	calls   map[string]int // evaluations per network
	started chan chan struct{}
}

func newShuffledEval(parallel int, order uint64) *shuffledEval {
	e := &shuffledEval{toyEval: toyEval{target: toyTarget}, parallel: parallel,
		calls: map[string]int{}, started: make(chan chan struct{})}
	go e.drive(rand.New(rand.NewPCG(order, 1)))
	return e
}

// drive waits for the first `parallel` calls (a full window), then
// releases waiting calls in random order until the channel closes.
func (e *shuffledEval) drive(rng *rand.Rand) {
	var waiting []chan struct{}
	for len(waiting) < e.parallel {
		c, ok := <-e.started
		if !ok {
			break
		}
		waiting = append(waiting, c)
	}
	for {
		for more := true; more; {
			select {
			case c, ok := <-e.started:
				if !ok {
					for _, w := range waiting {
						close(w)
					}
					return
				}
				waiting = append(waiting, c)
			default:
				more = false
			}
		}
		if len(waiting) == 0 {
			c, ok := <-e.started
			if !ok {
				return
			}
			waiting = append(waiting, c)
		}
		i := rng.IntN(len(waiting))
		close(waiting[i])
		waiting = append(waiting[:i], waiting[i+1:]...)
	}
}

func (e *shuffledEval) Accuracy(ctx context.Context, a *space.Arch, seed uint64) (float64, error) {
	e.mu.Lock()
	e.running++
	e.most = max(e.most, e.running)
	e.calls[a.Name]++
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.running--
		e.mu.Unlock()
	}()
	release := make(chan struct{})
	e.started <- release
	select {
	case <-release:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	acc := 0.5
	for d, v := range parseChoices(a.Name) {
		if v == e.target[d] {
			acc += 0.06
		}
	}
	return acc, nil
}

func (e *shuffledEval) stop() { close(e.started) }

func parallelSearch(t *testing.T, strategy string, seed uint64, budget, parallel int, ev Evaluator, rec Recorder) *Search {
	s := newToySearch(t, strategy, seed, budget, &toyEval{target: toyTarget}, rec)
	s.Accuracy = ev
	s.Settings.Parallel = parallel
	return s
}

// With several candidates in flight, the trials and the strategy's
// decisions depend on the seed and Parallel only, not on the order in
// which evaluations finish; the window is full at the start and never
// fuller.
func TestParallelDeterministic(t *testing.T) {
	for _, name := range Strategies {
		t.Run(name, func(t *testing.T) {
			var runs [][]Trial
			for order := uint64(1); order <= 3; order++ {
				ev := newShuffledEval(4, order)
				s := parallelSearch(t, name, 7, 40, 4, ev, nil)
				require.NoError(t, s.Run(context.Background()))
				ev.stop()
				require.Equal(t, 4, ev.most, "evaluations at once")
				require.Len(t, s.Trials(), 40)
				for k, n := range ev.calls {
					require.Equal(t, 1, n, "%s evaluated %d times", k, n)
				}
				runs = append(runs, s.Trials())
			}
			for _, r := range runs[1:] {
				require.Equal(t, runs[0], zeroWall(r, runs[0]))
			}
		})
	}
}

// Random search proposes without looking at rewards, so its trials are
// those of the sequential search whatever Parallel is; under a hard
// constraint the skips, decided when a trial is committed, are too.
func TestParallelRandomMatchesSequential(t *testing.T) {
	for _, obj := range []Objective{SoftObjective(4, DefaultW), HardObjective(2)} {
		seq := newToySearch(t, "random", 3, 60, &toyEval{target: toyTarget}, nil)
		seq.Settings.Objective = obj
		require.NoError(t, seq.Run(context.Background()))
		ev := newShuffledEval(3, 9)
		par := parallelSearch(t, "random", 3, 60, 3, ev, nil)
		par.Settings.Objective = obj
		require.NoError(t, par.Run(context.Background()))
		ev.stop()
		require.Equal(t, seq.Trials(), zeroWall(par.Trials(), seq.Trials()))
	}
}

// cancelRecorder cancels the run after its nth record.
type cancelRecorder struct {
	memRecorder
	n      int
	cancel context.CancelFunc
}

func (c *cancelRecorder) Record(t Trial, state []byte) error {
	if err := c.memRecorder.Record(t, state); err != nil {
		return err
	}
	if len(c.trials) == c.n {
		c.cancel()
	}
	return nil
}

// A parallel run stopped with candidates in flight and resumed from its
// last record evaluates those candidates again, first, and ends exactly as
// the uninterrupted run.
func TestParallelResumeMatchesUninterrupted(t *testing.T) {
	for _, name := range Strategies {
		t.Run(name, func(t *testing.T) {
			ev := newShuffledEval(3, 1)
			full := parallelSearch(t, name, 11, 40, 3, ev, nil)
			require.NoError(t, full.Run(context.Background()))
			ev.stop()

			ctx, cancel := context.WithCancel(context.Background())
			rec := &cancelRecorder{n: 17, cancel: cancel}
			ev = newShuffledEval(3, 2)
			first := parallelSearch(t, name, 11, 40, 3, ev, rec)
			require.ErrorIs(t, first.Run(ctx), context.Canceled)
			ev.stop()
			require.Len(t, rec.trials, 17)

			ev = newShuffledEval(3, 3)
			second := parallelSearch(t, name, 11, 40, 3, ev, rec)
			require.NoError(t, second.Resume(rec.trials, rec.states[len(rec.states)-1]))
			require.NoError(t, second.Run(context.Background()))
			ev.stop()
			require.Equal(t, full.Trials(), zeroWall(second.Trials(), full.Trials()))
		})
	}
}

// A proposal of a network already in flight waits for it instead of
// evaluating it twice; a space smaller than the budget still stops.
func TestParallelFollowers(t *testing.T) {
	sp := tinySpace{}
	st, err := NewStrategy("random", sp.Cardinalities(), 1, StrategySettings{})
	require.NoError(t, err)
	ev := newShuffledEval(1, 4)
	s := &Search{Space: sp, Strategy: st, Latency: &toyEval{}, Accuracy: ev, Settings: Settings{
		Objective: SoftObjective(4, DefaultW), Budget: 5, Parallel: 4, Key: func(a *space.Arch) string { return a.Name }}}
	require.NoError(t, s.Run(context.Background()))
	ev.stop()
	require.Contains(t, s.Stopped, "smaller than the budget")
	require.Len(t, s.Trials(), 2)
	require.Len(t, ev.calls, 2)
	for k, n := range ev.calls {
		require.Equal(t, 1, n, k)
	}
}

// asyncEval is shuffledEval that is handed its candidates through Submit,
// recording their seeds in the order submitted.
type asyncEval struct {
	*shuffledEval
	seeds []uint64
}

func (a *asyncEval) Submit(ctx context.Context, arch *space.Arch, seed uint64) (func() (float64, error), error) {
	a.seeds = append(a.seeds, seed)
	return func() (float64, error) { return a.Accuracy(ctx, arch, seed) }, nil
}

// An AsyncEvaluator gets its candidates in proposal order, and the
// trials are those of the plain Evaluator.
func TestParallelSubmitsInOrder(t *testing.T) {
	for _, name := range Strategies {
		ev := newShuffledEval(4, 5)
		plain := parallelSearch(t, name, 8, 30, 4, ev, nil)
		require.NoError(t, plain.Run(context.Background()))
		ev.stop()
		async := &asyncEval{shuffledEval: newShuffledEval(4, 6)}
		s := parallelSearch(t, name, 8, 30, 4, async, nil)
		require.NoError(t, s.Run(context.Background()))
		async.stop()
		require.Equal(t, plain.Trials(), zeroWall(s.Trials(), plain.Trials()), name)
		var want []uint64
		for _, tr := range s.Trials() {
			want = append(want, tr.Seed)
		}
		require.Equal(t, want, async.seeds, name)
	}
}

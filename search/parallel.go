package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// The search loop keeps a window of proposals in flight, in the order the
// strategy proposed them, and commits them in that order: a trial's
// index, seed and the strategy's view of the run never depend on which
// evaluation finishes first, only on the seed and Settings.Parallel.
//
// With Parallel P the loop proposes until P candidates are in the window,
// then waits for the oldest, commits it (Observe, Record), and proposes
// again. That is asynchronous evolution as AmoebaNet ran it (Real et al.,
// AAAI 2019: a worker's child is drawn from the population as it stands,
// while other children train) and, for the RL controller, a policy that is
// updated once per committed trial and sampled by P trials ahead. With
// P = 1 the loop is the sequential one: propose, evaluate, observe.

// inFlight is one proposal of the window.
type inFlight struct {
	choices []int
	key     string
	// follower marks a proposal of a network that an earlier proposal of
	// the window is evaluating: it costs no evaluation, and the strategy
	// observes the earlier one's reward for it when that is committed.
	follower bool
	trial    Trial // index, seed, costs and latency; set unless follower
	prep     time.Duration
	cancel   context.CancelFunc // stops the evaluation; nil when none runs
	done     chan evaluation    // the evaluation's outcome; nil when none runs
}

type evaluation struct {
	acc  float64
	err  error
	wall time.Duration
}

// Run evaluates candidates until the budget is spent, the proposal bound is
// reached (see Stopped) or ctx is cancelled (then it returns ctx's error after recording
// every trial committed: the at most Settings.Parallel trials in flight are lost, and a
// resumed run evaluates them again).
func (s *Search) Run(ctx context.Context) error {
	st := s.Settings
	if err := st.Objective.Validate(); err != nil {
		return err
	}
	if st.Budget < 1 {
		return fmt.Errorf("budget %d: evaluate at least one candidate (--budget)", st.Budget)
	}
	if st.Key == nil {
		return errors.New("search: Settings.Key is required")
	}
	if st.Parallel < 0 {
		return fmt.Errorf("parallel %d: want 1 or more candidates in flight", st.Parallel)
	}
	maxProp := st.MaxProposals
	if maxProp <= 0 {
		maxProp = 20 * st.Budget
	}
	s.init()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		s.window = nil
	}()
	if err := s.restore(ctx, &wg); err != nil {
		return err
	}
	failures := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		exhausted, err := s.fill(ctx, &wg, maxProp)
		if err != nil {
			return err
		}
		if len(s.window) == 0 {
			if exhausted {
				s.Stopped = fmt.Sprintf("stopped after %d proposals with %d of %d candidates evaluated: the strategy proposes only networks already seen (it has converged, or the space is smaller than the budget)", s.proposals, len(s.trials), st.Budget)
			}
			return nil
		}
		t, err := s.commit(ctx)
		if err != nil {
			return err
		}
		if t.Status == StatusFailed {
			failures++
		} else {
			failures = 0
		}
		if failures >= maxConsecutiveFailures {
			return fmt.Errorf("the last %d trials all failed, the last with: %s", failures, t.Reason)
		}
	}
}

// evaluations counts the proposals of the window that are trials (not
// followers).
func (s *Search) evaluations() int {
	n := 0
	for _, e := range s.window {
		if !e.follower {
			n++
		}
	}
	return n
}

func (s *Search) parallel() int { return max(1, s.Settings.Parallel) }

// fill proposes until the window holds Parallel trials or the budget is
// covered; it reports whether the proposal bound stopped it.
func (s *Search) fill(ctx context.Context, wg *sync.WaitGroup, maxProp int) (bool, error) {
	for {
		n := s.evaluations()
		if n >= s.parallel() || len(s.trials)+n >= s.Settings.Budget {
			return false, nil
		}
		if s.proposals >= maxProp {
			return true, nil
		}
		choices := s.Strategy.Propose()
		s.proposals++
		if err := s.enter(ctx, wg, choices, false); err != nil {
			return false, err
		}
	}
}

// enter puts a proposal into the window: an invalid network or one of a
// committed trial is observed at once (restoring, it is a follower), one
// of a proposal in flight becomes a follower, any other a trial whose
// evaluation starts.
func (s *Search) enter(ctx context.Context, wg *sync.WaitGroup, choices []int, restoring bool) error {
	arch, err := s.Space.Arch(choices)
	if err != nil {
		if restoring {
			return fmt.Errorf("resume: a proposal in flight is not a network of the space: %v", err)
		}
		s.Strategy.Observe(choices, 0)
		return nil
	}
	key := s.Settings.Key(arch)
	if r, seen := s.cache[key]; seen && !restoring {
		s.Strategy.Observe(choices, r)
		return nil
	}
	e := &inFlight{choices: choices, key: key}
	_, committed := s.cache[key]
	if committed || s.inWindow(key) {
		e.follower = true
		s.window = append(s.window, e)
		return nil
	}
	start := time.Now()
	idx := len(s.trials) + s.evaluations()
	e.trial = Trial{Index: idx, Choices: choices, Key: key, Seed: TrialSeed(s.Settings.Seed, idx)}
	cost, err := arch.Cost()
	if err != nil {
		return fmt.Errorf("candidate %s: %w", key, err)
	}
	e.trial.Params, e.trial.MACs = cost.Params, cost.MACs
	if e.trial.LatencyMs, err = s.Latency.LatencyMs(arch); err != nil {
		return fmt.Errorf("latency of %s: %w", key, err)
	}
	e.prep = time.Since(start)
	s.window = append(s.window, e)
	if s.hopeless(e.trial.LatencyMs) {
		return nil // skipped when committed: no evaluation
	}
	ectx, cancel := context.WithCancel(ctx)
	e.cancel, e.done = cancel, make(chan evaluation, 1)
	start = time.Now()
	evaluate := func() (float64, error) { return s.Accuracy.Accuracy(ectx, arch, e.trial.Seed) }
	if async, ok := s.Accuracy.(AsyncEvaluator); ok && s.parallel() > 1 {
		wait, err := async.Submit(ectx, arch, e.trial.Seed)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			e.done <- evaluation{err: err, wall: time.Since(start)}
			return nil
		}
		evaluate = wait
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		acc, err := evaluate()
		e.done <- evaluation{acc: acc, err: err, wall: time.Since(start)}
	}()
	return nil
}

func (s *Search) inWindow(key string) bool {
	for _, e := range s.window {
		if e.key == key {
			return true
		}
	}
	return false
}

// hopeless reports whether a network of this latency cannot beat the best
// trial committed so far under a hard constraint. The best only grows, so
// a network hopeless when proposed is hopeless when committed.
func (s *Search) hopeless(latencyMs float64) bool {
	best, ok := s.Best()
	obj := s.Settings.Objective
	return ok && obj.Hard() && obj.Hopeless(latencyMs, best.Reward)
}

// restore puts the proposals in flight of a resumed state back into the
// window, in order.
func (s *Search) restore(ctx context.Context, wg *sync.WaitGroup) error {
	pending := s.restored
	s.restored = nil
	for _, c := range pending {
		if err := s.enter(ctx, wg, c, true); err != nil {
			return err
		}
	}
	return nil
}

// commit waits for the oldest trial of the window, commits it, and
// observes the followers behind it whose network is now known.
func (s *Search) commit(ctx context.Context) (Trial, error) {
	e := s.window[0]
	s.window = s.window[1:]
	t, err := s.outcome(ctx, e)
	if err != nil {
		return t, err
	}
	s.Strategy.Observe(e.choices, t.Reward)
	// A follower at the front follows a proposal committed before it.
	for len(s.window) > 0 && s.window[0].follower {
		f := s.window[0]
		s.window = s.window[1:]
		r, ok := s.cache[f.key]
		if f.key == t.Key {
			r, ok = t.Reward, true
		}
		if !ok {
			panic("search: a follower at the front of the window follows no committed trial")
		}
		s.Strategy.Observe(f.choices, r)
	}
	state, err := s.state()
	if err != nil {
		return t, err
	}
	if s.Recorder != nil {
		if err := s.Recorder.Record(t, state); err != nil {
			return t, fmt.Errorf("recording trial %d: %w", t.Index, err)
		}
	}
	s.add(t)
	if s.Settings.Progress != nil {
		b, _ := s.Best()
		s.Settings.Progress(len(s.trials), b)
	}
	return t, nil
}

// outcome is the trial of e once its evaluation has ended: skipped when
// the trials committed before it make it hopeless, failed when the
// evaluation failed.
func (s *Search) outcome(ctx context.Context, e *inFlight) (Trial, error) {
	t := e.trial
	if s.hopeless(t.LatencyMs) {
		if e.cancel != nil {
			e.cancel() // its accuracy is not needed any more
		}
		best, _ := s.Best()
		t.Status = StatusSkipped
		t.Reason = fmt.Sprintf("%.3g ms cannot beat the best reward %.4f under the hard constraint", t.LatencyMs, best.Reward)
		t.Wall = e.prep
		return t, nil
	}
	if e.done == nil {
		panic("search: a trial skipped when proposed is not hopeless when committed")
	}
	var ev evaluation
	select {
	case ev = <-e.done:
	case <-ctx.Done():
		return t, ctx.Err()
	}
	e.cancel()
	t.Wall = e.prep + ev.wall
	switch {
	case ctx.Err() != nil:
		return t, ctx.Err()
	case ev.err != nil:
		t.Status, t.Reason = StatusFailed, ev.err.Error()
		return t, nil
	}
	t.Accuracy = ev.acc
	t.Reward = s.Settings.Objective.Reward(ev.acc, t.LatencyMs)
	t.Status = StatusOK
	return t, nil
}

func (s *Search) state() ([]byte, error) {
	sb, err := s.Strategy.State()
	if err != nil {
		return nil, err
	}
	ls := loopState{Strategy: sb, Proposals: s.proposals}
	for _, e := range s.window {
		ls.Pending = append(ls.Pending, e.choices)
	}
	return json.Marshal(ls)
}

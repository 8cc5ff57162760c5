package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"nas/space"
)

// Space is the search space as a search sees it: decisions with a number of
// options each, and the network a choice vector stands for.
type Space interface {
	Cardinalities() []int
	Arch(choices []int) (*space.Arch, error)
}

// LatencyModel predicts the latency of a network on the target device (the
// lookup table: the sum of its blocks' measured latencies).
type LatencyModel interface {
	LatencyMs(a *space.Arch) (float64, error)
}

// Evaluator estimates the accuracy of a network (proxy training on the
// validation split). seed drives every stochastic step of that training.
type Evaluator interface {
	Accuracy(ctx context.Context, a *space.Arch, seed uint64) (float64, error)
}

// Recorder stores a finished trial together with the search state that
// follows it, in one atomic write, so that a killed search resumes from its
// last recorded trial.
type Recorder interface {
	Record(t Trial, state []byte) error
}

// Trial statuses.
const (
	StatusOK      = "ok"      // trained and scored
	StatusFailed  = "failed"  // training failed (diverged, ...): reward 0
	StatusSkipped = "skipped" // hard constraint: could not beat the best at any accuracy
)

// Trial is one evaluated candidate.
type Trial struct {
	Index     int           `json:"index"`
	Choices   []int         `json:"choices"`
	Key       string        `json:"arch"` // canonical arch string
	Params    int64         `json:"params"`
	MACs      int64         `json:"macs"`
	LatencyMs float64       `json:"latency_ms"` // predicted by the latency model
	Accuracy  float64       `json:"val_acc"`
	Reward    float64       `json:"reward"`
	Status    string        `json:"status"`
	Reason    string        `json:"reason,omitempty"`
	Seed      uint64        `json:"seed"`
	Wall      time.Duration `json:"wall_ns"`
}

// Settings of a search. Zero MaxProposals means 20 x Budget.
type Settings struct {
	Objective    Objective
	Budget       int    // candidates to evaluate (duplicates do not count)
	Seed         uint64 // run seed: trial seeds derive from it
	MaxProposals int    // bound on proposals, duplicates included
	// Key gives the canonical form of an arch, the cache key: the same
	// network reached by different choices is trained once.
	Key func(a *space.Arch) string
	// Progress, when set, is called after each recorded trial.
	Progress func(done int, best Trial)
}

// Search is one run: a space, a strategy, the two estimators and a
// recorder.
type Search struct {
	Space    Space
	Strategy Strategy
	Latency  LatencyModel
	Accuracy Evaluator
	Recorder Recorder
	Settings Settings

	// Stopped says why Run ended before the budget was spent, if it did
	// without an error.
	Stopped string

	trials    []Trial
	cache     map[string]float64
	proposals int
	best      int // index into trials, -1 when none
}

type loopState struct {
	Strategy  json.RawMessage `json:"strategy"`
	Proposals int             `json:"proposals"`
}

// Resume loads the trials and the last recorded state of a killed run, so
// that Run continues where it stopped.
func (s *Search) Resume(trials []Trial, state []byte) error {
	var ls loopState
	if err := json.Unmarshal(state, &ls); err != nil {
		return fmt.Errorf("resume: search state is not valid JSON: %v", err)
	}
	if err := s.Strategy.Restore(ls.Strategy); err != nil {
		return fmt.Errorf("resume: %s strategy state: %v", s.Strategy.Name(), err)
	}
	s.init()
	for _, t := range trials {
		s.add(t)
	}
	s.proposals = ls.Proposals
	return nil
}

func (s *Search) init() {
	if s.cache == nil {
		s.cache = map[string]float64{}
		s.best = -1
	}
}

func (s *Search) add(t Trial) {
	s.trials = append(s.trials, t)
	s.cache[t.Key] = t.Reward
	if t.Status == StatusOK && (s.best < 0 || Better(t, s.trials[s.best], s.Settings.Objective.TargetMs)) {
		s.best = len(s.trials) - 1
	}
}

// Better reports whether trial a ranks above trial b for a search aiming at
// targetMs: a network whose predicted latency meets the target ranks above
// one that does not, and otherwise the higher reward ranks first. The
// reward guides the search; the network a user is handed should still meet
// the latency asked for, which the soft reward alone does not promise (a
// network 25% over the target loses only 3% of its reward at w = -0.15).
func Better(a, b Trial, targetMs float64) bool {
	if ina, inb := a.LatencyMs <= targetMs, b.LatencyMs <= targetMs; ina != inb {
		return ina
	}
	return a.Reward > b.Reward
}

// Trials returns the trials so far, in order.
func (s *Search) Trials() []Trial { return s.trials }

// Best returns the trial with the highest reward, if any trained.
func (s *Search) Best() (Trial, bool) {
	if s.best < 0 {
		return Trial{}, false
	}
	return s.trials[s.best], true
}

// TrialSeed derives the seed of trial i from the run seed (SplitMix64), so
// that every trial's training is reproducible on its own.
func TrialSeed(run uint64, i int) uint64 {
	z := run + uint64(i+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// maxConsecutiveFailures stops a search whose every trial fails: the cause
// is then the set-up, not the candidates.
const maxConsecutiveFailures = 3

// Run evaluates candidates until the budget is spent, the proposal bound is
// reached (see Stopped) or ctx is cancelled (then it returns ctx's error after recording
// every finished trial: at most the trial in flight is lost).
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
	maxProp := st.MaxProposals
	if maxProp <= 0 {
		maxProp = 20 * st.Budget
	}
	s.init()
	failures := 0
	for len(s.trials) < st.Budget {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.proposals >= maxProp {
			s.Stopped = fmt.Sprintf("stopped after %d proposals with %d of %d candidates evaluated: the strategy proposes only networks already seen (it has converged, or the space is smaller than the budget)", s.proposals, len(s.trials), st.Budget)
			return nil
		}
		choices := s.Strategy.Propose()
		s.proposals++
		arch, err := s.Space.Arch(choices)
		if err != nil {
			s.Strategy.Observe(choices, 0)
			continue
		}
		key := st.Key(arch)
		if r, seen := s.cache[key]; seen {
			s.Strategy.Observe(choices, r)
			continue
		}
		t, err := s.evaluate(ctx, choices, key, arch)
		if err != nil {
			return err
		}
		if t.Status == StatusFailed {
			failures++
		} else {
			failures = 0
		}
		s.Strategy.Observe(choices, t.Reward)
		state, err := s.state()
		if err != nil {
			return err
		}
		if s.Recorder != nil {
			if err := s.Recorder.Record(t, state); err != nil {
				return fmt.Errorf("recording trial %d: %w", t.Index, err)
			}
		}
		s.add(t)
		if st.Progress != nil {
			b, _ := s.Best()
			st.Progress(len(s.trials), b)
		}
		if failures >= maxConsecutiveFailures {
			return fmt.Errorf("the last %d trials all failed, the last with: %s", failures, t.Reason)
		}
	}
	return nil
}

func (s *Search) state() ([]byte, error) {
	sb, err := s.Strategy.State()
	if err != nil {
		return nil, err
	}
	return json.Marshal(loopState{Strategy: sb, Proposals: s.proposals})
}

func (s *Search) evaluate(ctx context.Context, choices []int, key string, arch *space.Arch) (Trial, error) {
	start := time.Now()
	idx := len(s.trials)
	t := Trial{Index: idx, Choices: choices, Key: key, Seed: TrialSeed(s.Settings.Seed, idx)}
	cost, err := arch.Cost()
	if err != nil {
		return t, fmt.Errorf("candidate %s: %w", key, err)
	}
	t.Params, t.MACs = cost.Params, cost.MACs
	t.LatencyMs, err = s.Latency.LatencyMs(arch)
	if err != nil {
		return t, fmt.Errorf("latency of %s: %w", key, err)
	}
	obj := s.Settings.Objective
	if best, ok := s.Best(); ok && obj.Hard() && obj.Hopeless(t.LatencyMs, best.Reward) {
		t.Status = StatusSkipped
		t.Reason = fmt.Sprintf("%.3g ms cannot beat the best reward %.4f under the hard constraint", t.LatencyMs, best.Reward)
		t.Wall = time.Since(start)
		return t, nil
	}
	acc, err := s.Accuracy.Accuracy(ctx, arch, t.Seed)
	t.Wall = time.Since(start)
	switch {
	case ctx.Err() != nil:
		return t, ctx.Err()
	case err != nil:
		t.Status, t.Reason = StatusFailed, err.Error()
		return t, nil
	}
	t.Accuracy = acc
	t.Reward = obj.Reward(acc, t.LatencyMs)
	t.Status = StatusOK
	return t, nil
}

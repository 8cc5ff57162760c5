package search

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"nas/space"
)

// NetAdapt shrinks a trained network to a latency budget the way Yang et
// al. (ECCV 2018, "NetAdapt: Platform-Aware Neural Network Adaptation for
// Mobile Applications") do, and MobileNetV3 did after its search. Each
// iteration i sets the constraint Res_i - ΔR_i, ΔR_i = InitialReduction x
// (starting latency) x Decay^i; for every prunable unit (space.Arch.Units:
// a layer's channels together with every count tied to them) it picks the
// largest channel count whose predicted latency meets the constraint,
// carries the weights of the filters with the largest L2 norm over
// (CarryWeights), fine-tunes briefly and measures validation
// accuracy; it keeps the best proposal (Criterion) and repeats until the
// budget is met. A long fine-tune ends the run.
//
// It only orchestrates: the latency model, the trainer and the store come
// in through NetAdaptLatency, FineTuner and NetAdaptRecorder.
type NetAdapt struct {
	Latency  NetAdaptLatency
	Tuner    FineTuner
	Recorder NetAdaptRecorder
	Settings NetAdaptSettings
}

// NetAdaptLatency is the latency of a network on the target device.
type NetAdaptLatency interface {
	// PredictMs is the lookup-table latency (measuring the blocks the
	// table has not seen yet).
	PredictMs(ctx context.Context, a *space.Arch) (float64, error)
	// MeasureMs runs the whole network end to end.
	MeasureMs(ctx context.Context, a *space.Arch) (float64, error)
}

// FineTuner trains and evaluates a network with given weights.
type FineTuner interface {
	// FineTune trains from w for steps steps; seed drives every stochastic
	// step. It returns the new weights and their validation accuracy, in
	// [0, 1] (one call, so that a remote trainer ships the weights once).
	FineTune(ctx context.Context, a *space.Arch, w Weights, steps int, seed uint64) (Weights, float64, error)
	// Accuracy is the validation accuracy, in [0, 1].
	Accuracy(ctx context.Context, a *space.Arch, w Weights) (float64, error)
}

// NetAdaptRecorder stores each iteration's network and the history up to
// it, atomically, so that a killed run resumes from its last record.
type NetAdaptRecorder interface {
	Record(history []Iteration, a *space.Arch, w Weights) error
}

// Proposal criteria.
const (
	// CriterionAccuracy keeps the proposal of highest accuracy (the NetAdapt
	// reference code).
	CriterionAccuracy = "accuracy"
	// CriterionRatio keeps the largest ΔAccuracy / |ΔLatency| (MobileNetV3).
	CriterionRatio = "ratio"
)

// NetAdaptSettings of a run; zero values mean the defaults.
type NetAdaptSettings struct {
	TargetMs         float64 // latency budget (required)
	InitialReduction float64 // ΔR_0 as a fraction of the starting latency; 0 means 0.025
	Decay            float64 // of the reduction per iteration; 0 means 0.96
	ShortTermSteps   int     // fine-tuning steps per proposal; 0 means none
	LongTermSteps    int     // fine-tuning steps at the end; 0 means none
	Criterion        string  // CriterionAccuracy (default) or CriterionRatio
	MaxIterations    int     // 0 means 1000
	Seed             uint64  // fine-tuning seeds derive from it
	// Parallel is how many proposals of an iteration are fine-tuned at
	// once (0 and 1: one at a time); the Tuner is then called from that
	// many goroutines. The run's outcome does not depend on it.
	Parallel int
	// Progress, when set, is called after each recorded iteration.
	Progress func(Iteration)
	// UnitDone, when set, is called during iteration iteration (from 1)
	// after each of its units has been considered: done of units.
	UnitDone func(iteration, done, units int)
}

func (s NetAdaptSettings) withDefaults() NetAdaptSettings {
	if s.InitialReduction == 0 {
		s.InitialReduction = 0.025
	}
	if s.Decay == 0 {
		s.Decay = 0.96
	}
	if s.Criterion == "" {
		s.Criterion = CriterionAccuracy
	}
	if s.MaxIterations == 0 {
		s.MaxIterations = 1000
	}
	return s
}

// Validate reports settings that cannot run.
func (s NetAdaptSettings) Validate() error {
	s = s.withDefaults()
	switch {
	case !(s.TargetMs > 0):
		return fmt.Errorf("netadapt: target latency %v ms must be positive", s.TargetMs)
	case !(s.InitialReduction > 0 && s.InitialReduction < 1):
		return fmt.Errorf("netadapt: initial reduction %v must be in (0, 1) (a fraction of the starting latency)", s.InitialReduction)
	case !(s.Decay > 0 && s.Decay <= 1):
		return fmt.Errorf("netadapt: decay %v must be in (0, 1]", s.Decay)
	case s.ShortTermSteps < 0 || s.LongTermSteps < 0:
		return fmt.Errorf("netadapt: fine-tuning steps %d and %d must not be negative", s.ShortTermSteps, s.LongTermSteps)
	case s.Criterion != CriterionAccuracy && s.Criterion != CriterionRatio:
		return fmt.Errorf("netadapt: criterion %q: want %q or %q", s.Criterion, CriterionAccuracy, CriterionRatio)
	}
	return nil
}

// Iteration is one step of the run as the history records it. Index 0 is
// the starting network; Final marks the network after the long fine-tune.
type Iteration struct {
	Index        int        `json:"index"`
	Arch         string     `json:"arch"` // canonical arch string
	Unit         string     `json:"unit,omitempty"`
	From         int        `json:"from,omitempty"` // the unit's channels before
	To           int        `json:"to,omitempty"`   // and after
	ConstraintMs float64    `json:"constraint_ms,omitempty"`
	LatencyMs    float64    `json:"latency_ms"`  // lookup table
	MeasuredMs   float64    `json:"measured_ms"` // end to end
	Accuracy     float64    `json:"val_acc"`
	Proposals    []Proposal `json:"proposals,omitempty"`
	Final        bool       `json:"final,omitempty"`
}

// Proposal is one unit's candidate in an iteration.
type Proposal struct {
	Unit      string  `json:"unit"`
	From      int     `json:"from"`
	To        int     `json:"to"`
	LatencyMs float64 `json:"latency_ms"`
	Accuracy  float64 `json:"val_acc"`
}

// ErrNoProposal means no unit can shrink enough to meet an iteration's
// constraint: the network cannot reach the budget by pruning channels.
var ErrNoProposal = errors.New("netadapt: no unit can be pruned to meet the constraint")

// Run adapts network a with weights w. history is the record of an
// interrupted run of the same settings (nil to start): a and w must then
// be the network of its last iteration, and the run continues after it.
// It returns the history, the final network and its weights.
func (n *NetAdapt) Run(ctx context.Context, a *space.Arch, w Weights, history []Iteration) ([]Iteration, *space.Arch, Weights, error) {
	s := n.Settings.withDefaults()
	if err := s.Validate(); err != nil {
		return nil, nil, nil, err
	}
	if len(history) > 0 {
		if last := history[len(history)-1]; last.Arch != a.String() {
			return nil, nil, nil, fmt.Errorf("netadapt: resume: the network given is %s, the history ends at %s", a, last.Arch)
		}
		if history[len(history)-1].Final {
			return history, a, w, nil
		}
	} else {
		it, err := n.measure(ctx, a, w, Iteration{Index: 0})
		if err != nil {
			return nil, nil, nil, err
		}
		if history, err = n.record(history, it, a, w); err != nil {
			return nil, nil, nil, err
		}
	}
	initial := history[0].LatencyMs
	for {
		cur := history[len(history)-1]
		if cur.LatencyMs <= s.TargetMs {
			break
		}
		i := cur.Index // iterations done so far
		if i >= s.MaxIterations {
			return history, a, w, fmt.Errorf("netadapt: %d iterations without meeting %.3f ms (at %.3f ms): raise the reduction or the iteration limit", i, s.TargetMs, cur.LatencyMs)
		}
		constraint := cur.LatencyMs - s.InitialReduction*initial*math.Pow(s.Decay, float64(i))
		best, bestArch, bestW, props, err := n.iterate(ctx, a, w, cur, constraint, uint64(i+1))
		if err != nil {
			return history, a, w, err
		}
		best.Index, best.ConstraintMs, best.Proposals = i+1, constraint, props
		if best, err = n.measure(ctx, bestArch, bestW, best); err != nil {
			return history, a, w, err
		}
		if history, err = n.record(history, best, bestArch, bestW); err != nil {
			return history, a, w, err
		}
		a, w = bestArch, bestW
	}
	final := history[len(history)-1]
	var err error
	if s.LongTermSteps > 0 {
		if w, _, err = n.Tuner.FineTune(ctx, a, w, s.LongTermSteps, derive(s.Seed, 0, 1<<32)); err != nil {
			return history, a, w, fmt.Errorf("netadapt: long-term fine-tuning: %w", err)
		}
	}
	final = Iteration{Index: final.Index + 1, Final: true}
	if final, err = n.measure(ctx, a, w, final); err != nil {
		return history, a, w, err
	}
	history, err = n.record(history, final, a, w)
	return history, a, w, err
}

// measure fills in the arch, both latencies and the accuracy of it.
func (n *NetAdapt) measure(ctx context.Context, a *space.Arch, w Weights, it Iteration) (Iteration, error) {
	var err error
	it.Arch = a.String()
	if it.LatencyMs, err = n.Latency.PredictMs(ctx, a); err != nil {
		return it, fmt.Errorf("netadapt: latency of %s: %w", a, err)
	}
	if it.MeasuredMs, err = n.Latency.MeasureMs(ctx, a); err != nil {
		return it, fmt.Errorf("netadapt: measuring %s: %w", a, err)
	}
	if it.Accuracy, err = n.Tuner.Accuracy(ctx, a, w); err != nil {
		return it, fmt.Errorf("netadapt: accuracy of %s: %w", a, err)
	}
	return it, nil
}

func (n *NetAdapt) record(history []Iteration, it Iteration, a *space.Arch, w Weights) ([]Iteration, error) {
	history = append(history, it)
	if err := n.Recorder.Record(history, a, w); err != nil {
		return history[:len(history)-1], fmt.Errorf("netadapt: recording iteration %d: %w", it.Index, err)
	}
	if n.Settings.Progress != nil {
		n.Settings.Progress(it)
	}
	return history, nil
}

// iterate makes one proposal per unit and returns the best. The
// proposals' fine-tunes (or accuracy measurements) run Parallel at a time;
// they are independent, each with its own seed, and are weighed in unit
// order, so the outcome does not depend on Parallel. With Parallel above
// one, every unit's pruned network is found first (its latency may be
// measured on this machine, which must not share the cores with a
// fine-tune), then the fine-tunes run.
func (n *NetAdapt) iterate(ctx context.Context, a *space.Arch, w Weights, cur Iteration, constraint float64, iter uint64) (Iteration, *space.Arch, Weights, []Proposal, error) {
	s := n.Settings.withDefaults()
	units, err := a.Units()
	if err != nil {
		return Iteration{}, nil, nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	var (
		best       Iteration
		bestArch   *space.Arch
		bestW      Weights
		bestScore  = math.Inf(-1)
		props      []Proposal
		found      []*proposal // pruned networks of the units 0..len(found)-1
		window     []*proposal // proposals in flight, in unit order
		next       int         // next unit to start
		considered int
	)
	find := func(k int) error {
		p, to, lat, err := n.largestMeeting(ctx, a, units[k], constraint)
		if err != nil {
			return err
		}
		found = append(found, &proposal{unit: k, arch: p, to: to, lat: lat})
		return nil
	}
	if s.Parallel > 1 {
		for k := range units {
			if err := find(k); err != nil {
				return Iteration{}, nil, nil, nil, err
			}
		}
	}
	for next < len(units) || len(window) > 0 {
		for next < len(units) && len(window) < max(1, s.Parallel) {
			if err := ctx.Err(); err != nil {
				return Iteration{}, nil, nil, nil, err
			}
			if next == len(found) {
				if err := find(next); err != nil {
					return Iteration{}, nil, nil, nil, err
				}
			}
			p := found[next]
			next++
			if p.arch == nil {
				considered++
				n.unitDone(iter, considered, len(units))
				continue
			}
			if err := n.start(ctx, &wg, a, w, units[p.unit], p, s.ShortTermSteps, derive(s.Seed, iter, uint64(p.unit))); err != nil {
				return Iteration{}, nil, nil, nil, err
			}
			window = append(window, p)
		}
		if len(window) == 0 {
			break
		}
		p := window[0]
		window = window[1:]
		var res tuned
		select {
		case res = <-p.done:
		case <-ctx.Done():
			return Iteration{}, nil, nil, nil, ctx.Err()
		}
		if res.err != nil {
			return Iteration{}, nil, nil, nil, res.err
		}
		u := units[p.unit]
		props = append(props, Proposal{Unit: u.Name(), From: u.Channels, To: p.to, LatencyMs: p.lat, Accuracy: res.acc})
		considered++
		n.unitDone(iter, considered, len(units))
		score := res.acc
		if s.Criterion == CriterionRatio {
			score = (res.acc - cur.Accuracy) / math.Max(math.Abs(cur.LatencyMs-p.lat), 1e-9)
		}
		if score > bestScore {
			bestScore = score
			best = Iteration{Unit: u.Name(), From: u.Channels, To: p.to}
			bestArch, bestW = p.arch, res.w
		}
	}
	if bestArch == nil {
		return Iteration{}, nil, nil, nil, fmt.Errorf("%w %.3f ms (at %.3f ms, %d units)", ErrNoProposal, constraint, cur.LatencyMs, len(units))
	}
	return best, bestArch, bestW, props, nil
}

// proposal is one unit's pruned network in an iteration, and the outcome
// of its fine-tune once started.
type proposal struct {
	unit int
	arch *space.Arch // nil: the unit cannot meet the constraint
	to   int
	lat  float64
	done chan tuned
}

type tuned struct {
	w   Weights
	acc float64
	err error
}

// start carries the weights onto p's network and starts its fine-tune
// (steps > 0) or accuracy measurement in a goroutine.
func (n *NetAdapt) start(ctx context.Context, wg *sync.WaitGroup, a *space.Arch, w Weights, u space.Unit, p *proposal, steps int, seed uint64) error {
	pw, err := CarryWeights(a, w, p.arch)
	if err != nil {
		return fmt.Errorf("netadapt: %s: %w", u.Name(), err)
	}
	p.done = make(chan tuned, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		var res tuned
		if steps > 0 {
			if res.w, res.acc, res.err = n.Tuner.FineTune(ctx, p.arch, pw, steps, seed); res.err != nil {
				res.err = fmt.Errorf("netadapt: fine-tuning %s: %w", u.Name(), res.err)
			}
		} else {
			res.w = pw
			if res.acc, res.err = n.Tuner.Accuracy(ctx, p.arch, pw); res.err != nil {
				res.err = fmt.Errorf("netadapt: accuracy with %s pruned: %w", u.Name(), res.err)
			}
		}
		p.done <- res
	}()
	return nil
}

func (n *NetAdapt) unitDone(iter uint64, done, units int) {
	if n.Settings.UnitDone != nil {
		n.Settings.UnitDone(int(iter), done, units)
	}
}

// largestMeeting finds the largest valid count of u whose pruned network
// meets the constraint, by bisection over the count (latency grows with
// channels). It returns nil when even the smallest count does not.
func (n *NetAdapt) largestMeeting(ctx context.Context, a *space.Arch, u space.Unit, constraint float64) (*space.Arch, int, float64, error) {
	type cand struct {
		arch     *space.Arch
		channels int
		lat      float64
	}
	memo := map[int]*cand{}
	at := func(limit int) (int, *cand, error) {
		c, _ := a.LargestValid(u, limit) // 0: no valid count up to limit
		if c == 0 {
			return 0, nil, nil
		}
		if m, ok := memo[c]; ok {
			return c, m, nil
		}
		p, err := a.Prune(u, c)
		if err != nil {
			return 0, nil, err
		}
		lat, err := n.Latency.PredictMs(ctx, p)
		if err != nil {
			return 0, nil, fmt.Errorf("netadapt: latency with %s at %d: %w", u.Name(), c, err)
		}
		memo[c] = &cand{p, c, lat}
		return c, memo[c], nil
	}
	lo, hi := 1, u.Channels-1 // the answer's limit lies in [lo, hi]
	for ; lo <= hi; lo++ {
		if _, err := a.Prune(u, lo); err == nil {
			break
		}
	}
	if lo > hi {
		return nil, 0, 0, nil
	}
	c, m, err := at(lo)
	if err != nil || m == nil || m.lat > constraint {
		return nil, 0, 0, err
	}
	best := m
	lo = c
	for lo < hi {
		mid := (lo + hi + 1) / 2
		c, m, err := at(mid)
		if err != nil {
			return nil, 0, 0, err
		}
		if m != nil && m.lat <= constraint {
			best, lo = m, max(mid, c)
		} else {
			hi = mid - 1
		}
	}
	return best.arch, best.channels, best.lat, nil
}

// derive mixes a run seed with two indices (SplitMix64 finalizer).
func derive(seed, a, b uint64) uint64 {
	z := seed ^ (a+1)*0x9e3779b97f4a7c15 ^ (b+1)*0xbf58476d1ce4e5b9
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

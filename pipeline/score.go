package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"nas/space"
	"nas/supernet"
)

// ScoreTask scores candidates of a search with the weights they inherit
// from a supernet (supernet.Evaluator: batch norm recalibrated on the
// images each candidate's seed draws, accuracy on the supernet's
// validation split). A worker's score equals the coordinator's, bit for
// bit, for the same supernet, data, settings and seed.
type ScoreTask struct {
	// Supernet is the supernet's folder; Identity the identity of its
	// weights (supernet.Supernet.Identity): a folder whose weights have
	// another is refused.
	Supernet string `json:"supernet"`
	Identity string `json:"identity"`
	// Space is the name of the supernet's space, for the message that
	// refuses a supernet of another.
	Space string  `json:"space"`
	Data  Dataset `json:"data"`
	// Candidates are scored in order, each independently of the others.
	Candidates []Candidate  `json:"candidates"`
	Eval       ScoreOptions `json:"eval"`
}

// Candidate is one network to score and the seed of its recalibration
// images (the trial's seed).
type Candidate struct {
	Arch string `json:"arch"`
	Seed uint64 `json:"seed"`
}

// ScoreOptions are an evaluator's options with every default resolved
// (supernet.Evaluator.Options), and the number of validation images they
// give on the coordinator, which a worker's evaluator must have too.
type ScoreOptions struct {
	CalibrationImages int     `json:"calibration_images"`
	EvalFraction      float64 `json:"eval_fraction"`
	Batch             int     `json:"batch"`
	ValidationImages  int     `json:"validation_images"`
}

// ScoreOptionsOf are ev's options as a ScoreTask carries them.
func ScoreOptionsOf(ev *supernet.Evaluator) ScoreOptions {
	o := ev.Options()
	return ScoreOptions{CalibrationImages: o.CalibrationImages, EvalFraction: o.EvalFraction, Batch: o.BatchSize, ValidationImages: ev.ValidationImages()}
}

// Score is one candidate's score: its validation accuracy and loss, or
// why it could not be scored (a network outside the supernet's space).
type Score struct {
	Acc   float64 `json:"val_acc"`
	Loss  float64 `json:"val_loss"`
	Error string  `json:"error,omitempty"`
}

// ScoreResult holds a ScoreTask's scores, one per candidate, in order.
type ScoreResult struct {
	Scores []Score `json:"scores"`
}

// Scorer scores candidates on supernets (ScoreTasks), keeping the
// evaluators it builds, one per supernet folder, data and options, for
// the next task. It is safe for concurrent use; tasks on one evaluator
// run one at a time. The zero value is ready to use.
type Scorer struct {
	mu    sync.Mutex
	evals map[scorerKey]*lockedEvaluator
}

type scorerKey struct {
	dir, identity, space string
	data                 Dataset
	opts                 ScoreOptions
}

// lockedEvaluator is a supernet.Evaluator for one caller at a time.
type lockedEvaluator struct {
	mu sync.Mutex
	ev *supernet.Evaluator
}

// maxScorerEvaluators bounds the evaluators a Scorer keeps: each holds a
// supernet's weights.
const maxScorerEvaluators = 2

// Score does task, opening its dataset through data (nil: a fresh
// Datasets). A candidate that cannot be scored gets its Error; a supernet
// or data other than the task's fails the whole task.
func (s *Scorer) Score(ctx context.Context, task ScoreTask, data *Datasets) (ScoreResult, error) {
	if data == nil {
		data = &Datasets{}
	}
	le, err := s.evaluator(task, data)
	if err != nil {
		return ScoreResult{}, err
	}
	le.mu.Lock()
	defer le.mu.Unlock()
	res := ScoreResult{Scores: make([]Score, len(task.Candidates))}
	for i, c := range task.Candidates {
		a, err := space.ParseArch(c.Arch)
		if err == nil {
			var ev supernet.Evaluation
			ev, err = le.ev.Evaluate(ctx, a, c.Seed)
			res.Scores[i] = Score{Acc: ev.Acc, Loss: ev.Loss}
		}
		if ctx.Err() != nil {
			return ScoreResult{}, ctx.Err()
		}
		if err != nil {
			res.Scores[i] = Score{Error: err.Error()}
		}
	}
	return res, nil
}

// evaluator returns the evaluator of task, building it on first use.
func (s *Scorer) evaluator(task ScoreTask, data *Datasets) (*lockedEvaluator, error) {
	key := scorerKey{dir: task.Supernet, identity: task.Identity, space: task.Space, data: task.Data, opts: task.Eval}
	s.mu.Lock()
	defer s.mu.Unlock()
	if le, ok := s.evals[key]; ok {
		return le, nil
	}
	sn, err := supernet.Open(task.Supernet)
	if err != nil {
		return nil, err
	}
	if sn.Space.Name != task.Space {
		return nil, fmt.Errorf("%w: the task scores networks of space %s, %s holds a supernet of space %s", ErrSupernetMismatch, task.Space, task.Supernet, sn.Space.Name)
	}
	if sn.Identity != task.Identity {
		return nil, fmt.Errorf("%w: the task scores with the supernet whose weights have identity %.12s, %s holds %.12s", ErrSupernetMismatch, task.Identity, task.Supernet, sn.Identity)
	}
	sets, err := data.Open(task.Data)
	if err != nil {
		return nil, err
	}
	if err := sn.CheckData(task.Data.Name, sets); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSupernetMismatch, err)
	}
	o := task.Eval
	ev, err := supernet.NewEvaluator(sn, task.Data.Name, sets, supernet.EvalOptions{CalibrationImages: o.CalibrationImages, EvalFraction: o.EvalFraction, BatchSize: o.Batch})
	if err != nil {
		return nil, err
	}
	if got := ScoreOptionsOf(ev); got != o {
		return nil, fmt.Errorf("%w: the task's evaluation settings %+v give %+v here", ErrSupernetMismatch, o, got)
	}
	if s.evals == nil || len(s.evals) >= maxScorerEvaluators {
		s.evals = map[scorerKey]*lockedEvaluator{}
	}
	le := &lockedEvaluator{ev: ev}
	s.evals[key] = le
	return le, nil
}

// SupernetScorer scores a search's candidates elsewhere (cluster.Remote):
// SubmitScore queues task and returns the function that waits for its
// result, so that a search with Parallel above one queues its candidates
// in proposal order.
type SupernetScorer interface {
	SubmitScore(ctx context.Context, task ScoreTask) (wait func() (ScoreResult, error), err error)
}

// supernetEvaluator is search's Evaluator with a supernet: ev in this
// process, one candidate at a time, or, with remote, one ScoreTask per
// candidate. An evaluation in this process holds gate shared, and a
// latency prediction that measures blocks into the table holds it
// exclusively (searchLatency), so that no block is timed beside an
// evaluation.
type supernetEvaluator struct {
	mu     sync.Mutex
	gate   *sync.RWMutex
	ev     *supernet.Evaluator
	remote SupernetScorer
	task   ScoreTask // all but the candidates
}

func (s *supernetEvaluator) Accuracy(ctx context.Context, a *space.Arch, seed uint64) (float64, error) {
	wait, err := s.Submit(ctx, a, seed)
	if err != nil {
		return 0, err
	}
	return wait()
}

// Submit queues the candidate's scoring on the remote scorer; in this
// process the returned function scores it.
func (s *supernetEvaluator) Submit(ctx context.Context, a *space.Arch, seed uint64) (func() (float64, error), error) {
	checkpoint(ctx, "trial")
	if s.remote == nil {
		return func() (float64, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.gate != nil {
				s.gate.RLock()
				defer s.gate.RUnlock()
			}
			return s.ev.Accuracy(ctx, a, seed)
		}, nil
	}
	task := s.task
	task.Candidates = []Candidate{{Arch: a.String(), Seed: seed}}
	wait, err := s.remote.SubmitScore(ctx, task)
	if err != nil {
		return nil, err
	}
	return func() (float64, error) {
		res, err := wait()
		switch {
		case err != nil:
			return 0, err
		case len(res.Scores) != 1:
			return 0, fmt.Errorf("the score of %s: %d scores for one candidate", a, len(res.Scores))
		case res.Scores[0].Error != "":
			return 0, errors.New(res.Scores[0].Error)
		}
		return res.Scores[0].Acc, nil
	}, nil
}

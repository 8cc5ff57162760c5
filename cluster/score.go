package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"nas/pipeline"
	"nas/supernet"
)

// KindScore is a pipeline.ScoreTask: candidates of a search scored with
// the weights they inherit from a supernet.
const KindScore = "score"

// Limits of a score task, checked before its candidates are parsed. A
// task is at most MaxTaskBytes, so its decoding allocates at most that
// much.
const (
	// MaxScoreCandidates bounds the candidates of one score task.
	MaxScoreCandidates = 64
	// maxArchBytes bounds a candidate's arch string (a small28 network's
	// is about 500 bytes).
	maxArchBytes = 16 << 10
	// maxEvalImages bounds the calibration and validation images.
	maxEvalImages = 10_000_000
	// maxEvalBatch bounds the batch of recalibration and evaluation.
	maxEvalBatch = 4096
)

// supernetBlobs names a supernet by content: its folder's two files as
// blobs, and the identity of its weights (supernet.Supernet.Identity),
// which the worker checks once it has opened them.
type supernetBlobs struct {
	Manifest string `json:"manifest"` // blob hash of supernet.json
	Weights  string `json:"weights"`  // blob hash of supernet.safetensors
	Identity string `json:"identity"`
	Space    string `json:"space"` // the space's name
}

// scorePayload is a pipeline.ScoreTask on the wire: the supernet as
// blobs instead of a folder.
type scorePayload struct {
	Supernet   supernetBlobs         `json:"supernet"`
	Data       pipeline.Dataset      `json:"data"`
	Candidates []pipeline.Candidate  `json:"candidates"`
	Eval       pipeline.ScoreOptions `json:"eval"`
}

// decodeScorePayload reads a score task's payload, refusing one that is
// not exactly its JSON object or has a field out of range.
func decodeScorePayload(b []byte) (*scorePayload, error) {
	var p scorePayload
	if err := decodeStrict(b, MaxTaskBytes, "score payload", &p); err != nil {
		return nil, err
	}
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("%w: score payload: %v", ErrMalformed, err)
	}
	return &p, nil
}

func (p *scorePayload) check() error {
	s, e := p.Supernet, p.Eval
	switch {
	case !hexDigest.MatchString(s.Manifest):
		return fmt.Errorf("supernet manifest %q: want a blob hash, 64 hex digits", clip(s.Manifest))
	case !hexDigest.MatchString(s.Weights):
		return fmt.Errorf("supernet weights %q: want a blob hash, 64 hex digits", clip(s.Weights))
	case !hexDigest.MatchString(s.Identity):
		return fmt.Errorf("supernet identity %q: want 64 hex digits", clip(s.Identity))
	case s.Space == "" || len(s.Space) > 256:
		return fmt.Errorf("supernet space %q: want 1 to 256 bytes", clip(s.Space))
	case p.Data.Name == "" || len(p.Data.Name) > 64:
		return fmt.Errorf("dataset name %q: want 1 to 64 bytes", clip(p.Data.Name))
	case len(p.Candidates) < 1 || len(p.Candidates) > MaxScoreCandidates:
		return fmt.Errorf("%d candidates: want 1 to %d", len(p.Candidates), MaxScoreCandidates)
	case e.CalibrationImages < 2 || e.CalibrationImages > maxEvalImages:
		return fmt.Errorf("calibration_images %d: want 2 to %d", e.CalibrationImages, maxEvalImages)
	case !(e.EvalFraction >= 0 && e.EvalFraction <= 1) || math.IsNaN(e.EvalFraction):
		return fmt.Errorf("eval_fraction %g: want 0 to 1", e.EvalFraction)
	case e.Batch < 1 || e.Batch > maxEvalBatch:
		return fmt.Errorf("batch %d: want 1 to %d", e.Batch, maxEvalBatch)
	case e.ValidationImages < 1 || e.ValidationImages > maxEvalImages:
		return fmt.Errorf("validation_images %d: want 1 to %d", e.ValidationImages, maxEvalImages)
	}
	for i, c := range p.Candidates {
		if c.Arch == "" || len(c.Arch) > maxArchBytes {
			return fmt.Errorf("candidate %d: arch of %d bytes, want 1 to %d", i, len(c.Arch), maxArchBytes)
		}
	}
	return nil
}

// scoreTask is the function of KindScore on a worker: it fetches the
// supernet into its cache (once per supernet while the cache keeps it),
// then scores the candidates on the worker's copy of the data.
func scoreTask(data *pipeline.Datasets, local pipeline.Dataset, cache *supernetCache, scorer *pipeline.Scorer) TaskFunc {
	return func(ctx context.Context, payload json.RawMessage, env Env) (json.RawMessage, error) {
		p, err := decodeScorePayload(payload)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrRefused, err)
		}
		if err := sameDataset(p.Data, local); err != nil {
			return nil, err
		}
		dir, release, err := cache.folder(ctx, env.Blobs, p.Supernet, env.logger())
		if err != nil {
			return nil, err
		}
		defer release()
		task := pipeline.ScoreTask{Supernet: dir, Identity: p.Supernet.Identity, Space: p.Supernet.Space, Data: local,
			Candidates: p.Candidates, Eval: p.Eval}
		res, err := scorer.Score(ctx, task, data)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
				// The supernet, the data or the settings: another
				// delivery would find the same.
				return nil, fmt.Errorf("%w: supernet %.12s: %v", ErrRefused, p.Supernet.Weights, err)
			}
			return nil, err
		}
		return json.Marshal(res)
	}
}

// SubmitScore publishes the task of Score(ctx, task) and returns a
// function that waits for its result (pipeline.SupernetScorer). The
// supernet's files go to the object store once per folder and identity.
func (r *Remote) SubmitScore(ctx context.Context, task pipeline.ScoreTask) (func() (pipeline.ScoreResult, error), error) {
	p, err := r.scorePayload(ctx, task)
	if err != nil {
		return nil, err
	}
	t, err := r.task(KindScore, task.Data, p)
	if err != nil {
		return nil, err
	}
	if err := r.patiently(ctx, func() error { _, err := r.Coordinator.Submit(ctx, []Task{t}); return err }); err != nil {
		return nil, err
	}
	return func() (pipeline.ScoreResult, error) {
		var out pipeline.ScoreResult
		if err := r.do(ctx, KindScore, task.Data, p, &out); err != nil {
			return out, err
		}
		if len(out.Scores) != len(task.Candidates) {
			return out, fmt.Errorf("%w: %d scores for %d candidates", ErrMalformed, len(out.Scores), len(task.Candidates))
		}
		return out, nil
	}, nil
}

// Score does task on a worker.
func (r *Remote) Score(ctx context.Context, task pipeline.ScoreTask) (pipeline.ScoreResult, error) {
	wait, err := r.SubmitScore(ctx, task)
	if err != nil {
		return pipeline.ScoreResult{}, err
	}
	return wait()
}

// scorePayload is task on the wire, its supernet's files put as blobs
// (once: Remote keeps their hashes by folder and identity).
func (r *Remote) scorePayload(ctx context.Context, task pipeline.ScoreTask) (scorePayload, error) {
	key := task.Supernet + "\x00" + task.Identity
	r.mu.Lock()
	sb, ok := r.supernets[key]
	r.mu.Unlock()
	if !ok {
		sb = supernetBlobs{Identity: task.Identity}
		for _, f := range []struct {
			name string
			hash *string
		}{{supernet.ManifestFile, &sb.Manifest}, {supernet.CheckpointFile, &sb.Weights}} {
			b, err := os.ReadFile(filepath.Join(task.Supernet, f.name))
			if err != nil {
				return scorePayload{}, fmt.Errorf("supernet: %w", err)
			}
			err = r.patiently(ctx, func() (err error) { *f.hash, err = r.Coordinator.q.blobs.Put(ctx, b); return err })
			if err != nil {
				return scorePayload{}, fmt.Errorf("supernet %s: %w", f.name, err)
			}
		}
		r.mu.Lock()
		if r.supernets == nil {
			r.supernets = map[string]supernetBlobs{}
		}
		r.supernets[key] = sb
		r.mu.Unlock()
	}
	sb.Space = task.Space
	p := scorePayload{Supernet: sb, Data: task.Data, Candidates: task.Candidates, Eval: task.Eval}
	if err := p.check(); err != nil {
		return scorePayload{}, fmt.Errorf("%w: score task: %v", ErrMalformed, err)
	}
	return p, nil
}

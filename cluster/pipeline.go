package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"nas/internal/atomicfile"
	"nas/pipeline"
	"nas/trainer"
)

// Kinds of the pipeline's tasks.
const (
	// KindTrain is a pipeline.TrainTask: a search trial's proxy training,
	// or the final training of a candidate or a baseline.
	KindTrain = "train"
	// KindFineTune is a pipeline.FineTuneTask: one NetAdapt proposal's
	// short fine-tune, or the measurement of a network's accuracy.
	KindFineTune = "fine-tune"
)

// KindScore (score.go) is the third kind of the pipeline's tasks.

// trainPayload is a TrainTask on the wire. Its weights file is a path on
// the coordinator; the worker returns the weights as a blob instead. The
// weights it starts from, when it has some, travel as a blob too (Init,
// its hash; the task's Init is nil).
type trainPayload struct {
	Task        pipeline.TrainTask `json:"task"`
	WantWeights bool               `json:"want_weights,omitempty"`
	Init        string             `json:"init,omitempty"`
}

type trainOutput struct {
	Result  pipeline.TrainResult `json:"result"`
	Weights string               `json:"weights,omitempty"` // blob hash
}

// fineTunePayload is a FineTuneTask on the wire, its weights a blob.
type fineTunePayload struct {
	Task    pipeline.FineTuneTask `json:"task"` // without Weights
	Weights string                `json:"weights"`
}

type fineTuneOutput struct {
	ValAcc  float64 `json:"val_acc"`
	Weights string  `json:"weights,omitempty"` // blob hash; "" when no step was taken
}

// PipelineTasks is the Registry of a worker that runs the pipeline's tasks
// on its own copy of the data: every task's dataset becomes local (the
// worker has checked the task's DatasetID against local's files before),
// opened through data. Threads is the number of shards a training batch
// is split over when the task leaves it to the worker (0). The supernets
// of score tasks are kept in DefaultSupernetCache, the
// DefaultSupernetCacheKeep used last.
func PipelineTasks(data *pipeline.Datasets, local pipeline.Dataset, threads int) Registry {
	return Registry{
		KindScore: scoreTask(data, local, &supernetCache{root: DefaultSupernetCache()}, &pipeline.Scorer{}),
		KindTrain: func(ctx context.Context, payload json.RawMessage, env Env) (json.RawMessage, error) {
			var p trainPayload
			if err := decodePayload(payload, &p); err != nil {
				return nil, err
			}
			if p.Task.Weights != "" {
				return nil, fmt.Errorf("%w: a train task names a weights file (%s); it asks for a blob with want_weights", ErrRefused, p.Task.Weights)
			}
			if err := sameDataset(p.Task.Data, local); err != nil {
				return nil, err
			}
			p.Task.Data = local
			if p.Init != "" {
				var err error
				if p.Task.Init, err = env.Blobs.Get(ctx, p.Init); err != nil {
					return nil, err
				}
			}
			if p.Task.Threads == 0 {
				p.Task.Threads = threads
			}
			var out trainOutput
			if p.WantWeights {
				dir, err := os.MkdirTemp("", "nas-worker-")
				if err != nil {
					return nil, err
				}
				defer os.RemoveAll(dir)
				p.Task.Weights = filepath.Join(dir, "weights.safetensors")
			}
			res, err := pipeline.Train(ctx, p.Task, data)
			if err != nil {
				return nil, err
			}
			if p.WantWeights {
				b, err := os.ReadFile(p.Task.Weights)
				if err != nil {
					return nil, err
				}
				if out.Weights, err = env.Blobs.Put(ctx, b); err != nil {
					return nil, err
				}
				res.Weights = ""
			}
			out.Result = res
			return json.Marshal(out)
		},
		KindFineTune: func(ctx context.Context, payload json.RawMessage, env Env) (json.RawMessage, error) {
			var p fineTunePayload
			if err := decodePayload(payload, &p); err != nil {
				return nil, err
			}
			if err := sameDataset(p.Task.Data.Data, local); err != nil {
				return nil, err
			}
			w, err := env.Blobs.Get(ctx, p.Weights)
			if err != nil {
				return nil, err
			}
			p.Task.Data.Data, p.Task.Weights = local, w
			if p.Task.Threads == 0 {
				p.Task.Threads = threads
			}
			res, err := pipeline.FineTune(ctx, p.Task, data)
			if err != nil {
				return nil, err
			}
			out := fineTuneOutput{ValAcc: res.ValAcc}
			if res.Weights != nil {
				if out.Weights, err = env.Blobs.Put(ctx, res.Weights); err != nil {
					return nil, err
				}
			}
			return json.Marshal(out)
		},
	}
}

func decodePayload(payload json.RawMessage, v any) error {
	if err := decodeStrict(payload, MaxTaskBytes, "payload", v); err != nil {
		return fmt.Errorf("%w: %v", ErrRefused, err)
	}
	return nil
}

// sameDataset refuses a task whose dataset has another name than the
// worker's (the files themselves are compared through DatasetID).
func sameDataset(want, have pipeline.Dataset) error {
	if want.Name != have.Name {
		return fmt.Errorf("%w: the task trains on dataset %s, this worker serves %s", ErrRefused, want.Name, have.Name)
	}
	return nil
}

// DatasetDir is the folder a pipeline dataset is read from: its Dir, or
// the name's install folder.
func DatasetDir(d pipeline.Dataset) (string, error) {
	return trainer.DatasetDir(d.Name, d.Dir)
}

// Remote does the pipeline's tasks on workers through a Coordinator: it
// is a pipeline.Trainer (search trials, final trainings), a
// pipeline.SupernetScorer (a supernet search's candidates) and a
// pipeline.Tuner (NetAdapt's fine-tunes). Calls may run at once.
//
// A task's ID is the hash of its kind and payload, so the same task asked
// again (a resumed run) finds the result it had and runs once. Each task
// carries the identity of the dataset it names, hashed here from this
// machine's files once per dataset; workers with other files refuse it.
type Remote struct {
	Coordinator *Coordinator
	// Run groups the tasks (a results-store run ID, or a NetAdapt output
	// folder's RunName); 1 to 64 letters, digits, '-' or '_'. It may be
	// set after the Remote is handed over, before the first task.
	Run string

	mu        sync.Mutex
	datasets  map[pipeline.Dataset]DatasetID
	supernets map[string]supernetBlobs // by folder and identity
}

// Remote is the search's trainer and scorer, queueing its trials in
// order, and NetAdapt's tuner.
var (
	_ pipeline.AsyncTrainer   = (*Remote)(nil)
	_ pipeline.SupernetScorer = (*Remote)(nil)
	_ pipeline.Tuner          = (*Remote)(nil)
)

// RunName is a run name for an output folder: the same folder gives the
// same name, so a resumed NetAdapt run finds its results.
func RunName(prefix, folder string) string {
	abs, err := filepath.Abs(folder)
	if err != nil {
		abs = folder
	}
	sum := sha256.Sum256([]byte(abs))
	return prefix + "-" + hex.EncodeToString(sum[:8])
}

// dataset is the identity of d on this machine.
func (r *Remote) dataset(d pipeline.Dataset) (DatasetID, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id, ok := r.datasets[d]; ok {
		return id, nil
	}
	dir, err := DatasetDir(d)
	if err != nil {
		return DatasetID{}, err
	}
	id, err := HashDataset(d.Name, dir)
	if err != nil {
		return DatasetID{}, err
	}
	if r.datasets == nil {
		r.datasets = map[pipeline.Dataset]DatasetID{}
	}
	r.datasets[d] = id
	return id, nil
}

// Train does task on a worker. The weights, when task asks for them,
// come back as a blob and are written to task.Weights here.
func (r *Remote) Train(ctx context.Context, task pipeline.TrainTask) (pipeline.TrainResult, error) {
	path := task.Weights
	task.Weights = ""
	var init string
	if task.Init != nil {
		err := r.patiently(ctx, func() (err error) { init, err = r.Coordinator.q.blobs.Put(ctx, task.Init); return err })
		if err != nil {
			return pipeline.TrainResult{}, err
		}
		task.Init = nil
	}
	var out trainOutput
	if err := r.do(ctx, KindTrain, task.Data, trainPayload{Task: task, WantWeights: path != "", Init: init}, &out); err != nil {
		return pipeline.TrainResult{}, err
	}
	res := out.Result
	if path != "" {
		var b []byte
		err := r.patiently(ctx, func() (err error) { b, err = r.Coordinator.q.blobs.Get(ctx, out.Weights); return err })
		if err != nil {
			return res, fmt.Errorf("weights of %s: %w", task.Arch, err)
		}
		if err := atomicfile.WriteBytes(path, b); err != nil {
			return res, err
		}
		res.Weights = path
	}
	return res, nil
}

// FineTune does task on a worker; the weights travel as blobs both ways.
func (r *Remote) FineTune(ctx context.Context, task pipeline.FineTuneTask) (pipeline.FineTuneResult, error) {
	var hash string
	err := r.patiently(ctx, func() (err error) { hash, err = r.Coordinator.q.blobs.Put(ctx, task.Weights); return err })
	if err != nil {
		return pipeline.FineTuneResult{}, err
	}
	task.Weights = nil
	var out fineTuneOutput
	if err := r.do(ctx, KindFineTune, task.Data.Data, fineTunePayload{Task: task, Weights: hash}, &out); err != nil {
		return pipeline.FineTuneResult{}, err
	}
	res := pipeline.FineTuneResult{ValAcc: out.ValAcc}
	if out.Weights != "" {
		if err := r.patiently(ctx, func() (err error) { res.Weights, err = r.Coordinator.q.blobs.Get(ctx, out.Weights); return err }); err != nil {
			return res, err
		}
	}
	return res, nil
}

// SubmitTrain publishes the task of Train(ctx, task) and returns a
// function that waits for its result (Train itself, which finds the task
// queued and publishes nothing): a caller that submits several in its own
// order has them queued in that order (pipeline.AsyncTrainer).
func (r *Remote) SubmitTrain(ctx context.Context, task pipeline.TrainTask) (func() (pipeline.TrainResult, error), error) {
	p := task
	p.Weights = ""
	t, err := r.task(KindTrain, task.Data, trainPayload{Task: p, WantWeights: task.Weights != ""})
	if err != nil {
		return nil, err
	}
	if err := r.patiently(ctx, func() error { _, err := r.Coordinator.Submit(ctx, []Task{t}); return err }); err != nil {
		return nil, err
	}
	return func() (pipeline.TrainResult, error) { return r.Train(ctx, task) }, nil
}

// task is the task of kind on data with payload: its ID is the hash of
// the kind and the payload.
func (r *Remote) task(kind string, data pipeline.Dataset, payload any) (Task, error) {
	ds, err := r.dataset(data)
	if err != nil {
		return Task{}, err
	}
	p, err := json.Marshal(payload)
	if err != nil {
		return Task{}, err
	}
	sum := sha256.Sum256(append([]byte(kind+"\n"), p...))
	return Task{Run: r.Run, ID: hex.EncodeToString(sum[:16]), Kind: kind, Dataset: &ds, Payload: p}, nil
}

// do runs one task of kind on data with payload and decodes its output
// into out.
func (r *Remote) do(ctx context.Context, kind string, data pipeline.Dataset, payload, out any) error {
	t, err := r.task(kind, data, payload)
	if err != nil {
		return err
	}
	var res Result
	if err := r.patiently(ctx, func() (err error) { res, err = r.Coordinator.Do(ctx, t); return err }); err != nil {
		return err
	}
	if res.Status != StatusDone {
		return fmt.Errorf("%w on worker %s: %s", ErrTaskFailed, res.Worker, res.Error)
	}
	if err := json.Unmarshal(res.Output, out); err != nil {
		return fmt.Errorf("%w: output of %s task %s: %v", ErrMalformed, kind, t.ID, err)
	}
	return nil
}

// patiently runs f until it succeeds, fails for a reason another try
// would not change (a malformed task, a blob that is corrupt or gone), or
// ctx ends: a server that is away pauses a run instead of failing its
// trials.
func (r *Remote) patiently(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil || ctx.Err() != nil || errors.Is(err, ErrMalformed) || errors.Is(err, ErrBlobCorrupt) || errors.Is(err, ErrBlobNotFound) {
			return err
		}
		r.Coordinator.log.Warn("NATS request failed; trying again", "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
}

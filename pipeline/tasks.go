package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"

	"nas/blocks"
	"nas/blocks/nn"
	"nas/internal/safetensors"
	"nas/search"
	"nas/space"
	"nas/trainer"
)

// The unit of work of a trial: each task is a struct of serializable
// inputs (JSON), each result too, and the functions that do them (Train,
// FineTune) read nothing else than the task and the dataset it names, so
// that a worker process can run them for a coordinator.

// Dataset names a dataset as trainer.OpenDataset opens it.
type Dataset struct {
	Name string `json:"name"`          // fashion-mnist, mnist, cifar10 or folder
	Dir  string `json:"dir,omitempty"` // "": the dataset's install folder
}

// Datasets opens the datasets tasks name, each once, and keeps the splits
// derived from them; it is safe for concurrent use. The zero value is
// ready to use.
type Datasets struct {
	mu     sync.Mutex
	sets   map[Dataset]*trainer.Sets
	splits map[TuneData]*tuneSplit
}

// Open returns the dataset d, opening it on first use.
func (ds *Datasets) Open(d Dataset) (*trainer.Sets, error) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if s, ok := ds.sets[d]; ok {
		return s, nil
	}
	s, err := trainer.OpenDataset(d.Name, d.Dir)
	if err != nil {
		return nil, err
	}
	if ds.sets == nil {
		ds.sets = map[Dataset]*trainer.Sets{}
	}
	ds.sets[d] = s
	return s, nil
}

// Put makes sets the dataset d (a dataset built in memory, or opened
// already).
func (ds *Datasets) Put(d Dataset, sets *trainer.Sets) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if ds.sets == nil {
		ds.sets = map[Dataset]*trainer.Sets{}
	}
	ds.sets[d] = sets
}

// TrainTask trains one network under a recipe: a search trial's proxy
// training, or the final training of a searched network or a baseline.
type TrainTask struct {
	Arch   string         `json:"arch"` // arch string (space.ParseArch)
	Name   string         `json:"name,omitempty"`
	Data   Dataset        `json:"data"`
	Recipe trainer.Config `json:"recipe"` // its Seed and SplitSeed are the task's seeds
	// Threads is the number of shards a batch is split over (0: all
	// cores); results depend on it.
	Threads int `json:"threads,omitempty"`
	// Weights, when set, is the file the trained weights are written to
	// (safetensors, with the arch string in its metadata).
	Weights string `json:"weights,omitempty"`
	// Init, when set, holds the weights training starts from
	// (EncodeWeights: a searched network's weights inherited from a
	// supernet) instead of weights drawn from the recipe's seed.
	Init []byte `json:"init,omitempty"`
}

// TrainResult is what a TrainTask measured.
type TrainResult struct {
	ValAcc      float64 `json:"val_acc"`
	TestAcc     float64 `json:"test_acc,omitempty"`
	Tested      bool    `json:"tested,omitempty"`
	Steps       int     `json:"steps"`
	WallSeconds float64 `json:"wall_s"`
	Weights     string  `json:"weights,omitempty"`
}

// Train does a TrainTask; data opens its dataset (nil: a fresh Datasets).
func Train(ctx context.Context, task TrainTask, data *Datasets) (TrainResult, error) {
	return train(ctx, task, data, nil)
}

// train is Train, calling onEpoch (when set) after each epoch.
func train(ctx context.Context, task TrainTask, data *Datasets, onEpoch func(trainer.EpochReport)) (TrainResult, error) {
	if data == nil {
		data = &Datasets{}
	}
	a, err := space.ParseArch(task.Arch)
	if err != nil {
		return TrainResult{}, err
	}
	a.Name = task.Name
	sets, err := data.Open(task.Data)
	if err != nil {
		return TrainResult{}, err
	}
	cfg := task.Recipe
	cfg.Threads = task.Threads
	cfg.CheckpointDir, cfg.Resume, cfg.OnStep, cfg.OnEpoch = "", false, nil, onEpoch
	var res *trainer.Result
	if task.Init != nil {
		w, err := DecodeWeights(task.Init)
		if err != nil {
			return TrainResult{}, fmt.Errorf("the initial weights of %s: %w", a.Name, err)
		}
		net, err := withWeights(a, w)
		if err != nil {
			return TrainResult{}, fmt.Errorf("the initial weights of %s: %w", a.Name, err)
		}
		res, err = trainer.TrainNetwork(ctx, cfg, net, sets)
	} else {
		res, err = trainer.Train(ctx, cfg, a, sets)
	}
	if err != nil {
		return TrainResult{}, err
	}
	r := TrainResult{ValAcc: res.ValAcc, TestAcc: res.TestAcc, Tested: res.Tested, Steps: res.Steps, WallSeconds: res.WallTime.Seconds()}
	if task.Weights != "" {
		if err := trainer.SaveWeights(task.Weights, res.Network, map[string]string{"arch": a.String()}); err != nil {
			return r, err
		}
		r.Weights = task.Weights
	}
	return r, nil
}

// TuneData is the data of NetAdapt's fine-tunes and accuracy: the
// validation split of the training run that made the weights (its
// ValFraction and seed ValSeed), fine-tunes drawing Fraction of the rest
// (seeded per fine-tune), accuracy measured on EvalFraction of the
// validation split (seeded with EvalSeed, the same all run).
type TuneData struct {
	Data         Dataset `json:"data"`
	ValFraction  float64 `json:"val_fraction"`
	ValSeed      uint64  `json:"val_seed"`
	EvalFraction float64 `json:"eval_fraction"`
	EvalSeed     uint64  `json:"eval_seed"`
	Fraction     float64 `json:"fraction"`
	Batch        int     `json:"batch"`
}

// FineTuneTask fine-tunes a network from given weights and measures its
// validation accuracy: one NetAdapt proposal's short fine-tune (Steps 0
// only measures).
type FineTuneTask struct {
	Arch    string   `json:"arch"`
	Weights []byte   `json:"weights"` // safetensors (EncodeWeights)
	Steps   int      `json:"steps"`
	Seed    uint64   `json:"seed"`
	LR      float64  `json:"lr"` // peak, cosine to 0, no warm-up
	Data    TuneData `json:"data"`
	Threads int      `json:"threads,omitempty"` // as TrainTask's
}

// FineTuneResult is the network's weights after the fine-tune (nil when
// it took no step) and their validation accuracy.
type FineTuneResult struct {
	Weights []byte  `json:"weights,omitempty"`
	ValAcc  float64 `json:"val_acc"`
}

// FineTune does a FineTuneTask; data opens its dataset (nil: a fresh
// Datasets).
func FineTune(ctx context.Context, task FineTuneTask, data *Datasets) (FineTuneResult, error) {
	if data == nil {
		data = &Datasets{}
	}
	a, err := space.ParseArch(task.Arch)
	if err != nil {
		return FineTuneResult{}, err
	}
	w, err := DecodeWeights(task.Weights)
	if err != nil {
		return FineTuneResult{}, err
	}
	net, err := withWeights(a, w)
	if err != nil {
		return FineTuneResult{}, err
	}
	sp, err := data.tuneSplit(task.Data)
	if err != nil {
		return FineTuneResult{}, err
	}
	var res FineTuneResult
	if task.Steps > 0 {
		cfg := sp.cfg
		cfg.Steps, cfg.Seed, cfg.LR, cfg.Threads = task.Steps, task.Seed, task.LR, task.Threads
		if _, err := trainer.TrainNetwork(ctx, cfg, net, sp.fit); err != nil {
			return res, err
		}
		if res.Weights, err = EncodeWeights(net.State(), nil); err != nil {
			return res, err
		}
	}
	m, err := trainer.Evaluate(ctx, net, sp.val, sp.cfg.EvalBatchSize)
	res.ValAcc = m.Acc
	return res, err
}

// fineTuneHoldout is the part of the training data each fine-tune holds
// out for the trainer's own validation (which NetAdapt does not use): as
// little as leaves every class a sample.
const fineTuneHoldout = 0.02

// tuneSplit is TuneData made concrete.
type tuneSplit struct {
	cfg           trainer.Config // the recipe of every fine-tune, but for Steps, Seed and LR
	fit           *trainer.Sets  // Train: the training run's training part
	val           *trainer.Dataset
	stepsPerEpoch int // of a fine-tune
}

func (ds *Datasets) tuneSplit(td TuneData) (*tuneSplit, error) {
	ds.mu.Lock()
	sp, ok := ds.splits[td]
	ds.mu.Unlock()
	if ok {
		return sp, nil
	}
	sets, err := ds.Open(td.Data)
	if err != nil {
		return nil, err
	}
	split := trainer.DefaultConfig()
	split.Seed, split.ValFraction = td.ValSeed, td.ValFraction
	fit, val, err := split.Split(sets.Train)
	if err != nil {
		return nil, settingErr("val_fraction", td.ValFraction, "%v", err)
	}
	if td.EvalFraction < 1 {
		if val, err = trainer.Subset(val, td.EvalFraction, true, rand.New(rand.NewPCG(td.EvalSeed, 0x6576616c))); err != nil {
			return nil, settingErr("eval_fraction", td.EvalFraction, "%v", err)
		}
	}
	holdout := fineTuneHoldout
	for _, n := range fit.ClassCounts() {
		if n > 0 {
			holdout = max(holdout, 0.6/float64(n))
		}
	}
	cfg := trainer.DefaultConfig()
	cfg.BatchSize, cfg.MinLR, cfg.WarmupEpochs = td.Batch, 0, 0
	cfg.Augment = trainer.DefaultAugmentation(td.Data.Name)
	cfg.ValFraction, cfg.DataFraction = min(holdout, 0.5), td.Fraction
	cfg.EvalBatchSize = 256

	// The size of a fine-tune's training data does not depend on the seed
	// (the draws are stratified), so one draw tells the steps of an epoch.
	rest, _, err := cfg.Split(fit)
	if err != nil {
		return nil, err
	}
	if td.Fraction < 1 {
		if rest, err = trainer.Subset(rest, td.Fraction, true, rand.New(rand.NewPCG(0, 0))); err != nil {
			return nil, err
		}
	}
	sp = &tuneSplit{cfg: cfg, fit: &trainer.Sets{Train: fit}, val: val, stepsPerEpoch: rest.Len() / max(td.Batch, 1)}
	if sp.stepsPerEpoch < 1 {
		return nil, settingErr("batch", td.Batch, "the fine-tuning data has only %d images", rest.Len())
	}
	ds.mu.Lock()
	if ds.splits == nil {
		ds.splits = map[TuneData]*tuneSplit{}
	}
	ds.splits[td] = sp
	ds.mu.Unlock()
	return sp, nil
}

// EncodeWeights writes w as safetensors bytes with meta as metadata.
func EncodeWeights(w search.Weights, meta map[string]string) ([]byte, error) {
	f := &safetensors.File{Tensors: make(map[string]safetensors.Tensor, len(w)), Metadata: meta}
	for name, t := range w {
		f.Tensors[name] = safetensors.Tensor{Shape: slices.Clone(t.Shape), F32: t.Data}
	}
	var buf bytes.Buffer
	if err := safetensors.Encode(&buf, f); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DecodeWeights reads weights written by EncodeWeights.
func DecodeWeights(b []byte) (search.Weights, error) {
	f, err := safetensors.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	w := make(search.Weights, len(f.Tensors))
	for name, t := range f.Tensors {
		if t.F32 == nil {
			return nil, fmt.Errorf("weights: tensor %q is not float32", name)
		}
		w[name] = &nn.Tensor{Shape: t.Shape, Data: t.F32}
	}
	return w, nil
}

// LoadWeights reads the weights of network a from a safetensors file.
func LoadWeights(a *space.Arch, path string) (search.Weights, error) {
	net, err := newNetwork(a)
	if err != nil {
		return nil, err
	}
	if _, err := trainer.LoadWeights(path, net); err != nil {
		return nil, err
	}
	return net.State(), nil
}

// newNetwork builds a; its weights are overwritten by whoever calls it.
func newNetwork(a *space.Arch) (*blocks.Network, error) {
	g, err := a.Graph()
	if err != nil {
		return nil, err
	}
	return blocks.NewNetwork(g, rand.New(rand.NewPCG(0, 0)))
}

// withWeights builds a with the weights w (copied).
func withWeights(a *space.Arch, w search.Weights) (*blocks.Network, error) {
	net, err := newNetwork(a)
	if err != nil {
		return nil, err
	}
	flat := make(map[string][]float32, len(w))
	for k, t := range w {
		flat[k] = t.Data
	}
	if err := net.LoadState(flat); err != nil {
		return nil, fmt.Errorf("network %s: %w", a, err)
	}
	return net, nil
}

package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"nas/blocks"
	"nas/internal/atomicfile"
	"nas/internal/safetensors"
	"nas/space"
)

// A checkpoint is a folder of three files, each written atomically
// (temporary file, fsync, rename), the state file last:
//
//   - WeightsFile: every parameter and buffer of the network in
//     safetensors, named as in the graph, which are the names of the
//     exported PyTorch module's state dict.
//   - ArchFile: the architecture as JSON.
//   - StateFile: what a run needs to continue exactly where it stopped,
//     in safetensors: the optimizer's momentum buffers ("momentum." +
//     parameter name), the sample order of the current epoch
//     ("data.order"), and in the "state" metadata entry a JSON object
//     with the step, the position in the epoch, the random generators'
//     states, the config, the best validation accuracy and the history.
//
// Both safetensors files carry the step in their "step" metadata, so a
// crash between the two writes is caught on resume, not silently mixed.
const (
	WeightsFile = "weights.safetensors"
	ArchFile    = "arch.json"
	StateFile   = "train-state.safetensors"
)

// stateVersion is the version of the state file's layout.
const stateVersion = 1

// ErrNoCheckpoint is a resume from a folder without a checkpoint.
var ErrNoCheckpoint = errors.New("no checkpoint")

// checkpointState is the JSON in the state file's metadata.
type checkpointState struct {
	Version       int          `json:"version"`
	Step          int          `json:"step"`
	TotalSteps    int          `json:"total_steps"`
	StepsPerEpoch int          `json:"steps_per_epoch"`
	EpochSteps    int          `json:"epoch_steps"`
	DataNext      int          `json:"data_next"`
	LossSum       float64      `json:"loss_sum"`
	Correct       int          `json:"correct"`
	Seen          int          `json:"seen"`
	LastLR        float64      `json:"last_lr"`
	BestValAcc    float64      `json:"best_val_acc"`
	BestEpoch     int          `json:"best_epoch"`
	History       []EpochStats `json:"history"`
	DataRNG       []byte       `json:"data_rng"`
	DropoutRNG    []byte       `json:"dropout_rng"`
	Config        Config       `json:"config"`
}

// SaveWeights writes net's parameters and buffers to path in safetensors,
// atomically, with meta as the file's metadata.
func SaveWeights(path string, net *blocks.Network, meta map[string]string) error {
	f := &safetensors.File{Tensors: map[string]safetensors.Tensor{}, Metadata: meta}
	for name, t := range net.State() {
		f.Tensors[name] = safetensors.Tensor{Shape: slices.Clone(t.Shape), F32: t.Data}
	}
	if err := safetensors.Write(path, f); err != nil {
		return fmt.Errorf("write weights: %w", err)
	}
	return nil
}

// LoadWeights reads weights written by SaveWeights (or a PyTorch state
// dict saved as safetensors) into net. Every tensor must be there with the
// network's shape; PyTorch's integer "num_batches_tracked" counters are
// ignored. It returns the file's metadata.
func LoadWeights(path string, net *blocks.Network) (map[string]string, error) {
	f, err := safetensors.Read(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("weights %s: %w (give the %s of a training run's output folder)", path, ErrNotFound, WeightsFile)
		}
		return nil, fmt.Errorf("weights: %w", err)
	}
	state := net.State()
	w := make(map[string][]float32, len(f.Tensors))
	names := make([]string, 0, len(f.Tensors))
	for name := range f.Tensors {
		names = append(names, name)
	}
	slices.Sort(names) // the first misfit in name order, the same every time
	for _, name := range names {
		t := f.Tensors[name]
		if t.F32 == nil {
			if filepath.Ext(name) == ".num_batches_tracked" {
				continue
			}
			return nil, fmt.Errorf("weights %s: tensor %q is not float32", path, name)
		}
		if want, ok := state[name]; ok && !slices.Equal(want.Shape, t.Shape) {
			return nil, fmt.Errorf("weights %s: tensor %q has shape %v, the network needs %v: the weights belong to another architecture (or another --width)", path, name, t.Shape, want.Shape)
		}
		w[name] = t.F32
	}
	if err := net.LoadState(w); err != nil {
		return nil, fmt.Errorf("weights %s: %w", path, err)
	}
	return f.Metadata, nil
}

// save writes the run's checkpoint to cfg.CheckpointDir.
func (r *run) save() error {
	dir := r.cfg.CheckpointDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	step := strconv.Itoa(r.step)
	if err := SaveWeights(filepath.Join(dir, WeightsFile), r.net, map[string]string{"step": step, "format": "nas weights"}); err != nil {
		return fmt.Errorf("checkpoint in %s: %w", dir, err)
	}
	archJSON, err := json.MarshalIndent(r.arch, "", "  ")
	if err != nil {
		return fmt.Errorf("checkpoint in %s: arch: %w", dir, err)
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, ArchFile), append(archJSON, '\n')); err != nil {
		return fmt.Errorf("checkpoint in %s: %w", dir, err)
	}
	st := checkpointState{
		Version: stateVersion, Step: r.step, TotalSteps: r.sched.Total, StepsPerEpoch: r.stepsPerEpoch,
		EpochSteps: r.epochSteps, DataNext: r.batches.next, LossSum: r.lossSum, Correct: r.correct, Seen: r.seen,
		LastLR: r.lastLR, BestValAcc: r.bestValAcc, BestEpoch: r.bestEpoch, History: r.history, Config: r.cfg,
	}
	if st.DataRNG, err = r.dataSrc.MarshalBinary(); err != nil {
		return err
	}
	if st.DropoutRNG, err = r.dropoutSrc.MarshalBinary(); err != nil {
		return err
	}
	stJSON, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("checkpoint in %s: %w", dir, err)
	}
	f := &safetensors.File{Tensors: map[string]safetensors.Tensor{}, Metadata: map[string]string{"step": step, "state": string(stJSON)}}
	for name, v := range r.opt.Velocity() {
		f.Tensors["momentum."+name] = safetensors.Tensor{Shape: []int{len(v)}, F32: v}
	}
	order := make([]int64, len(r.batches.order))
	for i, o := range r.batches.order {
		order[i] = int64(o)
	}
	f.Tensors["data.order"] = safetensors.Tensor{Shape: []int{len(order)}, I64: order}
	if err := safetensors.Write(filepath.Join(dir, StateFile), f); err != nil {
		return fmt.Errorf("checkpoint in %s: %w", dir, err)
	}
	return nil
}

// restore loads the checkpoint in cfg.CheckpointDir into the run.
func (r *run) restore() error {
	dir := r.cfg.CheckpointDir
	statePath := filepath.Join(dir, StateFile)
	f, err := safetensors.Read(statePath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("resume from %s: %w there (%s is missing; start the run without resume)", dir, ErrNoCheckpoint, StateFile)
		}
		return fmt.Errorf("resume: %w", err)
	}
	var st checkpointState
	if err := json.Unmarshal([]byte(f.Metadata["state"]), &st); err != nil {
		return fmt.Errorf("resume: %s: the \"state\" metadata is not valid JSON: %v", statePath, err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("resume: %s has state version %d, this nas reads version %d", statePath, st.Version, stateVersion)
	}
	if field := configDiff(st.Config, r.cfg); field != "" {
		return fmt.Errorf("resume: the config differs from the checkpointed run's in %q (%s): resume with the same settings, or start a new run in another folder", field, statePath)
	}
	if st.TotalSteps != r.sched.Total || st.StepsPerEpoch != r.stepsPerEpoch {
		return fmt.Errorf("resume: %s was a run of %d steps (%d per epoch); this one has %d (%d per epoch): the data differs", statePath, st.TotalSteps, st.StepsPerEpoch, r.sched.Total, r.stepsPerEpoch)
	}
	archJSON, err := json.MarshalIndent(r.arch, "", "  ")
	if err != nil {
		return err
	}
	archPath := filepath.Join(dir, ArchFile)
	if saved, err := os.ReadFile(archPath); err != nil {
		return fmt.Errorf("resume: %w", err)
	} else if string(saved) != string(archJSON)+"\n" {
		return fmt.Errorf("resume: %s describes another architecture than the one given: resume with the same ARCH (and --width)", archPath)
	}
	meta, err := LoadWeights(filepath.Join(dir, WeightsFile), r.net)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	if meta["step"] != f.Metadata["step"] {
		return fmt.Errorf("resume: %s is of step %s but %s of step %s: the checkpoint was cut short; delete the folder and start again", WeightsFile, meta["step"], StateFile, f.Metadata["step"])
	}
	vel := map[string][]float32{}
	for name, t := range f.Tensors {
		if after, ok := strings.CutPrefix(name, "momentum."); ok {
			vel[after] = t.F32
		}
	}
	if err := r.opt.SetVelocity(vel); err != nil {
		return fmt.Errorf("resume: %s: %w", statePath, err)
	}
	order := f.Tensors["data.order"].I64
	if len(order) != len(r.batches.order) || st.DataNext < 0 || st.DataNext > len(order) {
		return fmt.Errorf("resume: %s: the sample order has %d entries (position %d), the data %d: the data differs", statePath, len(order), st.DataNext, len(r.batches.order))
	}
	seen := make([]bool, len(order))
	for i, o := range order {
		if o < 0 || int(o) >= len(seen) || seen[o] {
			return fmt.Errorf("resume: %s: the sample order is not a permutation (entry %d)", statePath, i)
		}
		seen[o] = true
		r.batches.order[i] = int(o)
	}
	r.batches.next = st.DataNext
	if err := r.dataSrc.UnmarshalBinary(st.DataRNG); err != nil {
		return fmt.Errorf("resume: %s: data generator: %v", statePath, err)
	}
	if err := r.dropoutSrc.UnmarshalBinary(st.DropoutRNG); err != nil {
		return fmt.Errorf("resume: %s: dropout generator: %v", statePath, err)
	}
	r.step, r.epochSteps = st.Step, st.EpochSteps
	r.lossSum, r.correct, r.seen, r.lastLR = st.LossSum, st.Correct, st.Seen, st.LastLR
	r.bestValAcc, r.bestEpoch, r.history = st.BestValAcc, st.BestEpoch, st.History
	return nil
}

// configDiff returns the json name of the first saved field in which a and
// b differ, or "". Test and EvalBatchSize may differ: a resumed run may
// add or drop the final test evaluation.
func configDiff(a, b Config) string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var walk func(va, vb reflect.Value, t reflect.Type) string
	walk = func(va, vb reflect.Value, t reflect.Type) string {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			if f.Anonymous {
				if d := walk(va.Field(i), vb.Field(i), f.Type); d != "" {
					return d
				}
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if name == "test" || name == "eval_batch_size" {
				continue // they do not change the training trajectory
			}
			if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
				return name
			}
		}
		return ""
	}
	return walk(va, vb, va.Type())
}

// NetworkWithWeights builds arch with the weights of the file path (see
// LoadWeights: every tensor of the network with its shape) and evaluates
// it on the validation split cfg draws from sets.Train, the one
// TrainNetwork validates on.
func NetworkWithWeights(ctx context.Context, arch *space.Arch, path string, cfg Config, sets *Sets) (*blocks.Network, Metrics, error) {
	g, err := arch.Graph()
	if err != nil {
		return nil, Metrics{}, err
	}
	// Every weight is overwritten: the seed only fills them first.
	net, err := blocks.NewNetwork(g, rand.New(rand.NewPCG(0, 0)))
	if err != nil {
		return nil, Metrics{}, err
	}
	if _, err := LoadWeights(path, net); err != nil {
		return nil, Metrics{}, err
	}
	_, val, err := cfg.Split(sets.Train)
	if err != nil {
		return nil, Metrics{}, fmt.Errorf("validation split: %w", err)
	}
	m, err := Evaluate(ctx, net, val, cfg.EvalBatchSize)
	if err != nil {
		return nil, Metrics{}, err
	}
	return net, m, nil
}

package cluster

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/internal/natstest"
	"nas/internal/safetensors"
	"nas/space"
	"nas/trainer"
)

// The tests run real work through the queue: proxy training of a small
// network on a few hundred images, the trainer's own call, and its
// weights as a blob.

const kindTrain = "train"

// stripesInput is the payload of a training task.
type stripesInput struct {
	Arch  string `json:"arch"`
	Seed  uint64 `json:"seed"`
	Steps int    `json:"steps"`
}

// stripesOutput is what a training task returns.
type stripesOutput struct {
	ValAcc  float64 `json:"val_acc"`
	ValLoss float64 `json:"val_loss"`
	Weights string  `json:"weights"` // blob hash of the safetensors bytes
}

const tinyArch = "in1x8x8 cls3 | conv_o8_k3_arelu | conv_o8_k3_s2_arelu | gap | linear_o3"

// stripesTask trains the payload's arch on sets with one thread, so that a
// run is bit-identical wherever it runs.
func stripesTask(sets *trainer.Sets) TaskFunc {
	return func(ctx context.Context, payload json.RawMessage, env Env) (json.RawMessage, error) {
		var in stripesInput
		dec := json.NewDecoder(bytes.NewReader(payload))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			return nil, fmt.Errorf("%w: train payload: %v", ErrRefused, err)
		}
		arch, err := space.ParseArch(in.Arch)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrRefused, err)
		}
		cfg := trainer.DefaultConfig()
		cfg.Steps, cfg.BatchSize, cfg.LR, cfg.WarmupEpochs = in.Steps, 16, 0.05, 0
		cfg.ValFraction, cfg.EvalBatchSize, cfg.Seed, cfg.Threads = 0.2, 64, in.Seed, 1
		res, err := trainer.Train(ctx, cfg, arch, sets)
		if err != nil {
			return nil, err
		}
		f := &safetensors.File{Tensors: map[string]safetensors.Tensor{}}
		for name, t := range res.Network.State() {
			f.Tensors[name] = safetensors.Tensor{Shape: slices.Clone(t.Shape), F32: t.Data}
		}
		var b bytes.Buffer
		if err := safetensors.Encode(&b, f); err != nil {
			return nil, err
		}
		hash, err := env.Blobs.Put(ctx, b.Bytes())
		if err != nil {
			return nil, err
		}
		return json.Marshal(stripesOutput{ValAcc: res.ValAcc, ValLoss: res.ValLoss, Weights: hash})
	}
}

// copyFiles copies the files of dir into a new temporary folder and
// returns it: a worker's copy of the coordinator's data.
func copyFiles(t testing.TB, dir string) string {
	t.Helper()
	out := t.TempDir()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(out, e.Name()), b, 0o644))
	}
	return out
}

// writeStripes writes a Fashion-MNIST-style IDX folder of n training and
// n/4 test images, 1x8x8, of three classes (horizontal stripes, vertical
// stripes, checkerboard) at random phase and contrast, drawn from seed.
func writeStripes(t testing.TB, n int, seed uint64) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(seed, 0))
	for _, split := range []struct {
		name string
		n    int
	}{{"train", n}, {"t10k", n / 4}} {
		pixels := make([]byte, split.n*64)
		labels := make([]byte, split.n)
		for i := range split.n {
			label, phase, hi := i%3, rng.IntN(2), 150+rng.IntN(100)
			for y := range 8 {
				for x := range 8 {
					on := [3]bool{(y+phase)%2 == 0, (x+phase)%2 == 0, (x+y+phase)%2 == 0}[label]
					v := rng.IntN(60)
					if on {
						v += hi - 30
					}
					pixels[i*64+y*8+x] = byte(min(255, v))
				}
			}
			labels[i] = byte(label)
		}
		writeIDX(t, filepath.Join(dir, split.name+"-images-idx3-ubyte"), 0x803, []uint32{uint32(split.n), 8, 8}, pixels)
		writeIDX(t, filepath.Join(dir, split.name+"-labels-idx1-ubyte"), 0x801, []uint32{uint32(split.n)}, labels)
	}
	return dir
}

func writeIDX(t testing.TB, path string, magic uint32, dims []uint32, data []byte) {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.BigEndian, magic)
	for _, d := range dims {
		_ = binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(data)
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
}

// stripes is a dataset folder, its loaded sets and its identity.
type stripes struct {
	dir  string
	sets *trainer.Sets
	id   DatasetID
}

func loadStripes(t testing.TB, dir string) stripes {
	t.Helper()
	sets, err := trainer.LoadIDXDir("stripes", dir, []string{"horizontal", "vertical", "checker"}, trainer.Normalization{Mean: []float32{0.5}, Std: []float32{0.25}}, "")
	require.NoError(t, err)
	id, err := HashDataset("stripes", dir)
	require.NoError(t, err)
	return stripes{dir: dir, sets: sets, id: id}
}

// stripesTasks are n training tasks of run with different seeds.
func stripesTasks(t testing.TB, run string, n int, ds *DatasetID) []Task {
	t.Helper()
	var tasks []Task
	for i := range n {
		p, err := json.Marshal(stripesInput{Arch: tinyArch, Seed: uint64(100 + i), Steps: 15})
		require.NoError(t, err)
		tasks = append(tasks, Task{Run: run, ID: fmt.Sprintf("t%d", i), Kind: kindTrain, Dataset: ds, Payload: p})
	}
	return tasks
}

// reference runs tasks in this process, as nas does without a server,
// and returns their outputs by task ID.
func reference(t testing.TB, q *Queue, sets *trainer.Sets, tasks []Task) map[string]stripesOutput {
	t.Helper()
	fn := stripesTask(sets)
	out := map[string]stripesOutput{}
	for i := range tasks {
		b, err := fn(context.Background(), tasks[i].Payload, Env{Task: &tasks[i], Attempt: 1, Blobs: q.Blobs()})
		require.NoError(t, err)
		var o stripesOutput
		require.NoError(t, json.Unmarshal(b, &o))
		out[tasks[i].ID] = o
	}
	return out
}

// stripesRun is the set-up of a run of training tasks: a server, the
// coordinator's queue, the data, the tasks and their results computed in
// this process.
type stripesRun struct {
	srv   *natstest.Server
	q     *Queue
	data  stripes
	tasks []Task
	want  map[string]stripesOutput
}

func newStripesRun(t testing.TB, run string, n int) stripesRun {
	t.Helper()
	srv := natstest.Start(t)
	q := testQueue(t, srv)
	data := loadStripes(t, writeStripes(t, 400, 1))
	tasks := stripesTasks(t, run, n, &data.id)
	return stripesRun{srv: srv, q: q, data: data, tasks: tasks, want: reference(t, q, data.sets, tasks)}
}

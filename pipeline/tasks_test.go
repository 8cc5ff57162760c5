package pipeline

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
	"nas/space"
	"nas/trainer"
)

// tinyData is a small dataset in memory: 8x8 gray images of 3 classes
// whose mean brightness tells the class.
func tinyData(t testing.TB, n int) *trainer.Sets {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	make := func(n int) *trainer.Dataset {
		pixels := make([]uint8, n*64)
		labels := make([]int, n)
		for i := range labels {
			labels[i] = i % 3
			for j := range 64 {
				pixels[i*64+j] = uint8(60*labels[i] + rng.IntN(60))
			}
		}
		d, err := trainer.NewDataset("tiny", blocks.Shape{C: 1, H: 8, W: 8}, []string{"a", "b", "c"}, pixels, labels, trainer.Normalization{})
		require.NoError(t, err)
		return d
	}
	return &trainer.Sets{Train: make(n), Test: make(n / 4)}
}

const tinyArch = "in1x8x8 cls3 | conv_o4_k3_arelu | ir_e2_o8_k3_s2 | gap | linear_o3"

var tinyName = Dataset{Name: "tiny"}

func tinyDatasets(t testing.TB) *Datasets {
	d := &Datasets{}
	d.Put(tinyName, tinyData(t, 120))
	return d
}

// roundTrip sends v through JSON, as a worker receives it.
func roundTrip[T any](t *testing.T, v T) T {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out T
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

// A TrainTask sent as JSON trains to the same result as the task itself,
// and writes weights that load into the network.
func TestTrainTaskIsSerializable(t *testing.T) {
	recipe := trainer.DefaultConfig()
	recipe.Steps, recipe.BatchSize, recipe.Seed, recipe.SplitSeed, recipe.Test = 6, 8, 11, 5, true
	task := TrainTask{Arch: tinyArch, Name: "tiny", Data: tinyName, Recipe: recipe, Threads: 1,
		Weights: filepath.Join(t.TempDir(), "w.safetensors")}
	data := tinyDatasets(t)
	want, err := Train(context.Background(), task, data)
	require.NoError(t, err)
	require.True(t, want.Tested)
	require.Equal(t, 6, want.Steps)
	sent := roundTrip(t, task)
	sent.Weights += ".2"
	got, err := Train(context.Background(), sent, data)
	require.NoError(t, err)
	want.WallSeconds, got.WallSeconds, got.Weights = 0, 0, want.Weights
	require.Equal(t, want, got)
	w1, w2 := readFile(t, task.Weights), readFile(t, sent.Weights)
	require.Equal(t, w1, w2, "the same weights, bit for bit")
	a, err := space.ParseArch(tinyArch)
	require.NoError(t, err)
	_, err = LoadWeights(a, task.Weights)
	require.NoError(t, err)
	// Another seed trains another network.
	task.Recipe.Seed = 12
	_, err = Train(context.Background(), task, data)
	require.NoError(t, err)
	require.NotEqual(t, w1, readFile(t, task.Weights))
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// A FineTuneTask sent as JSON gives the same weights and accuracy; Steps 0
// measures the weights as they are.
func TestFineTuneTaskIsSerializable(t *testing.T) {
	a, err := space.ParseArch(tinyArch)
	require.NoError(t, err)
	net, err := blocks.NewNetwork(mustGraph(t, a), rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	w, err := EncodeWeights(net.State(), nil)
	require.NoError(t, err)
	td := TuneData{Data: tinyName, ValFraction: 0.2, ValSeed: 1, EvalFraction: 1, Fraction: 1, Batch: 8}
	task := FineTuneTask{Arch: tinyArch, Weights: w, Steps: 4, Seed: 9, LR: 0.01, Data: td, Threads: 1}
	data := tinyDatasets(t)
	want, err := FineTune(context.Background(), task, data)
	require.NoError(t, err)
	require.NotEmpty(t, want.Weights)
	require.NotEqual(t, w, want.Weights, "the fine-tune moved the weights")
	got, err := FineTune(context.Background(), roundTrip(t, task), data)
	require.NoError(t, err)
	require.Equal(t, want, got)

	// Evaluating the tuned weights gives the accuracy the task reported.
	eval := task
	eval.Weights, eval.Steps = want.Weights, 0
	m, err := FineTune(context.Background(), eval, data)
	require.NoError(t, err)
	require.Nil(t, m.Weights)
	require.Equal(t, want.ValAcc, m.ValAcc)

	// A split that leaves too little data names the setting.
	bad := task
	bad.Data.Batch = 1000
	_, err = FineTune(context.Background(), bad, data)
	var se *SettingError
	require.ErrorAs(t, err, &se)
	require.Equal(t, "batch", se.Setting)
}

func mustGraph(t *testing.T, a *space.Arch) *blocks.Graph {
	t.Helper()
	g, err := a.Graph()
	require.NoError(t, err)
	return g
}

package trainer

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
	"nas/internal/safetensors"
)

func TestWeightsRoundTrip(t *testing.T) {
	g, err := tinyArch().Graph()
	require.NoError(t, err)
	a, err := blocks.NewNetwork(g, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	b, err := blocks.NewNetwork(g, rand.New(rand.NewPCG(2, 2)))
	require.NoError(t, err)
	require.NotEqual(t, stateOf(a), stateOf(b))

	path := filepath.Join(t.TempDir(), WeightsFile)
	require.NoError(t, SaveWeights(path, a, map[string]string{"step": "7"}))
	meta, err := LoadWeights(path, b)
	require.NoError(t, err)
	require.Equal(t, "7", meta["step"])
	require.Equal(t, stateOf(a), stateOf(b))

	// Names and shapes are the graph's: what PyTorch's state dict holds.
	f, err := safetensors.Read(path)
	require.NoError(t, err)
	require.Equal(t, []int{8, 1, 3, 3}, f.Tensors["layers.0.conv.weight"].Shape)
	require.Equal(t, []int{3, 8}, f.Tensors["layers.4.fc.weight"].Shape)

	// PyTorch's num_batches_tracked counters are accepted and ignored.
	f.Tensors["layers.0.bn.num_batches_tracked"] = safetensors.Tensor{Shape: []int{}, I64: []int64{3}}
	require.NoError(t, safetensors.Write(path, f))
	_, err = LoadWeights(path, b)
	require.NoError(t, err)
}

func TestLoadWeightsErrors(t *testing.T) {
	g, err := tinyArch().Graph()
	require.NoError(t, err)
	net, err := blocks.NewNetwork(g, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	dir := t.TempDir()

	_, err = LoadWeights(filepath.Join(dir, "missing.safetensors"), net)
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorContains(t, err, "missing.safetensors")

	wider := tinyArch()
	wider.Layers[0] = &blocks.Conv{Out: 12, Kernel: 3, Act: blocks.ActReLU}
	wg, err := wider.Graph()
	require.NoError(t, err)
	wnet, err := blocks.NewNetwork(wg, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	path := filepath.Join(dir, "wide.safetensors")
	require.NoError(t, SaveWeights(path, wnet, nil))
	_, err = LoadWeights(path, net)
	require.ErrorContains(t, err, `tensor "layers.0.bn.bias" has shape [12], the network needs [8]`)

	garbage := filepath.Join(dir, "garbage.safetensors")
	require.NoError(t, os.WriteFile(garbage, []byte("not a safetensors file"), 0o644))
	_, err = LoadWeights(garbage, net)
	require.ErrorContains(t, err, "garbage.safetensors")
}

// TestCheckpointFilesAreCompleteAndShared checks what a checkpoint leaves
// in its folder: its three files, no temporaries, each readable by others
// (0644; internal/atomicfile tests the writes themselves).
func TestCheckpointFilesAreCompleteAndShared(t *testing.T) {
	cfg := tinyConfig()
	cfg.Epochs = 1
	cfg.CheckpointDir = t.TempDir()
	_, err := Train(context.Background(), cfg, tinyArch(), stripeSets(t))
	require.NoError(t, err)
	entries, err := os.ReadDir(cfg.CheckpointDir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		st, err := e.Info()
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o644), st.Mode().Perm(), e.Name())
	}
	require.ElementsMatch(t, []string{WeightsFile, ArchFile, StateFile}, names)
}

// NetworkWithWeights gives the network with the file's weights and its
// metrics on the validation split TrainNetwork validates on.
func TestNetworkWithWeights(t *testing.T) {
	sets := stripeSets(t)
	cfg := tinyConfig()
	cfg.Epochs = 1
	res, err := Train(context.Background(), cfg, tinyArch(), sets)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), WeightsFile)
	require.NoError(t, SaveWeights(path, res.Network, nil))

	net, m, err := NetworkWithWeights(context.Background(), tinyArch(), path, cfg, sets)
	require.NoError(t, err)
	require.Equal(t, stateOf(res.Network), stateOf(net))
	_, val, err := cfg.Split(sets.Train)
	require.NoError(t, err)
	want, err := Evaluate(context.Background(), res.Network, val, cfg.EvalBatchSize)
	require.NoError(t, err)
	require.Equal(t, want, m)
	require.InDelta(t, res.ValAcc, m.Acc, 1e-12, "the validation split of the training run")

	_, _, err = NetworkWithWeights(context.Background(), tinyArch(), filepath.Join(t.TempDir(), "missing.safetensors"), cfg, sets)
	require.ErrorIs(t, err, ErrNotFound)
	cfg.ValFraction = 1.5
	_, _, err = NetworkWithWeights(context.Background(), tinyArch(), path, cfg, sets)
	require.ErrorContains(t, err, "validation split")
}

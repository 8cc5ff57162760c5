package main

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"nas/space"
	"nas/supernet"
	"nas/trainer"
)

// supernetTestSpace is a small space on MNIST-shaped data.
const supernetTestSpace = `{
  "version": 1, "name": "mini", "input": [1, 28, 28], "classes": 10,
  "stem": [{"type": "conv", "out": 8, "kernel": 3, "stride": 2, "act": "relu"}],
  "stages": [
    {"stride": 2, "blocks": ["ir", "fire"], "kernels": [3, 5], "expansions": [2], "se": [0, 0.25], "acts": ["relu"], "widths": [8, 12], "depths": [1, 2]}
  ],
  "head": [{"type": "conv", "out": 16, "kernel": 1, "act": "relu"}, {"type": "gap"}, {"type": "linear"}]
}`

func TestSupernetTrainFlags(t *testing.T) {
	var got *supernetTrainOptions
	cmd := newCmdSupernetTrain(func(_ *cobra.Command, o *supernetTrainOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--space", "s.json", "--data", "mnist", "--epochs", "3", "--out", "o", "--random", "4", "--sampling", "fair", "--rule", "single-path",
		"--seed", "9", "--threads", "1", "--no-augment", "--resume", "--json", "--checkpoint-steps", "7"})
	require.NoError(t, cmd.Execute())
	cfg := got.config()
	require.Equal(t, "s.json", got.Space)
	require.Equal(t, 3, cfg.Recipe.Epochs)
	require.Equal(t, 4, cfg.Random)
	require.Equal(t, "fair", cfg.Sampling)
	require.Equal(t, "single-path", cfg.Rule)
	require.Equal(t, uint64(9), cfg.Recipe.Seed)
	require.Equal(t, 1, cfg.Recipe.Threads)
	require.Equal(t, 7, cfg.Recipe.CheckpointSteps)
	require.False(t, cfg.Recipe.Augment.Enabled())
	require.True(t, got.Resume && got.JSON)

	cmd = newCmdSupernetTrain(func(_ *cobra.Command, o *supernetTrainOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--out", "o"})
	require.NoError(t, cmd.Execute())
	cfg = got.config()
	def := supernet.DefaultConfig()
	require.Equal(t, "small28", got.Space)
	require.Equal(t, def.Random, cfg.Random)
	require.Equal(t, "uniform", cfg.Sampling)
	require.Equal(t, "sandwich", cfg.Rule)
	require.Equal(t, trainer.DefaultAugmentation("fashion-mnist"), cfg.Recipe.Augment)
	require.Equal(t, def.Recipe.SGDConfig, cfg.Recipe.SGDConfig)
}

func TestSupernetUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"supernet", "train"}, "--out DIR is required"},
		{[]string{"supernet", "train", "--out", "o", "--data", "imagenet"}, `--data "imagenet"`},
		{[]string{"supernet", "train", "--out", "o", "--epochs", "0"}, "--epochs 0"},
		{[]string{"supernet", "eval", "dir"}, "accepts 2 arg(s)"},
		{[]string{"supernet", "eval", "dir", "arch", "--eval-fraction", "2"}, "--eval-fraction 2"},
		{[]string{"supernet", "extract", "dir", "arch"}, "-o FILE is required"},
	}
	for _, c := range cases {
		code, _, errOut := runNas(t, c.args...)
		require.Equal(t, exitUsage, code, "%v: %s", c.args, errOut)
		require.Contains(t, errOut, c.want)
	}
}

// TestSupernetEndToEnd trains a supernet of a small space, scores one of
// its networks, extracts its weights and evaluates them with nas eval.
func TestSupernetEndToEnd(t *testing.T) {
	data := writeMNISTDir(t, 300, 60)
	tmp := t.TempDir()
	spacePath := filepath.Join(tmp, "mini.json")
	require.NoError(t, os.WriteFile(spacePath, []byte(supernetTestSpace), 0o644))
	out := filepath.Join(tmp, "super")
	code, stdout, errOut := runNas(t, "supernet", "train", "--space", spacePath, "--data", "mnist", "--data-dir", data,
		"--epochs", "2", "--batch", "16", "--lr", "0.05", "--calibration", "64", "--out", out, "--json")
	require.Equal(t, 0, code, errOut)
	var res supernet.Result
	require.NoError(t, json.Unmarshal([]byte(stdout), &res))
	require.Equal(t, 2*(270/16), res.Steps)
	require.Len(t, res.History, 2)

	// Without --json: log lines, as on a terminal-less output.
	code, stdout, errOut = runNas(t, "supernet", "train", "--space", spacePath, "--data", "mnist", "--data-dir", data,
		"--epochs", "1", "--batch", "16", "--calibration", "64", "--out", filepath.Join(tmp, "super2"))
	require.Equal(t, 0, code, errOut)
	require.Contains(t, stdout, "training a supernet of space mini")
	require.Contains(t, stdout, "epoch 1  largest: train loss")

	sp, err := space.ParseSpaceJSON([]byte(supernetTestSpace))
	require.NoError(t, err)
	_, a, err := sp.Sample(rand.New(rand.NewPCG(4, 4)))
	require.NoError(t, err)
	code, stdout, errOut = runNas(t, "supernet", "eval", out, a.String(), "--data-dir", data, "--json")
	require.Equal(t, 0, code, errOut)
	var ev supernet.Evaluation
	require.NoError(t, json.Unmarshal([]byte(stdout), &ev))
	require.Equal(t, a.String(), ev.Arch)
	require.Equal(t, 30, ev.Images)

	weights := filepath.Join(tmp, "w.safetensors")
	code, _, errOut = runNas(t, "supernet", "extract", out, a.String(), "--data-dir", data, "-o", weights)
	require.Equal(t, 0, code, errOut)
	code, stdout, errOut = runNas(t, "eval", a.String(), "--weights", weights, "--data", "mnist", "--data-dir", data,
		"--split", "val", "--json")
	require.Equal(t, 0, code, errOut)
	var m struct {
		Acc float64 `json:"acc"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &m))
	require.InDelta(t, ev.Acc, m.Acc, 1e-9, "nas eval of the extracted weights on the same split: %s", stdout)

	// nas export takes them too.
	code, _, errOut = runNas(t, "export", a.String(), "--weights", weights, "--format", "onnx", "-o", filepath.Join(tmp, "m.onnx"))
	require.Equal(t, 0, code, errOut)
	_, err = os.Stat(filepath.Join(tmp, "m.onnx"))
	require.NoError(t, err)

	// A network outside the space is refused, naming the layer.
	code, _, errOut = runNas(t, "supernet", "eval", out, "in1x28x28 cls10 | conv_o8_k3_s2_arelu | ir_o8_m16_k7_s2_arelu | conv_o16_k1_arelu | gap | linear_o10", "--data-dir", data)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "layer 1 (ir_o8_m16_k7_s2_arelu) is outside space mini")

	// Resuming with another space is refused.
	code, _, errOut = runNas(t, "supernet", "train", "--space", "small28", "--data", "mnist", "--data-dir", data,
		"--epochs", "2", "--out", out, "--resume")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "holds a supernet of space mini")
}

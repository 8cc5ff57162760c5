package main

import (
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"nas/trainer"
)

// writeMNISTDir writes a small MNIST-style dataset (IDX files, 1x28x28, ten
// classes) whose class is the row of a bright bar, so a tiny network can
// learn it.
func writeMNISTDir(t *testing.T, ntrain, ntest int) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 7))
	write := func(split string, n int) {
		images := binary.BigEndian.AppendUint32(nil, 0x803)
		for _, d := range []int{n, 28, 28} {
			images = binary.BigEndian.AppendUint32(images, uint32(d))
		}
		labels := binary.BigEndian.AppendUint32(nil, 0x801)
		labels = binary.BigEndian.AppendUint32(labels, uint32(n))
		for i := range n {
			label := i % 10
			img := make([]byte, 28*28)
			for j := range img {
				img[j] = byte(rng.IntN(40))
			}
			row := 2 + 2*label + rng.IntN(2)
			for x := range 28 {
				img[row*28+x] = 200
			}
			images = append(images, img...)
			labels = append(labels, byte(label))
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, split+"-images-idx3-ubyte"), images, 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, split+"-labels-idx1-ubyte"), labels, 0o644))
	}
	write("train", ntrain)
	write("t10k", ntest)
	return dir
}

const trainTestArch = "in1x28x28 cls10 | conv_o8_k3_s2_arelu | conv_o8_k3_s2_arelu | linear_o10"

func TestTrainFlags(t *testing.T) {
	var got *trainOptions
	cmd := newCmdTrain(func(_ *cobra.Command, o *trainOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"mobilenet_v2", "--width", "0.5", "--data", "mnist", "--epochs", "3", "--out", "o",
		"--batch", "32", "--lr", "0.2", "--seed", "9", "--no-augment", "--fraction", "0.5", "--resume", "--json"})
	require.NoError(t, cmd.Execute())
	require.Equal(t, "mobilenet_v2", got.Ref)
	require.Equal(t, 0.5, got.Width)
	cfg := got.config(got.Data)
	require.Equal(t, 3, cfg.Epochs)
	require.Equal(t, 32, cfg.BatchSize)
	require.Equal(t, 0.2, cfg.LR)
	require.Equal(t, uint64(9), cfg.Seed)
	require.Equal(t, 0.5, cfg.DataFraction)
	require.False(t, cfg.Augment.Enabled())
	require.True(t, cfg.Resume)
	require.True(t, cfg.Test)

	// -o is --out; --warmup, the old name of --warmup-epochs, still works.
	cmd = newCmdTrain(func(_ *cobra.Command, o *trainOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"m", "-o", "dir", "--warmup", "0.3"})
	require.NoError(t, cmd.Execute())
	require.Equal(t, "dir", got.Out)
	require.Equal(t, 0.3, got.config(got.Data).WarmupEpochs)
	require.Equal(t, "o", cfg.CheckpointDir)

	// Defaults: the dataset's augmentation, the library's settings.
	cmd = newCmdTrain(func(_ *cobra.Command, o *trainOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"x", "--out", "o"})
	require.NoError(t, cmd.Execute())
	cfg = got.config(got.Data)
	def := trainer.DefaultConfig()
	require.Equal(t, trainer.DefaultAugmentation("fashion-mnist"), cfg.Augment)
	require.Equal(t, def.LR, cfg.LR)
	require.Equal(t, def.SGDConfig, cfg.SGDConfig)
	require.Equal(t, def.Epochs, cfg.Epochs)
}

func TestTrainUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"train", "x"}, "--out DIR is required"},
		{[]string{"train", "x", "--out", "o", "--data", "imagenet"}, `--data "imagenet"`},
		{[]string{"train", "x", "--out", "o", "--threads", "-1"}, "--threads -1"},
		{[]string{"train", "x", "--out", "o", "--momentum", "0"}, "--nesterov needs --momentum"},
		{[]string{"train", "x", "--out", "o", "--epochs", "many"}, "invalid argument"},
		{[]string{"eval", "x", "--split", "val"}, "--weights FILE is required"},
		{[]string{"eval", "x", "--weights", "w", "--split", "train"}, `--split "train"`},
	}
	for _, c := range cases {
		code, _, errOut := runNas(t, c.args...)
		require.Equal(t, exitUsage, code, "%v: %s", c.args, errOut)
		require.Contains(t, errOut, c.want)
	}
}

func TestTrainAndEvalEndToEnd(t *testing.T) {
	data := writeMNISTDir(t, 400, 100)
	out := filepath.Join(t.TempDir(), "run")
	code, stdout, errOut := runNas(t, "train", trainTestArch, "--data", "mnist", "--data-dir", data,
		"--epochs", "3", "--batch", "16", "--val", "0.2", "--warmup-epochs", "0.2", "--lr", "0.05", "--out", out, "--json")
	require.Equal(t, 0, code, errOut)
	var rep map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	for _, k := range []string{"val_acc", "test_acc", "images_per_s", "epochs", "history", "config"} {
		require.Contains(t, rep, k)
	}
	require.Equal(t, 3.0, rep["epochs"])
	require.Greater(t, rep["val_acc"], 0.5, stdout)
	for _, f := range []string{trainer.WeightsFile, trainer.ArchFile, trainer.StateFile, trainer.ResultFile} {
		require.FileExists(t, filepath.Join(out, f))
	}

	// nas eval on the test set reproduces the test accuracy of the run,
	// and on the validation split its validation accuracy.
	weights := filepath.Join(out, trainer.WeightsFile)
	for _, c := range []struct{ split, key string }{{"test", "test_acc"}, {"val", "val_acc"}} {
		code, stdout, errOut = runNas(t, "eval", filepath.Join(out, trainer.ArchFile), "--weights", weights,
			"--data", "mnist", "--data-dir", data, "--split", c.split, "--val", "0.2", "--json")
		require.Equal(t, 0, code, errOut)
		var ev evalReport
		require.NoError(t, json.Unmarshal([]byte(stdout), &ev))
		require.InDelta(t, rep[c.key], ev.Acc, 1e-12, c.split)
	}

	// Resuming a finished run changes nothing and ends at once.
	code, stdout2, errOut := runNas(t, "train", trainTestArch, "--data", "mnist", "--data-dir", data,
		"--epochs", "3", "--batch", "16", "--val", "0.2", "--warmup-epochs", "0.2", "--lr", "0.05", "--out", out, "--json", "--resume")
	require.Equal(t, 0, code, errOut)
	var rep2 map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout2), &rep2))
	require.Equal(t, rep["val_acc"], rep2["val_acc"])
	require.Equal(t, rep["test_acc"], rep2["test_acc"])

	// A different seed on resume is refused, naming the field.
	code, _, errOut = runNas(t, "train", trainTestArch, "--data", "mnist", "--data-dir", data,
		"--epochs", "3", "--batch", "16", "--val", "0.2", "--warmup", "0.2", "--lr", "0.05", "--out", out, "--resume", "--seed", "2")
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, `"seed"`)
}

func TestTrainEvalErrors(t *testing.T) {
	data := writeMNISTDir(t, 40, 10)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"train", "mobilenet_v2", "--data", "mnist", "--data-dir", t.TempDir(), "--out", t.TempDir()}, "train-images-idx3-ubyte"},
		{[]string{"train", trainTestArch, "--width", "0.5", "--data", "mnist", "--data-dir", data, "--out", t.TempDir()}, "--width applies to zoo networks"},
		{[]string{"train", "in1x32x32 cls10 | conv_o8_k3_s2_arelu | gap | linear_o10", "--data", "mnist", "--data-dir", data, "--out", t.TempDir()}, "network takes 1x32x32"},
		{[]string{"eval", trainTestArch, "--data", "mnist", "--data-dir", data, "--weights", filepath.Join(data, "none.safetensors")}, "none.safetensors"},
	}
	for _, c := range cases {
		code, _, errOut := runNas(t, c.args...)
		require.NotEqual(t, 0, code)
		require.Contains(t, errOut, c.want, "%v", c.args)
	}
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/trainer"
)

// initArch is a network small enough to train in milliseconds.
const initArch = "in1x28x28 cls10 | conv_o8_k3_s2_arelu | ir_e4_o16_k3_s2 | gap | linear_o10"

// nas train --init starts from the given weights: the network evaluated
// before the first step is the one nas eval builds with those weights, on
// the same validation split; weights of another network are refused with
// the tensor that does not fit.
func TestTrainInit(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny network three times")
	}
	data := writeMNISTDir(t, 300, 60)
	common := []string{"--data", "mnist", "--data-dir", data, "--batch", "16", "--no-test", "--seed", "3", "--val", "0.2", "--json"}
	first := t.TempDir()
	code, _, errOut := runNas(t, append([]string{"train", initArch, "--steps", "20", "--out", first}, common...)...)
	require.Equal(t, 0, code, errOut)
	weights := filepath.Join(first, trainer.WeightsFile)

	second := t.TempDir()
	code, out, errOut := runNas(t, append([]string{"train", initArch, "--init", weights, "--steps", "5", "--lr", "0.01", "--out", second}, common...)...)
	require.Equal(t, 0, code, errOut)
	var rep trainer.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	require.Equal(t, weights, rep.Init)
	require.NotNil(t, rep.InitValAcc)
	require.NotNil(t, rep.InitValLoss)
	b, err := os.ReadFile(filepath.Join(second, trainer.ResultFile))
	require.NoError(t, err)
	require.Contains(t, string(b), `"init_val_acc"`)

	code, out, errOut = runNas(t, "eval", initArch, "--weights", weights, "--split", "val", "--val", "0.2", "--seed", "3",
		"--data", "mnist", "--data-dir", data, "--json")
	require.Equal(t, 0, code, errOut)
	var ev evalReport
	require.NoError(t, json.Unmarshal([]byte(out), &ev))
	require.Equal(t, ev.Acc, *rep.InitValAcc, "the first evaluation is of the given weights")
	require.InDelta(t, ev.Loss, *rep.InitValLoss, 1e-9)
	// Without --init the run starts from fresh weights: no initial
	// evaluation, and another result.
	fresh := t.TempDir()
	code, out, errOut = runNas(t, append([]string{"train", initArch, "--steps", "5", "--lr", "0.01", "--out", fresh}, common...)...)
	require.Equal(t, 0, code, errOut)
	var scratch trainer.Report
	require.NoError(t, json.Unmarshal([]byte(out), &scratch))
	require.Nil(t, scratch.InitValAcc, "no --init, no initial evaluation")
	require.NotEqual(t, scratch.ValLoss, rep.ValLoss)

	// Weights of another network: the error names the file and the tensor.
	code, _, errOut = runNas(t, append([]string{"train", "in1x28x28 cls10 | conv_o12_k3_s2_arelu | ir_e4_o16_k3_s2 | gap | linear_o10",
		"--init", weights, "--steps", "1", "--out", t.TempDir()}, common...)...)
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "--init: weights "+weights+": tensor ")
	require.Contains(t, errOut, "has shape [8")
	require.Contains(t, errOut, "the network needs [12")
	code, _, errOut = runNas(t, append([]string{"train", initArch + " | linear_o10", "--init", weights, "--steps", "1", "--out", t.TempDir()}, common...)...)
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "--init: weights "+weights+": weights miss")

	code, _, errOut = runNas(t, "train", initArch, "--init", weights, "--resume", "--out", second)
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "drop --init")
}

// nas train with stderr not a terminal logs a line per epoch there; stdout
// keeps its JSON.
func TestTrainLog(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny network")
	}
	data := writeMNISTDir(t, 300, 60)
	code, out, errOut := runNas(t, "train", initArch, "--epochs", "2", "--data", "mnist", "--data-dir", data, "--batch", "32",
		"--no-test", "--out", t.TempDir(), "--json")
	require.Equal(t, 0, code, errOut)
	var rep trainer.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	require.Regexp(t, `level=INFO msg=epoch epoch=1 of=2 train_loss=\S+ train_acc=\S+ val_loss=\S+ val_acc=\S+ lr=\S+ elapsed=\S+ eta=\S+\n`, errOut)
	require.Regexp(t, `msg=epoch epoch=2 of=2 .* eta=0s\n`, errOut)
}

// An imported ONNX model trains on from its weights: nas import
// --weights-out, then nas train --init.
func TestTrainInitFromImport(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny network")
	}
	dir := t.TempDir()
	model := writeONNX(t, dir, initArch)
	arch, weights := filepath.Join(dir, "arch.json"), filepath.Join(dir, "w.safetensors")
	code, _, errOut := runNas(t, "import", model, "-o", arch, "--weights-out", weights)
	require.Equal(t, 0, code, errOut)
	data := writeMNISTDir(t, 300, 60)
	code, out, errOut := runNas(t, "train", arch, "--init", weights, "--steps", "3", "--batch", "16", "--lr", "0.01",
		"--data", "mnist", "--data-dir", data, "--no-test", "--out", t.TempDir(), "--json")
	require.Equal(t, 0, code, errOut)
	var rep trainer.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	require.NotNil(t, rep.InitValAcc)
	code, out, errOut = runNas(t, "eval", arch, "--weights", weights, "--split", "val", "--data", "mnist", "--data-dir", data, "--json")
	require.Equal(t, 0, code, errOut)
	var ev evalReport
	require.NoError(t, json.Unmarshal([]byte(out), &ev))
	require.Equal(t, ev.Acc, *rep.InitValAcc)
}

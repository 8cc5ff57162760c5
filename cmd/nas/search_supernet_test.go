package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"nas/pipeline"
	"nas/results"
	"nas/supernet"
)

// Without --budget, a search leaves the budget to the pipeline's default
// (DefaultSupernetBudget, or DefaultProxyBudget with --proxy); an
// explicit --budget stays. The supernet recipe's flags set the recipe.
func TestSearchSupernetFlags(t *testing.T) {
	var got *searchOptions
	cmd := newCmdSearch(func(_ *cobra.Command, o *searchOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--target-ms", "1", "--supernet", "runs/super"})
	require.NoError(t, cmd.Execute())
	require.Equal(t, "runs/super", got.Settings.Supernet)
	require.False(t, got.Settings.Proxy)
	require.Equal(t, 0, got.Settings.Budget, "the pipeline's DefaultSupernetBudget")
	require.Equal(t, pipeline.DefaultSupernetRecipe(), got.Settings.SupernetRecipe)

	cmd = newCmdSearch(func(_ *cobra.Command, o *searchOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--target-ms", "1", "--supernet-epochs", "2", "--supernet-fraction", "0.5"})
	require.NoError(t, cmd.Execute())
	require.Equal(t, "", got.Settings.Supernet, "the pipeline's folder under runs/supernets")
	require.Equal(t, 2, got.Settings.SupernetRecipe.Epochs)
	require.Equal(t, 0.5, got.Settings.SupernetRecipe.Fraction)

	cmd = newCmdSearch(func(_ *cobra.Command, o *searchOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--target-ms", "1", "--supernet", "runs/super", "--budget", "40"})
	require.NoError(t, cmd.Execute())
	require.Equal(t, 40, got.Settings.Budget)

	cmd = newCmdSearch(func(_ *cobra.Command, o *searchOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--target-ms", "1", "--proxy"})
	require.NoError(t, cmd.Execute())
	require.True(t, got.Settings.Proxy)
	require.Equal(t, 0, got.Settings.Budget, "the pipeline's DefaultProxyBudget")
	require.Equal(t, "", got.Settings.Supernet)
	require.Equal(t, pipeline.SupernetRecipe{}, got.Settings.SupernetRecipe, "no supernet with --proxy")
}

// supernetFixture writes a small MNIST folder and the space
// supernetTestSpace into a temporary folder: their paths, and the folder.
func supernetFixture(t *testing.T) (data, spacePath, tmp string) {
	t.Helper()
	data = writeMNISTDir(t, 300, 60)
	tmp = t.TempDir()
	spacePath = filepath.Join(tmp, "mini.json")
	require.NoError(t, os.WriteFile(spacePath, []byte(supernetTestSpace), 0o644))
	return data, spacePath, tmp
}

// TestSearchSupernet trains a supernet of a small space, searches it with
// --supernet, and checks that every trial's accuracy is what nas supernet
// eval gives the same network with the trial's seed; that a supernet of
// another space or data is refused; and that resuming the run with other
// weights in the folder is refused.
func TestSearchSupernet(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny supernet")
	}
	data, spacePath, tmp := supernetFixture(t)
	super := filepath.Join(tmp, "super")
	train := func(out, seed string) {
		code, _, errOut := runNas(t, "supernet", "train", "--space", spacePath, "--data", "mnist", "--data-dir", data,
			"--epochs", "1", "--batch", "16", "--lr", "0.05", "--calibration", "64", "--seed", seed, "--out", out, "--json")
		require.Equal(t, 0, code, errOut)
	}
	train(super, "1")
	lut := filepath.Join(tmp, "lut.db")
	code, _, errOut := runNas(t, "profile", "--lut", lut, "--space", spacePath, "--quiet",
		"--cap", "5ms", "--warmup", "1ms", "--tolerance", "0.5", "--calibrate", "2")
	require.Equal(t, 0, code, errOut)

	store := filepath.Join(tmp, "store.db")
	args := func(extra ...string) []string {
		return append([]string{"search", "--target-ms", "0.05", "--space", spacePath, "--data", "mnist", "--data-dir", data,
			"--lut", lut, "--store", store, "--out", filepath.Join(tmp, "report"), "--seed", "5", "--final", "0", "--json"}, extra...)
	}
	code, out, errOut := runNas(t, args("--supernet", super, "--budget", "6")...)
	require.Equal(t, 0, code, errOut)
	var sum searchSummary
	require.NoError(t, json.Unmarshal([]byte(out), &sum), out)
	require.Equal(t, 6, sum.Trials)

	s, err := results.OpenReadOnly(store)
	require.NoError(t, err)
	run, err := s.Run(1)
	require.NoError(t, err)
	trials, err := s.Trials(1)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	var stored struct {
		Supernet, Identity string
	}
	var raw map[string]any
	require.NoError(t, json.Unmarshal(run.Config.Settings, &raw))
	stored.Supernet, _ = raw["supernet"].(string)
	stored.Identity, _ = raw["supernet_identity"].(string)
	sn, err := supernet.Open(super)
	require.NoError(t, err)
	require.Equal(t, super, stored.Supernet, "the run records the folder")
	require.Equal(t, sn.Identity, stored.Identity, "and the identity of its weights")

	checked := 0
	for _, tr := range trials {
		if tr.Status != results.TrialOK {
			continue
		}
		code, out, errOut := runNas(t, "supernet", "eval", super, tr.Arch, "--data-dir", data,
			"--seed", strconv.FormatUint(tr.Seed, 10), "--json")
		require.Equal(t, 0, code, errOut)
		var ev supernet.Evaluation
		require.NoError(t, json.Unmarshal([]byte(out), &ev), out)
		require.Equal(t, ev.Acc, tr.ValAccuracy, "trial %s (seed %d)", tr.Arch, tr.Seed)
		checked++
	}
	require.Positive(t, checked)

	// A supernet of another space, or trained on other data, is refused.
	code, _, errOut = runNas(t, args("--space", "small28", "--supernet", super, "--budget", "2")...)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "holds a supernet of space mini")
	code, _, errOut = runNas(t, append(args("--supernet", super, "--budget", "2"), "--data-dir", writeMNISTDir(t, 200, 60))...)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "holds a supernet trained on mnist")

	// Resuming the run (stopped, as a kill leaves it) after the folder's
	// weights changed is refused; with the same weights it finishes.
	rw, err := results.Open(store)
	require.NoError(t, err)
	require.NoError(t, rw.SetStatus(1, results.RunStopped))
	require.NoError(t, rw.Close())
	other := filepath.Join(tmp, "other")
	train(other, "2")
	saved := filepath.Join(tmp, "saved.safetensors")
	require.NoError(t, os.Rename(filepath.Join(super, supernet.CheckpointFile), saved))
	require.NoError(t, os.Rename(filepath.Join(other, supernet.CheckpointFile), filepath.Join(super, supernet.CheckpointFile)))
	resume := []string{"search", "--resume", "run-1", "--store", store, "--out", filepath.Join(tmp, "report"), "--json"}
	code, _, errOut = runNas(t, resume...)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "trained further or replaced")
	require.NoError(t, os.Rename(saved, filepath.Join(super, supernet.CheckpointFile)))
	code, out, errOut = runNas(t, resume...)
	require.Equal(t, 0, code, errOut)
	require.NoError(t, json.Unmarshal([]byte(out), &sum), out)
	require.Equal(t, 6, sum.Trials)
}

package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// complete runs cobra's __complete, as the shell scripts of nas completion
// do, and returns the suggestions and the directive line.
func complete(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	code, out, errOut := runNas(t, append([]string{"__complete"}, args...)...)
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[:len(lines)-1], lines[len(lines)-1]
}

// Flag values and arguments complete from what nas knows: the zoo, the
// spaces, strategies, formats, datasets, and the runs and devices of the
// files that --store and --lut name.
func TestCompletion(t *testing.T) {
	const noFiles = ":4" // cobra.ShellCompDirectiveNoFileComp
	got, dir := complete(t, "search", "--strategy", "")
	require.Equal(t, []string{"random", "evolution", "rl"}, got)
	require.Equal(t, noFiles, dir)

	got, dir = complete(t, "inspect", "mobilenet_v")
	require.Equal(t, []string{"mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small"}, got)
	require.Equal(t, ":0", dir, "ARCH may be a file too")
	got, _ = complete(t, "train", "ghost")
	require.Equal(t, []string{"ghostnet"}, got)
	got, _ = complete(t, "profile", "squeezen")
	require.Equal(t, []string{"squeezenet1_0", "squeezenet1_1", "squeezenext23"}, got)

	got, dir = complete(t, "search", "--baselines", "mobilenet_v2,shufflenet_v2_x1")
	require.Equal(t, []string{"mobilenet_v2,shufflenet_v2_x1_0", "mobilenet_v2,shufflenet_v2_x1_5"}, got)
	require.Equal(t, ":6", dir, "no files, no space after a list item")

	got, _ = complete(t, "search", "--space", "small")
	require.Contains(t, got, "small28")
	got, _ = complete(t, "space", "show", "")
	require.Contains(t, got, "small28")
	got, _ = complete(t, "export", "mobilenet_v2", "--format", "")
	require.Equal(t, []string{"onnx", "pytorch", "json", "string"}, got)
	got, _ = complete(t, "train", "ghostnet", "--data", "")
	require.Equal(t, []string{"fashion-mnist", "mnist", "cifar10", "folder"}, got)
	got, _ = complete(t, "zoo", "list", "--log-format", "")
	require.Equal(t, []string{"text", "json"}, got)
	got, _ = complete(t, "netadapt", "ghostnet", "--criterion", "r")
	require.Equal(t, []string{"ratio"}, got)

	// Runs of the store --store names, with their status and trials.
	store := reportStore(t, t.TempDir())
	got, dir = complete(t, "report", "--store", store, "")
	require.Equal(t, []string{"run-1\trunning, 6 trials", "run-2\trunning, 0 trials", "latest\tthe run created last"}, got)
	require.Equal(t, noFiles, dir)
	got, _ = complete(t, "search", "--store", store, "--resume", "run-2")
	require.Equal(t, []string{"run-2\trunning, 0 trials"}, got)
	got, _ = complete(t, "report", "")
	require.Empty(t, got, "no store here: nothing to propose, no error")

	// Devices of the table --lut names.
	lut, board := writeBoardLut(t)
	got, _ = complete(t, "latency", "ghostnet", "--lut", lut, "--device", "")
	require.Equal(t, []string{board.ID() + "\t1 entry"}, got)
	got, _ = complete(t, "search", "--lut", filepath.Join(t.TempDir(), "none.db"), "--device", "")
	require.Empty(t, got)
}

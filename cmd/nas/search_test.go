package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"nas/internal/crashtest"
	"nas/latency"
	"nas/results"
)

func TestSearchFlags(t *testing.T) {
	var got *searchOptions
	cmd := newCmdSearch(func(_ *cobra.Command, o *searchOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--target-ms", "2", "--strategy", "rl", "--hard", "--baselines", "mobilenet_v2@0.5,ghostnet"})
	require.NoError(t, cmd.Execute())
	require.Equal(t, 2.0, got.Settings.Objective.TargetMs)
	require.Equal(t, "rl", got.Settings.Strategy)
	require.True(t, got.Hard)
	require.True(t, got.Settings.Objective.Hard(), "the hard constraint is search.HardObjective")
	require.Equal(t, []string{"mobilenet_v2@0.5", "ghostnet"}, got.Settings.Baselines)
	require.Equal(t, "", got.Settings.Space, "the pipeline's default space")
	require.Equal(t, "fashion-mnist", got.Settings.Data)

	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "--target-ms 0: the latency target is required"},
		{[]string{"--target-ms", "1", "--strategy", "anneal"}, "--strategy"},
		{[]string{"--target-ms", "1", "--w", "0.2"}, "--w"},
		{[]string{"--target-ms", "1", "--budget", "0"}, "--budget"},
		{[]string{"--target-ms", "1", "--baselines", "resnet50"}, "no zoo network"},
		{[]string{"--target-ms", "1", "--baselines", "mobilenet_v2@x"}, "width after @"},
		{[]string{"--resume", "bogus"}, "--resume"},
	} {
		code, _, errOut := runNas(t, append([]string{"search"}, c.args...)...)
		require.Equal(t, exitUsage, code, "%v: %s", c.args, errOut)
		require.Contains(t, errOut, c.want)
	}
}

// searchFixture is a tiny dataset and a latency table profiled once for the
// convnet28 space, so that predictions are read, not measured, and two
// searches with the same seed make the same decisions.
type searchFixture struct {
	data, lut string
}

func newSearchFixture(t *testing.T) searchFixture {
	t.Helper()
	f := searchFixture{data: writeMNISTDir(t, 300, 60), lut: filepath.Join(t.TempDir(), "lut.db")}
	code, _, errOut := runNas(t, "profile", "--lut", f.lut, "--space", "convnet28", "--quiet",
		"--cap", "5ms", "--warmup", "1ms", "--tolerance", "0.5", "--calibrate", "2")
	require.Equal(t, 0, code, errOut)
	return f
}

func (f searchFixture) args(dir string, extra ...string) []string {
	return append([]string{"search", "--target-ms", "0.05", "--space", "convnet28", "--data", "mnist",
		"--data-dir", f.data, "--lut", f.lut, "--store", filepath.Join(dir, "store.db"), "--out", filepath.Join(dir, "report"),
		"--proxy-steps", "3", "--proxy-fraction", "1", "--batch", "16", "--seed", "5", "--json"}, extra...)
}

func TestSearchEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a few tiny networks")
	}
	f := newSearchFixture(t)
	dir := t.TempDir()
	code, out, errOut := runNas(t, f.args(dir, "--budget", "3", "--final", "1", "--final-epochs", "1", "--final-fraction", "1",
		"--baselines", "mobilenet_v1@0.25")...)
	require.Equal(t, 0, code, errOut)
	var sum searchSummary
	require.NoError(t, json.Unmarshal([]byte(out), &sum), out)
	require.Equal(t, "run-1", sum.Run)
	require.Equal(t, 3, sum.Trials)
	require.NotNil(t, sum.Best)
	require.Len(t, sum.Final, 2)
	require.Equal(t, "searched-1", sum.Final[0].Name)
	require.Equal(t, sum.Best.Key, sum.Final[0].Arch)
	for _, fr := range sum.Final {
		require.Positive(t, fr.MeasuredMs)
		require.GreaterOrEqual(t, fr.TestAcc, 0.0)
		require.FileExists(t, fr.Weights)
	}
	// The searched network with its trained weights goes to ONNX.
	code, _, errOut = runNas(t, "export", filepath.Join(dir, "report", "best.json"), "--weights", sum.Final[0].Weights,
		"--format", "onnx", "-o", filepath.Join(dir, "best.onnx"))
	require.Equal(t, 0, code, errOut)
	require.FileExists(t, filepath.Join(dir, "best.onnx"))
	for _, name := range []string{"report.html", "pareto.png", "best.json", "final.json", "trials.csv"} {
		require.FileExists(t, filepath.Join(dir, "report", name))
	}
	s, err := results.OpenReadOnly(filepath.Join(dir, "store.db"))
	require.NoError(t, err)
	defer s.Close()
	run, err := s.Run(1)
	require.NoError(t, err)
	require.Equal(t, results.RunFinished, run.Status)
	bl, err := s.Baselines(1)
	require.NoError(t, err)
	require.Len(t, bl, 2)
}

// TestSearchChild is the process TestSearchKillResume kills: it runs the
// command line in NAS_SEARCH_ARGS and exits.
func TestSearchChild(t *testing.T) {
	raw := os.Getenv("NAS_SEARCH_ARGS")
	if raw == "" {
		t.Skip("only run as the child of TestSearchKillResume")
	}
	var args []string
	require.NoError(t, json.Unmarshal([]byte(raw), &args))
	os.Exit(run(args, os.Stdout, os.Stderr))
}

// A search killed with SIGKILL at any moment and continued with --resume
// ends with exactly the trials of a search that was never interrupted.
func TestSearchKillResume(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a few tiny networks, twice")
	}
	f := newSearchFixture(t)
	const budget = "6"

	ref := t.TempDir()
	start := time.Now()
	code, out, errOut := runNas(t, f.args(ref, "--budget", budget, "--final", "0")...)
	require.Equal(t, 0, code, errOut)
	full := time.Since(start)
	var want searchSummary
	require.NoError(t, json.Unmarshal([]byte(out), &want))

	for _, frac := range []float64{0.3, 0.6} {
		dir := t.TempDir()
		args, _ := json.Marshal(f.args(dir, "--budget", budget, "--final", "0"))
		child := exec.Command(os.Args[0], "-test.run=^TestSearchChild$")
		child.Env = append(os.Environ(), "NAS_SEARCH_ARGS="+string(args))
		crashtest.Start(t, child)
		time.Sleep(time.Duration(frac * float64(full)))
		_ = child.Process.Kill() // SIGKILL: no clean-up runs
		_ = child.Wait()

		store := filepath.Join(dir, "store.db")
		var resumeArgs []string
		if _, err := os.Stat(store); err == nil {
			s, err := results.OpenReadOnly(store)
			require.NoError(t, err)
			runs, err := s.Runs()
			require.NoError(t, err)
			var stored []results.Trial
			if len(runs) == 1 {
				stored, err = s.Trials(1)
				require.NoError(t, err)
			}
			require.NoError(t, s.Close())
			t.Logf("killed at %.0f%% of an uninterrupted run: %d runs, %d trials stored", 100*frac, len(runs), len(stored))
			if len(runs) == 1 {
				resumeArgs = []string{"search", "--resume", "run-1", "--store", store, "--out", filepath.Join(dir, "report"), "--json"}
			}
		}
		if resumeArgs == nil { // killed before the run was created
			resumeArgs = f.args(dir, "--budget", budget, "--final", "0")
		}
		code, out, errOut := runNas(t, resumeArgs...)
		if code != 0 && strings.Contains(errOut, "is finished") {
			continue // the child finished before the kill
		}
		require.Equal(t, 0, code, errOut)
		var got searchSummary
		require.NoError(t, json.Unmarshal([]byte(out), &got))
		require.Equal(t, want.Trials, got.Trials)
		require.Equal(t, want.Best.Key, got.Best.Key)
		require.Equal(t, want.Best.Reward, got.Best.Reward)
		gotTrials := storedTrials(t, filepath.Join(dir, "store.db"))
		wantTrials := storedTrials(t, filepath.Join(ref, "store.db"))
		require.Equal(t, len(wantTrials), len(gotTrials))
		for i := range wantTrials {
			require.Equal(t, wantTrials[i].Arch, gotTrials[i].Arch, "trial %d", i+1)
			require.Equal(t, wantTrials[i].ValAccuracy, gotTrials[i].ValAccuracy, "trial %d", i+1)
			require.Equal(t, wantTrials[i].Reward, gotTrials[i].Reward, "trial %d", i+1)
		}
	}
}

func storedTrials(t *testing.T, path string) []results.Trial {
	t.Helper()
	s, err := results.OpenReadOnly(path)
	require.NoError(t, err)
	defer s.Close()
	tr, err := s.Trials(1)
	require.NoError(t, err)
	return tr
}

// nas search --device reads a table profiled under another fingerprint:
// with the same entries it makes the decisions of a search on this
// machine's table, records the device with the run, and measures nothing
// into the other device's entries.
func TestSearchDevice(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a few tiny networks, twice")
	}
	f := newSearchFixture(t)
	ref := t.TempDir()
	code, out, errOut := runNas(t, f.args(ref, "--budget", "3", "--final", "0")...)
	require.Equal(t, 0, code, errOut)
	var want searchSummary
	require.NoError(t, json.Unmarshal([]byte(out), &want))

	other := latency.CurrentFingerprint(2) // this machine at two threads: another fingerprint
	g := f
	g.lut = copyToDevice(t, f.lut, other)
	before := lutEntries(t, g.lut)
	dir := t.TempDir()
	code, _, errOut = runNas(t, g.args(dir, "--budget", "3", "--final", "0")...)
	require.Equal(t, exitError, code, "without --device the table is not this machine's")
	require.Contains(t, errOut, "--device "+other.ID())
	code, out, errOut = runNas(t, g.args(dir, "--budget", "3", "--final", "0", "--device", other.ID())...)
	require.Equal(t, 0, code, errOut)
	var got searchSummary
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Equal(t, want.Best.Key, got.Best.Key)
	require.Equal(t, want.Best.Reward, got.Best.Reward)
	wantTrials, gotTrials := storedTrials(t, filepath.Join(ref, "store.db")), storedTrials(t, filepath.Join(dir, "store.db"))
	require.Equal(t, len(wantTrials), len(gotTrials))
	for i := range wantTrials {
		require.Equal(t, wantTrials[i].PredictedLatencyMs, gotTrials[i].PredictedLatencyMs, "trial %d", i+1)
	}
	require.Equal(t, before, lutEntries(t, g.lut))
	s, err := results.OpenReadOnly(filepath.Join(dir, "store.db"))
	require.NoError(t, err)
	run, err := s.Run(1)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.Equal(t, other.ID(), run.Config.Device)

	// Another device's table without the space's entries: the search stops
	// before its first trial and names the command that fills the table.
	board, bfp := writeBoardLut(t)
	dir = t.TempDir()
	code, _, errOut = runNas(t, f.args(dir, "--budget", "3", "--final", "0", "--lut", board, "--device", bfp.ID())...)
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "lacks")
	require.Contains(t, errOut, "nas profile --lut "+board+" --lut-threads 4 --batch 1 --space convnet28")
	require.Equal(t, map[string]int{bfp.ID(): 1}, lutEntries(t, board))
}

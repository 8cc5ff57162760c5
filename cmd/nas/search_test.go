package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"nas/internal/crashtest"
	"nas/latency"
	"nas/pipeline"
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
		{[]string{"--target-ms", "1", "--budget", "-1"}, "--budget"},
		{[]string{"--target-ms", "1", "--baselines", "resnet50"}, "no zoo network"},
		{[]string{"--target-ms", "1", "--baselines", "mobilenet_v2@x"}, "width after @"},
		{[]string{"--resume", "bogus"}, "--resume"},
		{[]string{"--target-ms", "1", "--hard", "--w", "-0.07"}, "--hard and --w cannot be given together"},
		{[]string{"--resume", "run-1", "--hard", "--w", "-0.07"}, "--hard and --w cannot be given together"},
		{[]string{"--target-ms", "1", "--proxy-steps", "3", "--proxy-epochs", "2"}, "--proxy-steps and --proxy-epochs cannot be given together"},
		{[]string{"--target-ms", "1", "--proxy-steps", "3"}, "--proxy-steps sets the proxy training, which scores candidates only with --proxy"},
		{[]string{"--target-ms", "1", "--proxy", "--supernet", "s"}, "--supernet and --proxy cannot be given together"},
		{[]string{"--target-ms", "1", "--proxy", "--supernet-epochs", "2"}, "--supernet-epochs and --proxy cannot be given together"},
		{[]string{"--target-ms", "1", "--supernet-fraction", "1.5"}, "--supernet-fraction"},
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
		"--proxy", "--proxy-steps", "3", "--proxy-fraction", "1", "--batch", "16", "--seed", "5", "--json"}, extra...)
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

// TestSearchChild is the process the search kill tests stop: it runs the
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

// killedChild is a child process stopped by the crash tests' hook.
type killedChild struct {
	state          *os.ProcessState
	stdout, stderr string
}

// runKilled runs the command line args in the test binary's child test
// (TestSearchChild or TestNetAdaptChild, reading argsEnv) with the hook
// pipeline.KillAtEnv set to at, and waits for it to end.
func runKilled(t *testing.T, child, argsEnv, at string, args []string) killedChild {
	t.Helper()
	raw, err := json.Marshal(args)
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^"+child+"$")
	cmd.Env = append(os.Environ(), argsEnv+"="+string(raw), pipeline.KillAtEnv+"="+at)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	crashtest.Start(t, cmd)
	_ = cmd.Wait()
	return killedChild{state: cmd.ProcessState, stdout: out.String(), stderr: errb.String()}
}

// requireStopped fails unless the child ended as the kill point says: by
// SIGKILL, or after SIGINT with the message naming how to continue.
func requireStopped(t *testing.T, c killedChild, sigint bool, want string) {
	t.Helper()
	if sigint {
		require.Equal(t, exitError, c.state.ExitCode(), "the child stopped by Ctrl-C fails: %s", c.stderr)
		require.Contains(t, c.stderr, want)
		return
	}
	ws, ok := c.state.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "the child was not killed by the hook: %v\n%s", c.state, c.stderr)
}

// searchKillPoints are where the search kill tests stop a search of
// budget 4 with one final network and one baseline: the event of
// pipeline.KillAtEnv, and the trials the store must hold by then.
var searchKillPoints = []struct {
	name, at string
	trials   int
}{
	{"proxy-trial-3-SIGKILL", "trial:3", 2},
	{"final-training-SIGKILL", "final:1", 4},
	{"baseline-training-SIGKILL", "baseline:1", 4},
	{"proxy-trial-2-SIGINT", "trial:2:int", 1},
	{"final-training-SIGINT", "final:1:int", 4},
}

// A search stopped by SIGKILL or SIGINT (Ctrl-C) at a known point of its
// run (during the proxy training of a trial, the final training of the
// searched network, the training of a baseline) and continued with
// --resume keeps every trial it committed and ends with exactly the trials
// and final results of a search that was never interrupted.
func TestSearchKillResume(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a few tiny networks, six times over")
	}
	f := newSearchFixture(t)
	runArgs := func(dir string) []string {
		return f.args(dir, "--budget", "4", "--final", "1", "--final-fraction", "0.5", "--baselines", "mobilenet_v1@0.25", "--threads", "1")
	}
	ref := t.TempDir()
	code, out, errOut := runNas(t, runArgs(ref)...)
	require.Equal(t, 0, code, errOut)
	var want searchSummary
	require.NoError(t, json.Unmarshal([]byte(out), &want))
	require.Equal(t, 4, want.Trials)
	require.Len(t, want.Final, 2)
	wantTrials := storedTrials(t, filepath.Join(ref, "store.db"))

	for _, kp := range searchKillPoints {
		t.Run(kp.name, func(t *testing.T) {
			dir := t.TempDir()
			store := filepath.Join(dir, "store.db")
			sigint := strings.HasSuffix(kp.at, ":int")
			c := runKilled(t, "TestSearchChild", "NAS_SEARCH_ARGS", kp.at, runArgs(dir))
			requireStopped(t, c, sigint, fmt.Sprintf("stopped: %d trials are stored; continue with nas search --resume run-1", kp.trials))

			// The kill landed mid-run: the run is stored, not finished, with
			// the trials committed before the kill point, each that of the
			// uninterrupted run.
			s, err := results.OpenReadOnly(store)
			require.NoError(t, err)
			run, err := s.Run(1)
			require.NoError(t, err)
			stored, err := s.Trials(1)
			require.NoError(t, err)
			require.NoError(t, s.Close())
			require.NotEqual(t, results.RunFinished, run.Status)
			if sigint {
				require.Equal(t, results.RunStopped, run.Status)
			}
			require.Len(t, stored, kp.trials)
			requireSameTrials(t, wantTrials[:kp.trials], stored)

			resume := []string{"search", "--resume", "run-1", "--store", store, "--out", filepath.Join(dir, "report"), "--threads", "1", "--json"}
			if kp.at == searchKillPoints[0].at {
				// Settings that differ from the run's are refused, each named
				// with both values; the run's own are accepted.
				code, _, errOut := runNas(t, append(resume, "--budget", "6", "--seed", "7", "--strategy", "rl", "--target-ms", "1", "--hard", "--lut", "x.db")...)
				require.Equal(t, exitError, code)
				for _, want := range []string{"run-1 was started with other settings", "--budget: stored 4, given 6", "--seed: stored 5, given 7",
					"--strategy: stored evolution, given rl", "--target-ms: stored 0.05, given 1", "--w (alpha): stored -0.15, given 0",
					"--w (beta): stored -0.15, given -1", "--lut (latency_table): stored " + f.lut + ", given x.db", "resume it without them"} {
					require.Contains(t, errOut, want)
				}
				resume = append(resume, "--budget", "4", "--seed", "5", "--target-ms", "0.05", "--space", "convnet28", "--lut", f.lut)
			}
			code, out, errOut := runNas(t, resume...)
			require.Equal(t, 0, code, "the resume: %s", errOut)
			var got searchSummary
			require.NoError(t, json.Unmarshal([]byte(out), &got))
			requireSameTrials(t, wantTrials, storedTrials(t, store))
			require.Equal(t, want.Best.Key, got.Best.Key)
			require.Equal(t, want.Best.Reward, got.Best.Reward)
			require.Len(t, got.Final, len(want.Final))
			for i, w := range want.Final {
				g := got.Final[i]
				require.Equal(t, w.Name, g.Name)
				require.Equal(t, w.Arch, g.Arch)
				require.Equal(t, w.ValAcc, g.ValAcc, "%s: the final training is deterministic", w.Name)
				require.Equal(t, w.TestAcc, g.TestAcc, "%s", w.Name)
				require.FileExists(t, g.Weights)
			}
			code, _, errOut = runNas(t, "search", "--resume", "run-1", "--store", store, "--json")
			require.Equal(t, exitError, code)
			require.Contains(t, errOut, "is finished")
		})
	}
}

// requireSameTrials fails unless got holds the trials of want, bit for bit
// in what a run decides (timings aside).
func requireSameTrials(t *testing.T, want, got []results.Trial) {
	t.Helper()
	require.Equal(t, len(want), len(got))
	for i := range want {
		require.Equal(t, want[i].Arch, got[i].Arch, "trial %d", i+1)
		require.Equal(t, want[i].Seed, got[i].Seed, "trial %d", i+1)
		require.Equal(t, want[i].Status, got[i].Status, "trial %d", i+1)
		require.Equal(t, want[i].PredictedLatencyMs, got[i].PredictedLatencyMs, "trial %d", i+1)
		require.Equal(t, want[i].ValAccuracy, got[i].ValAccuracy, "trial %d", i+1)
		require.Equal(t, want[i].Reward, got[i].Reward, "trial %d", i+1)
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

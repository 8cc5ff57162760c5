package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"nas/latency"
	"nas/pipeline"
	"nas/search"
	"nas/trainer"
)

func TestNetAdaptFlags(t *testing.T) {
	var got *netadaptOptions
	cmd := newCmdNetAdapt(func(_ *cobra.Command, o *netadaptOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"arch.json", "--weights", "w.safetensors", "--target-ms", "1.5", "--lut", "l.db",
		"--criterion", "ratio", "--short-steps", "7", "--long-steps", "9", "--resume", "--json"})
	require.NoError(t, cmd.Execute())
	require.Equal(t, "arch.json", got.Ref)
	require.Equal(t, 1.5, got.Settings.TargetMs)
	require.Equal(t, search.CriterionRatio, got.Settings.Criterion)
	require.Equal(t, 7, got.Settings.ShortSteps)
	require.Equal(t, 9, got.Settings.LongSteps)
	require.True(t, got.Resume)
	require.Equal(t, 0.025, got.Settings.InitialReduction)
	require.Equal(t, 0.96, got.Settings.Decay)
	require.Equal(t, "runs/netadapt", got.Out)
	require.Equal(t, "nas-lut.db", newCmdNetAdapt(nil).Flags().Lookup("lut").DefValue, "one default table")

	// --seed is the training run's seed, which drew the validation split;
	// the deprecated --val-seed still names it apart.
	cmd = newCmdNetAdapt(func(_ *cobra.Command, o *netadaptOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"a", "--weights", "w", "--target-ms", "1", "--seed", "7", "-o", "x", "--device", "fp-1"})
	require.NoError(t, cmd.Execute())
	require.Equal(t, uint64(7), got.Settings.Seed)
	require.Equal(t, uint64(7), got.Settings.ValSeed)
	require.Equal(t, "x", got.Out)
	require.Equal(t, "fp-1", got.Device)
	cmd = newCmdNetAdapt(func(_ *cobra.Command, o *netadaptOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"a", "--weights", "w", "--target-ms", "1", "--seed", "7", "--val-seed", "2"})
	require.NoError(t, cmd.Execute())
	require.Equal(t, uint64(7), got.Settings.Seed)
	require.Equal(t, uint64(2), got.Settings.ValSeed)

	base := []string{"netadapt", "a", "--weights", "w", "--target-ms", "1", "--lut", "l"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"netadapt", "a", "--target-ms", "1", "--lut", "l"}, "--weights"},
		{[]string{"netadapt", "a", "--weights", "w", "--lut", "l"}, "--target-ms"},
		{[]string{"netadapt", "a", "--weights", "w", "--target-ms", "1", "--lut", ""}, "--lut"},
		{[]string{"netadapt", "--weights", "w", "--target-ms", "1", "--lut", "l"}, "accepts 1 arg"},
		{append(base, "--criterion", "speed"), "--criterion"},
		{append(base, "--initial-reduction", "1.5"), "--initial-reduction"},
		{append(base, "--decay", "1.5"), "--decay"},
		{append(base, "--short-steps", "-1"), "--short-steps"},
		{append(base, "--fraction", "-0.5"), "--fraction"},
		{append(base, "--eval-fraction", "2"), "--eval-fraction"},
		{append(base, "--batch", "-1"), "--batch"},
		{append(base, "--data", "imagenet"), "--data"},
		{append(base, "--cap", "-1s"), "--cap"},
	} {
		code, _, errOut := runNas(t, c.args...)
		require.Equal(t, exitUsage, code, "%v: %s", c.args, errOut)
		require.Contains(t, errOut, c.want, "%v", c.args)
	}
}

// netadaptArch is small enough to fine-tune in milliseconds and has units
// of several kinds: a conv's out, MBConv mids, an MBConv out without
// residual that the next block's residual is tied to.
const netadaptArch = "in1x28x28 cls10 | conv_o8_k3_s2_arelu | ir_e4_o16_k3_s2 | ir_e4_o16_k3 | gap | linear_o10"

// netadaptFixture is a tiny dataset, a network trained on it for a few
// steps, and a latency table profiled for it with short caps.
type netadaptFixture struct {
	data, weights, lut string
	tableMs            float64 // the table latency of the starting network
	target             float64 // the target as a fraction of tableMs (0: 0.9)
}

// measureArgs keep table fills and end-to-end measurements short.
var measureArgs = []string{"--cap", "5ms", "--warmup", "1ms", "--tolerance", "0.5"}

func newNetadaptFixture(t *testing.T) netadaptFixture {
	t.Helper()
	f := netadaptFixture{data: writeMNISTDir(t, 300, 60), lut: filepath.Join(t.TempDir(), "lut.db")}
	train := t.TempDir()
	code, _, errOut := runNas(t, "train", netadaptArch, "--data", "mnist", "--data-dir", f.data, "--steps", "20",
		"--batch", "16", "--no-test", "--seed", "3", "--out", train, "--json")
	require.Equal(t, 0, code, errOut)
	f.weights = filepath.Join(train, trainer.WeightsFile)
	code, _, errOut = runNas(t, append([]string{"profile", "--lut", f.lut, "--quiet", netadaptArch}, measureArgs...)...)
	require.Equal(t, 0, code, errOut)
	code, out, errOut := runNas(t, "latency", "--lut", f.lut, netadaptArch, "--json")
	require.Equal(t, 0, code, errOut)
	var lj latencyJSON
	require.NoError(t, json.Unmarshal([]byte(out), &lj))
	f.tableMs = lj.PredictedMs
	return f
}

func (f netadaptFixture) args(out string, extra ...string) []string {
	target := f.target
	if target == 0 {
		target = 0.9
	}
	args := []string{"netadapt", netadaptArch, "--weights", f.weights, "--data", "mnist", "--data-dir", f.data,
		"--lut", f.lut, "--target-ms", jsonNumber(target * f.tableMs), "--out", out, "--initial-reduction", "0.04",
		"--short-steps", "2", "--long-steps", "3", "--batch", "16", "--seed", "3", "--threads", "1", "--json"}
	return append(append(args, measureArgs...), extra...)
}

func jsonNumber(x float64) string {
	b, _ := json.Marshal(x)
	return string(b)
}

func readHistory(t *testing.T, out string) pipeline.History {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, pipeline.HistoryFile))
	require.NoError(t, err)
	var h pipeline.History
	require.NoError(t, json.Unmarshal(b, &h))
	return h
}

func TestNetAdaptEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("fine-tunes a tiny network many times")
	}
	f := newNetadaptFixture(t)
	out := filepath.Join(t.TempDir(), "na")
	code, stdout, errOut := runNas(t, f.args(out)...)
	require.Equal(t, 0, code, errOut)

	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &raw), stdout)
	for _, k := range []string{"initial_ms", "final_ms", "initial_acc", "final_acc"} {
		require.Contains(t, raw, k)
	}
	var sum netadaptSummary
	require.NoError(t, json.Unmarshal([]byte(stdout), &sum))
	require.LessOrEqual(t, sum.FinalTableMs, 0.9*f.tableMs, "the table latency meets the target")
	require.Less(t, sum.FinalParams, sum.InitialParams)
	require.Positive(t, sum.InitialMs)
	require.Positive(t, sum.FinalMs)
	require.Positive(t, sum.InitialRunMs)
	require.Positive(t, sum.FinalRunMs)
	require.InDelta(t, sum.InitialMs/sum.FinalMs, sum.SpeedUp, 1e-9)
	require.Contains(t, raw, "speedup")
	require.GreaterOrEqual(t, sum.Iterations, 1)

	h := readHistory(t, out)
	require.Len(t, h.Iterations, sum.Iterations+2)
	for _, ext := range []string{".svg", ".png"} {
		fi, err := os.Stat(filepath.Join(out, pipeline.PlotFile+ext))
		require.NoError(t, err, "the plot of the run")
		require.Positive(t, fi.Size())
		require.Equal(t, os.FileMode(0o644), fi.Mode().Perm(), "results others can read, not CreateTemp's 0600")
	}
	fi, err := os.Stat(filepath.Join(out, pipeline.HistoryFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
	require.True(t, h.Iterations[len(h.Iterations)-1].Final)
	require.Equal(t, sum.FinalArch, h.Iterations[len(h.Iterations)-1].Arch)
	for i, it := range h.Iterations {
		require.Equal(t, i, it.Index)
		dir := pipeline.IterDir(out, it.Index)
		code, _, errOut := runNas(t, "inspect", filepath.Join(dir, pipeline.IterArchFile))
		require.Equal(t, 0, code, "iteration %d: %s", i, errOut)
		code, evalOut, errOut := runNas(t, "eval", filepath.Join(dir, pipeline.IterArchFile), "--weights", filepath.Join(dir, trainer.WeightsFile),
			"--data", "mnist", "--data-dir", f.data, "--split", "val", "--seed", "3", "--json")
		require.Equal(t, 0, code, "iteration %d: %s", i, errOut)
		var ev evalReport
		require.NoError(t, json.Unmarshal([]byte(evalOut), &ev))
		require.Equal(t, it.Arch, ev.Arch)
		// nas eval on the training run's validation split measures what the
		// run recorded.
		require.InDelta(t, it.Accuracy, ev.Acc, 1e-9, "iteration %d", i)
	}

	// Without --json: a line per iteration, the same decisions.
	human := filepath.Join(t.TempDir(), "human")
	args := slices.DeleteFunc(f.args(human), func(s string) bool { return s == "--json" })
	code, text, errOut := runNas(t, args...)
	require.Equal(t, 0, code, errOut)
	t.Log(text)
	require.Contains(t, text, "iteration 1: layers.")
	require.Contains(t, text, "final (after 3 fine-tuning steps)")
	require.Equal(t, decisions(h.Iterations), decisions(readHistory(t, human).Iterations))

	// A second run into the same folder must say how to continue.
	code, _, errOut = runNas(t, f.args(out)...)
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "--resume")
	// Resuming a finished run reports it again; other settings are refused.
	code, again, errOut := runNas(t, f.args(out, "--resume")...)
	require.Equal(t, 0, code, errOut)
	var sum2 netadaptSummary
	require.NoError(t, json.Unmarshal([]byte(again), &sum2))
	require.Positive(t, sum2.SpeedUp)
	// The side-by-side timings are taken again: timings, not decisions.
	for _, s := range []*netadaptSummary{&sum, &sum2} {
		s.InitialMs, s.FinalMs, s.SpeedUp = 0, 0, 0
	}
	require.Equal(t, sum, sum2)
	code, _, errOut = runNas(t, f.args(out, "--resume", "--seed", "4")...)
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "--seed: stored 3, given 4")
	// --resume without a run.
	code, _, errOut = runNas(t, f.args(filepath.Join(t.TempDir(), "none"), "--resume")...)
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "run without --resume")
}

// TestNetAdaptChild is the process TestNetAdaptKillResume kills: it runs
// the command line in NAS_NETADAPT_ARGS and exits.
func TestNetAdaptChild(t *testing.T) {
	raw := os.Getenv("NAS_NETADAPT_ARGS")
	if raw == "" {
		t.Skip("only run as the child of TestNetAdaptKillResume")
	}
	var args []string
	require.NoError(t, json.Unmarshal([]byte(raw), &args))
	os.Exit(run(args, io.Discard, os.Stderr))
}

// decisions drops what is timed, not decided: measured latencies.
func decisions(its []search.Iteration) []search.Iteration {
	out := make([]search.Iteration, len(its))
	for i, it := range its {
		it.MeasuredMs = 0
		out[i] = it
	}
	return out
}

// A NetAdapt run stopped by SIGKILL or SIGINT (Ctrl-C) at a known point
// (during a proposal's fine-tune, during the long fine-tune) and continued
// with --resume keeps every iteration it recorded and ends with the
// history of a run that was never interrupted.
func TestNetAdaptKillResume(t *testing.T) {
	if testing.Short() {
		t.Skip("fine-tunes a tiny network many times, five times over")
	}
	f := newNetadaptFixture(t)
	// A target well below the start: each iteration's cut is measured on
	// this machine, so the count of iterations varies; at 0.75 there are
	// always more than the two the kill points need. It must stay within
	// reach: on a fast CPU the stem, pooling and classifier, which no
	// unit prunes, are two thirds of this tiny network's time (measured:
	// pruning stops at 0.67 of the start on a Zen 5 with AVX-512), and a
	// run that cannot meet its target ends with an error.
	f.target = 0.75

	// The uninterrupted run fills the table with every entry a run of
	// these settings asks for; the others then read the same predictions
	// from copies of it.
	ref := filepath.Join(t.TempDir(), "ref")
	code, _, errOut := runNas(t, f.args(ref)...)
	require.Equal(t, 0, code, errOut)
	want := readHistory(t, ref)
	require.Greater(t, len(want.Iterations), 3, "the kill points need two pruning iterations")
	lut, err := os.ReadFile(f.lut)
	require.NoError(t, err)
	// The first proposal of the second iteration: each proposal an
	// iteration lists was fine-tuned.
	second := len(want.Iterations[1].Proposals) + 1

	for _, kp := range []struct {
		name, at string
		final    bool // stopped in the long fine-tune: every pruning iteration is recorded
	}{
		{"proposal-SIGKILL", fmt.Sprintf("proposal:%d", second), false},
		{"long-fine-tune-SIGKILL", "long:1", true},
		{"proposal-SIGINT", "proposal:2:int", false},
		{"long-fine-tune-SIGINT", "long:1:int", true},
	} {
		t.Run(kp.name, func(t *testing.T) {
			dir := t.TempDir()
			g := f
			g.lut = filepath.Join(dir, "lut.db")
			require.NoError(t, os.WriteFile(g.lut, lut, 0o644))
			out := filepath.Join(dir, "na")
			c := runKilled(t, "TestNetAdaptChild", "NAS_NETADAPT_ARGS", kp.at, g.args(out))
			requireStopped(t, c, strings.HasSuffix(kp.at, ":int"), "the same command with --resume continues")

			// The kill landed mid-run: the history holds a prefix of the
			// uninterrupted run's, without its final network.
			its := readHistory(t, out).Iterations
			require.NotEmpty(t, its)
			require.Less(t, len(its), len(want.Iterations))
			require.False(t, its[len(its)-1].Final)
			if kp.final {
				require.Len(t, its, len(want.Iterations)-1, "every pruning iteration is recorded before the long fine-tune")
			}
			require.Equal(t, decisions(want.Iterations[:len(its)]), decisions(its))
			t.Logf("stopped after iteration %d of %d", its[len(its)-1].Index, len(want.Iterations)-1)

			code, stdout, errOut := runNas(t, slices.DeleteFunc(g.args(out, "--resume"), func(s string) bool { return s == "--json" })...)
			require.Equal(t, 0, code, "the resume: %s", errOut)
			require.Contains(t, stdout, fmt.Sprintf("resuming %s after iteration %d", out, its[len(its)-1].Index))
			got := readHistory(t, out)
			require.Equal(t, want.Settings, got.Settings)
			require.Equal(t, decisions(want.Iterations), decisions(got.Iterations))
		})
	}
}

// copyToDevice writes a table at path whose only device is fp, with the
// entries of the table src's device of this machine at one thread: a table
// "profiled" under another fingerprint, whose predictions are those of src.
func copyToDevice(t *testing.T, src string, fp latency.Fingerprint) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "other.db")
	tbl, err := latency.Open(path, fp, latency.Options{})
	require.NoError(t, err)
	defer tbl.Close()
	here := latency.CurrentFingerprint(1).ID()
	n := 0
	require.NoError(t, latency.ReadAll(src, func(dev, key string, e latency.Entry) error {
		if dev != here {
			return nil
		}
		n++
		return tbl.Put(key, e)
	}))
	require.Positive(t, n)
	return path
}

// lutEntries counts the entries of each device of a table.
func lutEntries(t *testing.T, path string) map[string]int {
	t.Helper()
	sum, err := latency.Inspect(path)
	require.NoError(t, err)
	n := map[string]int{}
	for _, d := range sum.Devices {
		n[d.ID] = d.Entries
	}
	return n
}

// nas netadapt --device reads a table profiled under another fingerprint:
// with the same entries it makes the decisions of a run on this machine's
// table, and measures nothing into the other device's.
func TestNetAdaptDevice(t *testing.T) {
	if testing.Short() {
		t.Skip("fine-tunes a tiny network many times, twice")
	}
	f := newNetadaptFixture(t)
	ref := filepath.Join(t.TempDir(), "ref")
	code, _, errOut := runNas(t, f.args(ref)...)
	require.Equal(t, 0, code, errOut)

	other := latency.CurrentFingerprint(2) // this machine at two threads: another fingerprint
	g := f
	g.lut = copyToDevice(t, f.lut, other)
	before := lutEntries(t, g.lut)
	out := filepath.Join(t.TempDir(), "dev")
	code, _, errOut = runNas(t, g.args(out)...)
	require.Equal(t, exitError, code, "without --device the table is not this machine's")
	require.Contains(t, errOut, "--device "+other.ID())
	code, _, errOut = runNas(t, g.args(out, "--device", other.ID())...)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, decisions(readHistory(t, ref).Iterations), decisions(readHistory(t, out).Iterations))
	require.Equal(t, before, lutEntries(t, g.lut))

	// A device whose table lacks what a run needs: the run stops and names
	// the command that fills it there; nothing is measured here.
	board, bfp := writeBoardLut(t)
	code, _, errOut = runNas(t, f.args(filepath.Join(t.TempDir(), "board"), "--lut", board, "--device", bfp.ID())...)
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "lacks")
	require.Contains(t, errOut, "fill them on that device")
	require.Equal(t, map[string]int{bfp.ID(): 1}, lutEntries(t, board))
}

func TestNetadaptWarning(t *testing.T) {
	it := search.Iteration{Index: 5, Unit: "layers.7.out", From: 64, To: 2, Accuracy: 0.1975, Proposals: make([]search.Proposal, 1)}
	w := netadaptWarning(0.8912, it, 0.08)
	require.Contains(t, w, "fell 69.4 points")
	require.Contains(t, w, "layers.7.out 64 -> 2")
	require.Contains(t, w, "--initial-reduction (now 0.08)")
	it.Accuracy = 0.88
	require.Empty(t, netadaptWarning(0.8912, it, 0.08), "a drop of one point is not worth a warning")
	require.Empty(t, netadaptWarning(math.NaN(), it, 0.08))
	it.Final, it.Accuracy = true, 0.1
	require.Empty(t, netadaptWarning(0.9, it, 0.08), "the final fine-tune is reported as it is")
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"nas/results"
	"nas/space"
)

func TestReportFlags(t *testing.T) {
	var got *reportOptions
	cmd := newCmdReport(func(_ *cobra.Command, o *reportOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"run-3", "--store", "x.db", "--out", "rep", "--json"})
	require.NoError(t, cmd.Execute())
	require.Equal(t, &reportOptions{Run: "run-3", Store: "x.db", Out: "rep", JSON: true}, got)

	cmd = newCmdReport(func(_ *cobra.Command, o *reportOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"latest"})
	require.NoError(t, cmd.Execute())
	require.Equal(t, &reportOptions{Run: "latest", Store: "nas-results.db"}, got)
}

// reportStore writes a store with two runs; the first holds ok, failed and
// skipped trials and two baselines. It returns the store's path.
func reportStore(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "nas-results.db")
	s, err := results.Open(path)
	require.NoError(t, err)
	id, err := s.CreateRun(results.RunConfig{Strategy: "evolution", Seed: 42, TargetMs: 1.5, Space: "mbconv-tiny", Dataset: "fashion-mnist"})
	require.NoError(t, err)
	for i, tr := range []struct {
		c      int
		lat    float64
		acc    float64
		status results.TrialStatus
	}{
		{16, 1.0, 0.80, results.TrialOK},
		{24, 1.4, 0.86, results.TrialOK}, // best reward: most accurate within the target
		{8, 0.6, 0.70, results.TrialOK},
		{32, 2.2, 0.84, results.TrialOK}, // dominated by 2
		{40, 3.0, 0, results.TrialFailed},
		{48, 4.0, 0, results.TrialSkipped},
	} {
		a, err := space.ParseArch(strings.Replace(tinyArchString, "o16", "o"+strconv.Itoa(tr.c), 1))
		require.NoError(t, err)
		cost, err := a.Cost()
		require.NoError(t, err)
		trial := results.Trial{Arch: a.String(), Params: cost.Params, MACs: cost.MACs, PredictedLatencyMs: tr.lat,
			ValAccuracy: tr.acc, Reward: tr.acc, Status: tr.status, Seed: uint64(i)}
		if tr.status != results.TrialOK {
			trial.Reason = "for the test"
		}
		require.NoError(t, s.AppendTrial(id, trial, nil))
	}
	require.NoError(t, s.AddBaselines(id,
		results.Baseline{Name: "mobilenet_v3_small", LatencyMs: 1.2, Accuracy: 0.83, Params: 1_528_106, MACs: 2_810_000},
		results.Baseline{Name: "squeezenet1_1", LatencyMs: 2.0, Accuracy: 0.82}))
	_, err = s.CreateRun(results.RunConfig{Strategy: "random", TargetMs: 1}) // run-2: no trials yet
	require.NoError(t, err)
	require.NoError(t, s.Close())
	return path
}

func TestReportSummary(t *testing.T) {
	dir := t.TempDir()
	store := reportStore(t, dir)
	out := filepath.Join(dir, "rep")
	code, stdout, stderr := runNas(t, "report", "run-1", "--store", store, "--out", out)
	require.Equal(t, 0, code, stderr)
	for _, want := range []string{
		"run-1 (running): evolution, space mbconv-tiny, fashion-mnist, seed 42, target 1.5 ms",
		"trials: 6 (4 ok, 1 failed, 1 skipped); 3 ok within the target",
		"Pareto front (3), fastest first:",
		"best (within the target first, then by reward): trial 2, reward 0.8600, val acc 86.00%, 1.400 ms (predicted)",
		"mobilenet_v3_small",
		"wrote " + out + ": report.json trials.csv pareto.svg pareto.png report.html best.json best.txt",
	} {
		require.Contains(t, stdout, want)
	}
	// The front rows, fastest first: trials 3, 1, 2; trial 4 is dominated.
	lines := strings.Split(stdout, "\n")
	var front []string
	for i, l := range lines {
		if strings.HasPrefix(l, "Pareto front") {
			for _, row := range lines[i+2 : i+5] {
				front = append(front, strings.Fields(row)[0])
			}
		}
	}
	require.Equal(t, []string{"3", "1", "2"}, front)
	require.Contains(t, stdout, "(best)")

	best, err := os.ReadFile(filepath.Join(out, "best.txt"))
	require.NoError(t, err)
	code, inspectOut, stderr := runNas(t, "inspect", filepath.Join(out, "best.json"))
	require.Equal(t, 0, code, stderr)
	require.Contains(t, inspectOut, "conv_o24_k3_s2_ahswish", "nas inspect reads best.json")
	require.Contains(t, string(best), "conv_o24_k3_s2_ahswish")
}

func TestReportJSON(t *testing.T) {
	dir := t.TempDir()
	store := reportStore(t, dir)
	t.Chdir(dir) // the default output folder is runs/<run ID> in the current directory
	code, stdout, stderr := runNas(t, "report", "1", "--store", store, "--json")
	require.Equal(t, 0, code, stderr)
	var r struct {
		Run struct {
			ID string `json:"id"`
		} `json:"run"`
		Summary   results.Summary    `json:"summary"`
		Best      *results.Row       `json:"best"`
		Front     []results.Row      `json:"front"`
		Trials    []results.Row      `json:"trials"`
		Baselines []results.Baseline `json:"baselines"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &r))
	require.Equal(t, "run-1", r.Run.ID)
	require.Equal(t, 6, r.Summary.Trials)
	require.Len(t, r.Trials, 6)
	require.Len(t, r.Front, 3)
	require.Equal(t, uint64(2), r.Best.Seq)
	require.Len(t, r.Baselines, 2)
	file, err := os.ReadFile(filepath.Join(dir, "runs", "run-1", "report.json"))
	require.NoError(t, err)
	require.JSONEq(t, stdout, string(file), "--json prints report.json")
}

func TestReportLatestAndEmpty(t *testing.T) {
	dir := t.TempDir()
	store := reportStore(t, dir)
	out := filepath.Join(dir, "rep")
	code, stdout, stderr := runNas(t, "report", "latest", "--store", store, "--out", out)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "run-2 (running): random")
	require.Contains(t, stdout, "no trial has trained yet")
	require.NotContains(t, stdout, "best.json")
	_, err := os.Stat(filepath.Join(out, "report.html"))
	require.NoError(t, err)
}

func TestReportErrors(t *testing.T) {
	dir := t.TempDir()
	store := reportStore(t, dir)
	empty := filepath.Join(dir, "empty.db")
	s, err := results.Open(empty)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	t.Chdir(dir)
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"bad run ID", []string{"report", "run-x", "--store", store}, exitUsage, `run ID "run-x": want run-N or N with N >= 1, or latest`},
		{"no run ID", []string{"report", "--store", store}, exitUsage, "accepts 1 arg"},
		{"unknown run", []string{"report", "run-9", "--store", store}, exitError, "no such run run-9"},
		{"no store", []string{"report", "run-1", "--store", filepath.Join(dir, "missing.db")}, exitError, "missing.db"},
		{"no default store", []string{"report", "run-1"}, exitError, "pass --store FILE"},
		{"no runs", []string{"report", "latest", "--store", empty}, exitError, "holds no runs yet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "no default store" {
				t.Chdir(t.TempDir())
			}
			code, _, stderr := runNas(t, tc.args...)
			require.Equal(t, tc.code, code, stderr)
			require.Contains(t, stderr, tc.msg)
		})
	}
}

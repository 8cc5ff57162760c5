package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"nas/internal/crashtest"
	"nas/results"
)

// watchArgs is a search of the fixture without --json.
func (f searchFixture) watchArgs(dir string, extra ...string) []string {
	args := slices.DeleteFunc(f.args(dir, extra...), func(a string) bool { return a == "--json" })
	return args
}

// trialLine matches a search's log line of a trial (text format).
var trialLine = regexp.MustCompile(`level=INFO msg=trial run=run-1 trial=(\d+) of=(\d+) status=\w+ arch=".*?" latency_ms=\S+ val_acc=\S+ reward=\S+ wall=\S+ elapsed=\S+ eta=\S+ best_reward=\S+`)

// A search redirected to a file (nas search ... > out.log 2>&1) logs a
// line per trial as each trial finishes, and a line per epoch of the final
// training; nas report on the running search reads the trials committed so
// far while the search still holds the store.
func TestSearchRedirected(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a few tiny networks")
	}
	f := newSearchFixture(t)
	dir := t.TempDir()
	const budget = 12
	args, _ := json.Marshal(f.watchArgs(dir, "--budget", strconv.Itoa(budget), "--final", "1", "--final-epochs", "3", "--final-fraction", "1"))
	logPath := filepath.Join(dir, "out.log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	defer logFile.Close()
	child := exec.Command(os.Args[0], "-test.run=^TestSearchChild$") // runs NAS_SEARCH_ARGS (search_test.go)
	child.Env = append(os.Environ(), "NAS_SEARCH_ARGS="+string(args))
	child.Stdout, child.Stderr = logFile, logFile
	crashtest.Start(t, child)
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()

	// The first trial's line appears while the search runs.
	var seen int
	deadline := time.Now().Add(2 * time.Minute)
	for seen == 0 {
		require.True(t, time.Now().Before(deadline), "no trial logged: %s", readFile(t, logPath))
		select {
		case err := <-exited:
			t.Fatalf("the search ended (%v) before its first trial was read: %s", err, readFile(t, logPath))
		case <-time.After(20 * time.Millisecond):
		}
		seen = len(trialLine.FindAllString(readFile(t, logPath), -1))
	}
	require.NotContains(t, readFile(t, logPath), "report: ", "the trial was logged before the end")

	// nas report reads the running search: at least the trials logged.
	code, out, errOut := runNas(t, "report", "run-1", "--store", filepath.Join(dir, "store.db"), "-o", filepath.Join(dir, "mid"), "--json")
	require.Equal(t, 0, code, errOut)
	var mid results.Report
	require.NoError(t, json.Unmarshal([]byte(out), &mid), out)
	require.GreaterOrEqual(t, len(mid.Trials), seen)
	require.Equal(t, results.RunRunning, mid.Run.Status)
	code, out, errOut = runNas(t, "report", "latest", "--store", filepath.Join(dir, "store.db"), "-o", filepath.Join(dir, "mid"))
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "run-1 (running)")
	require.Contains(t, out, "this report holds what it has committed so far")
	select {
	case err := <-exited:
		t.Fatalf("the search ended (%v) before the reports were read: they did not run beside it", err)
	default:
	}

	require.NoError(t, <-exited, readFile(t, logPath))
	log := readFile(t, logPath)
	t.Logf("redirected search output:\n%s", log)
	var trials []int
	for _, m := range trialLine.FindAllStringSubmatch(log, -1) {
		n, _ := strconv.Atoi(m[1])
		trials = append(trials, n)
		require.Equal(t, strconv.Itoa(budget), m[2])
	}
	require.Equal(t, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, trials, "a line per trial, in order")
	require.Regexp(t, `msg=epoch run=run-1 network=searched-1 epoch=1 of=3 train_loss=\S+ train_acc=\S+ val_loss=\S+ val_acc=\S+ lr=\S+`, log)
	require.Regexp(t, `msg=epoch run=run-1 network=searched-1 epoch=3 of=3 `, log)
	require.Regexp(t, `msg="final training of searched-1 \(trial \d+, reward \S+\) from fresh weights: 3 epochs on 1 of the training split" run=run-1`, log)
	require.Contains(t, log, "report: ")
	require.NoFileExists(t, filepath.Join(dir, "store.db"+results.SnapshotSuffix), "the search removed its snapshot")
}

// With --log-format json the lines are JSON objects on stderr, and --json
// keeps stdout one JSON document.
func TestSearchLogJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a few tiny networks")
	}
	f := newSearchFixture(t)
	dir := t.TempDir()
	code, out, errOut := runNas(t, append(f.args(dir, "--budget", "2", "--final", "0"), "--log-format", "json")...)
	require.Equal(t, 0, code, errOut)
	var sum searchSummary
	require.NoError(t, json.Unmarshal([]byte(out), &sum), "stdout is the summary alone: %s", out)
	var msgs []string
	sc := bufio.NewScanner(strings.NewReader(errOut))
	for sc.Scan() {
		var rec map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec), "stderr line %q", sc.Text())
		msgs = append(msgs, rec["msg"].(string))
		if rec["msg"] == "trial" {
			require.Equal(t, "run-1", rec["run"])
			for _, k := range []string{"trial", "arch", "latency_ms", "val_acc", "reward", "elapsed", "eta"} {
				require.Contains(t, rec, k)
			}
		}
	}
	require.Equal(t, []string{"search started", "trial", "trial"}, msgs)
}

// --quiet keeps stderr quiet; an unknown --log-format is a usage error.
func TestSearchLogQuietAndBadFormat(t *testing.T) {
	code, _, errOut := runNas(t, "zoo", "list", "--log-format", "xml")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, `--log-format "xml": want text or json`)

	var errb bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs([]string{"version"})
	cmd.SetErr(&errb)
	require.Nil(t, progressLog(cmd, true), "--quiet: no log lines")
	require.NotNil(t, progressLog(cmd, false), "stderr is not a terminal: log lines")
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// nas netadapt with stderr not a terminal logs a line per unit considered,
// per proposal and per iteration; stdout keeps its JSON.
func TestNetAdaptLog(t *testing.T) {
	if testing.Short() {
		t.Skip("fine-tunes a tiny network many times")
	}
	f := newNetadaptFixture(t)
	out := filepath.Join(t.TempDir(), "na")
	code, stdout, errOut := runNas(t, f.args(out)...)
	require.Equal(t, 0, code, errOut)
	var sum netadaptSummary
	require.NoError(t, json.Unmarshal([]byte(stdout), &sum), stdout)
	h := readHistory(t, out)
	iterations := regexp.MustCompile(`msg="netadapt iteration" iteration=(\d+) arch=".*?" latency_ms=\S+ measured_ms=\S+ val_acc=\S+ target_ms=\S+ elapsed=\S+`).FindAllStringSubmatch(errOut, -1)
	require.Len(t, iterations, len(h.Iterations), errOut)
	for i, m := range iterations {
		require.Equal(t, strconv.Itoa(i), m[1])
	}
	proposals := 0
	for _, it := range h.Iterations {
		proposals += len(it.Proposals)
	}
	require.Positive(t, proposals)
	require.Len(t, regexp.MustCompile(`msg="netadapt proposal" iteration=\d+ unit=\S+ from=\d+ to=\d+ latency_ms=\S+ val_acc=\S+`).FindAllString(errOut, -1), proposals)
	require.Regexp(t, `msg="netadapt unit" iteration=1 unit=1 of=\d+ elapsed=\S+ iteration_eta=\S+`, errOut)
	require.Regexp(t, `msg="netadapt iteration" iteration=\d+ .* final=true long_steps=3`, errOut)
}

// nas supernet train with stderr not a terminal logs step and epoch lines
// on stderr; stdout keeps its report (or its JSON); --quiet turns the lines
// off.
func TestSupernetTrainLog(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny supernet")
	}
	data, spacePath, tmp := supernetFixture(t)
	train := func(out string, extra ...string) (string, string) {
		code, stdout, errOut := runNas(t, append([]string{"supernet", "train", "--space", spacePath, "--data", "mnist", "--data-dir", data,
			"--epochs", "1", "--batch", "16", "--calibration", "64", "--out", filepath.Join(tmp, out)}, extra...)...)
		require.Equal(t, 0, code, errOut)
		return stdout, errOut
	}
	out, errOut := train("text")
	require.NotContains(t, out, "level=")
	require.NotContains(t, out, "step ")
	require.Contains(t, out, "epoch 1  largest:")
	require.Regexp(t, `(?m)^time=\S+ level=INFO msg=step step=16 of=16 epoch=1 of_epochs=1 loss=\S+ acc=\S+ images_per_s=\S+ elapsed=`, errOut)
	require.Regexp(t, `(?m)^time=\S+ level=INFO msg=epoch epoch=1 train_loss=\S+ train_acc=\S+ largest_val_acc=\S+ smallest_val_acc=\S+ lr=\S+ elapsed=`, errOut)

	out, errOut = train("json", "--json")
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	require.Contains(t, errOut, "msg=epoch")

	out, errOut = train("quiet", "--quiet")
	require.Empty(t, errOut)
	require.Contains(t, out, "epoch 1  largest:")
}

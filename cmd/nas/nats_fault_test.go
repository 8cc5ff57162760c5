package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"nas/internal/crashtest"
	"nas/internal/natstest"
)

// TestWorkerChild is `nas worker` as a process of its own for the fault
// tests: it runs the command line in NAS_WORKER_ARGS and exits.
func TestWorkerChild(t *testing.T) {
	raw := os.Getenv("NAS_WORKER_ARGS")
	if raw == "" {
		t.Skip("only run as a child of the NATS fault tests")
	}
	var args []string
	require.NoError(t, json.Unmarshal([]byte(raw), &args))
	os.Exit(run(args, os.Stdout, os.Stderr))
}

// startWorkerProcess runs `nas worker args...` in a process of its own
// until the test ends (SIGTERM, then SIGKILL after 30 s); it returns the
// worker's output.
func startWorkerProcess(t *testing.T, args ...string) *lockedBuffer {
	t.Helper()
	raw, err := json.Marshal(append([]string{"worker"}, args...))
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestWorkerChild$")
	cmd.Env = append(os.Environ(), "NAS_WORKER_ARGS="+string(raw))
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	crashtest.Start(t, cmd)
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	// A run that waits for this worker waits as long as the worker might
	// come back: where the test is still running long after a worker
	// should have finished, the worker's log goes to stderr before go
	// test's timeout ends the process without it.
	hang := time.AfterFunc(workerLogAfter, func() {
		state := "running"
		select {
		case <-done:
			state = "exited"
		default:
		}
		fmt.Fprintf(os.Stderr, "%s: still running after %v; the worker (%s) logged:\n%s\n", t.Name(), workerLogAfter, state, out.String())
	})
	t.Cleanup(func() {
		hang.Stop()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return out
}

// workerLogAfter is how long a test with a worker process may run before
// the worker's log is written out: the tests take seconds, a minute on a
// loaded machine.
const workerLogAfter = 4 * time.Minute

var finishedTask = regexp.MustCompile(`msg="task finished".* task=([0-9a-f]+) `)

// finishedTasks counts the tasks a worker's log says it finished, by task.
func finishedTasks(log string) map[string]int {
	n := map[string]int{}
	for _, m := range finishedTask.FindAllStringSubmatch(log, -1) {
		n[m[1]]++
	}
	return n
}

// waitFor polls cond every 50 ms until it holds or d has passed.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCoordinatorKilledResume: a search over NATS with two trials in
// flight whose coordinator process is killed with SIGKILL while a worker
// process trains the second trial. The worker finishes that trial with no
// coordinator to collect it; `nas search --resume` then takes its result
// from the results bucket instead of training it again (the worker runs
// each of the run's tasks once), and the run ends with the trials of the
// same search run in one process, accuracies bit for bit.
func TestCoordinatorKilledResume(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a few tiny networks, twice")
	}
	srv := natstest.Start(t)
	f := newSearchFixture(t)
	// 30 proxy steps make a trial last long past the kill.
	runArgs := func(dir string, extra ...string) []string {
		return f.args(dir, append([]string{"--budget", "4", "--parallel", "2", "--final", "0", "--threads", "1", "--proxy-steps", "30"}, extra...)...)
	}
	ref := t.TempDir()
	code, _, errOut := runNas(t, runArgs(ref)...)
	require.Equal(t, 0, code, errOut)
	want := storedTrials(t, filepath.Join(ref, "store.db"))
	require.Len(t, want, 4)

	log := startWorkerProcess(t, "--nats", srv.URL(), "--data", "mnist", "--data-dir", f.data, "--threads", "1", "--name", "w1")
	dir := t.TempDir()
	// Trials 1 and 2 go out at once; trial 1 is committed, and the
	// coordinator dies as trial 3 is about to go out.
	c := runKilled(t, "TestSearchChild", "NAS_SEARCH_ARGS", "trial:3", runArgs(dir, "--nats", srv.URL()))
	requireStopped(t, c, false, "")
	require.Len(t, storedTrials(t, filepath.Join(dir, "store.db")), 1, "trial 2 is not collected")
	waitFor(t, 2*time.Minute, "the worker finishes trial 2", func() bool { return len(finishedTasks(log.String())) == 2 })

	code, _, errOut = runNas(t, "search", "--resume", "run-1", "--store", filepath.Join(dir, "store.db"), "--out", filepath.Join(dir, "report"),
		"--threads", "1", "--json", "--nats", srv.URL())
	require.Equal(t, 0, code, errOut)
	got := storedTrials(t, filepath.Join(dir, "store.db"))
	require.Len(t, got, 4)
	for i := range want {
		require.Equal(t, want[i].Arch, got[i].Arch, "trial %d", i)
		require.Equal(t, want[i].Status, got[i].Status, got[i].Reason)
		require.Equal(t, want[i].ValAccuracy, got[i].ValAccuracy, "trial %d", i)
		require.Equal(t, want[i].Reward, got[i].Reward, "trial %d", i)
	}
	done := finishedTasks(log.String())
	require.Len(t, done, 4, "one task per trial:\n%s", log.String())
	for id, n := range done {
		require.Equal(t, 1, n, "task %s ran %d times", id, n)
	}
}

// TestWorkerCreds: against a server that admits only users with a
// credentials file, `nas worker --creds FILE` runs a search's trials, and
// `nas worker` without credentials cannot connect: it exits with the
// server's refusal.
func TestWorkerCreds(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny network")
	}
	srv := natstest.StartCreds(t)
	f := newSearchFixture(t)
	code, _, errOut := runNas(t, "worker", "--nats", srv.URL(), "--data", "mnist", "--data-dir", f.data, "--threads", "1")
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "Authorization Violation")
	code, _, errOut = runNas(t, "worker", "--nats", srv.URL(), "--creds", srv.Foreign, "--data", "mnist", "--data-dir", f.data)
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "Authorization Violation")

	log := startWorkerProcess(t, "--nats", srv.URL(), "--creds", srv.File, "--data", "mnist", "--data-dir", f.data, "--threads", "1", "--name", "w1")
	dir := t.TempDir()
	code, _, errOut = runNas(t, f.args(dir, "--budget", "2", "--final", "0", "--threads", "1", "--nats", srv.URL(), "--creds", srv.File)...)
	require.Equal(t, 0, code, errOut)
	require.Len(t, storedTrials(t, filepath.Join(dir, "store.db")), 2)
	require.Len(t, finishedTasks(log.String()), 2, log.String())
	require.True(t, strings.Contains(log.String(), "w1"))
}

// TestSearchSupernetOverNATS: a supernet search (no --proxy) with
// --parallel 3 whose candidates are scored by two `nas worker` processes
// records the trials of the same search run in this process with
// --parallel 3, accuracies and rewards bit for bit. The supernet is
// trained on the coordinator; each worker fetches it once and scores its
// share of the candidates.
func TestSearchSupernetOverNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny supernet and scores candidates twice")
	}
	t.Setenv("TMPDIR", t.TempDir()) // the workers' supernet cache
	srv := natstest.Start(t)
	f := newMainJobFixture(t)
	super := filepath.Join(t.TempDir(), "super")
	code, _, errOut := runNas(t, "supernet", "train", "--space", f.spacePath, "--data", "mnist", "--data-dir", f.data,
		"--epochs", "1", "--batch", "16", "--lr", "0.05", "--calibration", "64", "--out", super, "--json")
	require.Equal(t, 0, code, errOut)
	logs := []*lockedBuffer{
		startWorkerProcess(t, "--nats", srv.URL(), "--data", "mnist", "--data-dir", f.data, "--threads", "1", "--name", "w1"),
		startWorkerProcess(t, "--nats", srv.URL(), "--data", "mnist", "--data-dir", f.data, "--threads", "1", "--name", "w2"),
	}
	for _, l := range logs {
		waitFor(t, time.Minute, "the workers serve", func() bool { return strings.Contains(l.String(), "worker serving") })
	}
	args := func(dir string, extra ...string) []string {
		return append([]string{"search", "--target-ms", "0.05", "--space", f.spacePath, "--data", "mnist", "--data-dir", f.data,
			"--lut", f.lut, "--store", filepath.Join(dir, "store.db"), "--out", filepath.Join(dir, "report"), "--seed", "5",
			"--supernet", super, "--budget", "8", "--parallel", "3", "--final", "0", "--threads", "1", "--json"}, extra...)
	}
	remote, local := t.TempDir(), t.TempDir()
	code, _, errOut = runNas(t, args(remote, "--nats", srv.URL())...)
	require.Equal(t, 0, code, errOut)
	code, _, errOut = runNas(t, args(local)...)
	require.Equal(t, 0, code, errOut)
	rt, lt := storedTrials(t, filepath.Join(remote, "store.db")), storedTrials(t, filepath.Join(local, "store.db"))
	require.Len(t, rt, 8)
	require.Equal(t, len(lt), len(rt))
	for i := range lt {
		require.Equal(t, lt[i].Arch, rt[i].Arch, "trial %d", i)
		require.Equal(t, lt[i].Status, rt[i].Status, rt[i].Reason)
		require.Equal(t, lt[i].ValAccuracy, rt[i].ValAccuracy, "trial %d", i)
		require.Equal(t, lt[i].Reward, rt[i].Reward, "trial %d", i)
	}
	scored := 0
	for _, l := range logs {
		n := len(finishedTasks(l.String()))
		require.Positive(t, n, "both workers score:\n%s", l.String())
		scored += n
	}
	require.Equal(t, 8, scored, "one task per trial")
}

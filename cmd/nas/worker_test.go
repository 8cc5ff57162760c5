package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"nas/cluster"
	"nas/internal/natstest"
	"nas/pipeline"
	"nas/results"
	"nas/trainer"
)

func TestWorkerUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"worker"}, "--nats URL is required"},
		{[]string{"worker", "--nats", "nats://h:4222", "--password", "p"}, "a password without a user"},
		{[]string{"worker", "--nats", "nats://h:4222", "--threads", "-1"}, "--threads -1"},
		{[]string{"worker", "--nats", "nats://h:4222", "--data", "imagenet"}, `--data "imagenet"`},
		{[]string{"worker", "--nats", "nats://h:4222", "--project", "a.b"}, `nats project "a.b"`},
		{[]string{"worker", "--nats", "nats://h:4222", "--tls-cert", "c.pem"}, "--tls-key"},
	} {
		code, _, errOut := runNas(t, c.args...)
		require.Equal(t, exitUsage, code, "%v: %s", c.args, errOut)
		require.Contains(t, errOut, c.want)
	}
	var got *workerOptions
	cmd := newCmdWorker(func(_ *cobra.Command, o *workerOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--nats", "nats://h:4222", "--user", "u", "--password", "p", "--threads", "1", "--name", "w1", "--project", "lab"})
	require.NoError(t, cmd.Execute())
	require.Equal(t, cluster.Settings{URL: "nats://h:4222", User: "u", Password: "p", Project: "lab", Name: "w1"}, got.settings("w1"))
	require.Equal(t, 1, got.Threads)
}

// TestWorkerEndToEnd: `nas worker` serves a training task published by a
// coordinator in this process; the result equals the same task done here.
func TestWorkerEndToEnd(t *testing.T) {
	srv := natstest.Start(t)
	data := writeMNISTDir(t, 400, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := newCmdWorker(nil)
	cmd.SetArgs([]string{"--nats", srv.URL(), "--data", "mnist", "--data-dir", data, "--threads", "1", "--name", "w"})
	// The worker writes while the test reads: the buffers are locked.
	var out, errb lockedBuffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	nc, err := cluster.Connect(cluster.Settings{URL: srv.URL()})
	require.NoError(t, err)
	defer nc.Close()
	q, err := cluster.OpenQueue(ctx, nc, "", cluster.QueueConfig{})
	require.NoError(t, err)
	remote := &cluster.Remote{Coordinator: cluster.NewCoordinator(q, nil), Run: "run-1"}
	recipe := trainer.DefaultConfig()
	recipe.Steps, recipe.BatchSize, recipe.ValFraction = 10, 16, 0.2
	task := pipeline.TrainTask{Arch: trainTestArch, Data: pipeline.Dataset{Name: "mnist", Dir: data}, Recipe: recipe, Threads: 1}
	tctx, tcancel := context.WithTimeout(ctx, time.Minute)
	defer tcancel()
	got, err := remote.Train(tctx, task)
	require.NoError(t, err, errb.String())
	want, err := pipeline.Train(tctx, task, nil)
	require.NoError(t, err)
	require.Equal(t, want.ValAcc, got.ValAcc)
	require.Equal(t, want.Steps, got.Steps)

	cancel()
	require.NoError(t, <-done)
	require.Contains(t, out.String(), "worker w: dataset mnist (4 files, sha256 ")
}

// TestSearchOverNATS: a search whose trials and final training run on two
// `nas worker`s, two trials at once, records the trials of the same search
// run in one process, accuracies bit for bit, and its report's final
// network has weights.
func TestSearchOverNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a few tiny networks, twice")
	}
	srv := natstest.Start(t)
	f := newSearchFixture(t)
	startWorker(t, srv, f.data, "w1")
	startWorker(t, srv, f.data, "w2")

	remoteDir, localDir := t.TempDir(), t.TempDir()
	code, out, errOut := runNas(t, f.args(remoteDir, "--budget", "4", "--parallel", "2", "--final", "1", "--threads", "1", "--nats", srv.URL())...)
	require.Equal(t, 0, code, errOut)
	var remote searchSummary
	require.NoError(t, json.Unmarshal([]byte(out), &remote), out)
	code, out, errOut = runNas(t, f.args(localDir, "--budget", "4", "--parallel", "2", "--final", "1", "--threads", "1")...)
	require.Equal(t, 0, code, errOut)
	var local searchSummary
	require.NoError(t, json.Unmarshal([]byte(out), &local), out)

	trials := func(dir string) []results.Trial {
		s, err := results.OpenReadOnly(filepath.Join(dir, "store.db"))
		require.NoError(t, err)
		defer s.Close()
		ts, err := s.Trials(1)
		require.NoError(t, err)
		return ts
	}
	rt, lt := trials(remoteDir), trials(localDir)
	require.Len(t, rt, 4)
	for i := range lt {
		require.Equal(t, lt[i].Arch, rt[i].Arch)
		require.Equal(t, lt[i].Status, rt[i].Status, rt[i].Reason)
		require.Equal(t, lt[i].ValAccuracy, rt[i].ValAccuracy, "trial %d", i)
		require.Equal(t, lt[i].Reward, rt[i].Reward, "trial %d", i)
	}
	require.Len(t, remote.Final, 1)
	require.Equal(t, local.Final[0].TestAcc, remote.Final[0].TestAcc)
	require.FileExists(t, remote.Final[0].Weights)
}

// startWorker runs `nas worker` on data against srv until the test ends.
func startWorker(t *testing.T, srv *natstest.Server, data, name string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := newCmdWorker(nil)
	cmd.SetArgs([]string{"--nats", srv.URL(), "--data", "mnist", "--data-dir", data, "--threads", "1", "--name", name})
	var out lockedBuffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("nas worker: %v\n%s", err, out.String())
		}
	})
}

// TestNetAdaptOverNATS: NetAdapt whose fine-tunes run on two `nas
// worker`s, two proposals at once, keeps the networks the same run keeps
// in one process one proposal at a time, with the same accuracies bit for
// bit.
func TestNetAdaptOverNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("fine-tunes a tiny network many times, twice")
	}
	srv := natstest.Start(t)
	f := newNetadaptFixture(t)
	startWorker(t, srv, f.data, "w1")
	startWorker(t, srv, f.data, "w2")
	remote, local := filepath.Join(t.TempDir(), "remote"), filepath.Join(t.TempDir(), "local")
	code, _, errOut := runNas(t, f.args(remote, "--nats", srv.URL(), "--parallel", "2")...)
	require.Equal(t, 0, code, errOut)
	code, _, errOut = runNas(t, f.args(local)...)
	require.Equal(t, 0, code, errOut)
	rh, lh := readHistory(t, remote).Iterations, readHistory(t, local).Iterations
	require.Equal(t, len(lh), len(rh))
	for i := range lh {
		require.Equal(t, lh[i].Arch, rh[i].Arch, "iteration %d", i)
		require.Equal(t, lh[i].Accuracy, rh[i].Accuracy, "iteration %d", i)
	}
}

// lockedBuffer is a bytes.Buffer that a command running in another
// goroutine writes and the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

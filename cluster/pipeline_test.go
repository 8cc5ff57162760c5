package cluster

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"nas/internal/natstest"
	"nas/pipeline"
	"nas/trainer"
)

// TestRemotePipeline: the pipeline's Train and FineTune, done on a worker
// whose copy of the data lies in another folder, give what they give in
// this process, weights bit for bit.
func TestRemotePipeline(t *testing.T) {
	srv := natstest.Start(t)
	q := testQueue(t, srv)
	dir := writeStripes(t, 400, 1)
	copyDir := copyFiles(t, dir)
	data := pipeline.Dataset{Name: "mnist", Dir: dir}
	id, err := HashDataset("mnist", dir)
	require.NoError(t, err)
	runWorker(t, srv, &Worker{Name: "w", Dataset: &id,
		Tasks: PipelineTasks(&pipeline.Datasets{}, pipeline.Dataset{Name: "mnist", Dir: copyDir}, 1)})
	remote := &Remote{Coordinator: NewCoordinator(q, testLog(t)), Run: "run-12"}
	local := &pipeline.Local{Data: &pipeline.Datasets{}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	recipe := trainer.DefaultConfig()
	recipe.Steps, recipe.BatchSize, recipe.ValFraction, recipe.EvalBatchSize, recipe.Seed = 20, 16, 0.2, 64, 7
	task := pipeline.TrainTask{Arch: "in1x8x8 cls10 | conv_o8_k3_arelu | conv_o8_k3_s2_arelu | gap | linear_o10",
		Data: data, Recipe: recipe, Threads: 1}
	out := t.TempDir()
	task.Weights = filepath.Join(out, "remote.safetensors")
	got, err := remote.Train(ctx, task)
	require.NoError(t, err)
	task.Weights = filepath.Join(out, "local.safetensors")
	want, err := local.Train(ctx, task)
	require.NoError(t, err)
	require.Equal(t, want.ValAcc, got.ValAcc)
	require.Equal(t, want.Steps, got.Steps)
	wb, err := os.ReadFile(want.Weights)
	require.NoError(t, err)
	gb, err := os.ReadFile(got.Weights)
	require.NoError(t, err)
	require.Equal(t, wb, gb, "weights bit for bit")

	ft := pipeline.FineTuneTask{Arch: task.Arch, Weights: wb, Steps: 5, Seed: 3, LR: 0.01, Threads: 1,
		Data: pipeline.TuneData{Data: data, ValFraction: 0.2, ValSeed: 7, EvalFraction: 1, Fraction: 1, Batch: 16}}
	gotFT, err := remote.FineTune(ctx, ft)
	require.NoError(t, err)
	wantFT, err := local.FineTune(ctx, ft)
	require.NoError(t, err)
	require.Equal(t, wantFT.ValAcc, gotFT.ValAcc)
	require.Equal(t, wantFT.Weights, gotFT.Weights)

	// A training that starts from given weights (a searched network's
	// fine-tune from its inherited weights) gets them as a blob.
	init := task
	init.Init, init.Recipe.Seed = wb, 8
	init.Weights = filepath.Join(out, "remote-init.safetensors")
	gotInit, err := remote.Train(ctx, init)
	require.NoError(t, err)
	init.Weights = filepath.Join(out, "local-init.safetensors")
	wantInit, err := local.Train(ctx, init)
	require.NoError(t, err)
	require.Equal(t, wantInit.ValAcc, gotInit.ValAcc)
	wib, err := os.ReadFile(wantInit.Weights)
	require.NoError(t, err)
	gib, err := os.ReadFile(gotInit.Weights)
	require.NoError(t, err)
	require.Equal(t, wib, gib, "weights bit for bit")
	require.NotEqual(t, wb, wib)

	// The same task again runs nowhere: its result is there.
	again, err := remote.FineTune(ctx, ft)
	require.NoError(t, err)
	require.Equal(t, gotFT, again)

	// Another dataset name is refused with both names.
	task.Data.Name, task.Weights = "fashion-mnist", ""
	_, err = remote.Train(ctx, task)
	require.ErrorIs(t, err, ErrTaskFailed)
	require.ErrorContains(t, err, "the task wants dataset fashion-mnist (4 files, sha256 "+id.Digest[:12]+"), this worker has mnist")
}

// TestRemoteWaitsForServer: a task asked for while the server is down
// (longer than a request's timeout) runs once it is back, instead of
// failing the trial. The server restarts when the first try has failed.
func TestRemoteWaitsForServer(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a request timeout")
	}
	srv := natstest.Start(t)
	q := testQueue(t, srv)
	dir := writeStripes(t, 200, 1)
	id, err := HashDataset("mnist", dir)
	require.NoError(t, err)
	runWorker(t, srv, &Worker{Name: "w", Dataset: &id, Tasks: PipelineTasks(&pipeline.Datasets{}, pipeline.Dataset{Name: "mnist", Dir: dir}, 1)})
	failed := make(chan struct{})
	var once sync.Once
	log := slog.New(&onMessage{msg: "NATS request failed; trying again", fn: func() { once.Do(func() { close(failed) }) }})
	remote := &Remote{Coordinator: NewCoordinator(q, log), Run: "run-13"}
	recipe := trainer.DefaultConfig()
	recipe.Steps, recipe.BatchSize, recipe.ValFraction, recipe.EvalBatchSize = 5, 16, 0.2, 64
	task := pipeline.TrainTask{Arch: "in1x8x8 cls10 | conv_o8_k3_s2_arelu | gap | linear_o10", Data: pipeline.Dataset{Name: "mnist", Dir: dir}, Recipe: recipe, Threads: 1}
	// A context without a deadline, as a search's is: each request then
	// times out on its own (5 s) and Remote tries again.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bound := time.AfterFunc(time.Minute, cancel)
	defer bound.Stop()
	srv.Stop()
	type outcome struct {
		res pipeline.TrainResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := remote.Train(ctx, task)
		done <- outcome{res, err}
	}()
	select {
	case <-failed:
	case o := <-done:
		t.Fatalf("the task ended while the server was down: %+v", o)
	}
	srv.Restart()
	o := <-done
	require.NoError(t, o.err)
	require.Equal(t, 5, o.res.Steps)
}

// onMessage is a log handler that calls fn for each record with message
// msg.
type onMessage struct {
	msg string
	fn  func()
}

func (h *onMessage) Enabled(context.Context, slog.Level) bool { return true }
func (h *onMessage) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.fn()
	}
	return nil
}
func (h *onMessage) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *onMessage) WithGroup(string) slog.Handler      { return h }

package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"nas/internal/crashtest"
	"nas/internal/natstest"
	"nas/pipeline"
)

// The worker process of the fault tests: the test binary run again with
// these variables set.
const (
	envWorkerURL  = "NAS_CLUSTER_TEST_WORKER_URL"  // the server
	envWorkerData = "NAS_CLUSTER_TEST_WORKER_DATA" // the stripes folder
	envWorkerName = "NAS_CLUSTER_TEST_WORKER_NAME"
	// envKillAt names a task: the worker kills itself with SIGKILL when
	// that task starts, as kill -9 would in the middle of it.
	envKillAt = "NAS_CLUSTER_TEST_KILL_AT"
	// envWorkerPipeline makes the worker serve the pipeline's tasks
	// (PipelineTasks) on the stripes folder opened as mnist.
	envWorkerPipeline = "NAS_CLUSTER_TEST_WORKER_PIPELINE"
)

// TestWorkerProcess is the worker of the fault tests; it does nothing
// unless envWorkerURL is set. It serves training tasks until its stdin
// closes or it is killed.
func TestWorkerProcess(t *testing.T) {
	url := os.Getenv(envWorkerURL)
	if url == "" {
		t.Skip("the worker process of the fault tests; run by them")
	}
	data := loadStripes(t, os.Getenv(envWorkerData))
	tasks := Registry{kindTrain: stripesTask(data.sets)}
	if os.Getenv(envWorkerPipeline) != "" {
		local := pipeline.Dataset{Name: "mnist", Dir: data.dir}
		tasks = PipelineTasks(&pipeline.Datasets{}, local, 1)
		var err error
		data.id, err = HashDataset(local.Name, local.Dir)
		require.NoError(t, err)
	}
	killAt := os.Getenv(envKillAt)
	name := os.Getenv(envWorkerName)
	for kind, fn := range tasks {
		tasks[kind] = func(ctx context.Context, p json.RawMessage, env Env) (json.RawMessage, error) {
			if env.Task.ID == killAt {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {} // the signal is on its way
			}
			return fn(ctx, p, env)
		}
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer cancel()
	go func() { // the parent closes stdin to stop the worker
		_, _ = bufio.NewReader(os.Stdin).ReadByte()
		cancel()
	}()
	w := &Worker{Name: name, Tasks: tasks, Dataset: &data.id, Log: testLog(t)}
	require.NoError(t, Serve(ctx, Settings{URL: url, ReconnectWait: 100 * time.Millisecond}, w))
}

// startWorkerProcess runs TestWorkerProcess as a separate process.
func startWorkerProcess(t *testing.T, srv *natstest.Server, dataDir, name, killAt string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWorkerProcess$")
	if testing.Verbose() {
		cmd.Args = append(cmd.Args, "-test.v")
		cmd.Stderr = os.Stderr
	}
	cmd.Env = append(os.Environ(), envWorkerURL+"="+srv.URL(), envWorkerData+"="+dataDir, envWorkerName+"="+name, envKillAt+"="+killAt)
	cmd.Env = append(cmd.Env, env...)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	crashtest.Start(t, cmd)
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	return cmd
}

// TestWorkerKilledMidTask: a worker process killed with SIGKILL as it
// starts a task loses that task to another worker process after AckWait,
// and the run completes with results bit for bit equal to the same calls
// made in one process.
func TestWorkerKilledMidTask(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out an AckWait")
	}
	r := newStripesRun(t, "run-8", 4)
	srv, q, data, tasks, want := r.srv, r.q, r.data, r.tasks, r.want
	_, err := NewCoordinator(q, nil).Submit(context.Background(), tasks)
	require.NoError(t, err)

	a := startWorkerProcess(t, srv, data.dir, "A", "t1")
	err = a.Wait()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "worker A: %v", err)
	require.Equal(t, syscall.SIGKILL, exit.Sys().(syscall.WaitStatus).Signal())

	startWorkerProcess(t, srv, data.dir, "B", "")
	got := collect(t, q, tasks, time.Minute)
	requireSame(t, q, want, got)
	require.Equal(t, "A", got["t0"].Worker)
	require.Equal(t, "B", got["t1"].Worker)
	require.Equal(t, 2, got["t1"].Attempt, "t1 was delivered to A, then to B")
	require.Equal(t, 1, got["t2"].Attempt)
}

// TestServerRestartMidRun: the server stops and starts again (same file
// store) while a worker is inside a task and others wait in the queue;
// nothing is lost and the run completes with the in-process results.
func TestServerRestartMidRun(t *testing.T) {
	// Against Debian's nats-server 2.9.10 on a loaded 2-core machine, a
	// task published around the restart at times gets no reply until the
	// test's deadline (as TestOpenRace's stream creations do); the server
	// module's release (the default of natstest) passes it. Against
	// Debian's it runs only when asked for.
	if natstest.Debian() && os.Getenv("NAS_TEST_NATS_HANGS") == "" {
		t.Skip("a restart of nats-server 2.9.10 can leave a task without reply; set NAS_TEST_NATS_HANGS=1 to run it")
	}
	if testing.Short() {
		t.Skip("restarts a server")
	}
	r := newStripesRun(t, "run-9", 4)
	srv, q, data, tasks, want := r.srv, r.q, r.data, r.tasks, r.want
	started, release := make(chan struct{}), make(chan struct{})
	train := stripesTask(data.sets)
	runWorker(t, srv, &Worker{Name: "w", Dataset: &data.id, Tasks: Registry{kindTrain: func(ctx context.Context, p json.RawMessage, env Env) (json.RawMessage, error) {
		if env.Task.ID == "t1" && env.Attempt == 1 {
			close(started)
			<-release
		}
		return train(ctx, p, env)
	}}})
	type outcome struct {
		got map[string]Result
		err error
	}
	collected := make(chan outcome, 1)
	go func() {
		got, err := tryCollect(t, q, tasks, 2*time.Minute)
		collected <- outcome{got, err}
	}()
	select {
	case <-started:
	case <-time.After(time.Minute):
		t.Fatal("task t1 did not start")
	}
	srv.Restart()
	close(release)
	o := <-collected
	require.NoError(t, o.err)
	requireSame(t, q, want, o.got)
}

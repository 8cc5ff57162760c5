package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"nas/internal/natstest"
)

// testQueueConfig has a short AckWait so that a lost task comes back
// within the test's time.
var testQueueConfig = QueueConfig{AckWait: 2 * time.Second, MaxDeliver: 3}

// connect opens a connection to srv that is closed when the test ends.
func connect(t testing.TB, srv *natstest.Server, name string) *nats.Conn {
	t.Helper()
	nc, err := Connect(Settings{URL: srv.URL(), Name: name, ReconnectWait: 100 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

func testQueue(t testing.TB, srv *natstest.Server) *Queue {
	t.Helper()
	q, err := OpenQueue(context.Background(), connect(t, srv, "coordinator"), "", testQueueConfig)
	require.NoError(t, err)
	return q
}

func testLog(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return nil
}

// runWorker serves tasks on its own connection until the test ends.
func runWorker(t testing.TB, srv *natstest.Server, w *Worker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	q, err := JoinQueue(ctx, connect(t, srv, w.Name), "")
	require.NoError(t, err)
	w.Log = testLog(t)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := w.Run(ctx, q); err != nil {
			t.Errorf("worker %s: %v", w.Name, err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// collect runs the coordinator over tasks with a time bound and returns
// the results by task ID, failing the test on a result handed over twice.
func collect(t testing.TB, q *Queue, tasks []Task, bound time.Duration) map[string]Result {
	t.Helper()
	got, err := tryCollect(t, q, tasks, bound)
	require.NoError(t, err)
	return got
}

// tryCollect is collect for another goroutine than the test's.
func tryCollect(t testing.TB, q *Queue, tasks []Task, bound time.Duration) (map[string]Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	got := map[string]Result{}
	err := NewCoordinator(q, testLog(t)).Run(ctx, tasks, func(r Result) error {
		if _, twice := got[r.Task]; twice {
			return fmt.Errorf("result of %s handed over twice", r.Task)
		}
		got[r.Task] = r
		return nil
	})
	return got, err
}

// requireSame checks that every result is done and equal, bit for bit, to
// the in-process reference, and that its weights blob is there and whole.
func requireSame(t testing.TB, q *Queue, want map[string]stripesOutput, got map[string]Result) {
	t.Helper()
	require.Len(t, got, len(want))
	for id, w := range want {
		r := got[id]
		require.Equal(t, StatusDone, r.Status, "task %s: %s", id, r.Error)
		var o stripesOutput
		require.NoError(t, json.Unmarshal(r.Output, &o))
		require.Equal(t, w, o, "task %s", id)
		_, err := q.Blobs().Get(context.Background(), o.Weights)
		require.NoError(t, err)
	}
}

// TestRunOnTwoWorkers: the results of tasks run by two workers equal those
// of the same calls in this process, and a second run of the same tasks
// (a coordinator resuming) publishes nothing and hands every result over
// once from the bucket.
func TestRunOnTwoWorkers(t *testing.T) {
	r := newStripesRun(t, "run-1", 6)
	srv, q, data, tasks, want := r.srv, r.q, r.data, r.tasks, r.want
	for _, name := range []string{"w1", "w2"} {
		runWorker(t, srv, &Worker{Name: name, Tasks: Registry{kindTrain: stripesTask(data.sets)}, Dataset: &data.id})
	}
	got := collect(t, q, tasks, time.Minute)
	requireSame(t, q, want, got)
	workers := map[string]bool{}
	for _, r := range got {
		workers[r.Worker] = true
		require.Equal(t, 1, r.Attempt)
	}
	t.Logf("workers that ran tasks: %v", workers)

	n, err := NewCoordinator(q, nil).Submit(context.Background(), tasks)
	require.NoError(t, err)
	require.Zero(t, n, "tasks with results are not published again")
	again := collect(t, q, tasks, 10*time.Second)
	require.Equal(t, got, again)
}

// TestWorkerFirst: a worker that joins before any coordinator creates the
// queue with defaults, and follows the AckWait and MaxDeliver the
// coordinator sets afterwards.
func TestWorkerFirst(t *testing.T) {
	srv := natstest.Start(t)
	ctx := context.Background()
	wq, err := JoinQueue(ctx, connect(t, srv, "worker"), "")
	require.NoError(t, err)
	require.Equal(t, 30*time.Second, wq.AckWait())
	require.Equal(t, 3, wq.MaxDeliver())
	_, err = OpenQueue(ctx, connect(t, srv, "coordinator"), "", QueueConfig{AckWait: 5 * time.Second, MaxDeliver: 4})
	require.NoError(t, err)
	wq.refresh(ctx)
	require.Equal(t, 5*time.Second, wq.AckWait())
	require.Equal(t, 4, wq.MaxDeliver())
	_, err = OpenQueue(ctx, connect(t, srv, "bad"), "", QueueConfig{AckWait: time.Millisecond})
	require.ErrorContains(t, err, "ack wait 1ms")
}

// TestDoConcurrently: many goroutines each run one task through one
// coordinator, as a search does with the trials of a population.
func TestDoConcurrently(t *testing.T) {
	srv := natstest.Start(t)
	q := testQueue(t, srv)
	for _, name := range []string{"w1", "w2"} {
		runWorker(t, srv, &Worker{Name: name, Tasks: Registry{"echo": echoTask}})
	}
	c := NewCoordinator(q, testLog(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 20
	errs := make(chan error, n)
	for i := range n {
		go func() {
			payload := json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))
			r, err := c.Do(ctx, Task{Run: "run-11", ID: fmt.Sprint("t", i), Kind: "echo", Payload: payload})
			if err == nil && (r.Status != StatusDone || string(r.Output) != string(payload)) {
				err = fmt.Errorf("task %d: %+v", i, r)
			}
			errs <- err
		}()
	}
	for range n {
		require.NoError(t, <-errs)
	}
}

// TestOpenRace: coordinators and workers opening a project's queue at the
// same moment on a fresh server all succeed, whoever creates what (ten
// projects, eight clients each).
func TestOpenRace(t *testing.T) {
	// Against Debian's nats-server 2.9.10 this test fails now and then
	// (docs/distributed.md, "Tests"): two or more clients creating one
	// project's streams at once get no reply to a stream creation, and a
	// new attempt gets none either. The server module's release (the
	// default of natstest) passes it; against Debian's it runs only when
	// asked for.
	if natstest.Debian() && os.Getenv("NAS_TEST_NATS_HANGS") == "" {
		t.Skip("concurrent queue creation can hang nats-server 2.9.10; set NAS_TEST_NATS_HANGS=1 to run it")
	}
	srv := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var conns []*nats.Conn
	for i := range 8 {
		conns = append(conns, connect(t, srv, fmt.Sprint("c", i)))
	}
	for p := range 10 {
		project := fmt.Sprint("race", p)
		errs := make(chan error, len(conns))
		for i, nc := range conns {
			go func() {
				var err error
				if i%2 == 0 {
					_, err = OpenQueue(ctx, nc, project, testQueueConfig)
				} else {
					_, err = JoinQueue(ctx, nc, project)
				}
				errs <- err
			}()
		}
		for range conns {
			require.NoError(t, <-errs)
		}
	}
}

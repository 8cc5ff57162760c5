package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"nas/internal/natstest"
)

// TestDuplicateResultHarmless: the first result of a task wins; a second
// one (a redelivered task finishing twice) is dropped, and the coordinator
// hands over the first, once.
func TestDuplicateResultHarmless(t *testing.T) {
	srv := natstest.Start(t)
	q := testQueue(t, srv)
	ctx := context.Background()
	first := Result{Run: "run-1", Task: "t0", Kind: "k", Status: StatusDone, Output: json.RawMessage(`{"acc":0.5}`), Worker: "a", Attempt: 1}
	second := first
	second.Output, second.Worker, second.Attempt = json.RawMessage(`{"acc":0.7}`), "b", 2
	stored, err := q.putResult(ctx, first)
	require.NoError(t, err)
	require.True(t, stored)
	stored, err = q.putResult(ctx, second)
	require.NoError(t, err)
	require.False(t, stored)
	var got []Result
	require.NoError(t, NewCoordinator(q, nil).Collect(ctx, "run-1", []string{"t0"}, func(r Result) error {
		got = append(got, r)
		return nil
	}))
	require.Len(t, got, 1)
	require.Equal(t, "a", got[0].Worker)
	require.JSONEq(t, `{"acc":0.5}`, string(got[0].Output))
}

// TestCollectResumes: a callback that fails (the caller could not commit)
// stops Collect, and the next Collect hands that result over again; the
// results finished while no coordinator listened arrive from the bucket.
func TestCollectResumes(t *testing.T) {
	srv := natstest.Start(t)
	q := testQueue(t, srv)
	ctx := context.Background()
	for i := range 3 {
		_, err := q.putResult(ctx, Result{Run: "run-2", Task: fmt.Sprint("t", i), Kind: "k", Status: StatusDone, Output: json.RawMessage(`1`)})
		require.NoError(t, err)
	}
	c := NewCoordinator(q, nil)
	ids := []string{"t0", "t1", "t2"}
	committed := map[string]bool{}
	refuse := errors.New("disk full")
	err := c.Collect(ctx, "run-2", ids, func(r Result) error {
		if r.Task == "t1" {
			return refuse
		}
		committed[r.Task] = true
		return nil
	})
	require.ErrorIs(t, err, refuse)
	var rest []string
	for _, id := range ids {
		if !committed[id] {
			rest = append(rest, id)
		}
	}
	require.NoError(t, c.Collect(ctx, "run-2", rest, func(r Result) error {
		require.False(t, committed[r.Task], "%s handed over after it was committed", r.Task)
		committed[r.Task] = true
		return nil
	}))
	require.Len(t, committed, 3)
}

// TestMalformedResult: a value in the results bucket that is not a result
// reaches the caller as a failed result naming the damage.
func TestMalformedResult(t *testing.T) {
	srv := natstest.Start(t)
	q := testQueue(t, srv)
	ctx := context.Background()
	_, err := q.results.Put(ctx, q.names.ResultKey("run-3", "t0"), []byte("{{garbage"))
	require.NoError(t, err)
	other, err := EncodeResult(Result{Run: "run-9", Task: "t9", Kind: "k", Status: StatusFailed, Error: "x"})
	require.NoError(t, err)
	_, err = q.results.Put(ctx, q.names.ResultKey("run-3", "t1"), other)
	require.NoError(t, err)
	got := map[string]Result{}
	require.NoError(t, NewCoordinator(q, nil).Collect(ctx, "run-3", []string{"t0", "t1"}, func(r Result) error {
		got[r.Task] = r
		return nil
	}))
	require.Equal(t, StatusFailed, got["t0"].Status)
	require.Contains(t, got["t0"].Error, "malformed")
	require.Contains(t, got["t1"].Error, "stored under run-3/t1")
}

// TestFailingTaskIsRecorded: a task whose function fails is retried until
// MaxDeliver and then recorded as failed with its reason; one that fails
// once and then succeeds is done.
func TestFailingTaskIsRecorded(t *testing.T) {
	srv := natstest.Start(t)
	q := testQueue(t, srv)
	runWorker(t, srv, &Worker{Name: "w", Tasks: Registry{
		"broken": func(ctx context.Context, p json.RawMessage, env Env) (json.RawMessage, error) {
			return nil, fmt.Errorf("attempt %d: out of memory", env.Attempt)
		},
		"flaky": func(ctx context.Context, p json.RawMessage, env Env) (json.RawMessage, error) {
			if env.Attempt == 1 {
				return nil, errors.New("connection reset")
			}
			return json.RawMessage(`{"ok":true}`), nil
		},
		"refusing": func(ctx context.Context, p json.RawMessage, env Env) (json.RawMessage, error) {
			return nil, fmt.Errorf("%w: arch does not fit the input", ErrRefused)
		},
	}})
	tasks := []Task{
		{Run: "run-4", ID: "broken", Kind: "broken", Payload: json.RawMessage(`{}`)},
		{Run: "run-4", ID: "flaky", Kind: "flaky", Payload: json.RawMessage(`{}`)},
		{Run: "run-4", ID: "refusing", Kind: "refusing", Payload: json.RawMessage(`{}`)},
		{Run: "run-4", ID: "unknown", Kind: "unknown", Payload: json.RawMessage(`{}`)},
	}
	got := collect(t, q, tasks, time.Minute)
	require.Equal(t, StatusFailed, got["broken"].Status)
	require.Equal(t, 3, got["broken"].Attempt)
	require.Equal(t, "attempt 3: out of memory", got["broken"].Error)
	require.Equal(t, StatusDone, got["flaky"].Status)
	require.Equal(t, 2, got["flaky"].Attempt)
	require.Equal(t, 1, got["refusing"].Attempt)
	require.Contains(t, got["refusing"].Error, "arch does not fit")
	require.Contains(t, got["unknown"].Error, `runs no task of kind "unknown" (it runs broken, flaky, refusing)`)
}

// TestExhaustedTaskIsRecorded: a task taken MaxDeliver times by workers
// that vanish without an answer (here: pulls that are never acked) becomes
// a failed result through the server's max-deliveries advisory, and leaves
// the task stream. The server sends the advisory when it looks for a task
// to give a waiting worker, so a live worker joins after the third loss.
func TestExhaustedTaskIsRecorded(t *testing.T) {
	srv := natstest.Start(t)
	q := testQueue(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	task := Task{Run: "run-5", ID: "lost", Kind: kindTrain, Payload: json.RawMessage(`{}`)}
	c := NewCoordinator(q, testLog(t))
	n, err := c.Submit(ctx, []Task{task})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	for i := range q.MaxDeliver() {
		batch, err := q.consumer.Fetch(1, jetstream.FetchMaxWait(2*q.AckWait()+5*time.Second))
		require.NoError(t, err)
		var got int
		for msg := range batch.Messages() {
			meta, err := msg.Metadata()
			require.NoError(t, err)
			require.Equal(t, uint64(i+1), meta.NumDelivered)
			got++
		}
		require.Equal(t, 1, got, "delivery %d", i+1)
	}
	runWorker(t, srv, &Worker{Name: "idle", Tasks: Registry{kindTrain: func(context.Context, json.RawMessage, Env) (json.RawMessage, error) {
		panic("an exhausted task was delivered again")
	}}})
	var r Result
	require.NoError(t, c.Collect(ctx, "run-5", []string{"lost"}, func(res Result) error { r = res; return nil }))
	require.Equal(t, StatusFailed, r.Status)
	require.Contains(t, r.Error, "delivered 3 times and never finished")
	// The task leaves the stream just after its failure is stored.
	require.Eventually(t, func() bool {
		info, err := q.tasks.Info(ctx)
		return err == nil && info.State.Msgs == 0
	}, 10*time.Second, 20*time.Millisecond, "the exhausted task leaves the stream")
}

// TestCoordinatorRestart: a coordinator that goes away after committing
// one result, and a new one started with the tasks not committed, publish
// every task once: the new one publishes none (queued, running or done),
// and it hands over the results finished while no coordinator listened.
func TestCoordinatorRestart(t *testing.T) {
	srv := natstest.Start(t)
	data := loadStripes(t, writeStripes(t, 400, 1))
	tasks := stripesTasks(t, "run-10", 4, &data.id)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	newCoordinator := func(name string) (*Coordinator, *Queue, func()) {
		nc, err := Connect(Settings{URL: srv.URL(), Name: name})
		require.NoError(t, err)
		q, err := OpenQueue(ctx, nc, "", testQueueConfig)
		require.NoError(t, err)
		return NewCoordinator(q, testLog(t)), q, nc.Close
	}
	first, _, gone := newCoordinator("first")
	n, err := first.Submit(ctx, tasks)
	require.NoError(t, err)
	require.Equal(t, 4, n)
	second, _, gone2 := newCoordinator("second")
	n, err = second.Submit(ctx, tasks)
	require.NoError(t, err)
	require.Zero(t, n, "queued tasks are not published again")
	gone2()

	runWorker(t, srv, &Worker{Name: "w", Tasks: Registry{kindTrain: stripesTask(data.sets)}, Dataset: &data.id})
	committed := map[string]Result{}
	died := errors.New("coordinator killed")
	err = first.Collect(ctx, "run-10", []string{"t0", "t1", "t2", "t3"}, func(r Result) error {
		committed[r.Task] = r
		return died
	})
	require.ErrorIs(t, err, died)
	gone()
	require.Len(t, committed, 1)

	third, q3, _ := newCoordinator("third")
	var rest []Task
	for _, task := range tasks {
		if _, ok := committed[task.ID]; !ok {
			rest = append(rest, task)
		}
	}
	require.NoError(t, third.Run(ctx, rest, func(r Result) error {
		_, twice := committed[r.Task]
		require.False(t, twice, "%s handed over again", r.Task)
		committed[r.Task] = r
		return nil
	}))
	require.Len(t, committed, 4)
	info, err := q3.tasks.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(4), info.State.LastSeq, "each task published once")
}

package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TaskFunc runs one task: it reads its inputs from payload and returns its
// output as JSON. Errors wrapping ErrRefused fail the task at once; other
// errors are retried on another delivery until MaxDeliver, then recorded.
// A TaskFunc stops when ctx is cancelled.
type TaskFunc func(ctx context.Context, payload json.RawMessage, env Env) (json.RawMessage, error)

// Env is what a TaskFunc knows of its surroundings.
type Env struct {
	// Task is the task being run (run, ID, kind, dataset).
	Task *Task
	// Attempt is the delivery being run (1 = first).
	Attempt int
	// Blobs is the store of large inputs and outputs.
	Blobs *Blobs
	// Log receives what the function reports beside its result: the
	// worker's log, with the task's run, ID, kind and attempt (nil: none).
	Log *slog.Logger
}

func (e Env) logger() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

// Registry maps task kinds to the functions that run them.
type Registry map[string]TaskFunc

// Worker takes tasks from a Queue one at a time and runs them.
type Worker struct {
	// Name identifies the worker in results and logs.
	Name string
	// Tasks are the kinds this worker runs.
	Tasks Registry
	// Dataset is the data this worker's functions use; a task naming
	// another dataset is refused. Nil refuses every task that names one.
	Dataset *DatasetID
	// Log receives one line per task and per refused message (nil: none).
	Log *slog.Logger
}

// fetchWait bounds one pull request, so that a worker notices a dead
// connection and its own cancellation promptly.
const fetchWait = 5 * time.Second

// Run serves tasks from q until ctx is cancelled, then returns nil. A
// task running at that moment is handed back to the queue (Nak). Errors
// of the connection are logged and retried: a server restart pauses a
// worker, it does not stop it.
func (w *Worker) Run(ctx context.Context, q *Queue) error {
	log := w.logger()
	if len(w.Tasks) == 0 {
		return errors.New("worker: no task kinds to serve")
	}
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, fetchWait)
		batch, err := q.consumer.Fetch(1, jetstream.FetchContext(fctx))
		if err == nil {
			for msg := range batch.Messages() {
				w.handle(ctx, q, msg)
			}
			err = batch.Error()
		}
		cancel()
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, jetstream.ErrNoMessages) {
			log.Warn("fetch failed; retrying", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

func (w *Worker) logger() *slog.Logger {
	if w.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return w.Log
}

// handle runs one delivered message to its end: a result stored and the
// message acked, a retry asked for, or the message terminated.
func (w *Worker) handle(ctx context.Context, q *Queue, msg jetstream.Msg) {
	log := w.logger().With("subject", msg.Subject())
	meta, err := msg.Metadata()
	if err != nil {
		log.Error("message without JetStream metadata; terminated", "err", err)
		_ = msg.Term()
		return
	}
	q.refresh(ctx)
	attempt := int(meta.NumDelivered)
	maxDeliver := q.MaxDeliver()
	last := maxDeliver > 0 && attempt >= maxDeliver
	log = log.With("attempt", attempt)

	task, err := DecodeTask(msg.Data())
	if err == nil {
		err = w.checkSubject(q, task, msg.Subject())
	}
	if err != nil {
		log.Error("malformed task; terminated", "err", err)
		// When the subject names a task, its coordinator learns why.
		if run, id, ok := subjectTask(q.names, msg.Subject()); ok {
			w.store(ctx, q, Result{Run: run, Task: id, Status: StatusFailed, Error: err.Error(), Attempt: attempt}, log)
		}
		_ = msg.Term()
		return
	}
	log = log.With("run", task.Run, "task", task.ID, "kind", task.Kind)
	if done, err := q.hasResult(ctx, task.Run, task.ID); err == nil && done {
		log.Info("already has a result; acknowledged")
		_ = msg.Ack()
		return
	}
	fn, err := w.function(task)
	if err != nil {
		log.Error("task refused", "err", err)
		w.store(ctx, q, failure(task, w.Name, attempt, 0, err), log)
		_ = msg.Term()
		return
	}

	start := time.Now()
	out, err := runKeptAlive(ctx, q.AckWait(), msg, func(ctx context.Context) (json.RawMessage, error) {
		return fn(ctx, task.Payload, Env{Task: task, Attempt: attempt, Blobs: q.blobs, Log: log})
	})
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		log.Info("worker stopping; task handed back")
		_ = msg.Nak()
		return
	}
	var r Result
	switch {
	case err == nil:
		r = Result{Run: task.Run, Task: task.ID, Kind: task.Kind, Status: StatusDone, Output: out, Worker: w.Name, Attempt: attempt, Elapsed: elapsed}
		if _, encErr := EncodeResult(r); encErr != nil {
			r = failure(task, w.Name, attempt, elapsed, fmt.Errorf("%w: output: %v", ErrRefused, encErr))
		}
	case errors.Is(err, ErrRefused) || last:
		r = failure(task, w.Name, attempt, elapsed, err)
	default:
		delay := time.Duration(attempt) * time.Second
		log.Warn("task failed; handed back for another attempt", "err", err, "retry_in", delay)
		_ = msg.NakWithDelay(delay)
		return
	}
	if !w.store(ctx, q, r, log) {
		return // not stored: the task comes back after AckWait
	}
	log.Info("task finished", "status", r.Status, "elapsed", elapsed.Round(time.Millisecond))
	_ = msg.Ack()
}

// function returns the task's function after the checks that refuse a
// task: its kind and its dataset.
func (w *Worker) function(t *Task) (TaskFunc, error) {
	fn := w.Tasks[t.Kind]
	if fn == nil {
		kinds := make([]string, 0, len(w.Tasks))
		for k := range w.Tasks {
			kinds = append(kinds, k)
		}
		slices.Sort(kinds)
		return nil, fmt.Errorf("%w: worker %s runs no task of kind %q (it runs %s)", ErrRefused, w.Name, t.Kind, strings.Join(kinds, ", "))
	}
	if t.Dataset != nil {
		if w.Dataset == nil {
			return nil, fmt.Errorf("%w: the task wants dataset %v, worker %s has no dataset (--data)", ErrRefused, t.Dataset, w.Name)
		}
		if m := Mismatch(*t.Dataset, *w.Dataset); m != "" {
			return nil, fmt.Errorf("%w: worker %s: %s", ErrRefused, w.Name, m)
		}
	}
	return fn, nil
}

// checkSubject refuses a task published under another task's subject (its
// result would land under the wrong key).
func (w *Worker) checkSubject(q *Queue, t *Task, subject string) error {
	if want := q.names.TaskSubject(t.Run, t.ID); subject != want {
		return fmt.Errorf("%w: task %s/%s arrived on subject %s, want %s", ErrMalformed, t.Run, t.ID, subject, want)
	}
	return nil
}

// subjectTask reads the run and task ID from a task subject.
func subjectTask(n Names, subject string) (run, id string, ok bool) {
	rest, found := strings.CutPrefix(subject, n.project+".tasks.")
	if !found {
		return "", "", false
	}
	run, id, found = strings.Cut(rest, ".")
	return run, id, found && idPattern.MatchString(run) && idPattern.MatchString(id)
}

func failure(t *Task, worker string, attempt int, elapsed time.Duration, err error) Result {
	return Result{Run: t.Run, Task: t.ID, Kind: t.Kind, Status: StatusFailed, Error: err.Error(), Worker: worker, Attempt: attempt, Elapsed: elapsed}
}

// store writes r to the results bucket, retrying while the server is away
// until ctx ends; it reports whether the task now has a result.
func (w *Worker) store(ctx context.Context, q *Queue, r Result, log *slog.Logger) bool {
	for {
		stored, err := q.putResult(ctx, r)
		if err == nil {
			if !stored {
				log.Info("a result was there already; this one dropped")
			}
			return true
		}
		if errors.Is(err, ErrMalformed) {
			log.Error("result not storable", "err", err)
			return false
		}
		log.Warn("storing the result failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// runKeptAlive runs fn while telling the server, three times per ackWait,
// that msg is still being worked on, so that a long task is not given to
// another worker while this one is alive.
func runKeptAlive(ctx context.Context, ackWait time.Duration, msg jetstream.Msg, fn func(context.Context) (json.RawMessage, error)) (json.RawMessage, error) {
	every := max(ackWait/3, 50*time.Millisecond)
	stop := make(chan struct{})
	beats := make(chan struct{})
	go func() {
		defer close(beats)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = msg.InProgress()
			}
		}
	}()
	out, err := fn(ctx)
	close(stop)
	<-beats
	return out, err
}

// Serve connects to the server of s, joins the project's queue and runs w
// until ctx is cancelled: the whole life of a worker process.
func Serve(ctx context.Context, s Settings, w *Worker) error {
	if s.Name == "" {
		s.Name = w.Name
	}
	nc, err := Connect(s)
	if err != nil {
		return err
	}
	defer nc.Close()
	q, err := JoinQueue(ctx, nc, s.Project)
	if err != nil {
		return err
	}
	w.logger().Info("worker serving", "name", w.Name, "server", nc.ConnectedUrlRedacted(), "project", q.names.Project())
	return w.Run(ctx, q)
}

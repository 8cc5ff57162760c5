package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// reconnectCheck is how often Collect looks whether the connection was
// re-established.
const reconnectCheck = 250 * time.Millisecond

// Coordinator publishes the tasks of a run and collects their results.
// It holds no state of its own: the results bucket is the record of what
// is done, so a coordinator that restarts submits the same tasks again
// and only those without a result are published.
type Coordinator struct {
	q   *Queue
	log *slog.Logger

	// The advisory reader runs while at least one Collect does.
	mu       sync.Mutex
	readers  int
	stopRead context.CancelFunc
	readDone chan struct{}
}

// NewCoordinator returns a coordinator on q; log may be nil.
func NewCoordinator(q *Queue, log *slog.Logger) *Coordinator {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Coordinator{q: q, log: log}
}

// Submit publishes every task that has no result yet and is not in the
// queue already (waiting, or running on a worker), and returns how many it
// published: a coordinator that restarts redoes nothing. Two coordinators
// racing to publish the same task within two minutes store it once: its
// message ID is its run and task ID.
func (c *Coordinator) Submit(ctx context.Context, tasks []Task) (int, error) {
	n := 0
	for _, t := range tasks {
		b, err := EncodeTask(t)
		if err != nil {
			return n, err
		}
		done, err := c.q.hasResult(ctx, t.Run, t.ID)
		if err != nil {
			return n, fmt.Errorf("task %s/%s: %w", t.Run, t.ID, err)
		}
		if done {
			continue
		}
		subject := c.q.names.TaskSubject(t.Run, t.ID)
		_, err = c.q.tasks.GetLastMsgForSubject(ctx, subject)
		if err == nil {
			continue // queued or running
		}
		if !errors.Is(err, jetstream.ErrMsgNotFound) {
			return n, fmt.Errorf("task %s/%s: %w", t.Run, t.ID, err)
		}
		msg := &nats.Msg{Subject: subject, Data: b, Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, t.Run+"."+t.ID)
		if _, err := c.q.js.PublishMsg(ctx, msg); err != nil {
			return n, fmt.Errorf("publish task %s/%s: %w", t.Run, t.ID, err)
		}
		n++
	}
	return n, nil
}

// Collect hands fn the result of each task of run named in ids, once each,
// as they arrive (results already in the bucket first), and returns when
// all have come or ctx ends. An error from fn stops it and is returned:
// the result it refused is handed over again by the next Collect. A value
// in the bucket that is not a valid result reaches fn as a failed result
// naming the damage.
//
// While it collects, Collect also turns the server's advisories of tasks
// delivered MaxDeliver times without an answer (their workers died or
// stalled) into failed results.
func (c *Coordinator) Collect(ctx context.Context, run string, ids []string, fn func(Result) error) error {
	if !idPattern.MatchString(run) {
		return fmt.Errorf("run %q: want 1 to 64 letters, digits, '-' or '_'", clip(run))
	}
	pending := make(map[string]bool, len(ids))
	for _, id := range ids {
		pending[id] = true
	}
	if len(pending) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	keys := run + ".*"
	if len(pending) == 1 {
		keys = c.q.names.ResultKey(run, ids[0])
	}
	watch := func() (jetstream.KeyWatcher, error) {
		w, err := c.q.results.Watch(ctx, keys)
		if err != nil {
			return nil, fmt.Errorf("watch results of %s: %w", run, err)
		}
		return w, nil
	}
	watcher, err := watch()
	if err != nil {
		return err
	}
	defer func() { watcher.Stop() }()
	c.startReading()
	defer c.stopReading()
	// After a reconnection (a server restart) the watch starts again: it
	// would find its way back by itself, but only after missing a few
	// heartbeats. Its initial values then hand over what came meanwhile.
	reconnects := c.q.nc.Stats().Reconnects
	tick := time.NewTicker(reconnectCheck)
	defer tick.Stop()
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("run %s: %d tasks without a result: %w", run, len(pending), ctx.Err())
		case <-tick.C:
			if n := c.q.nc.Stats().Reconnects; n != reconnects && c.q.nc.IsConnected() {
				reconnects = n
				c.log.Info("reconnected; watching the results again", "run", run)
				_ = watcher.Stop()
				if watcher, err = watch(); err != nil {
					return err
				}
			}
		case e, ok := <-watcher.Updates():
			if !ok {
				return fmt.Errorf("run %s: the results watch ended with %d tasks without a result", run, len(pending))
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue // the end of the initial values, or a deletion
			}
			id := strings.TrimPrefix(e.Key(), run+".")
			if !pending[id] {
				continue
			}
			r := c.decode(run, id, e.Value())
			if err := fn(r); err != nil {
				return err
			}
			delete(pending, id)
		}
	}
	return nil
}

// decode reads the result stored for run/id, or makes a failed result
// that names what is wrong with it.
func (c *Coordinator) decode(run, id string, b []byte) Result {
	r, err := DecodeResult(b)
	if err == nil && (r.Run != run || r.Task != id) {
		err = fmt.Errorf("%w: result of %s/%s stored under %s/%s", ErrMalformed, r.Run, r.Task, run, id)
	}
	if err != nil {
		c.log.Error("malformed result", "run", run, "task", id, "err", err)
		return Result{Run: run, Task: id, Status: StatusFailed, Error: err.Error()}
	}
	return *r
}

// maxDeliveriesAdvisory is the part of the server's
// io.nats.jetstream.advisory.v1.max_deliver advisory that Collect reads.
type maxDeliveriesAdvisory struct {
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries int    `json:"deliveries"`
}

// startReading starts the advisory reader unless a Collect runs it
// already; stopReading stops it after the last Collect.
func (c *Coordinator) startReading() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readers++
	if c.readers > 1 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.stopRead, c.readDone = cancel, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		c.recordExhausted(ctx)
	}(c.readDone)
}

func (c *Coordinator) stopReading() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readers--
	if c.readers == 0 {
		c.stopRead()
		<-c.readDone
	}
}

// recordExhausted reads the stream of max-deliveries advisories from its
// start until ctx ends. For each task still in the task stream it stores
// a failed result and removes the task; then it removes the advisory. All
// of it is idempotent: coordinators of several runs may do it at once.
func (c *Coordinator) recordExhausted(ctx context.Context) {
	var cons jetstream.Consumer
	for {
		var err error
		cons, err = c.q.js.OrderedConsumer(ctx, c.q.names.ExhaustedStream(), jetstream.OrderedConsumerConfig{})
		if err == nil {
			break
		}
		c.log.Warn("reading advisories", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	for {
		msg, err := cons.Next(jetstream.FetchContext(ctx))
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) {
				continue
			}
			c.log.Warn("reading advisories", "err", err)
			select { // the server may be away: do not spin
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		// Once begun, an advisory is dealt with to the end, even when the
		// last Collect returns meanwhile.
		octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		c.recordOne(octx, msg)
		cancel()
	}
}

func (c *Coordinator) recordOne(ctx context.Context, msg jetstream.Msg) {
	var adv maxDeliveriesAdvisory
	if err := json.Unmarshal(msg.Data(), &adv); err != nil || adv.StreamSeq == 0 {
		c.log.Error("unreadable max-deliveries advisory", "err", err)
		return
	}
	raw, err := c.q.tasks.GetMsg(ctx, adv.StreamSeq)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		// Recorded already, by this coordinator or another.
	case err != nil:
		c.log.Warn("task of a max-deliveries advisory", "seq", adv.StreamSeq, "err", err)
		return
	default:
		task, err := DecodeTask(raw.Data)
		if err != nil {
			c.log.Error("exhausted task is malformed", "seq", adv.StreamSeq, "err", err)
		} else {
			reason := fmt.Errorf("delivered %d times and never finished: the workers died or stalled past AckWait (%v) each time", adv.Deliveries, c.q.AckWait())
			r := failure(task, "", adv.Deliveries, 0, reason)
			if _, err := c.q.putResult(ctx, r); err != nil {
				c.log.Warn("storing the failure of an exhausted task", "run", task.Run, "task", task.ID, "err", err)
				return // the advisory stays; the next reader retries
			}
			c.log.Error("task failed: no worker finished it", "run", task.Run, "task", task.ID, "deliveries", adv.Deliveries)
		}
		if err := c.q.tasks.DeleteMsg(ctx, adv.StreamSeq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			c.log.Warn("removing an exhausted task", "seq", adv.StreamSeq, "err", err)
		}
	}
	if meta, err := msg.Metadata(); err == nil {
		if err := c.q.exhausted.DeleteMsg(ctx, meta.Sequence.Stream); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			c.log.Warn("removing an advisory", "err", err)
		}
	}
}

// Do runs one task and returns its result: Submit, then Collect of that
// task alone. Calls may run at once from many goroutines; each watches
// its own result's key.
func (c *Coordinator) Do(ctx context.Context, t Task) (Result, error) {
	if _, err := c.Submit(ctx, []Task{t}); err != nil {
		return Result{}, err
	}
	var r Result
	err := c.Collect(ctx, t.Run, []string{t.ID}, func(res Result) error { r = res; return nil })
	return r, err
}

// Run submits tasks and collects their results: Submit, then Collect for
// each run the tasks belong to, with fn called once per task.
func (c *Coordinator) Run(ctx context.Context, tasks []Task, fn func(Result) error) error {
	if _, err := c.Submit(ctx, tasks); err != nil {
		return err
	}
	byRun := map[string][]string{}
	var runs []string
	for _, t := range tasks {
		if byRun[t.Run] == nil {
			runs = append(runs, t.Run)
		}
		byRun[t.Run] = append(byRun[t.Run], t.ID)
	}
	for _, run := range runs {
		if err := c.Collect(ctx, run, byRun[run], fn); err != nil {
			return err
		}
	}
	return nil
}

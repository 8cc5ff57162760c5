package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// QueueConfig tunes the task stream and its consumer. Zero means default.
type QueueConfig struct {
	// AckWait is how long a delivered task may go without an ack or a
	// progress signal before the server gives it to another worker
	// (default 30 s). Workers signal progress every third of it.
	AckWait time.Duration
	// MaxDeliver is how often a task is delivered before it counts as
	// failed (default 3).
	MaxDeliver int
	// MaxAge is how long an unclaimed task, a result and an advisory are
	// kept (default 7 days).
	MaxAge time.Duration
}

const (
	defaultAckWait    = 30 * time.Second
	defaultMaxDeliver = 3
	defaultMaxAge     = 7 * 24 * time.Hour
)

func (c QueueConfig) withDefaults() (QueueConfig, error) {
	if c.AckWait == 0 {
		c.AckWait = defaultAckWait
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = defaultMaxDeliver
	}
	if c.MaxAge == 0 {
		c.MaxAge = defaultMaxAge
	}
	switch {
	case c.AckWait < 300*time.Millisecond:
		return c, fmt.Errorf("ack wait %v: want at least 300ms (30s is usual)", c.AckWait)
	case c.MaxDeliver < 1:
		return c, fmt.Errorf("max deliveries %d: want at least 1 (3 is usual)", c.MaxDeliver)
	case c.MaxAge < time.Minute:
		return c, fmt.Errorf("max age %v: want at least a minute", c.MaxAge)
	}
	return c, nil
}

// Queue is one project's JetStream state on a server: the work-queue
// stream of tasks with the workers' durable consumer, the results bucket,
// the stream of exhausted-task advisories, and the blob store.
type Queue struct {
	nc        *nats.Conn
	js        jetstream.JetStream
	names     Names
	tasks     jetstream.Stream
	consumer  jetstream.Consumer
	results   jetstream.KeyValue
	exhausted jetstream.Stream
	blobs     *Blobs

	mu         sync.Mutex // guards the two below (refresh)
	ackWait    time.Duration
	maxDeliver int
}

// OpenQueue creates the project's streams, consumer and buckets on the
// server of nc, or updates them to cfg: the coordinator's side.
func OpenQueue(ctx context.Context, nc *nats.Conn, project string, cfg QueueConfig) (*Queue, error) {
	return openQueue(ctx, nc, project, cfg, true)
}

// JoinQueue opens the project's streams, consumer and buckets as they are,
// creating with default settings only what is missing: the worker's side,
// which takes the coordinator's AckWait and MaxDeliver.
func JoinQueue(ctx context.Context, nc *nats.Conn, project string) (*Queue, error) {
	return openQueue(ctx, nc, project, QueueConfig{}, false)
}

func openQueue(ctx context.Context, nc *nats.Conn, project string, cfg QueueConfig, update bool) (*Queue, error) {
	names, err := NewNames(project)
	if err != nil {
		return nil, err
	}
	if cfg, err = cfg.withDefaults(); err != nil {
		return nil, fmt.Errorf("nats queue: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	q := &Queue{nc: nc, js: js, names: names}
	fail := func(what string, err error) (*Queue, error) {
		return nil, fmt.Errorf("nats %s: %w (is JetStream enabled on the server? nats-server -js)", what, err)
	}
	streamCfg := jetstream.StreamConfig{
		Name:        names.TaskStream(),
		Description: "tasks of project " + project + ", taken once each by a worker",
		Subjects:    []string{names.TaskSubjects()},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      cfg.MaxAge,
		MaxMsgSize:  MaxTaskBytes + 4096, // headers
		Duplicates:  2 * time.Minute,
	}
	if q.tasks, err = ensureStream(ctx, js, streamCfg, update); err != nil {
		return fail("task stream "+streamCfg.Name, err)
	}
	consCfg := jetstream.ConsumerConfig{
		Durable:       names.WorkerConsumer(),
		Description:   "the workers of project " + project,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    cfg.MaxDeliver,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		FilterSubject: names.TaskSubjects(),
	}
	if update {
		q.consumer, err = retryRace(func() (jetstream.Consumer, error) { return js.CreateOrUpdateConsumer(ctx, names.TaskStream(), consCfg) })
	} else if q.consumer, err = js.Consumer(ctx, names.TaskStream(), consCfg.Durable); errors.Is(err, jetstream.ErrConsumerNotFound) {
		q.consumer, err = js.CreateConsumer(ctx, names.TaskStream(), consCfg)
		if lostRace(err) {
			q.consumer, err = js.Consumer(ctx, names.TaskStream(), consCfg.Durable)
		}
	}
	if err != nil {
		return fail("consumer "+consCfg.Durable, err)
	}
	info := q.consumer.CachedInfo()
	q.ackWait, q.maxDeliver = info.Config.AckWait, info.Config.MaxDeliver

	exhaustedCfg := jetstream.StreamConfig{
		Name:        names.ExhaustedStream(),
		Description: "the server's advisories of tasks delivered MaxDeliver times",
		Subjects:    []string{names.ExhaustedSubject()},
		Storage:     jetstream.FileStorage,
		MaxAge:      cfg.MaxAge,
	}
	if q.exhausted, err = ensureStream(ctx, js, exhaustedCfg, update); err != nil {
		return fail("stream "+exhaustedCfg.Name, err)
	}
	kvCfg := jetstream.KeyValueConfig{
		Bucket:       names.ResultBucket(),
		Description:  "results of project " + project + ", keyed run.task",
		History:      1,
		TTL:          cfg.MaxAge,
		MaxValueSize: MaxResultBytes,
		Storage:      jetstream.FileStorage,
	}
	if update {
		q.results, err = retryRace(func() (jetstream.KeyValue, error) { return js.CreateOrUpdateKeyValue(ctx, kvCfg) })
	} else if q.results, err = js.KeyValue(ctx, kvCfg.Bucket); errors.Is(err, jetstream.ErrBucketNotFound) {
		q.results, err = js.CreateKeyValue(ctx, kvCfg)
		if lostRace(err) {
			q.results, err = js.KeyValue(ctx, kvCfg.Bucket)
		}
	}
	if err != nil {
		return fail("bucket "+kvCfg.Bucket, err)
	}
	if q.blobs, err = openBlobs(ctx, js, names); err != nil {
		return fail("object store "+names.BlobBucket(), err)
	}
	return q, nil
}

// ensureStream creates the stream of cfg, or updates it (update) or takes
// it as it is (!update) when it exists.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig, update bool) (jetstream.Stream, error) {
	if update {
		return retryRace(func() (jetstream.Stream, error) { return js.CreateOrUpdateStream(ctx, cfg) })
	}
	s, err := js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, cfg)
		if lostRace(err) {
			s, err = js.Stream(ctx, cfg.Name)
		}
	}
	return s, err
}

// refresh reads the consumer's AckWait and MaxDeliver again: a worker
// that joined before the coordinator set them follows the coordinator's.
// On error the last known values stay.
func (q *Queue) refresh(ctx context.Context) {
	if info, err := q.consumer.Info(ctx); err == nil {
		q.mu.Lock()
		q.ackWait, q.maxDeliver = info.Config.AckWait, info.Config.MaxDeliver
		q.mu.Unlock()
	}
}

// Names are the queue's subjects and stream names.
func (q *Queue) Names() Names { return q.names }

// Blobs is the queue's blob store.
func (q *Queue) Blobs() *Blobs { return q.blobs }

// AckWait is how long a delivered task may go without a sign of life.
func (q *Queue) AckWait() time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.ackWait
}

// MaxDeliver is how often a task is delivered at most.
func (q *Queue) MaxDeliver() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.maxDeliver
}

// putResult stores r unless a result for its task is there already (the
// first one wins); it reports whether r was stored.
func (q *Queue) putResult(ctx context.Context, r Result) (bool, error) {
	b, err := EncodeResult(r)
	if err != nil {
		return false, err
	}
	_, err = q.results.Create(ctx, q.names.ResultKey(r.Run, r.Task), b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	}
	return err == nil, err
}

// hasResult reports whether the task has a result.
func (q *Queue) hasResult(ctx context.Context, run, task string) (bool, error) {
	_, err := q.results.Get(ctx, q.names.ResultKey(run, task))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

// errSubjectsOverlap is the server's error code for a stream created
// with the subjects of another (here: the same stream, created by another
// client a moment before).
const errSubjectsOverlap jetstream.ErrorCode = 10065

// lostRace reports whether err is what a create returns when another
// client created the same thing first.
func lostRace(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) || errors.Is(err, jetstream.ErrConsumerExists) ||
		errors.Is(err, jetstream.ErrBucketExists) || (errors.As(err, &apiErr) && apiErr.ErrorCode == errSubjectsOverlap)
}

// retryRace runs a create-or-update once more when it lost a race with
// another client creating the same thing (a worker joining as the
// coordinator opens the queue): the second try finds it and updates it.
func retryRace[T any](f func() (T, error)) (T, error) {
	v, err := f()
	if lostRace(err) {
		v, err = f()
	}
	return v, err
}

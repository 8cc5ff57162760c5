// Package workers is a persistent pool of goroutines for intra-operator
// parallelism: an inference plan splits one operator into parts and the
// pool runs them at once, with the calling goroutine taking a share.
//
// Starting goroutines per operator costs a few microseconds and allocates;
// a plan runs dozens of operators per image, so the goroutines are started
// once, when the pool is made, and wait between calls (spinning, then
// parked on a channel). A call allocates nothing.
//
// Each part goes to a worker (part i to worker i % Size), but a part is
// claimed before it runs, and a worker that has run its own parts claims
// those nobody has started: when the OS has taken a helper's core (another
// process, a machine with fewer free cores than threads), the caller runs
// that helper's parts instead of waiting for its next time slice.
//
// It is not a general task queue: one Run at a time (a Pool is owned by
// one plan), every part of a call runs before Run returns.
package workers

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Job is work split into parts. Do(part, parts) runs part part of parts;
// the parts of one call run concurrently and must not write the same
// memory.
type Job interface {
	Do(part, parts int)
}

// task asks a worker to run parts first, first+step, ... of job, and then
// any other part of the call that nobody has claimed.
type task struct {
	job                Job
	first, step, parts int
	gen                uint64 // the call's generation: claims[i] is 2*gen while part i is open
}

// run runs the task's parts on p.
func (t task) run(p *Pool) {
	for i := t.first; i < t.parts; i += t.step {
		p.runPart(t, i)
	}
	for i := 0; i < t.parts; i++ {
		if i%t.step != t.first {
			p.runPart(t, i)
		}
	}
}

// runPart runs part i of t's call if nobody has claimed it yet.
func (p *Pool) runPart(t task, i int) {
	if !p.claims[i].v.CompareAndSwap(2*t.gen, 2*t.gen+1) {
		return
	}
	t.job.Do(i, t.parts)
	if int(p.finished.Add(1)) == t.parts && p.waiting.Load() {
		select {
		case p.done <- struct{}{}:
		default: // a token is already there
		}
	}
}

// Pool runs the parts of a Job on a fixed set of goroutines. Its zero value
// is not usable; make one with New and stop it with Close.
//
// Hand-offs spin before they sleep: a helper that has finished a task
// watches for the next one (a plan's steps follow each other within
// microseconds) before it parks on a channel, and Run watches for the
// helpers' completion the same way. Waking a parked goroutine costs a
// futex and, on a virtual machine, an idle vCPU's wake-up; a hand-off
// between spinning ones a fraction of a microsecond.
type Pool struct {
	size    int
	helpers []*helper
	done    chan struct{}
	mu      sync.Mutex // one Run at a time
	closed  bool
	runs    int // Run calls since GOMAXPROCS was last read
	gen     uint64
	_       [cacheLine]byte
	shared  atomic.Bool // GOMAXPROCS < size: the waiting sides yield their P
	_       [cacheLine]byte
	// claims[i] is 2*gen while part i of call gen is open, 2*gen+1 once a
	// worker has claimed it; a helper still in an older call can claim
	// nothing of the current one.
	claims   []claim
	_        [cacheLine]byte
	finished atomic.Int32 // parts of the current call that have run
	waiting  atomic.Bool  // Run is parked on done
	_        [cacheLine]byte
}

// claim is one part's claim word, on a cache line of its own: the workers
// claim their own parts at the same moment.
type claim struct {
	v atomic.Uint64
	_ [cacheLine - 8]byte
}

// cacheLine pads the words one side writes and the other polls onto lines
// of their own, so that a poll does not pull in a line the poller's own
// side keeps writing.
const cacheLine = 64

// helper is one helper goroutine's mailbox. Run writes t only when ack
// equals seq: the helper has taken its last task and is done with it.
type helper struct {
	_        [cacheLine]byte
	seq      atomic.Uint64 // bumped by Run when t holds a new task
	t        task
	sleeping atomic.Bool // the helper is parked on wake
	wake     chan struct{}
	quit     atomic.Bool
	_        [cacheLine]byte
	ack      atomic.Uint64 // the last seq whose task the helper has finished
	_        [cacheLine]byte
}

// A waiting side polls in three phases:
//
//   - for spinPure it only polls: no call into the scheduler, so neither
//     goroutine leaves its thread (and its core's caches) between the
//     steps of a plan, and a hand-off is seen within a fraction of a
//     microsecond. Yielding the P every few dozen polls from the start
//     costs a scheduler round (its global run queue lock) on every
//     yield, delays the hand-off by as much, and lets a goroutine be
//     picked up by the other thread;
//   - until spinTotal it yields the P every spinYield polls, so that
//     other goroutines of the process get the core;
//   - then it parks on a channel.
//
// Half a millisecond in all is longer than most steps of a plan and than
// the imbalance between the parts of one: once a side parks, waking it
// takes a futex and, on a virtual machine, an idle vCPU's wake-up, tens
// to hundreds of microseconds, and a plan at batch 1 then runs slower on
// two threads than on one (go run ./bench/planrun -threads 2 shows it).
//
// When GOMAXPROCS is below the pool's size, the side being waited for may
// need the waiter's P to run at all, so the waiter yields from the first
// phase on.
const (
	spinPure  = 20 * time.Microsecond
	spinTotal = 500 * time.Microsecond
	spinYield = 64
	spinClock = 256 // polls between readings of the clock
)

// waiter is one wait's state.
type waiter struct {
	polls int
	start time.Time
	yield bool // yielding phase (or GOMAXPROCS < the pool's size)
}

// poll is called once per unsuccessful poll; it returns false when the
// waiter should park.
func (w *waiter) poll() bool {
	w.polls++
	if w.polls%spinClock == 0 {
		if w.start.IsZero() {
			w.start = time.Now()
		} else if d := time.Since(w.start); d >= spinTotal {
			return false
		} else if d >= spinPure {
			w.yield = true
		}
	}
	if w.yield && w.polls%spinYield == 0 {
		runtime.Gosched()
	}
	return true
}

// gomaxprocsEvery is how many Run calls go by between readings of
// GOMAXPROCS (which takes the scheduler's lock).
const gomaxprocsEvery = 256

// New starts a pool that runs up to threads parts at once: the caller of
// Run and threads-1 helper goroutines. threads < 1 means 1 (no helpers).
func New(threads int) *Pool {
	threads = max(threads, 1)
	p := &Pool{size: threads, done: make(chan struct{}, 1), claims: make([]claim, threads)}
	p.shared.Store(runtime.GOMAXPROCS(0) < threads)
	for range threads - 1 {
		h := &helper{wake: make(chan struct{}, 1)}
		p.helpers = append(p.helpers, h)
		go p.serve(h)
	}
	return p
}

// serve runs h's tasks until Close.
func (p *Pool) serve(h *helper) {
	var seen uint64
	for {
		// Wait for the sequence number to move: spin, then park.
		w := waiter{yield: p.shared.Load()}
		for h.seq.Load() == seen {
			if w.poll() {
				continue
			}
			h.sleeping.Store(true)
			if h.seq.Load() == seen {
				<-h.wake
			}
			h.sleeping.Store(false)
			w = waiter{yield: p.shared.Load()}
		}
		seen = h.seq.Load()
		if h.quit.Load() {
			return
		}
		h.t.run(p)
		h.ack.Store(seen)
	}
}

// Size is the number of parts the pool runs at once.
func (p *Pool) Size() int { return p.size }

// Run runs parts parts of job, at most Size at once, and returns when all
// are done. parts larger than Size are handed out round robin: part i runs
// on worker i % Size. The calling goroutine runs the parts of worker 0.
func (p *Pool) Run(parts int, job Job) {
	if parts <= 1 || p.size == 1 {
		for i := 0; i < parts; i++ {
			job.Do(i, parts)
		}
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.runs%gomaxprocsEvery == 0 {
		p.shared.Store(runtime.GOMAXPROCS(0) < p.size)
	}
	p.runs++
	if parts > len(p.claims) {
		// A larger split than any before: once no helper can be reading
		// the claims, a longer slice.
		for _, h := range p.helpers {
			for !p.idle(h) {
				runtime.Gosched()
			}
		}
		p.claims = make([]claim, parts)
	}
	p.gen++
	for i := range parts {
		p.claims[i].v.Store(2 * p.gen)
	}
	p.finished.Store(0)
	step := min(parts, p.size)
	for w := 1; w < step; w++ {
		h := p.helpers[w-1]
		if !p.idle(h) {
			continue // its parts stay open for the others
		}
		h.t = task{job, w, step, parts, p.gen}
		h.seq.Add(1)
		if h.sleeping.Load() {
			select {
			case h.wake <- struct{}{}:
			default:
			}
		}
	}
	task{job, 0, step, parts, p.gen}.run(p)
	w := waiter{yield: p.shared.Load()}
	for int(p.finished.Load()) != parts {
		if w.poll() {
			continue
		}
		p.waiting.Store(true)
		if int(p.finished.Load()) != parts {
			<-p.done
		}
		p.waiting.Store(false)
		w = waiter{yield: p.shared.Load()}
	}
}

// idle reports whether h has finished its last task, waiting a moment for
// it: a helper acknowledges a task a few instructions after its last part,
// and the next call can come as quickly. A helper that is still not done
// (its thread is off the CPU) gets no task in this call.
func (p *Pool) idle(h *helper) bool {
	seq := h.seq.Load()
	for range ackPolls {
		if h.ack.Load() == seq {
			return true
		}
	}
	return false
}

// ackPolls is how many times Run polls for a helper's acknowledgement of
// its last task, a microsecond or so.
const ackPolls = 1000

// Close stops the helper goroutines. The pool must not be used afterwards.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	for _, h := range p.helpers {
		h.quit.Store(true)
		h.seq.Add(1)
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
	p.helpers = nil
	p.size = 1
}

// Package workers is a persistent pool of goroutines for intra-operator
// parallelism: an inference plan splits one operator into parts and the
// pool runs them at once, with the calling goroutine taking a share.
//
// Starting goroutines per operator costs a few microseconds and allocates;
// a plan runs dozens of operators per image, so the goroutines are started
// once, when the pool is made, and wait on channels between calls. A call
// allocates nothing.
//
// It is not a general task queue: one Run at a time (a Pool is owned by
// one plan), every part of a call runs before Run returns.
package workers

import "sync"

// Job is work split into parts. Do(part, parts) runs part part of parts;
// the parts of one call run concurrently and must not write the same
// memory.
type Job interface {
	Do(part, parts int)
}

// task asks a helper to run parts first, first+step, ... of job.
type task struct {
	job                Job
	first, step, parts int
}

func (t task) run() {
	for i := t.first; i < t.parts; i += t.step {
		t.job.Do(i, t.parts)
	}
}

// Pool runs the parts of a Job on a fixed set of goroutines. Its zero value
// is not usable; make one with New and stop it with Close.
type Pool struct {
	size int
	work []chan task // one per helper goroutine
	wg   sync.WaitGroup
	mu   sync.Mutex // one Run at a time
}

// New starts a pool that runs up to threads parts at once: the caller of
// Run and threads-1 helper goroutines. threads < 1 means 1 (no helpers).
func New(threads int) *Pool {
	threads = max(threads, 1)
	p := &Pool{size: threads, work: make([]chan task, threads-1)}
	for i := range p.work {
		ch := make(chan task)
		p.work[i] = ch
		go p.helper(ch)
	}
	return p
}

func (p *Pool) helper(ch chan task) {
	for t := range ch {
		t.run()
		p.wg.Done()
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
	step := min(parts, p.size)
	p.wg.Add(step - 1)
	for w := 1; w < step; w++ {
		p.work[w-1] <- task{job, w, step, parts}
	}
	task{job, 0, step, parts}.run()
	p.wg.Wait()
}

// Close stops the helper goroutines. The pool must not be used afterwards.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ch := range p.work {
		close(ch)
	}
	p.work = nil
	p.size = 1
}

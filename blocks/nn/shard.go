package nn

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// ShardGroup joins the tapes of one batch split into shards, each run on
// its own goroutine by its own copy of the network (parameters shared,
// gradients not): data parallelism for training on several cores, where
// every shard's operators stay on one core and on that shard's memory.
//
// The only operator that couples samples is batch normalization in
// training. On a tape with a Group it computes its per-channel statistics,
// and the sums its backward step needs, over the whole batch: each shard
// contributes its own and every shard combines them in shard order, so
// all shards compute identical statistics and the run is deterministic for
// a given shard count. With SoftmaxCrossEntropyOf as the loss, the shards'
// parameter gradients add up (in shard order, by the caller) to the whole
// batch's. Only shard 0 updates the running averages.
//
// A shard that arrives at an exchange before the others does not idle:
// while it waits it takes images from the convolution another shard is
// running (shareImages), computing them exactly as their owner would, so
// a shard whose core is slower for a while (a virtual CPU shares its
// physical core with other tenants) does not hold every shard back at
// the next exchange.
//
// Every shard must apply the same operators in the same order: an
// exchange waits for all shards. A shard that fails calls Abort, which
// makes the others' waiting operators panic with ErrShardAborted instead
// of waiting forever.
type ShardGroup struct {
	shards int
	// slots[k%2][s] is shard s's contribution to exchange k: while shard
	// s reads exchange k, a faster one may already write k+1, never k+2
	// (that needs shard s to have arrived at k+1).
	slots [2][][]float64
	seq   []int // per shard, the exchanges it has started

	// jobs[s] is the work shard s offers the waiting shards, nil when none.
	jobs []atomic.Pointer[sharedJob]
	// stolen counts the images shards took from others (tests).
	stolen atomic.Int64

	mu      sync.Mutex
	cond    *sync.Cond
	arrived int
	gen     atomic.Uint64
	aborted atomic.Bool
}

// ErrShardAborted means another shard of the batch failed: it is the
// panic value of an operator waiting on a ShardGroup that another shard
// aborted, and the error of a shard that stops because another one's loss
// failed.
var ErrShardAborted = errors.New("another shard of the batch failed")

// NewShardGroup returns a group for shards tapes (at least 1).
func NewShardGroup(shards int) *ShardGroup {
	if shards < 1 {
		panic(fmt.Sprintf("nn.NewShardGroup: %d shards", shards))
	}
	g := &ShardGroup{shards: shards, seq: make([]int, shards), jobs: make([]atomic.Pointer[sharedJob], shards)}
	g.cond = sync.NewCond(&g.mu)
	for i := range g.slots {
		g.slots[i] = make([][]float64, shards)
	}
	return g
}

// Shards is the number of shards.
func (g *ShardGroup) Shards() int { return g.shards }

// Abort releases every shard waiting in an exchange, and every later one,
// with a panic of ErrShardAborted. A group that was aborted cannot be
// used again.
func (g *ShardGroup) Abort() {
	g.aborted.Store(true)
	g.mu.Lock()
	g.cond.Broadcast()
	g.mu.Unlock()
}

// exchange publishes shard's values and returns every shard's, in shard
// order, once all have published theirs. The returned slices are valid
// until the shard's next exchange; local is copied.
func (g *ShardGroup) exchange(shard int, local []float64) [][]float64 {
	if g.shards == 1 {
		return [][]float64{local}
	}
	k := g.seq[shard]
	g.seq[shard]++
	slots := g.slots[k%2]
	slots[shard] = append(slots[shard][:0], local...)
	g.wait()
	return slots
}

// wait is a barrier over the shards: it returns when all have arrived. It
// spins briefly before sleeping, since the shards of a training step
// arrive within microseconds of each other when they have a core each.
func (g *ShardGroup) wait() {
	gen := g.gen.Load()
	g.mu.Lock()
	if g.aborted.Load() {
		g.mu.Unlock()
		panic(ErrShardAborted)
	}
	g.arrived++
	if g.arrived == g.shards {
		g.arrived = 0
		g.gen.Add(1)
		g.cond.Broadcast()
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	for range 4000 {
		if g.gen.Load() != gen {
			return
		}
		if g.aborted.Load() {
			panic(ErrShardAborted)
		}
		if !g.help() {
			runtime.Gosched()
		}
	}
	g.mu.Lock()
	for g.gen.Load() == gen && !g.aborted.Load() {
		g.cond.Wait()
	}
	g.mu.Unlock()
	if g.gen.Load() == gen {
		panic(ErrShardAborted)
	}
}

// batchStats combines the shards' per-channel counts, means and biased
// variances (Chan et al.'s pairwise update, in shard order) into the
// batch's; local is count, c means, c variances.
func (g *ShardGroup) batchStats(shard int, local []float64, c int) (count float64, mean, variance []float64) {
	all := g.exchange(shard, local)
	count = all[0][0]
	mean = append([]float64(nil), all[0][1:1+c]...)
	m2 := make([]float64, c)
	for ch := range c {
		m2[ch] = all[0][1+c+ch] * count
	}
	for _, o := range all[1:] {
		nb := o[0]
		if nb == 0 {
			continue
		}
		n := count + nb
		for ch := range c {
			d := o[1+ch] - mean[ch]
			mean[ch] += d * nb / n
			m2[ch] += o[1+c+ch]*nb + d*d*count*nb/n
		}
		count = n
	}
	variance = m2
	for ch := range c {
		variance[ch] = m2[ch] / count
	}
	return count, mean, variance
}

// Sum adds the shards' values elementwise, in shard order: for batch
// normalization's gradient sums, the loss, the
// count of correct predictions and whatever else a training step must
// agree on across shards before it goes on (every shard gets the same
// totals).
func (g *ShardGroup) Sum(shard int, local ...float64) []float64 {
	all := g.exchange(shard, local)
	out := append([]float64(nil), all[0]...)
	for _, o := range all[1:] {
		for i, v := range o {
			out[i] += v
		}
	}
	return out
}

// sharedJob is the images of one operator that their shard offers to the
// shards waiting in an exchange: its shard takes them from the front, the
// others (thieves) from the back, so each image is computed once.
type sharedJob struct {
	// ends is front<<32 | back: images [front, back) are still unclaimed.
	ends atomic.Uint64
	// done counts the images thieves have finished.
	done atomic.Int32
	// steal runs the images a thief can take, claiming them one by one.
	steal func(j *sharedJob)
}

func (j *sharedJob) claimFront() bool {
	for {
		e := j.ends.Load()
		front, back := e>>32, e&0xffffffff
		if front >= back {
			return false
		}
		if j.ends.CompareAndSwap(e, (front+1)<<32|back) {
			return true
		}
	}
}

// claimBack returns the last unclaimed image, or -1.
func (j *sharedJob) claimBack() int {
	for {
		e := j.ends.Load()
		front, back := e>>32, e&0xffffffff
		if front >= back {
			return -1
		}
		if j.ends.CompareAndSwap(e, front<<32|(back-1)) {
			return int(back - 1)
		}
	}
}

// help runs images of another shard's offered job, if there is one with
// images left, and reports whether it found one (another thief, or its
// owner, may have claimed the last images first).
func (g *ShardGroup) help() bool {
	for s := range g.jobs {
		j := g.jobs[s].Load()
		if j == nil {
			continue
		}
		if e := j.ends.Load(); e>>32 < e&0xffffffff {
			j.steal(j)
			return true
		}
	}
	return false
}

// testHookImage, when set (tests), is called by a shard's goroutine before
// it claims each image of a shared operator.
var testHookImage func(g *ShardGroup, shard, i int)

// shareImages runs the n images of one operator of shard tp.Shard, in
// order, offering them to the shards waiting in an exchange meanwhile.
// For each image it calls own(i, s, true) when this shard claimed it, and
// own(i, s, false) when a thief did, after which the thief runs
// stolen(i, s') on its goroutine with its own scratch s' (from
// newScratch; s is this shard's). It returns when every image is
// done, thieves' included. own with false lets an operator keep the part
// of an image's work that must stay in order on its shard (a weight
// gradient summed image by image): the result does not depend on who took
// which image.
func shareImages[S any](tp *Tape, n int, newScratch func() S, own func(i int, s S, mine bool), stolen func(i int, s S)) {
	if !tp.sharded() || n < 2 {
		s := newScratch()
		for i := range n {
			own(i, s, true)
		}
		return
	}
	g := tp.Group
	j := &sharedJob{}
	j.ends.Store(uint64(n))
	j.steal = func(j *sharedJob) {
		var s S
		made := false
		for {
			i := j.claimBack()
			if i < 0 {
				return
			}
			if !made {
				s, made = newScratch(), true
			}
			stolen(i, s)
			g.stolen.Add(1)
			j.done.Add(1)
		}
	}
	g.jobs[tp.Shard].Store(j)
	s := newScratch()
	front := 0
	for i := range n {
		if testHookImage != nil {
			testHookImage(g, tp.Shard, i)
		}
		mine := j.claimFront()
		if mine {
			front = i + 1
		}
		own(i, s, mine)
	}
	g.jobs[tp.Shard].Store(nil)
	// The thieves took images [front, n): wait until they are done.
	for thieves := int32(n - front); j.done.Load() < thieves; {
		if g.aborted.Load() {
			panic(ErrShardAborted)
		}
		runtime.Gosched()
	}
}

package nn

import (
	"fmt"
	"math/rand/v2"
)

// Tape records the backward step of every operator applied through it, so
// that Backward can run them in reverse order (reverse-mode autodiff).
//
// A nil *Tape is valid everywhere an operator takes one: it means inference
// in eval mode, nothing recorded, no gradient. A Tape with Train set runs
// batch normalization on batch statistics (and updates running averages) and
// applies dropout; with Train unset it uses running statistics, which is what
// a gradient check in eval mode wants.
//
// A Tape is used by one goroutine; operators may use several internally.
type Tape struct {
	Train bool
	// RNG drives dropout. It must be set when Train is and a network has
	// dropout; seeding it is the caller's job (runs record their seed).
	RNG *rand.Rand
	// Recycle makes the operators take the storage of their outputs (and
	// of those outputs' gradients) from the tape, which gets it back at
	// Release and reuses it in later steps instead of allocating (and the
	// runtime zeroing, and collecting) a step's worth of tensors again.
	// A caller that sets it must call Release once per step, when it no
	// longer uses that step's tensors.
	Recycle bool
	// Storage, when set, is where a recycling tape draws its storage
	// from and hands it back to: a Storage shared with other tapes that
	// never run at the same time as this one. Nil means one of the
	// tape's own. Change it only between steps (after Release).
	Storage *Storage
	// NoGrad makes the tape record no backward steps: a forward pass
	// only (batch-norm recalibration, evaluation), whose operators keep
	// nothing for a backward pass, and whose outputs need no gradient.
	// Backward has nothing to run; Discard ends a step.
	NoGrad bool
	// Threads is the number of goroutines an operator may split its work
	// over; 0 means GOMAXPROCS. The tape of one shard of a batch sets 1:
	// the shards are the parallelism.
	Threads int
	// Group, when set, makes this tape shard Shard of a batch split over
	// Group's tapes (see ShardGroup): batch normalization in training
	// takes its statistics over the whole batch.
	Group *ShardGroup
	Shard int

	steps []func()
	pool  tensorPool
}

// Release hands the storage of every tensor the operators made on this
// tape since the last Release, and their scratch, back to the tape's
// Storage, for the tensors and scratch of later steps (this tape's, or
// another's that shares the Storage). Those tensors must not be used
// afterwards: their Data and Grad are nil. Parameters, inputs and buffers are not the tape's and are not
// touched. Without Recycle there is nothing to release.
func (tp *Tape) Release() { tp.pool.release() }

// Discard ends a step that will not run backward (a NoGrad tape's, or
// one abandoned): it drops the recorded steps and hands back everything
// the step made, as Release does.
func (tp *Tape) Discard() {
	tp.Reset()
	tp.Release()
}

// Free hands the storage of t, a tensor this recycling tape made since
// its last Release, back to its Storage at once, for the tensors of the
// rest of the step; t's Data and Grad are nil afterwards. It is for a
// NoGrad tape's forward pass, which releases an activation as soon as
// nothing reads it any more: the caller must make sure that nothing
// does, nor shares its storage. It does nothing for a tensor the tape did
// not make (an input, a parameter, another tape's), and panics on a tape
// that records backward steps, which may still read t.
func (tp *Tape) Free(t *Tensor) {
	if tp == nil || t == nil || t.pool != &tp.pool {
		return
	}
	if !tp.NoGrad {
		panic("nn.Tape.Free: the tape records backward steps, which may read the tensor")
	}
	tp.pool.free(t)
}

// FreeScratch hands the scratch of the operators applied since the last
// Release back to the tape's Storage at once, for the operators that
// follow. On a NoGrad tape no backward step reads an operator's scratch
// once the operator has returned, so a forward pass calls it after each
// operator; it panics on a tape that records backward steps.
func (tp *Tape) FreeScratch() {
	if tp == nil || !tp.Recycle {
		return
	}
	if !tp.NoGrad {
		panic("nn.Tape.FreeScratch: the tape records backward steps, which may read the scratch")
	}
	tp.pool.freeScratch()
}

// alloc returns a zero tensor of the given shape: from the tape's storage
// when it recycles, else New.
func (tp *Tape) alloc(shape ...int) *Tensor {
	if tp == nil || !tp.Recycle {
		return New(shape...)
	}
	return tp.pool.tensor(tp.Storage, true, shape)
}

// allocOutput is alloc for an operator that writes every element of its
// output: recycled storage is not cleared.
func (tp *Tape) allocOutput(shape ...int) *Tensor {
	if tp == nil || !tp.Recycle {
		return New(shape...)
	}
	return tp.pool.tensor(tp.Storage, false, shape)
}

// scratch returns n elements of working storage for an operator during
// this step (its scratch, or per-image partial sums): from the tape's
// storage when it recycles, so that a training step does not allocate (and
// fault in, and collect) its operators' scratch anew each step; else make.
// Recycled scratch holds old values unless zeroed. The operator must not
// keep it past the step (Release takes it back).
func (tp *Tape) scratch(n int, zeroed bool) []float32 {
	if tp == nil || !tp.Recycle {
		return make([]float32, n)
	}
	return tp.pool.scratch(tp.Storage, n, zeroed)
}

// scratch64 is scratch for zeroed float64 storage.
func (tp *Tape) scratch64(n int) []float64 {
	if tp == nil || !tp.Recycle {
		return make([]float64, n)
	}
	return tp.pool.scratch64(tp.Storage, n)
}

// freeAfter returns next(mid) for mid, a fused operator's intermediate
// tensor, and frees mid on a tape that records no backward step (which
// would read it), unless the result is mid itself.
func freeAfter(tp *Tape, mid *Tensor, next func(*Tensor) *Tensor) *Tensor {
	out := next(mid)
	if out != mid && !tp.recording() {
		tp.Free(mid)
	}
	return out
}

// NewTape returns a tape in training or eval mode.
func NewTape(train bool, rng *rand.Rand) *Tape { return &Tape{Train: train, RNG: rng} }

// threads is Threads, nil-safe (0: GOMAXPROCS).
func (tp *Tape) threads() int {
	if tp == nil {
		return 0
	}
	return tp.Threads
}

// sharded reports whether the tape is one shard of a larger batch.
func (tp *Tape) sharded() bool { return tp != nil && tp.Group != nil && tp.Group.shards > 1 }

// recording reports whether the tape records backward steps (nil-safe):
// an operator keeps what its backward step needs only then.
func (tp *Tape) recording() bool { return tp != nil && !tp.NoGrad }

// training reports whether ops should behave as in training (nil-safe).
func (tp *Tape) training() bool { return tp != nil && tp.Train }

// record adds a backward step when out depends on a tensor that needs a
// gradient. It marks out accordingly.
func (tp *Tape) record(out *Tensor, step func(), inputs ...*Tensor) {
	if tp == nil || tp.NoGrad {
		return
	}
	for _, in := range inputs {
		if in != nil && in.requiresGrad {
			out.requiresGrad = true
			tp.steps = append(tp.steps, step)
			return
		}
	}
}

// Backward seeds the gradient of loss (a tensor of one element) with 1 and
// runs the recorded steps in reverse. Gradients accumulate into the Grad of
// every tensor that requires one, parameters included, so clear them between
// steps (see ZeroGrads). The tape is empty afterwards and can be reused.
func (tp *Tape) Backward(loss *Tensor) {
	if loss.Len() != 1 {
		panic(fmt.Sprintf("nn.Tape.Backward: loss has shape %v, want one element", loss.Shape))
	}
	loss.grad()[0] = 1
	tp.BackwardFrom()
}

// BackwardFrom runs the recorded steps in reverse, assuming the caller has
// already set the Grad of the outputs of interest (used by gradient tests
// with a random upstream gradient).
func (tp *Tape) BackwardFrom() {
	for i := len(tp.steps) - 1; i >= 0; i-- {
		tp.steps[i]()
		tp.steps[i] = nil
	}
	tp.steps = tp.steps[:0]
}

// Reset drops the recorded steps without running them.
func (tp *Tape) Reset() {
	clear(tp.steps)
	tp.steps = tp.steps[:0]
}

// Len is the number of recorded backward steps.
func (tp *Tape) Len() int { return len(tp.steps) }

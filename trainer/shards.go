package trainer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"nas/blocks"
	"nas/blocks/kernels"
	"nas/blocks/nn"
)

// Stepper runs training steps: forward, loss, backward and an SGD update
// of one network, each batch split into shards that run at once, one
// goroutine each (data parallelism, nn.ShardGroup).
//
// Every shard runs its operators on one goroutine, over its own samples
// and its own copy of the network: the parameters' values are shared,
// their gradients are not. Splitting each operator over the cores instead
// (what a single tape with several threads does) moves every activation
// between the cores' caches at every operator and waits for the slowest
// part of each, so that a second core adds far less than a second
// independent single-threaded run would. Batch normalization exchanges its sums between
// the shards, so a sharded step computes what one tape computes on the
// whole batch, up to float32 rounding.
type Stepper struct {
	net    *blocks.Network
	opt    *SGD
	shards int
	// The run's dropout generator: the tape's with one shard, else the
	// source of each step's shard seeds.
	rng *rand.Rand

	tapes    []*nn.Tape
	nets     []*blocks.Network // nets[0] is net
	shardSrc []*rand.PCG
	group    *nn.ShardGroup
	seeds    []uint64
	results  []shardResult
	gradLen  int // values in the network's parameters
}

type shardResult struct {
	loss    float64 // the batch's, the same in every shard
	correct int
	err     error
	panic   any
}

// newStepper returns a Stepper over shards shards (at least 1; the batches
// it is given must have at least that many samples, or it uses fewer).
func NewStepper(net *blocks.Network, opt *SGD, shards int, rng *rand.Rand) (*Stepper, error) {
	if shards < 1 {
		shards = 1
	}
	s := &Stepper{net: net, opt: opt, shards: shards, rng: rng}
	s.nets = []*blocks.Network{net}
	for i := range shards {
		tp := nn.NewTape(true, rng)
		tp.Recycle = true // each step releases its tensors
		tp.Threads = 1
		if shards > 1 {
			src := rand.NewPCG(0, uint64(i))
			s.shardSrc = append(s.shardSrc, src)
			tp.RNG = rand.New(src)
		}
		s.tapes = append(s.tapes, tp)
		if i == 0 {
			continue
		}
		// A replica: built from the same graph (so its parameters come in
		// the same order), its values replaced by the network's before
		// every step.
		rep, err := blocks.NewNetwork(net.Graph, rand.New(rand.NewPCG(0, 0)))
		if err != nil {
			return nil, fmt.Errorf("training: copy %d of the network for its shard: %w", i, err)
		}
		a, b := net.Params(), rep.Params()
		if len(a) != len(b) {
			return nil, fmt.Errorf("training: copy %d of the network has %d parameters, the network %d (internal error)", i, len(b), len(a))
		}
		for j := range a {
			if a[j].Name != b[j].Name || len(a[j].Data) != len(b[j].Data) {
				return nil, fmt.Errorf("training: copy %d of the network: parameter %d is %s, want %s (internal error)", i, j, b[j].Name, a[j].Name)
			}
		}
		s.nets = append(s.nets, rep)
	}
	for _, p := range net.Params() {
		s.gradLen += len(p.Data)
	}
	s.results = make([]shardResult, shards)
	s.seeds = make([]uint64, shards)
	return s, nil
}

// Shards is the number of shards a batch is split over (a batch of fewer
// samples is split over one per sample).
func (s *Stepper) Shards() int { return s.shards }

// ShareStorage makes the tape of shard i draw its tensors and scratch from
// storages[i] (nn.Tape.Storage), which needs at least Shards storages. The
// steppers of networks that train one after another on the same batches
// (the networks of a supernet's step) can share them: shard i of one
// runs after that of the one before has released its tensors, so the
// storage holds what the largest network's shard needs instead of every
// network's. A nil storage gives the shard a storage of its own.
func (s *Stepper) ShareStorage(storages []*nn.Storage) {
	if len(storages) < s.shards {
		panic(fmt.Sprintf("trainer.Stepper.ShareStorage: %d storages for %d shards", len(storages), s.shards))
	}
	for i, tp := range s.tapes {
		tp.Storage = storages[i]
	}
}

// ShardsFor returns how many shards a run with threads (0: GOMAXPROCS)
// splits each batch of batch samples into.
func ShardsFor(threads, batch int) int {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	return max(1, min(threads, batch))
}

// Step runs one training step on the batch x (labels per sample) at
// learning rate lr, with label smoothing, and returns the batch's mean loss
// and its count of correct predictions. A loss above maxLoss (or NaN)
// stops it before the update with an error wrapping ErrDiverged.
func (s *Stepper) Step(x *nn.Tensor, labels []int, lr, smoothing, maxLoss float64) (float64, int, error) {
	loss, correct, err := s.Gradients(x, Target{Labels: labels, Smoothing: smoothing}, maxLoss)
	if err != nil {
		return loss, 0, err
	}
	s.opt.Step(lr)
	return loss, correct, nil
}

// Target is what the loss of a step compares a network's outputs with.
type Target struct {
	// Labels holds the class of each sample: the loss's target (smoothed
	// by Smoothing) unless Soft is set, and what correct predictions count.
	Labels    []int
	Smoothing float64
	// Soft, when set, holds N x classes probabilities and the loss is the
	// cross-entropy against them (nn.SoftCrossEntropyOf): in-place
	// distillation from a teacher's outputs.
	Soft []float32
	// Probs, when set (N x classes values), receives the softmax of the
	// network's outputs: a teacher's soft targets for other networks.
	Probs []float32
}

// Gradients runs forward, loss and backward on the batch x without
// updating the parameters: afterwards the network's parameters hold the
// batch's gradient in Grad (nil for a parameter the step does not reach).
// It returns the batch's mean loss and its count of correct predictions;
// a loss above maxLoss (or NaN) is an error wrapping ErrDiverged. Step is
// Gradients followed by the optimizer's update; a Stepper made with a nil
// optimizer serves Gradients only (the caller updates the parameters).
func (s *Stepper) Gradients(x *nn.Tensor, t Target, maxLoss float64) (float64, int, error) {
	n := x.Shape[0]
	shards := min(s.shards, n)
	if shards == 1 {
		return gradStep(s.net, s.tapes[0], x, t, maxLoss)
	}
	if s.group == nil || s.group.Shards() != shards {
		s.group = nn.NewShardGroup(shards)
	}
	params := s.net.Params()
	for _, rep := range s.nets[1:shards] {
		for j, p := range rep.Params() {
			p.Data = params[j].Data
		}
	}
	for i := range shards {
		s.seeds[i] = s.rng.Uint64()
	}
	inner := x.Len() / max(n, 1)
	var wg sync.WaitGroup
	for i := 1; i < shards; i++ {
		wg.Go(func() { s.results[i] = s.runShard(i, shards, x, t, inner, maxLoss) })
	}
	s.results[0] = s.runShard(0, shards, x, t, inner, maxLoss)
	wg.Wait()

	var first any
	for _, r := range s.results[:shards] {
		if r.panic != nil && (first == nil || first == nn.ErrShardAborted) {
			first = r.panic
		}
	}
	if first != nil {
		s.group = nil // an aborted group cannot be used again
		panic(first)
	}
	r0 := s.results[0]
	if r0.err != nil {
		for _, r := range s.results[:shards] {
			if r.err != nn.ErrShardAborted {
				return r.loss, 0, r.err
			}
		}
		return r0.loss, 0, r0.err
	}
	// The shards' parameter gradients add up to the batch's: in shard
	// order, so the sum does not depend on how the parameters are split
	// over goroutines here.
	kernels.ParallelRanges(shards, len(params), s.gradLen*(shards-1), func(lo, hi int) {
		for j := lo; j < hi; j++ {
			g := params[j].Grad
			if g == nil {
				continue
			}
			for _, rep := range s.nets[1:shards] {
				if rg := rep.Params()[j].Grad; rg != nil {
					kernels.AddTo(g, rg)
				}
			}
		}
	})
	return r0.loss, r0.correct, nil
}

// runShard runs forward, loss and backward of shard i of shards on its
// samples, exchanging what batch normalization and the loss check need
// with the other shards.
func (s *Stepper) runShard(i, shards int, x *nn.Tensor, t Target, inner int, maxLoss float64) (res shardResult) {
	defer func() {
		if p := recover(); p != nil {
			s.tapes[i].Reset() // the steps of a forward pass that did not finish
			s.group.Abort()
			res = shardResult{panic: p}
		}
	}()
	n := x.Shape[0]
	lo, hi := i*n/shards, (i+1)*n/shards
	shape := append([]int{hi - lo}, x.Shape[1:]...)
	xs := nn.FromData(x.Data[lo*inner:hi*inner], shape...)
	ys := t.Labels[lo:hi]
	tp, net := s.tapes[i], s.nets[i]
	tp.Group, tp.Shard = s.group, i
	s.shardSrc[i].Seed(s.seeds[i], uint64(i))
	defer tp.Release()

	logits := net.Forward(tp, xs)
	loss, err := shardLoss(tp, logits, t, lo, hi, n)
	var l, correct, failed float64
	if err != nil {
		failed = 1
	} else {
		l = float64(loss.Data[0])
		correct = float64(nn.CountCorrect(logits, ys))
	}
	// Every shard decides from the same totals whether to go on.
	tot := s.group.Sum(i, l, correct, failed)
	switch {
	case tot[2] > 0:
		tp.Reset()
		if err == nil {
			err = nn.ErrShardAborted // another shard's error stops this one too
		}
		return shardResult{err: err}
	case math.IsNaN(tot[0]) || math.IsInf(tot[0], 0) || tot[0] > maxLoss:
		tp.Reset()
		return shardResult{loss: tot[0], err: fmt.Errorf("loss %g (limit %g): %w; lower the learning rate or check the network", tot[0], maxLoss, ErrDiverged)}
	}
	nn.ZeroGrads(net.Params())
	tp.Backward(loss)
	return shardResult{loss: tot[0], correct: int(tot[1])}
}

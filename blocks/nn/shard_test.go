package nn

import (
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// relDiff is max|a-b| / max|a|.
func relDiff(a, b []float32) float64 {
	var d, m float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
		m = math.Max(m, math.Abs(float64(a[i])))
	}
	return d / m
}

// TestShardedBatchNormMatchesWhole splits a batch into 3 unequal shards,
// each with its own BatchNorm sharing the parameters, and checks that the
// outputs, the input gradient, the summed parameter gradients and the
// running statistics are those of one BatchNorm on the whole batch.
func TestShardedBatchNormMatchesWhole(t *testing.T) {
	const n, c, h, w = 7, 5, 3, 4
	rng := rand.New(rand.NewPCG(1, 2))
	x := randTensor(rng, n, c, h, w)
	for i := range x.Data {
		x.Data[i] = x.Data[i]*3 + 2 // a mean and a spread per channel
	}
	gy := randTensor(rng, n, c, h, w)
	newBN := func() *BatchNorm {
		bn, err := NewBatchNorm("bn", c, BatchNormConfig{})
		require.NoError(t, err)
		for i := range c {
			bn.Weight.Data[i] = 0.5 + float32(i)/4
			bn.Bias.Data[i] = float32(i) / 10
		}
		return bn
	}

	whole := newBN()
	tp := NewTape(true, nil)
	xw := x.Clone().SetRequiresGrad(true)
	yw := whole.Forward(tp, xw)
	copy(yw.grad(), gy.Data)
	tp.BackwardFrom()

	bounds := []int{0, 2, 3, 7} // 2, 1 and 4 samples
	shards := len(bounds) - 1
	g := NewShardGroup(shards)
	bns := make([]*BatchNorm, shards)
	xs := make([]*Tensor, shards)
	ys := make([]*Tensor, shards)
	inner := c * h * w
	var wg sync.WaitGroup
	for s := range shards {
		bns[s] = newBN()
		if s > 0 {
			bns[s].Weight.Data, bns[s].Bias.Data = bns[0].Weight.Data, bns[0].Bias.Data
		}
		lo, hi := bounds[s], bounds[s+1]
		xs[s] = FromData(append([]float32(nil), x.Data[lo*inner:hi*inner]...), hi-lo, c, h, w).SetRequiresGrad(true)
		wg.Go(func() {
			tp := &Tape{Train: true, Threads: 1, Group: g, Shard: s}
			ys[s] = bns[s].Forward(tp, xs[s])
			copy(ys[s].grad(), gy.Data[lo*inner:hi*inner])
			tp.BackwardFrom()
		})
	}
	wg.Wait()

	var y, gx []float32
	gw, gb := make([]float32, c), make([]float32, c)
	for s := range shards {
		y = append(y, ys[s].Data...)
		gx = append(gx, xs[s].Grad...)
		for i := range c {
			gw[i] += bns[s].Weight.Grad[i]
			gb[i] += bns[s].Bias.Grad[i]
		}
	}
	const tol = 2e-6
	require.Less(t, relDiff(yw.Data, y), tol, "output")
	require.Less(t, relDiff(xw.Grad, gx), tol, "input gradient")
	require.Less(t, relDiff(whole.Weight.Grad, gw), tol, "weight gradient")
	require.Less(t, relDiff(whole.Bias.Grad, gb), tol, "bias gradient")
	require.Less(t, relDiff(whole.RunningMean.Data, bns[0].RunningMean.Data), tol, "running mean")
	require.Less(t, relDiff(whole.RunningVar.Data, bns[0].RunningVar.Data), tol, "running variance")
	require.Equal(t, int64(1), bns[0].NumBatchesTracked)
	require.Equal(t, int64(0), bns[1].NumBatchesTracked, "only shard 0 keeps the running statistics")
}

// TestShardGroupAbortReleasesWaiters checks that a shard waiting in an
// exchange panics with ErrShardAborted when another shard aborts, instead
// of waiting forever, and that later exchanges do too.
func TestShardGroupAbortReleasesWaiters(t *testing.T) {
	g := NewShardGroup(2)
	got := make(chan any, 2)
	go func() {
		defer func() { got <- recover() }()
		g.Sum(1, 1)
	}()
	g.Abort()
	require.Equal(t, ErrShardAborted, <-got)
	go func() {
		defer func() { got <- recover() }()
		g.Sum(0, 1)
	}()
	require.Equal(t, ErrShardAborted, <-got)
}

// TestShardGroupSumInShardOrder checks many exchanges in a row (the
// double-buffered slots) with shards that run at different speeds.
func TestShardGroupSumInShardOrder(t *testing.T) {
	const shards, rounds = 3, 200
	g := NewShardGroup(shards)
	var wg sync.WaitGroup
	bad := make(chan string, shards)
	for s := range shards {
		wg.Go(func() {
			for k := range rounds {
				if (k+s)%7 == 0 {
					for range 1000 * s {
						_ = math.Sqrt(float64(k))
					}
				}
				got := g.Sum(s, float64(k*10+s), 1)
				if want := float64(k*10*shards + 0 + 1 + 2); got[0] != want || got[1] != shards {
					bad <- "round mismatch"
					return
				}
			}
		})
	}
	wg.Wait()
	close(bad)
	for b := range bad {
		t.Fatal(b)
	}
}

// TestShardsTakeImagesFromTheSlowerOne runs a convolution (forward and
// backward) on shard 0 of two while shard 1 already waits in an exchange,
// so that shard 1 takes images of shard 0's convolution, and checks that
// shard 0's output and gradients are bit for bit those of the same
// convolution on a tape of its own.
func TestShardsTakeImagesFromTheSlowerOne(t *testing.T) {
	const n = 12
	cfg := Conv2DConfig{In: 16, Out: 32, KernelH: 3, KernelW: 3, PadH: 1, PadW: 1}
	dw := Conv2DConfig{In: 32, Out: 32, KernelH: 3, KernelW: 3, PadH: 1, PadW: 1, Groups: 32}
	rng := rand.New(rand.NewPCG(3, 4))
	x := randTensor(rng, n, 16, 24, 24)
	w1 := randTensor(rng, 32, 16, 3, 3)
	w2 := randTensor(rng, 32, 1, 3, 3)
	gy := randTensor(rng, n, 32, 24, 24)
	run := func(tp *Tape) (y, gx, gw1, gw2 []float32) {
		xt := x.Clone().SetRequiresGrad(true)
		a := w1.Clone().SetRequiresGrad(true)
		b := w2.Clone().SetRequiresGrad(true)
		out := Convolve(tp, Convolve(tp, xt, a, nil, cfg), b, nil, dw)
		copy(out.grad(), gy.Data)
		tp.BackwardFrom()
		return out.Data, xt.Grad, a.Grad, b.Grad
	}
	ref := NewTape(true, nil)
	ref.Threads = 1 // a shard's tape runs on one goroutine
	wantY, wantGx, wantW1, wantW2 := run(ref)

	// Shard 1 starts waiting in an exchange once shard 0 offers the
	// images of its first convolution, and shard 0 holds its first image
	// until shard 1 has taken one from the back (or a second has passed):
	// some images are taken even on a loaded machine or one processor.
	g := NewShardGroup(2)
	done := make(chan struct{})
	started := false
	testHookImage = func(g *ShardGroup, shard, i int) {
		if shard != 0 || started {
			return
		}
		started = true
		go func() {
			defer close(done)
			g.Sum(1, 1) // waits for shard 0, taking its images meanwhile
		}()
		for deadline := time.Now().Add(time.Second); g.stolen.Load() == 0 && time.Now().Before(deadline); {
			runtime.Gosched()
		}
	}
	defer func() { testHookImage = nil }()
	tp := NewTape(true, nil)
	tp.Threads, tp.Group, tp.Shard = 1, g, 0
	y, gx, gw1, gw2 := run(tp)
	g.Sum(0, 1)
	<-done
	require.Equal(t, wantY, y, "output")
	require.Equal(t, wantGx, gx, "input gradient")
	require.Equal(t, wantW1, gw1, "weight gradient")
	require.Equal(t, wantW2, gw2, "depthwise weight gradient")
	require.NotZero(t, g.stolen.Load(), "images shard 1 took")
}

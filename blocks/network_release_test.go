package blocks

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks/nn"
)

// releaseNet has every path that keeps a value past the op after it: a
// residual MBConv with squeeze-and-excitation, a ShuffleNet V2 unit (split,
// concatenation, shuffle), a Ghost bottleneck (concatenation, slice), a
// Fire module (two branches concatenated), and dropout, which passes its
// input on outside training.
func releaseNet(t *testing.T) *Network {
	t.Helper()
	g, err := Lower(Shape{3, 16, 16}, []Spec{
		&Conv{Out: 8, Kernel: 3, Act: ActReLU},
		&MBConv{Out: 8, Mid: 24, Kernel: 3, Act: ActReLU6, SE: SE{Squeeze: 4}},
		&MBConv{Out: 8, Mid: 16, Kernel: 5, Act: ActHSwish},
		&ShuffleV2{Out: 8},
		&Ghost{Mid: 16, Out: 12, Stride: 2},
		&Fire{Squeeze: 4, E1: 8, E3: 8},
		&GlobalPool{},
		&Dropout{P: 10},
		&Linear{Out: 5},
	})
	require.NoError(t, err)
	n, err := NewNetwork(g, rand.New(rand.NewPCG(3, 4)))
	require.NoError(t, err)
	return n
}

// TestForwardNoGradReleasesEarly runs one batch through the network on a
// recycling training tape, which keeps every activation for the backward
// pass, and on a NoGrad one, which hands each back once nothing reads it:
// the outputs are the same bit for bit, and the NoGrad pass holds less
// storage at its end (all it ever drew) than the other holds.
func TestForwardNoGradReleasesEarly(t *testing.T) {
	n := releaseNet(t)
	rng := rand.New(rand.NewPCG(5, 6))
	x := nn.New(6, 3, 16, 16)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	forward := func(train, noGrad bool) ([]float32, int64) {
		st := nn.NewStorage()
		tp := nn.NewTape(train, rand.New(rand.NewPCG(7, 8)))
		tp.Recycle, tp.NoGrad, tp.Storage = true, noGrad, st
		y := n.Forward(tp, x)
		out := append([]float32(nil), y.Data...)
		held := st.Bytes()
		tp.Discard()
		require.Equal(t, held, st.Bytes(), "the storage changed at Discard")
		// A second pass draws nothing new.
		n.Forward(tp, x)
		require.Equal(t, held, st.Bytes(), "a second pass grew the storage")
		tp.Discard()
		return out, held
	}
	for _, train := range []bool{true, false} {
		all, allBytes := forward(train, false)
		early, earlyBytes := forward(train, true)
		require.Equal(t, all, early, "outputs (train %v)", train)
		require.Less(t, earlyBytes, allBytes*2/3, "bytes held (train %v): %d with NoGrad, %d without", train, earlyBytes, allBytes)
		t.Logf("train %v: %d bytes held keeping every activation, %d releasing them early", train, allBytes, earlyBytes)
	}
	// In eval mode the same as without a tape.
	want := n.Forward(nil, x)
	got, _ := forward(false, true)
	require.Equal(t, want.Data, got)
}

// TestSharesStorage checks the alias test that keeps a value's storage
// alive while a view of it is still read.
func TestSharesStorage(t *testing.T) {
	a := nn.New(4, 10)
	b := nn.New(4, 10)
	view := nn.FromData(a.Data[10:20], 1, 10)
	head := nn.FromData(a.Data[:10], 1, 10)
	require.True(t, sharesStorage(a, a))
	require.True(t, sharesStorage(a, view))
	require.True(t, sharesStorage(view, a))
	require.True(t, sharesStorage(head, view), "two views of one array")
	require.False(t, sharesStorage(a, b))
	require.False(t, sharesStorage(a, nn.New(0)))
}

// TestLastReaders checks the release points of a residual block: its
// input lives until the addition, the output until the caller.
func TestLastReaders(t *testing.T) {
	n := releaseNet(t)
	g := n.Graph
	last := lastReaders(g)
	require.Equal(t, len(g.Ops), last[g.Output])
	require.Equal(t, len(g.Ops), last[g.Input])
	adds := 0
	for i, op := range g.Ops {
		for _, v := range op.In {
			require.GreaterOrEqual(t, last[v], i, "value %d read by op %d after its last reader", v, i)
		}
		if op.Kind == OpAdd {
			adds++
			// The block's input (the skip path) and its branch: both
			// read last by the addition.
			for _, v := range op.In {
				require.Equal(t, i, last[v], "input %d of op %d", v, i)
			}
		}
	}
	require.Positive(t, adds, "the network has a residual addition")
}

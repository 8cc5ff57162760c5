package trainer

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
	"nas/blocks/nn"
	"nas/space"
)

// shardArch has batch norm everywhere, a residual MBConv block with SE and
// h-swish, and no dropout (whose draws differ with the shard count).
func shardArch(t *testing.T) *space.Arch {
	a, err := space.ParseArch("in2x8x8 cls4 | conv_o8_k3_arelu6 | ir_o8_m16_k3_se25_ahswish | ir_o12_m24_k5_s2_arelu6 | conv_o16_k1_arelu | gap | linear_o4")
	require.NoError(t, err)
	return a
}

// randomBatch returns n images of shape (normal values) and labels below
// classes.
func randomBatch(rng *rand.Rand, n, classes int, shape ...int) (*nn.Tensor, []int) {
	x := nn.New(append([]int{n}, shape...)...)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = rng.IntN(classes)
	}
	return x, labels
}

func newShardNet(t *testing.T, a *space.Arch) *blocks.Network {
	g, err := a.Graph()
	require.NoError(t, err)
	net, err := blocks.NewNetwork(g, rand.New(rand.NewPCG(7, 8)))
	require.NoError(t, err)
	return net
}

// TestStepperShardsMatchOneShard trains the same network from the same
// weights for a few steps with one shard and with three unequal ones (10
// samples: 3, 3 and 4) and requires the same losses, counts and weights,
// up to float32 rounding: the shards together compute the whole batch's
// batch norm statistics, loss and gradients.
func TestStepperShardsMatchOneShard(t *testing.T) {
	a := shardArch(t)
	x, labels := randomBatch(rand.New(rand.NewPCG(1, 2)), 10, 4, 2, 8, 8)
	run := func(shards int) ([]float64, []int, *blocks.Network) {
		net := newShardNet(t, a)
		opt, err := NewSGD(net.Params(), SGDConfig{Momentum: 0.9, Nesterov: true, WeightDecay: 1e-3})
		require.NoError(t, err)
		st, err := NewStepper(net, opt, shards, rand.New(rand.NewPCG(3, 4)))
		require.NoError(t, err)
		var losses []float64
		var correct []int
		for range 4 {
			l, c, err := st.Step(x, labels, 0.05, 0.1, 100)
			require.NoError(t, err)
			losses = append(losses, l)
			correct = append(correct, c)
		}
		return losses, correct, net
	}
	wantLoss, wantCorrect, want := run(1)
	gotLoss, gotCorrect, got := run(3)
	require.Equal(t, wantCorrect, gotCorrect)
	for i := range wantLoss {
		require.InEpsilon(t, wantLoss[i], gotLoss[i], 1e-5, "step %d", i)
	}
	ws, gs := want.State(), got.State()
	for name, w := range ws {
		var d, m float64
		for i, v := range w.Data {
			d = math.Max(d, math.Abs(float64(v)-float64(gs[name].Data[i])))
			m = math.Max(m, math.Abs(float64(v)))
		}
		require.LessOrEqual(t, d, 1e-4*math.Max(m, 1e-3), "%s: max difference %g (max |value| %g)", name, d, m)
	}
	// The weights moved: the comparison is not between two untouched
	// networks.
	start := newShardNet(t, a).State()
	moved := false
	for name, w := range start {
		if w.Data[0] != ws[name].Data[0] {
			moved = true
		}
	}
	require.True(t, moved)
}

// TestStepperShardPanicDoesNotHang gives every shard an input of the wrong
// image size, so that their first convolution panics (a programmer error),
// and requires Step to panic on the caller, not to hang or swallow it, and
// the stepper to work again on a good batch. (A shard left waiting in an
// exchange by another's panic is released by ShardGroup.Abort, which
// TestShardGroupAbortReleasesWaiters checks.)
func TestStepperShardPanicDoesNotHang(t *testing.T) {
	net := newShardNet(t, shardArch(t))
	opt, err := NewSGD(net.Params(), SGDConfig{})
	require.NoError(t, err)
	st, err := NewStepper(net, opt, 2, rand.New(rand.NewPCG(3, 4)))
	require.NoError(t, err)
	// 3 samples of the wrong size: shard 0 gets 1, shard 1 two.
	x := nn.New(3, 2, 5, 5)
	require.Panics(t, func() { st.Step(x, []int{0, 1, 2}, 0.1, 0, 100) })
	// The stepper is usable again afterwards.
	good := nn.New(4, 2, 8, 8)
	_, _, err = st.Step(good, []int{0, 1, 2, 3}, 0.1, 0, 100)
	require.NoError(t, err)
}

// TestStepperBadLabelIsAnErrorInEveryShard gives a label out of range in
// one shard's samples only: the step fails with that error, no shard
// hangs, and no update happens.
func TestStepperBadLabelIsAnErrorInEveryShard(t *testing.T) {
	net := newShardNet(t, shardArch(t))
	opt, err := NewSGD(net.Params(), SGDConfig{})
	require.NoError(t, err)
	st, err := NewStepper(net, opt, 2, rand.New(rand.NewPCG(3, 4)))
	require.NoError(t, err)
	params := func() [][]float32 {
		var out [][]float32
		for _, p := range net.Params() {
			out = append(out, append([]float32(nil), p.Data...))
		}
		return out
	}
	w0 := params()
	x := nn.New(4, 2, 8, 8)
	_, _, err = st.Step(x, []int{0, 1, 2, 9}, 0.1, 0, 100)
	require.ErrorContains(t, err, "label 9")
	require.Equal(t, w0, params(), "no update after a failed step")
}

// TestStepAllocatesLittle bounds what a training step allocates once the
// tape's storage is recycled: scratch buffers and bookkeeping, not
// tensors. A buffer that escapes to the heap once per channel or per image
// (a stack array passed to a kernel without //go:noescape, a plane made
// where it is not needed) multiplies that, and fails the bound.
func TestStepAllocatesLittle(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes what escapes to the heap")
	}
	a, err := space.ParseArch("in1x28x28 cls10 | conv_o8_k3_arelu6 | ir_o8_m32_arelu6 | ir_o16_m48_s2_arelu6 | ir_o16_m64_arelu6 | gap | linear_o10")
	require.NoError(t, err)
	net := newShardNet(t, a)
	opt, err := NewSGD(net.Params(), SGDConfig{Momentum: 0.9})
	require.NoError(t, err)
	st, err := NewStepper(net, opt, 1, rand.New(rand.NewPCG(3, 4)))
	require.NoError(t, err)
	x, labels := randomBatch(rand.New(rand.NewPCG(1, 2)), 16, 10, 1, 28, 28)
	step := func() {
		_, _, err := st.Step(x, labels, 0.01, 0, math.Inf(1))
		require.NoError(t, err)
	}
	for range 3 {
		step()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	const steps = 4
	for range steps {
		step()
	}
	runtime.ReadMemStats(&ms)
	perStep := float64(ms.TotalAlloc-before) / steps
	// The step's activations alone (16 images, the 32- and 48-channel
	// 28x28 tensors) are several megabytes. A step allocates about 1.25 MB
	// of scratch on amd64; one buffer per channel in the depthwise
	// gradient takes it past 2 MB.
	t.Logf("%.0f bytes a step", perStep)
	require.Less(t, perStep, 1.8e6, "a training step allocates more than it did: look for a buffer made per image or per channel")
}

// TestStepperSoftTargets checks Gradients with soft targets: one-hot
// targets give the hard-label gradients, on one shard and on three, and
// Probs receives the softmax of the outputs of every sample.
func TestStepperSoftTargets(t *testing.T) {
	a := shardArch(t)
	x, labels := randomBatch(rand.New(rand.NewPCG(1, 2)), 10, 4, 2, 8, 8)
	onehot := make([]float32, 10*4)
	for i, y := range labels {
		onehot[i*4+y] = 1
	}
	for _, shards := range []int{1, 3} {
		grads := func(tg Target) ([][]float32, float64) {
			net := newShardNet(t, a)
			st, err := NewStepper(net, nil, shards, rand.New(rand.NewPCG(3, 4)))
			require.NoError(t, err)
			l, _, err := st.Gradients(x, tg, 100)
			require.NoError(t, err)
			var out [][]float32
			for _, p := range net.Params() {
				out = append(out, append([]float32(nil), p.Grad...))
			}
			return out, l
		}
		probs := make([]float32, 10*4)
		hard, hl := grads(Target{Labels: labels, Probs: probs})
		soft, sl := grads(Target{Labels: labels, Soft: onehot})
		require.InEpsilon(t, hl, sl, 1e-5, "%d shards", shards)
		for j := range hard {
			for i := range hard[j] {
				require.InDelta(t, hard[j][i], soft[j][i], 1e-5, "%d shards: param %d value %d", shards, j, i)
			}
		}
		for i := range 10 {
			var s float32
			for _, p := range probs[i*4 : i*4+4] {
				require.Greater(t, p, float32(0))
				s += p
			}
			require.InDelta(t, 1, s, 1e-5, "%d shards: sample %d", shards, i)
		}
	}
}

// TestStepperShareStorage trains two networks in turn, each step of one
// after the other's, with steppers that share their shards' storage and
// with steppers that do not: the weights are the same bit for bit, and
// the shared storages hold less than the two steppers' own together.
func TestStepperShareStorage(t *testing.T) {
	big := shardArch(t)
	small, err := space.ParseArch("in2x8x8 cls4 | conv_o4_k3_arelu6 | ir_o4_m8_k3_arelu6 | gap | linear_o4")
	require.NoError(t, err)
	x, labels := randomBatch(rand.New(rand.NewPCG(1, 2)), 10, 4, 2, 8, 8)
	run := func(share bool) ([]*blocks.Network, int64) {
		var nets []*blocks.Network
		var steppers []*Stepper
		storages := []*nn.Storage{nn.NewStorage(), nn.NewStorage()}
		for k, a := range []*space.Arch{big, small} {
			net := newShardNet(t, a)
			opt, err := NewSGD(net.Params(), SGDConfig{Momentum: 0.9})
			require.NoError(t, err)
			st, err := NewStepper(net, opt, 2, rand.New(rand.NewPCG(3, uint64(k))))
			require.NoError(t, err)
			require.Equal(t, 2, st.Shards())
			if !share {
				storages = []*nn.Storage{nn.NewStorage(), nn.NewStorage()}
			}
			require.Panics(t, func() { st.ShareStorage(storages[:1]) }, "one storage for two shards")
			st.ShareStorage(storages)
			nets, steppers = append(nets, net), append(steppers, st)
		}
		for range 3 {
			for _, st := range steppers {
				_, _, err := st.Step(x, labels, 0.05, 0, 100)
				require.NoError(t, err)
			}
		}
		var held int64
		seen := map[*nn.Storage]bool{}
		for _, st := range steppers {
			for _, tp := range st.tapes {
				if s := tp.Storage; !seen[s] {
					seen[s] = true
					held += s.Bytes()
				}
			}
		}
		return nets, held
	}
	want, apart := run(false)
	got, shared := run(true)
	for k := range want {
		for name, w := range want[k].State() {
			require.Equal(t, w.Data, got[k].State()[name].Data, "network %d, %s", k, name)
		}
	}
	require.Less(t, shared, apart, "bytes held by shared storages and by the steppers' own")
}

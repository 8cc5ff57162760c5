package blocks

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks/nn"
)

func testNet(t *testing.T) *Network {
	t.Helper()
	g, err := Lower(Shape{2, 9, 9}, []Spec{
		&Conv{Out: 6, Kernel: 3, Stride: 2, Act: ActHSwish},
		&Conv{Out: 4, Kernel: 1, NoBN: true, Act: ActPReLU},
		&Pool{Kernel: 2, Avg: true},
		&GlobalPool{},
		&Dropout{P: 10},
		&Linear{Out: 3},
	})
	require.NoError(t, err)
	n, err := NewNetwork(g, rand.New(rand.NewPCG(1, 2)))
	require.NoError(t, err)
	return n
}

func TestNetworkForwardShapesAndCount(t *testing.T) {
	n := testNet(t)
	x := nn.New(2, 2, 9, 9)
	for i := range x.Data {
		x.Data[i] = float32(math.Sin(float64(i)))
	}
	y := n.Forward(nil, x)
	require.Equal(t, []int{2, 3}, y.Shape)
	var count int64
	for _, p := range n.Params() {
		count += int64(p.Len())
	}
	require.Equal(t, n.Graph.Cost().Params, count)
	require.ErrorContains(t, n.CheckInput(nn.New(1, 3, 9, 9)), "want Nx2x9x9")
}

// The network's backward pass agrees with finite differences through every
// op kind in it (conv, BN in eval, h-swish, PReLU, pooling, linear).
func TestNetworkGradientsMatchFiniteDifferences(t *testing.T) {
	n := testNet(t)
	rng := rand.New(rand.NewPCG(5, 6))
	x := nn.New(2, 2, 9, 9)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	labels := []int{0, 2}
	loss := func(tp *nn.Tape) *nn.Tensor {
		l, err := nn.SoftmaxCrossEntropy(tp, n.Forward(tp, x), labels, 0)
		require.NoError(t, err)
		return l
	}
	tp := nn.NewTape(false, nil)
	nn.ZeroGrads(n.Params())
	tp.Backward(loss(tp))
	for _, p := range n.Params() {
		for _, i := range []int{0, p.Len() / 2, p.Len() - 1} {
			orig := p.Data[i]
			h := float32(1e-2)
			p.Data[i] = orig + h
			lp := float64(loss(nil).Data[0])
			p.Data[i] = orig - h
			lm := float64(loss(nil).Data[0])
			p.Data[i] = orig
			num := (lp - lm) / float64(2*h)
			require.InDelta(t, num, float64(p.Grad[i]), 2e-3+2e-2*math.Abs(num), "%s[%d]", p.Name, i)
		}
	}
}

func TestLoadState(t *testing.T) {
	a, b := testNet(t), testNet(t)
	w := map[string][]float32{}
	for name, t := range a.State() {
		v := append([]float32(nil), t.Data...)
		for i := range v {
			v[i] += 0.5
		}
		w[name] = v
	}
	require.NoError(t, b.LoadState(w))
	require.Equal(t, w["layers.1.act.weight"], b.State()["layers.1.act.weight"].Data)

	w["layers.0.conv.weight"] = w["layers.0.conv.weight"][:3]
	require.ErrorContains(t, b.LoadState(w), "layers.0.conv.weight have 3 values")
	delete(w, "layers.0.conv.weight")
	require.ErrorContains(t, b.LoadState(w), "miss 1 tensors")
}

// TestFusedBatchNormActIsExact trains one step of a network whose batch
// norms are followed by ReLU and ReLU6 (in MBConv blocks with residuals,
// a plain conv, and one batch norm whose output a residual add also reads,
// which must not be fused) with and without the fusion, from the same
// weights, and requires the same outputs, gradients and running
// statistics, bit for bit.
func TestFusedBatchNormActIsExact(t *testing.T) {
	// Planes of more than 512 values where a batch norm, its activation
	// and a depthwise convolution are fused: exact there (see
	// nn.BatchNorm.ForwardActDepthwise).
	g, err := Lower(Shape{3, 24, 24}, []Spec{
		&Conv{Out: 8, Kernel: 3, Act: ActReLU},
		&MBConv{Out: 8, Mid: 16, Kernel: 3, Act: ActReLU6},
		&MBConv{Out: 12, Mid: 24, Kernel: 5, Stride: 2, Act: ActReLU6},
		&Conv{Out: 12, Kernel: 1, Act: ActReLU6},
		&GlobalPool{},
		&Linear{Out: 4},
	})
	require.NoError(t, err)
	fused, err := newNetwork(g, rand.New(rand.NewPCG(5, 6)), true)
	require.NoError(t, err)
	plain, err := newNetwork(g, rand.New(rand.NewPCG(5, 6)), false)
	require.NoError(t, err)
	fusedOps := 0
	for i := range g.Ops {
		if g.Ops[i].Kind == OpBN && i+1 < len(g.Ops) && g.Ops[i+1].Kind == OpAct {
			fusedOps++
		}
	}
	require.Greater(t, fusedOps, 3)
	triples := 0
	for i := range g.Ops {
		if fused.depthwiseAfter(i, opUses(g)) != nil {
			triples++
		}
	}
	require.Equal(t, 2, triples, "batch norm, activation and depthwise conv fused")

	rng := rand.New(rand.NewPCG(7, 8))
	x := nn.New(5, 3, 24, 24)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	labels := []int{0, 1, 2, 3, 1}
	// Batch norm's scale and shift such that many values reach 6, so that
	// ReLU6's upper kink is exercised too.
	for _, n := range []*Network{fused, plain} {
		for _, bn := range n.BatchNorms() {
			for c := range bn.Weight.Data {
				bn.Weight.Data[c], bn.Bias.Data[c] = 4, 1
			}
		}
	}
	step := func(n *Network) (*nn.Tensor, []float32) {
		tp := nn.NewTape(true, nil)
		tp.Recycle = true
		tp.Threads = 1 // a shard's tape; the fused operators run on one goroutine
		xi := x.Clone().SetRequiresGrad(true)
		y := n.Forward(tp, xi)
		out := y.Clone()
		loss, err := nn.SoftmaxCrossEntropy(tp, y, labels, 0.1)
		require.NoError(t, err)
		nn.ZeroGrads(n.Params())
		tp.Backward(loss)
		gx := append([]float32(nil), xi.Grad...)
		tp.Release()
		return out, gx
	}
	yf, gxf := step(fused)
	yp, gxp := step(plain)
	require.Equal(t, yp.Data, yf.Data, "outputs")
	require.Equal(t, gxp, gxf, "input gradient")
	for i, p := range plain.Params() {
		require.Equal(t, p.Grad, fused.Params()[i].Grad, p.Name)
	}
	for i, b := range plain.Buffers() {
		require.Equal(t, b.Data, fused.Buffers()[i].Data, b.Name)
	}
}

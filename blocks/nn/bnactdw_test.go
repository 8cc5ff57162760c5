package nn

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks/kernels"
)

// bnActDwResult is what one forward and backward of batch norm, activation
// and depthwise convolution produce.
type bnActDwResult struct {
	y, gx, gw, gbnW, gbnB, runMean, runVar []float32
}

// runBNActDw runs batch norm, act and the depthwise conv cfg on shards of
// x (bounds split the batch; one shard is a plain tape), fused or as three
// operators, with output gradient gy, and gathers every shard's output
// and input gradient and the summed parameter gradients.
func runBNActDw(t *testing.T, fused bool, bounds []int, x, w, gy *Tensor, act Act, cfg Conv2DConfig) bnActDwResult {
	t.Helper()
	shards := len(bounds) - 1
	var g *ShardGroup
	if shards > 1 {
		g = NewShardGroup(shards)
	}
	c := x.Shape[1]
	inner, outInner := x.Len()/x.Shape[0], gy.Len()/gy.Shape[0]
	bns := make([]*BatchNorm, shards)
	ws := make([]*Tensor, shards)
	ys := make([][]float32, shards)
	gxs := make([][]float32, shards)
	var wg sync.WaitGroup
	for s := range shards {
		bn, err := NewBatchNorm("bn", c, BatchNormConfig{})
		require.NoError(t, err)
		for i := range c {
			bn.Weight.Data[i] = 0.5 + float32(i%7)/4
			bn.Bias.Data[i] = float32(i%5)/10 - 0.1
		}
		bns[s] = bn
		ws[s] = w.Clone().SetRequiresGrad(true)
		wg.Go(func() {
			tp := NewTape(true, nil)
			tp.Threads = 1
			if g != nil {
				tp.Group, tp.Shard = g, s
			}
			lo, hi := bounds[s], bounds[s+1]
			xs := FromData(append([]float32(nil), x.Data[lo*inner:hi*inner]...), append([]int{hi - lo}, x.Shape[1:]...)...)
			xs.SetRequiresGrad(true)
			var y *Tensor
			if fused {
				y = bn.ForwardActDepthwise(tp, xs, act, ws[s], cfg)
			} else {
				y = Convolve(tp, bn.ForwardAct(tp, xs, act), ws[s], nil, cfg)
			}
			copy(y.grad(), gy.Data[lo*outInner:hi*outInner])
			tp.BackwardFrom()
			ys[s], gxs[s] = y.Data, xs.Grad
		})
	}
	wg.Wait()
	var r bnActDwResult
	for s := range shards {
		r.y = append(r.y, ys[s]...)
		r.gx = append(r.gx, gxs[s]...)
	}
	sum := func(get func(s int) []float32) []float32 {
		out := append([]float32(nil), get(0)...)
		for s := 1; s < shards; s++ {
			for i, v := range get(s) {
				out[i] += v
			}
		}
		return out
	}
	r.gw = sum(func(s int) []float32 { return ws[s].Grad })
	r.gbnW = sum(func(s int) []float32 { return bns[s].Weight.Grad })
	r.gbnB = sum(func(s int) []float32 { return bns[s].Bias.Grad })
	r.runMean, r.runVar = bns[0].RunningMean.Data, bns[0].RunningVar.Data
	return r
}

// TestForwardActDepthwiseMatchesUnfused checks the fused batch norm,
// activation and depthwise convolution against the three operators, on
// one tape and on shards: bit for bit (without AVX-512 or AVX2 only on
// planes of more than 512 values, and to float32 rounding on smaller ones,
// whose gradient sums are grouped differently there).
func TestForwardActDepthwiseMatchesUnfused(t *testing.T) {
	for _, tc := range []struct {
		h, stride int
		act       Act
		bounds    []int
	}{
		{24, 1, ActReLU6, []int{0, 6}},
		{24, 2, ActReLU6, []int{0, 6}},
		{24, 1, ActReLU, []int{0, 3, 6}},
		{25, 2, ActReLU6, []int{0, 2, 6}},
		{7, 1, ActReLU6, []int{0, 6}},
		{7, 2, ActReLU6, []int{0, 4, 6}},
	} {
		t.Run(fmt.Sprintf("%dx%d_s%d_%v_%dshards", tc.h, tc.h, tc.stride, tc.act, len(tc.bounds)-1), func(t *testing.T) {
			const n, c = 6, 12
			rng := rand.New(rand.NewPCG(uint64(tc.h), uint64(tc.stride)))
			x := randTensor(rng, n, c, tc.h, tc.h)
			for i := range x.Data {
				x.Data[i] = x.Data[i]*2 + 1 // some values clamp at 0 and at 6
			}
			cfg := Conv2DConfig{In: c, Out: c, KernelH: 3, KernelW: 3, StrideH: tc.stride, StrideW: tc.stride, PadH: 1, PadW: 1, Groups: c}
			w := randTensor(rng, c, 1, 3, 3)
			oh, ow, err := cfg.withDefaults().OutSize(tc.h, tc.h)
			require.NoError(t, err)
			gy := randTensor(rng, n, c, oh, ow)
			want := runBNActDw(t, false, tc.bounds, x, w, gy, tc.act, cfg)
			got := runBNActDw(t, true, tc.bounds, x, w, gy, tc.act, cfg)
			require.Equal(t, want.y, got.y, "output")
			require.Equal(t, want.gw, got.gw, "depthwise weight gradient")
			require.Equal(t, want.runMean, got.runMean, "running mean")
			require.Equal(t, want.runVar, got.runVar, "running variance")
			if tc.h*tc.h > 512 || kernels.HasClampGradSetPartials() {
				require.Equal(t, want.gx, got.gx, "input gradient")
				require.Equal(t, want.gbnW, got.gbnW, "batch norm weight gradient")
				require.Equal(t, want.gbnB, got.gbnB, "batch norm bias gradient")
				return
			}
			require.Less(t, relDiff(want.gx, got.gx), 1e-5, "input gradient")
			require.Less(t, relDiff(want.gbnW, got.gbnW), 1e-5, "batch norm weight gradient")
			require.Less(t, relDiff(want.gbnB, got.gbnB), 1e-5, "batch norm bias gradient")
		})
	}
}

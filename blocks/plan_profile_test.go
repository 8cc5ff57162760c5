package blocks

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/internal/cacheflush"
)

// TestPlanStepOps checks that every step names the op it was compiled
// from, in op order, and never a view (dropout, channel slice), which
// compiles to no step.
func TestPlanStepOps(t *testing.T) {
	for name, g := range planGraphs() {
		n, err := NewNetwork(g, rand.New(rand.NewPCG(1, 1)))
		require.NoError(t, err)
		p, err := NewPlan(n, 1, 1)
		require.NoError(t, err)
		ops := p.StepOps()
		require.Len(t, ops, len(p.StepInfos()), name)
		require.True(t, slices.IsSorted(ops), "%s: %v", name, ops)
		for i, o := range ops {
			require.True(t, o >= 0 && o < len(g.Ops), "%s step %d: op %d", name, i, o)
			k := g.Ops[o].Kind
			require.NotContains(t, []OpKind{OpDropout, OpSlice}, k, "%s step %d (%s)", name, i, p.StepInfos()[i].Desc)
		}
		p.Close()
	}
}

// TestPlanWeights checks that the memory Weights lists covers every weight
// of the graph's convolutions and linear layers (folded and packed, so at
// least as many values), lies with the steps that read it, and that
// flushing it from the caches leaves the output as it was.
func TestPlanWeights(t *testing.T) {
	for name, g := range planGraphs() {
		n, err := NewNetwork(g, rand.New(rand.NewPCG(1, 1)))
		require.NoError(t, err)
		p, err := NewPlan(n, 1, 1)
		require.NoError(t, err)
		want := 0
		for _, ps := range g.Params() {
			if k := g.Ops[ps.Op].Kind; (k == OpConv || k == OpLinear) && !ps.Buffer {
				want += prod(ps.Shape)
			}
		}
		ws := p.Weights()
		require.Len(t, ws, len(p.StepInfos()), name)
		got := 0
		for i, step := range ws {
			kind := p.StepInfos()[i].Kind
			if kind == "gemm" || kind == "dwconv" || kind == "linear" || kind == "stem" {
				require.NotEmpty(t, step, "%s step %d (%s) reads weights", name, i, kind)
			}
			for _, w := range step {
				got += len(w)
			}
		}
		require.GreaterOrEqual(t, got, want, name)

		x := make([]float32, p.InputLen())
		for i := range x {
			x[i] = float32(i%7) - 3
		}
		y0, err := p.Run(x)
		require.NoError(t, err)
		y0 = slices.Clone(y0)
		for _, step := range ws {
			for _, w := range step {
				cacheflush.Float32s(w)
			}
		}
		y1, err := p.Run(x)
		require.NoError(t, err)
		require.Equal(t, y0, y1, name)
		p.Close()
	}
}

func prod(v []int) int {
	n := 1
	for _, x := range v {
		n *= x
	}
	return n
}

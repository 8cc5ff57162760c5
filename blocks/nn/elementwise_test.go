package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// elemGradBase is the value the golden tests put in every input gradient
// before the backward pass: operators must accumulate into Grad, so after
// it Grad - elemGradBase must equal PyTorch's gradient.
const elemGradBase = 0.25

// elemPrefill marks ts as requiring a gradient and fills their Grad with
// elemGradBase.
func elemPrefill(ts ...*Tensor) {
	for _, t := range ts {
		t.requiresGrad = true
		t.Grad = make([]float32, t.Len())
		for i := range t.Grad {
			t.Grad[i] = elemGradBase
		}
	}
}

// elemGrad returns t.Grad minus elemGradBase.
func elemGrad(t *testing.T, x *Tensor) []float32 {
	t.Helper()
	require.NotNil(t, x.Grad, "no gradient")
	out := make([]float32, len(x.Grad))
	for i, g := range x.Grad {
		out[i] = g - elemGradBase
	}
	return out
}

// elemSeed sets the upstream gradient of y.
func elemSeed(t *testing.T, y, gy *Tensor) {
	t.Helper()
	require.Equal(t, gy.Shape, y.Shape, "upstream gradient shape")
	y.Grad = append([]float32(nil), gy.Data...)
}

// elemRandn returns a tensor of standard normal values.
func elemRandn(rng *rand.Rand, shape ...int) *Tensor {
	t := New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64())
	}
	return t
}

func TestAddGolden(t *testing.T) {
	for _, g := range goldenCases(t, "add_*") {
		t.Run(g.name, func(t *testing.T) {
			a, b := g.T(t, "a"), g.T(t, "b")
			elemPrefill(a, b)
			tp := NewTape(true, nil)
			y := Add(tp, a, b)
			requireClose(t, g.T(t, "y").Data, y.Data, goldenTol, "y")
			elemSeed(t, y, g.T(t, "gy"))
			tp.BackwardFrom()
			requireClose(t, g.T(t, "ga").Data, elemGrad(t, a), goldenTol, "ga")
			requireClose(t, g.T(t, "gb").Data, elemGrad(t, b), goldenTol, "gb")
		})
	}
}

func TestMulChannelsGolden(t *testing.T) {
	for _, g := range goldenCases(t, "mulch_*") {
		t.Run(g.name, func(t *testing.T) {
			x, s := g.T(t, "x"), g.T(t, "s")
			elemPrefill(x, s)
			tp := NewTape(true, nil)
			y := MulChannels(tp, x, s)
			requireClose(t, g.T(t, "y").Data, y.Data, goldenTol, "y")
			elemSeed(t, y, g.T(t, "gy"))
			tp.BackwardFrom()
			requireClose(t, g.T(t, "gx").Data, elemGrad(t, x), goldenTol, "gx")
			requireClose(t, g.T(t, "gs").Data, elemGrad(t, s), goldenTol, "gs")
		})
	}
}

func TestAddGradCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	a, b := elemRandn(rng, 2, 3, 5, 3), elemRandn(rng, 2, 3, 5, 3)
	gradCheck(t, []*Tensor{a, b}, func(tp *Tape) *Tensor { return Add(tp, a, b) }, 40, 3)
}

func TestAddSameInputTwice(t *testing.T) {
	// x + x must give gradient 2*gy: both branches accumulate.
	x := FromData([]float32{1, -2, 3}, 3).SetRequiresGrad(true)
	tp := NewTape(false, nil)
	y := Add(tp, x, x)
	y.Grad = []float32{1, 2, 3}
	tp.BackwardFrom()
	require.Equal(t, []float32{2, 4, 6}, x.Grad)
}

func TestMulChannelsGradCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, sShape := range [][]int{{2, 5, 1, 1}, {2, 5}} {
		x, s := elemRandn(rng, 2, 5, 3, 7), elemRandn(rng, sShape...)
		gradCheck(t, []*Tensor{x, s}, func(tp *Tape) *Tensor { return MulChannels(tp, x, s) }, 40, 5)
	}
}

func TestMulChannelsOnlyGateNeedsGrad(t *testing.T) {
	// An input that does not require a gradient gets none allocated.
	rng := rand.New(rand.NewPCG(5, 6))
	x, s := elemRandn(rng, 1, 3, 2, 2), elemRandn(rng, 1, 3, 1, 1).SetRequiresGrad(true)
	tp := NewTape(true, nil)
	y := MulChannels(tp, x, s)
	require.True(t, y.RequiresGrad())
	y.Grad = make([]float32, y.Len())
	y.Grad[0] = 1
	tp.BackwardFrom()
	require.Nil(t, x.Grad)
	require.Equal(t, x.Data[0], s.Grad[0])
}

func TestElementwiseShapePanics(t *testing.T) {
	tests := []struct {
		name string
		f    func()
	}{
		{"add shapes", func() { Add(nil, New(2, 3), New(3, 2)) }},
		{"mulch channels", func() { MulChannels(nil, New(2, 3, 4, 4), New(2, 4, 1, 1)) }},
		{"mulch batch", func() { MulChannels(nil, New(2, 3, 4, 4), New(1, 3, 1, 1)) }},
		{"mulch spatial gate", func() { MulChannels(nil, New(2, 3, 4, 4), New(2, 3, 2, 1)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { require.Panics(t, tt.f) })
	}
}

// elemBenchShape is a MobileNetV2-like activation: batch 8, the 144
// expanded channels of the second stage, at 56x56.
var elemBenchShape = []int{8, 144, 56, 56}

func BenchmarkAdd(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	x, y := elemRandn(rng, elemBenchShape...), elemRandn(rng, elemBenchShape...)
	for b.Loop() {
		Add(nil, x, y)
	}
	// Two reads and one write per element.
	b.ReportMetric(float64(3*4*x.Len())*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

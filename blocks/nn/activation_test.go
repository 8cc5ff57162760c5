package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// allActs lists every activation but the identity.
var allActs = []Act{ActReLU, ActReLU6, ActHSwish, ActSwish, ActSigmoid, ActHSigmoid}

func TestActivationGolden(t *testing.T) {
	// The golden inputs include every kink exactly (-3, 0, 3, 6), so this
	// also checks PyTorch's choice of gradient there.
	cases := goldenCases(t, "act_*")
	require.Len(t, cases, len(allActs))
	for _, g := range cases {
		t.Run(g.name, func(t *testing.T) {
			a := Act(g.f.Metadata["act"])
			require.True(t, a.Valid(), "metadata act %q", a)
			x := g.T(t, "x")
			requireClose(t, g.T(t, "y").Data, Activate(nil, a, x).Data, goldenTol, "y (nil tape)")
			elemPrefill(x)
			tp := NewTape(true, nil)
			y := Activate(tp, a, x)
			requireClose(t, g.T(t, "y").Data, y.Data, goldenTol, "y")
			elemSeed(t, y, g.T(t, "gy"))
			tp.BackwardFrom()
			requireClose(t, g.T(t, "gx").Data, elemGrad(t, x), goldenTol, "gx")
		})
	}
}

// actAwayFromKinks returns normal values scaled by 4, each moved at least
// 0.1*max(1,|x|) away from the kinks -3, 0, 3 and 6, farther than
// gradCheck's finite-difference step.
func actAwayFromKinks(rng *rand.Rand, shape ...int) *Tensor {
	t := New(shape...)
	for i := range t.Data {
		v := 4 * rng.NormFloat64()
		for _, k := range []float64{-3, 0, 3, 6} {
			if margin := 0.1 * math.Max(1, math.Abs(v)); math.Abs(v-k) < margin {
				v = k + math.Copysign(margin, v-k)
			}
		}
		t.Data[i] = float32(v)
	}
	return t
}

func TestActivationGradCheck(t *testing.T) {
	for i, a := range allActs {
		t.Run(string(a), func(t *testing.T) {
			x := actAwayFromKinks(rand.New(rand.NewPCG(uint64(i), 11)), 2, 3, 5, 5)
			gradCheck(t, []*Tensor{x}, func(tp *Tape) *Tensor { return Activate(tp, a, x) }, 150, uint64(i))
		})
	}
}

func TestActivateNoneIsIdentity(t *testing.T) {
	x := FromData([]float32{-1, 2}, 2)
	require.Same(t, x, Activate(NewTape(true, nil), ActNone, x))
}

func TestActivationValues(t *testing.T) {
	// Exact values at and around the kinks.
	x := FromData([]float32{-4, -3, -1, 0, 1, 3, 6, 7}, 8)
	tests := []struct {
		a    Act
		want []float32
	}{
		{ActReLU, []float32{0, 0, 0, 0, 1, 3, 6, 7}},
		{ActReLU6, []float32{0, 0, 0, 0, 1, 3, 6, 6}},
		{ActHSigmoid, []float32{0, 0, 2.0 / 6, 0.5, 4.0 / 6, 1, 1, 1}},
		{ActHSwish, []float32{0, 0, -2.0 / 6, 0, 4.0 / 6, 3, 6, 7}},
	}
	for _, tt := range tests {
		t.Run(string(tt.a), func(t *testing.T) {
			requireClose(t, tt.want, Activate(nil, tt.a, x).Data, 1e-7, string(tt.a))
		})
	}
	// Sigmoid saturates without NaN or overflow.
	s := Sigmoid(nil, FromData([]float32{-1000, 1000, 0}, 3))
	require.Equal(t, []float32{0, 1, 0.5}, s.Data)
	sw := Swish(nil, FromData([]float32{-1000, 1000}, 2))
	require.Equal(t, []float32{0, 1000}, sw.Data)
}

func TestActivationLayer(t *testing.T) {
	l, err := NewActivationLayer("features.3.act", ActHSwish)
	require.NoError(t, err)
	var _ Module = l
	require.Nil(t, l.Params())
	x := FromData([]float32{-1, 1}, 2)
	require.Equal(t, HSwish(nil, x).Data, l.Forward(nil, x).Data)

	_, err = NewActivationLayer("features.3.act", Act("gelu"))
	require.ErrorContains(t, err, `activation "features.3.act": unknown activation "gelu"`)
}

func TestActivateUnknownPanics(t *testing.T) {
	require.PanicsWithValue(t, `nn.Activate: unknown activation "tanh"`, func() { Activate(nil, "tanh", New(1)) })
}

func BenchmarkHSwish(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := elemRandn(rng, elemBenchShape...)
	bytes := float64(4 * x.Len())
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			HSwish(nil, x)
		}
		b.ReportMetric(2*bytes*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
	})
	b.Run("backward", func(b *testing.B) {
		x.SetRequiresGrad(true)
		defer x.SetRequiresGrad(false)
		x.Grad = make([]float32, x.Len())
		gy := elemRandn(rng, elemBenchShape...)
		tp := NewTape(true, nil)
		for b.Loop() {
			b.StopTimer()
			y := HSwish(tp, x)
			y.Grad = gy.Data
			b.StartTimer()
			tp.BackwardFrom()
		}
		// Read gy, x and gx, write gx.
		b.ReportMetric(4*bytes*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
	})
}

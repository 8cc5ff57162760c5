package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDenseGolden(t *testing.T) {
	for _, g := range goldenCases(t, "linear_*") {
		t.Run(g.name, func(t *testing.T) {
			x, w := g.T(t, "x").SetRequiresGrad(true), g.T(t, "w").SetRequiresGrad(true)
			var b *Tensor
			if g.Has("b") {
				b = g.T(t, "b").SetRequiresGrad(true)
			}
			tp := NewTape(true, nil)
			y := Dense(tp, x, w, b)
			require.Equal(t, g.T(t, "y").Shape, y.Shape)
			requireClose(t, g.T(t, "y").Data, y.Data, goldenTol, "y")
			copy(y.grad(), g.T(t, "gy").Data)
			tp.BackwardFrom()
			requireClose(t, g.T(t, "gx").Data, x.Grad, goldenTol, "gx")
			requireClose(t, g.T(t, "gw").Data, w.Grad, goldenTol, "gw")
			if b != nil {
				requireClose(t, g.T(t, "gb").Data, b.Grad, goldenTol, "gb")
			}
		})
	}
}

func TestLinearGradCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 5))
	for _, shape := range [][]int{{3, 12}, {2, 3, 2, 2}} {
		l, err := NewLinear("classifier.1", LinearConfig{In: 12, Out: 5, Bias: true}, rng)
		require.NoError(t, err)
		for i := range l.Weight.Data {
			l.Weight.Data[i] = float32(rng.NormFloat64()) // larger than the 0.01 init
		}
		for i := range l.Bias.Data {
			l.Bias.Data[i] = float32(rng.NormFloat64())
		}
		x := randTensor(rng, shape...)
		out, err := l.OutShape(shape)
		require.NoError(t, err)
		require.Equal(t, []int{shape[0], 5}, out)
		gradCheck(t, []*Tensor{x, l.Weight.Tensor, l.Bias.Tensor}, func(tp *Tape) *Tensor { return l.Forward(tp, x) }, 40, 7)
		require.Equal(t, shape, x.Shape)
	}
}

func TestNewLinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 7))
	l, err := NewLinear("classifier.1", LinearConfig{In: 1280, Out: 100, Bias: true}, rng)
	require.NoError(t, err)
	require.Equal(t, "classifier.1.weight", l.Weight.Name)
	require.Equal(t, "classifier.1.bias", l.Bias.Name)
	require.Len(t, l.Params(), 2)
	var ss float64
	for _, v := range l.Weight.Data {
		ss += float64(v) * float64(v)
	}
	require.InDelta(t, 0.01, math.Sqrt(ss/float64(l.Weight.Len())), 0.0005)
	require.Equal(t, int64(128000), l.Config.MACs())

	_, err = NewLinear("fc", LinearConfig{In: 0, Out: 10}, rng)
	require.ErrorContains(t, err, `nn.Linear "fc": features 0 -> 10`)
	_, err = NewLinear("fc", LinearConfig{In: 10, Out: 10}, nil)
	require.ErrorContains(t, err, `"fc"`)
	nb, err := NewLinear("fc", LinearConfig{In: 10, Out: 3}, rng)
	require.NoError(t, err)
	require.Nil(t, nb.Bias)
	require.Len(t, nb.Params(), 1)
	_, err = nb.OutShape([]int{2, 3, 2, 2})
	require.ErrorContains(t, err, `nn.Linear "fc": input 2x3x2x2 has 12 features per sample, want 10`)
	_, err = nb.OutShape([]int{2})
	require.ErrorContains(t, err, `"fc"`)
}

func TestFlatten(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	x := randTensor(rng, 2, 3, 2, 2)
	y := Flatten(nil, x)
	require.Equal(t, []int{2, 12}, y.Shape)
	require.Equal(t, x.Data, y.Data)
	y.Data[0]++
	require.NotEqual(t, x.Data[0], y.Data[0], "Flatten copies")
	gradCheck(t, []*Tensor{x}, func(tp *Tape) *Tensor { return Flatten(tp, x) }, 24, 3)

	f := &FlattenLayer{Name: "flatten"}
	out, err := f.OutShape([]int{4, 512, 1, 1})
	require.NoError(t, err)
	require.Equal(t, []int{4, 512}, out)
	_, err = f.OutShape(nil)
	require.ErrorContains(t, err, `"flatten"`)
}

// BenchmarkLinear reports forward GFLOP/s of a MobileNetV2 classifier.
func BenchmarkLinear(b *testing.B) {
	for _, n := range []int{1, 32} {
		rng := rand.New(rand.NewPCG(1, 2))
		l, err := NewLinear("classifier", LinearConfig{In: 1280, Out: 1000, Bias: true}, rng)
		if err != nil {
			b.Fatal(err)
		}
		x := randTensor(rng, n, 1280)
		b.Run(map[int]string{1: "1280to1000_n1", 32: "1280to1000_n32"}[n], func(b *testing.B) {
			for b.Loop() {
				l.Forward(nil, x)
			}
			b.ReportMetric(2*float64(n)*float64(l.Config.MACs())*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

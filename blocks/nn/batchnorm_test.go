package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBatchNormGolden(t *testing.T) {
	for _, g := range goldenCases(t, "bn_*") {
		t.Run(g.name, func(t *testing.T) {
			train := g.Int(t, "train") == 1
			x := g.T(t, "x")
			bn, err := NewBatchNorm("features.1", x.Shape[1], BatchNormConfig{Eps: g.Float(t, "eps"), Momentum: g.Float(t, "momentum")})
			require.NoError(t, err)
			copy(bn.Weight.Data, g.T(t, "weight").Data)
			copy(bn.Bias.Data, g.T(t, "bias").Data)
			copy(bn.RunningMean.Data, g.T(t, "running_mean").Data)
			copy(bn.RunningVar.Data, g.T(t, "running_var").Data)

			if !train {
				// Inference without a tape gives the same output.
				requireClose(t, g.T(t, "y").Data, bn.Forward(nil, x).Data, goldenTol, "y (nil tape)")
			}
			elemPrefill(x, bn.Weight.Tensor, bn.Bias.Tensor)
			tp := NewTape(train, nil)
			y := bn.Forward(tp, x)
			requireClose(t, g.T(t, "y").Data, y.Data, goldenTol, "y")
			requireClose(t, g.T(t, "running_mean_out").Data, bn.RunningMean.Data, goldenTol, "running_mean")
			requireClose(t, g.T(t, "running_var_out").Data, bn.RunningVar.Data, goldenTol, "running_var")
			elemSeed(t, y, g.T(t, "gy"))
			tp.BackwardFrom()
			requireClose(t, g.T(t, "gx").Data, elemGrad(t, x), goldenTol, "gx")
			requireClose(t, g.T(t, "gweight").Data, elemGrad(t, bn.Weight.Tensor), goldenTol, "gweight")
			requireClose(t, g.T(t, "gbias").Data, elemGrad(t, bn.Bias.Tensor), goldenTol, "gbias")
			want := int64(0)
			if train {
				want = 1
			}
			require.Equal(t, want, bn.NumBatchesTracked)
		})
	}
}

// bnRandom returns a batch norm layer with random affine parameters and
// running statistics.
func bnRandom(t *testing.T, rng *rand.Rand, c int) *BatchNorm {
	bn, err := NewBatchNorm("bn", c, BatchNormConfig{Eps: 1e-3})
	require.NoError(t, err)
	for i := 0; i < c; i++ {
		bn.Weight.Data[i] = float32(0.5 + rng.Float64())
		bn.Bias.Data[i] = float32(rng.NormFloat64())
		bn.RunningMean.Data[i] = float32(rng.NormFloat64())
		bn.RunningVar.Data[i] = float32(0.5 + rng.Float64())
	}
	return bn
}

func TestBatchNormGradCheck(t *testing.T) {
	tests := []struct {
		name  string
		shape []int
		train bool
	}{
		{"train nchw", []int{3, 4, 3, 5}, true},
		{"train nc", []int{5, 3}, true},
		{"eval nchw", []int{2, 5, 3, 3}, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			bn := bnRandom(t, rng, tt.shape[1])
			x := elemRandn(rng, tt.shape...)
			f := func(tp *Tape) *Tensor {
				if tp == nil {
					tp = NewTape(tt.train, nil)
				}
				tp.Train = tt.train
				return bn.Forward(tp, x)
			}
			gradCheck(t, []*Tensor{x, bn.Weight.Tensor, bn.Bias.Tensor}, f, 30, uint64(i))
		})
	}
}

func TestBatchNormTrainNormalizes(t *testing.T) {
	// With weight 1 and bias 0, each channel of the output has mean 0 and
	// biased variance var/(var+eps), whatever the input's offset and scale.
	rng := rand.New(rand.NewPCG(9, 9))
	bn, err := NewBatchNorm("bn", 3, BatchNormConfig{})
	require.NoError(t, err)
	x := elemRandn(rng, 4, 3, 5, 5)
	for i := range x.Data {
		x.Data[i] = x.Data[i]*100 + 1e4 // large offset: the statistics must not cancel
	}
	y := bn.Forward(NewTape(true, nil), x)
	for c := 0; c < 3; c++ {
		var s, s2 float64
		for n := 0; n < 4; n++ {
			for _, v := range y.Data[(n*3+c)*25 : (n*3+c+1)*25] {
				s += float64(v)
				s2 += float64(v) * float64(v)
			}
		}
		require.InDelta(t, 0, s/100, 1e-3, "channel %d mean", c)
		require.InDelta(t, 1, s2/100, 1e-3, "channel %d variance", c)
	}
}

func TestBatchNormEvalNoTapeKeepsStats(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	bn := bnRandom(t, rng, 3)
	mean := append([]float32(nil), bn.RunningMean.Data...)
	bn.Forward(nil, elemRandn(rng, 2, 3, 3, 3))
	bn.Forward(NewTape(false, nil), elemRandn(rng, 2, 3, 3, 3))
	require.Equal(t, mean, bn.RunningMean.Data)
	require.Zero(t, bn.NumBatchesTracked)
}

func TestNewBatchNorm(t *testing.T) {
	bn, err := NewBatchNorm("stem.bn", 5, BatchNormConfig{})
	require.NoError(t, err)
	require.Equal(t, DefaultBatchNormEps, bn.Eps)
	require.Equal(t, DefaultBatchNormMomentum, bn.Momentum)
	require.Equal(t, "stem.bn.weight", bn.Weight.Name)
	require.Equal(t, "stem.bn.bias", bn.Bias.Name)
	require.True(t, bn.Weight.NoDecay)
	require.True(t, bn.Bias.NoDecay)
	require.True(t, bn.Weight.RequiresGrad())
	require.Equal(t, []*Param{bn.Weight, bn.Bias}, bn.Params())
	require.Equal(t, "stem.bn.running_mean", bn.Buffers()[0].Name)
	require.Equal(t, "stem.bn.running_var", bn.Buffers()[1].Name)
	require.Equal(t, []float32{1, 1, 1, 1, 1}, bn.Weight.Data)
	require.Equal(t, []float32{0, 0, 0, 0, 0}, bn.Bias.Data)
	require.Equal(t, []float32{0, 0, 0, 0, 0}, bn.RunningMean.Data)
	require.Equal(t, []float32{1, 1, 1, 1, 1}, bn.RunningVar.Data)
	var _ Module = bn

	// Fresh statistics: ScaleShift is 1/sqrt(1+eps) and 0.
	scale, shift := bn.ScaleShift()
	require.InDelta(t, 1/math.Sqrt(1+1e-5), scale[0], 1e-7)
	require.Zero(t, shift[0])
}

func TestNewBatchNormErrors(t *testing.T) {
	tests := []struct {
		name     string
		channels int
		cfg      BatchNormConfig
		want     []string
	}{
		{"zero channels", 0, BatchNormConfig{}, []string{`"layers.2.bn"`, "0 channels"}},
		{"negative channels", -16, BatchNormConfig{}, []string{`"layers.2.bn"`, "-16 channels"}},
		{"negative eps", 8, BatchNormConfig{Eps: -1e-3}, []string{`"layers.2.bn"`, "eps -0.001"}},
		{"NaN eps", 8, BatchNormConfig{Eps: math.NaN()}, []string{"eps NaN"}},
		{"momentum above 1", 8, BatchNormConfig{Momentum: 1.5}, []string{`"layers.2.bn"`, "momentum 1.5", "(0, 1]"}},
		{"negative momentum", 8, BatchNormConfig{Momentum: -0.1}, []string{"momentum -0.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bn, err := NewBatchNorm("layers.2.bn", tt.channels, tt.cfg)
			require.Error(t, err)
			require.Nil(t, bn)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestBatchNormForwardPanics(t *testing.T) {
	bn, err := NewBatchNorm("bn", 4, BatchNormConfig{})
	require.NoError(t, err)
	require.PanicsWithValue(t, `nn.BatchNorm "bn": input 2x3x5x5, want N x 4 x H x W`, func() { bn.Forward(nil, New(2, 3, 5, 5)) })
	require.Panics(t, func() { bn.Forward(nil, New(4)) })
	// One value per channel: no batch variance in training, fine in eval.
	require.Panics(t, func() { bn.Forward(NewTape(true, nil), New(1, 4, 1, 1)) })
	require.NotPanics(t, func() { bn.Forward(nil, New(1, 4, 1, 1)) })
}

func BenchmarkBatchNorm(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := elemRandn(rng, elemBenchShape...)
	bn, err := NewBatchNorm("bn", elemBenchShape[1], BatchNormConfig{})
	require.NoError(b, err)
	bytes := float64(4 * x.Len())
	b.Run("forward-train", func(b *testing.B) {
		for b.Loop() {
			bn.Forward(NewTape(true, nil), x)
		}
		// Statistics pass, then read x and write y.
		b.ReportMetric(3*bytes*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
	})
	b.Run("forward-eval", func(b *testing.B) {
		for b.Loop() {
			bn.Forward(nil, x)
		}
		b.ReportMetric(2*bytes*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
	})
	b.Run("backward-train", func(b *testing.B) {
		x.SetRequiresGrad(true)
		defer x.SetRequiresGrad(false)
		tp := NewTape(true, nil)
		gy := elemRandn(rng, elemBenchShape...)
		for b.Loop() {
			b.StopTimer()
			x.ZeroGrad()
			y := bn.Forward(tp, x)
			y.Grad = gy.Data
			b.StartTimer()
			tp.BackwardFrom()
		}
		// Sums pass (read gy, x), then read gy, x, gx and write gx.
		b.ReportMetric(6*bytes*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
	})
}

package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// goldenConvConfig rebuilds the settings of a conv2d_* case.
func goldenConvConfig(t *testing.T, g golden, x, w *Tensor) Conv2DConfig {
	groups := g.Int(t, "groups")
	return Conv2DConfig{
		In: x.Shape[1], Out: w.Shape[0], KernelH: g.Int(t, "kh"), KernelW: g.Int(t, "kw"),
		StrideH: g.Int(t, "sh"), StrideW: g.Int(t, "sw"), PadH: g.Int(t, "ph"), PadW: g.Int(t, "pw"),
		DilationH: g.Int(t, "dh"), DilationW: g.Int(t, "dw"), Groups: groups, Bias: g.Int(t, "bias") == 1,
	}
}

func TestConvolveGolden(t *testing.T) {
	for _, g := range goldenCases(t, "conv2d_*") {
		t.Run(g.name, func(t *testing.T) {
			x, w, gy := g.T(t, "x"), g.T(t, "w"), g.T(t, "gy")
			var b *Tensor
			if g.Has("b") {
				b = g.T(t, "b").SetRequiresGrad(true)
			}
			cfg := goldenConvConfig(t, g, x, w)
			require.NoError(t, cfg.Validate())
			x.SetRequiresGrad(true)
			w.SetRequiresGrad(true)

			require.Nil(t, Convolve(nil, x, w, b, cfg).Grad, "inference")
			tp := NewTape(true, nil)
			y := Convolve(tp, x, w, b, cfg)
			require.Equal(t, g.T(t, "y").Shape, y.Shape)
			requireClose(t, g.T(t, "y").Data, y.Data, goldenTol, "y")
			copy(y.grad(), gy.Data)
			tp.BackwardFrom()
			requireClose(t, g.T(t, "gx").Data, x.Grad, goldenTol, "gx")
			requireClose(t, g.T(t, "gw").Data, w.Grad, goldenTol, "gw")
			if b != nil {
				requireClose(t, g.T(t, "gb").Data, b.Grad, goldenTol, "gb")
			}
		})
	}
}

func randTensor(rng *rand.Rand, shape ...int) *Tensor {
	t := New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64())
	}
	return t
}

func TestConvolveGradCheck(t *testing.T) {
	cases := map[string]Conv2DConfig{
		"3x3_s2":       {In: 3, Out: 4, KernelH: 3, KernelW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, Bias: true},
		"1x1":          {In: 5, Out: 3, KernelH: 1, KernelW: 1},
		"1x1_g2":       {In: 4, Out: 6, KernelH: 1, KernelW: 1, Groups: 2, Bias: true},
		"depthwise":    {In: 4, Out: 4, KernelH: 3, KernelW: 3, StrideH: 2, StrideW: 1, PadH: 1, PadW: 1, Groups: 4, Bias: true},
		"dilated_1x3":  {In: 2, Out: 3, KernelH: 1, KernelW: 3, PadW: 2, DilationW: 2},
		"depthwise_x2": {In: 3, Out: 6, KernelH: 5, KernelW: 3, PadH: 2, PadW: 1, Groups: 3},
		// Stride-1 depthwise: the input gradient is the forward kernel on
		// the flipped weights (SIMD rows for the square ones).
		"depthwise_3x3_s1": {In: 4, Out: 4, KernelH: 3, KernelW: 3, PadH: 1, PadW: 1, Groups: 4, Bias: true},
		"depthwise_5x5_s1": {In: 2, Out: 2, KernelH: 5, KernelW: 5, PadH: 2, PadW: 2, Groups: 2},
		"depthwise_3x3_s2": {In: 3, Out: 3, KernelH: 3, KernelW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, Groups: 3},
		"depthwise_3x1_d2": {In: 2, Out: 2, KernelH: 3, KernelW: 1, PadH: 1, DilationH: 2, Groups: 2},
	}
	seed := uint64(0)
	for name, cfg := range cases {
		seed++
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 9))
			c, err := NewConv2D("conv", cfg, rng)
			require.NoError(t, err)
			if c.Bias != nil {
				for i := range c.Bias.Data {
					c.Bias.Data[i] = float32(rng.NormFloat64())
				}
			}
			x := randTensor(rng, 3, cfg.In, 7, 6)
			wrt := []*Tensor{x}
			for _, p := range c.Params() {
				wrt = append(wrt, p.Tensor)
			}
			gradCheck(t, wrt, func(tp *Tape) *Tensor { return c.Forward(tp, x) }, 40, seed)
		})
	}
}

// TestConvolveBatchEqualsSamples runs a batch split over several goroutines
// and checks each sample's output and gradients against running it alone.
func TestConvolveBatchEqualsSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, cfg := range []Conv2DConfig{
		{In: 6, Out: 4, KernelH: 3, KernelW: 3, PadH: 1, PadW: 1, Bias: true},
		{In: 6, Out: 6, KernelH: 3, KernelW: 3, PadH: 1, PadW: 1, Groups: 6, Bias: true},
		{In: 6, Out: 4, KernelH: 1, KernelW: 1, Bias: true},
	} {
		const n = 5
		c, err := NewConv2D("conv", cfg, rng)
		require.NoError(t, err)
		x := randTensor(rng, n, cfg.In, 6, 5).SetRequiresGrad(true)
		tp := NewTape(true, nil)
		y := c.Forward(tp, x)
		gy := randTensor(rng, y.Shape...)
		copy(y.grad(), gy.Data)
		tp.BackwardFrom()
		batchGW := append([]float32(nil), c.Weight.Grad...)
		batchGB := append([]float32(nil), c.Bias.Grad...)

		sumGW := make([]float64, len(batchGW))
		sumGB := make([]float64, len(batchGB))
		inLen, outLen := x.Len()/n, y.Len()/n
		for s := 0; s < n; s++ {
			ZeroGrads(c.Params())
			xs := FromData(append([]float32(nil), x.Data[s*inLen:(s+1)*inLen]...), 1, cfg.In, 6, 5).SetRequiresGrad(true)
			tp := NewTape(true, nil)
			ys := c.Forward(tp, xs)
			requireClose(t, ys.Data, y.Data[s*outLen:(s+1)*outLen], 1e-6, fmt.Sprintf("sample %d y", s))
			copy(ys.grad(), gy.Data[s*outLen:(s+1)*outLen])
			tp.BackwardFrom()
			requireClose(t, xs.Grad, x.Grad[s*inLen:(s+1)*inLen], 1e-6, fmt.Sprintf("sample %d gx", s))
			for i, v := range c.Weight.Grad {
				sumGW[i] += float64(v)
			}
			for i, v := range c.Bias.Grad {
				sumGB[i] += float64(v)
			}
		}
		requireClose(t, float32s(sumGW), batchGW, 1e-5, "gw")
		requireClose(t, float32s(sumGB), batchGB, 1e-5, "gb")
	}
}

func float32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func TestNewConv2DErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, c := range []struct {
		name string
		cfg  Conv2DConfig
		want []string
	}{
		{"groups", Conv2DConfig{In: 16, Out: 24, KernelH: 1, KernelW: 1, Groups: 3}, []string{"groups 3", "16", "24"}},
		{"stride", Conv2DConfig{In: 3, Out: 8, KernelH: 3, KernelW: 3, StrideH: -1}, []string{"stride -1x1"}},
		{"kernel", Conv2DConfig{In: 3, Out: 8, KernelH: 0, KernelW: 3}, []string{"kernel 0x3"}},
		{"channels", Conv2DConfig{In: 0, Out: 8, KernelH: 3, KernelW: 3}, []string{"channels 0 -> 8"}},
		{"padding", Conv2DConfig{In: 3, Out: 8, KernelH: 3, KernelW: 3, PadW: -2}, []string{"padding 0x-2"}},
		{"dilation", Conv2DConfig{In: 3, Out: 8, KernelH: 3, KernelW: 3, DilationH: -1}, []string{"dilation -1x1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewConv2D("features.3.conv", c.cfg, rng)
			require.Error(t, err)
			require.Contains(t, err.Error(), `"features.3.conv"`)
			for _, w := range c.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
	_, err := NewConv2D("head", Conv2DConfig{In: 3, Out: 8, KernelH: 3, KernelW: 3}, nil)
	require.ErrorContains(t, err, `"head"`)

	// A kernel larger than the padded input is an error at OutShape, which
	// a network calls when it is built, not a panic in the kernel.
	c, err := NewConv2D("stem", Conv2DConfig{In: 3, Out: 8, KernelH: 7, KernelW: 7, PadH: 1, PadW: 1}, rng)
	require.NoError(t, err)
	_, err = c.OutShape([]int{1, 3, 4, 32})
	require.ErrorContains(t, err, `"stem"`)
	require.ErrorContains(t, err, "kernel 7")
	require.ErrorContains(t, err, "input 4 padded by 1")
	_, err = c.OutShape([]int{1, 4, 32, 32})
	require.ErrorContains(t, err, "1x4x32x32, want N x 3 x H x W")
	out, err := c.OutShape([]int{2, 3, 32, 31})
	require.NoError(t, err)
	require.Equal(t, []int{2, 8, 28, 27}, out)
}

func TestNewConv2DInit(t *testing.T) {
	cfg := Conv2DConfig{In: 32, Out: 64, KernelH: 3, KernelW: 3, Groups: 2, Bias: true}
	c, err := NewConv2D("layer", cfg, rand.New(rand.NewPCG(3, 3)))
	require.NoError(t, err)
	require.Equal(t, []int{64, 16, 3, 3}, c.Weight.Shape)
	require.Equal(t, "layer.weight", c.Weight.Name)
	require.Equal(t, "layer.bias", c.Bias.Name)
	require.True(t, c.Bias.NoDecay)
	require.False(t, c.Weight.NoDecay)
	var ss float64
	for _, v := range c.Weight.Data {
		ss += float64(v) * float64(v)
	}
	std := math.Sqrt(ss / float64(c.Weight.Len()))
	want := math.Sqrt(2.0 / (64 * 9)) // torch's fan_out ignores groups
	require.InDelta(t, want, std, 0.05*want)
	for _, v := range c.Bias.Data {
		require.Zero(t, v)
	}
}

func TestConv2DOutSize(t *testing.T) {
	for _, c := range []struct{ in, k, s, p, d, want int }{
		{224, 3, 2, 1, 1, 112},
		{112, 3, 1, 1, 1, 112},
		{7, 7, 1, 0, 1, 1},
		{9, 3, 1, 2, 2, 9},
		{11, 3, 2, 1, 1, 6},
	} {
		got, err := Conv2DOutSize(c.in, c.k, c.s, c.p, c.d)
		require.NoError(t, err)
		require.Equal(t, c.want, got, "%+v", c)
	}
	_, err := Conv2DOutSize(4, 3, 1, 0, 2)
	require.ErrorContains(t, err, "span 5")
	_, err = Conv2DOutSize(4, 3, 0, 0, 1)
	require.ErrorContains(t, err, "stride 0")

	cfg := SquareConv2D(24, 144, 1, 1, 1)
	require.Equal(t, int64(24*144*56*56), cfg.MACs(56, 56))
	oh, ow, err := SquareConv2D(3, 32, 3, 2, 1).OutSize(225, 224)
	require.NoError(t, err)
	require.Equal(t, [2]int{113, 112}, [2]int{oh, ow})
}

// convBench is a MobileNetV2-like convolution at batch n.
type convBench struct {
	name string
	cfg  Conv2DConfig
	h, w int
}

var convBenches = []convBench{
	{"stem_3x3s2_3to32_224", SquareConv2D(3, 32, 3, 2, 1), 224, 224},
	{"expand_1x1_24to144_56", SquareConv2D(24, 144, 1, 1, 1), 56, 56},
	{"depthwise_3x3_144_56", SquareConv2D(144, 144, 3, 1, 144), 56, 56},
	{"depthwise_3x3s2_144_56", SquareConv2D(144, 144, 3, 2, 144), 56, 56},
	{"project_1x1_144to24_56", SquareConv2D(144, 24, 1, 1, 1), 56, 56},
	{"conv_3x3_32to32_28", SquareConv2D(32, 32, 3, 1, 1), 28, 28},
}

// BenchmarkConv2D reports forward GFLOP/s (2 per multiply-accumulate) at
// batch 1, and forward plus backward (three times the forward FLOPs) at
// batch 8.
func BenchmarkConv2D(b *testing.B) {
	for _, cb := range convBenches {
		rng := rand.New(rand.NewPCG(1, 2))
		c, err := NewConv2D(cb.name, cb.cfg, rng)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(cb.name+"/forward_n1", func(b *testing.B) {
			x := randTensor(rng, 1, cb.cfg.In, cb.h, cb.w)
			for b.Loop() {
				c.Forward(nil, x)
			}
			b.ReportMetric(2*float64(cb.cfg.MACs(cb.h, cb.w))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(cb.name+"/train_n8", func(b *testing.B) {
			x := randTensor(rng, 8, cb.cfg.In, cb.h, cb.w).SetRequiresGrad(true)
			tp := NewTape(true, nil)
			for b.Loop() {
				y := c.Forward(tp, x)
				for i := range y.grad() {
					y.Grad[i] = 1
				}
				tp.BackwardFrom()
			}
			b.ReportMetric(3*2*8*float64(cb.cfg.MACs(cb.h, cb.w))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func ExampleNewConv2D() {
	rng := rand.New(rand.NewPCG(1, 2))
	// A MobileNetV2 depthwise 3x3 stride-2 convolution.
	dw, err := NewConv2D("features.2.conv.1.0", SquareConv2D(96, 96, 3, 2, 96), rng)
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := dw.OutShape([]int{1, 96, 112, 112})
	fmt.Println(out, err, dw.Weight.Name, dw.Weight.Shape, dw.Config.MACs(112, 112))

	_, err = NewConv2D("features.3.conv.0.0", SquareConv2D(32, 24, 1, 1, 3), rng)
	fmt.Println(err)
	// Output:
	// [1 96 56 56] <nil> features.2.conv.1.0.weight [96 1 3 3] 2709504
	// nn.Conv2D "features.3.conv.0.0": groups 3 must divide input channels 32 and output channels 24
}

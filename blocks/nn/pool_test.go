package nn

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func goldenPoolConfig(t *testing.T, g golden) Pool2DConfig {
	return Pool2DConfig{KernelH: g.Int(t, "kh"), KernelW: g.Int(t, "kw"), StrideH: g.Int(t, "sh"), StrideW: g.Int(t, "sw"),
		PadH: g.Int(t, "ph"), PadW: g.Int(t, "pw"), Ceil: g.Int(t, "ceil") == 1}
}

func TestPoolGolden(t *testing.T) {
	for _, kind := range []string{"maxpool", "avgpool", "gap"} {
		for _, g := range goldenCases(t, kind+"_*") {
			t.Run(g.name, func(t *testing.T) {
				x := g.T(t, "x").SetRequiresGrad(true)
				var pool func(tp *Tape) *Tensor
				switch kind {
				case "maxpool":
					cfg := goldenPoolConfig(t, g)
					pool = func(tp *Tape) *Tensor { return MaxPool(tp, x, cfg) }
				case "avgpool":
					cfg := goldenPoolConfig(t, g)
					pool = func(tp *Tape) *Tensor { return AvgPool(tp, x, cfg) }
				default:
					pool = func(tp *Tape) *Tensor { return GlobalAvgPool(tp, x) }
				}
				requireClose(t, g.T(t, "y").Data, pool(nil).Data, goldenTol, "inference y")
				tp := NewTape(true, nil)
				y := pool(tp)
				require.Equal(t, g.T(t, "y").Shape, y.Shape)
				requireClose(t, g.T(t, "y").Data, y.Data, goldenTol, "y")
				copy(y.grad(), g.T(t, "gy").Data)
				tp.BackwardFrom()
				requireClose(t, g.T(t, "gx").Data, x.Grad, goldenTol, "gx")
				if kind != "maxpool" { // see TestMaxPoolGradCheck
					x.Grad = nil
					gradCheck(t, []*Tensor{x}, pool, 60, 5)
				}
			})
		}
	}
}

func TestPoolOutSize(t *testing.T) {
	for _, c := range []struct {
		in, k, s, p int
		ceil        bool
		want        int
	}{
		{112, 3, 2, 0, true, 56},  // SqueezeNet: 111 -> 55 with ceil, here 112 -> 56
		{111, 3, 2, 0, true, 55},  // floor((111-3)/2)+1 = 55 either way
		{112, 3, 2, 0, false, 55}, // floor
		{112, 3, 2, 1, false, 56}, // ShuffleNet's padded pool
		{10, 3, 2, 1, true, 6},    // last window starts in the padding... (10+2-3+1)/2+1 = 6, (6-1)*2 = 10 >= 11? no
		{5, 2, 2, 1, true, 3},     // (5+2-2+1)/2+1 = 4, (4-1)*2 = 6 >= 6: drop -> 3
	} {
		got, err := PoolOutSize(c.in, c.k, c.s, c.p, c.ceil)
		require.NoError(t, err)
		require.Equal(t, c.want, got, "%+v", c)
	}
	_, err := PoolOutSize(2, 3, 1, 0, false)
	require.ErrorContains(t, err, "larger than input 2")
}

func TestNewPoolErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  Pool2DConfig
		want string
	}{
		{Pool2DConfig{KernelH: 0, KernelW: 3}, "kernel 0x3"},
		{Pool2DConfig{KernelH: 3, KernelW: 3, StrideW: -2}, "stride 3x-2"},
		{Pool2DConfig{KernelH: 3, KernelW: 3, PadH: 2}, "padding 2x0 must be between 0 and half the kernel 3x3"},
	} {
		_, err := NewMaxPool2D("features.2", c.cfg)
		require.ErrorContains(t, err, `nn.MaxPool2D "features.2"`)
		require.ErrorContains(t, err, c.want)
		_, err = NewAvgPool2D("pool", c.cfg)
		require.ErrorContains(t, err, `nn.AvgPool2D "pool"`)
		require.ErrorContains(t, err, c.want)
	}
	p, err := NewMaxPool2D("maxpool", Pool2DConfig{KernelH: 3, KernelW: 3, StrideH: 2, StrideW: 2, Ceil: true})
	require.NoError(t, err)
	out, err := p.OutShape([]int{2, 96, 111, 111})
	require.NoError(t, err)
	require.Equal(t, []int{2, 96, 55, 55}, out)
	_, err = p.OutShape([]int{2, 96, 2, 111})
	require.ErrorContains(t, err, `"maxpool": height: kernel 3`)
	_, err = p.OutShape([]int{2, 96})
	require.ErrorContains(t, err, "2x96, want N x C x H x W")

	gap := &GlobalAvgPool2D{Name: "avgpool"}
	out, err = gap.OutShape([]int{4, 1280, 7, 7})
	require.NoError(t, err)
	require.Equal(t, []int{4, 1280, 1, 1}, out)
	_, err = gap.OutShape([]int{4, 1280})
	require.True(t, err != nil && strings.Contains(err.Error(), `"avgpool"`), "error %v", err)
}

// TestMaxPoolGradCheck uses inputs in [-1, 1) spaced 0.04 apart: gradCheck's
// step of 0.01 then never changes which element wins a window.
func TestMaxPoolGradCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := New(2, 2, 5, 5)
	for i, p := range rng.Perm(x.Len()) {
		x.Data[i] = float32(p)*0.04 - 1
	}
	for _, cfg := range []Pool2DConfig{
		{KernelH: 3, KernelW: 3, StrideH: 2, StrideW: 2, Ceil: true},
		{KernelH: 3, KernelW: 2, StrideH: 1, StrideW: 2, PadH: 1, PadW: 1},
	} {
		gradCheck(t, []*Tensor{x}, func(tp *Tape) *Tensor { return MaxPool(tp, x, cfg) }, 50, 6)
	}
}

func TestMaxPoolInferenceKeepsNoState(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := randTensor(rng, 1, 2, 5, 5).SetRequiresGrad(true)
	y := MaxPool(nil, x, Pool2DConfig{KernelH: 2, KernelW: 2})
	require.Equal(t, []int{1, 2, 2, 2}, y.Shape)
	require.False(t, y.RequiresGrad())
}

package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// elemGuard is written around the data the kernels may touch; finding it
// changed means a kernel wrote out of bounds.
const elemGuard = float32(-7.75e30)

// elemGuarded returns a slice of n values from fill, with guard values on
// both sides in its backing array (the returned slice has cap n, so an
// out-of-bounds write by index panics and one through a reslice of the
// parent shows up in elemCheckGuards).
func elemGuarded(n int, fill func(i int) float32) (inner, whole []float32) {
	whole = make([]float32, n+8)
	for i := range whole {
		whole[i] = elemGuard
	}
	inner = whole[4 : 4+n : 4+n]
	for i := range inner {
		inner[i] = fill(i)
	}
	return inner, whole
}

func elemCheckGuards(t *testing.T, whole []float32, what string) {
	t.Helper()
	n := len(whole) - 8
	for i := 0; i < 4; i++ {
		require.Equal(t, elemGuard, whole[i], "%s: guard before data overwritten", what)
		require.Equal(t, elemGuard, whole[4+n+i], "%s: guard after data overwritten", what)
	}
}

// elemActRefs are float64 definitions of each activation and of its
// derivative (PyTorch's choice at the kinks).
var elemActRefs = []struct {
	name       string
	fwd        func(dst, x []float32)
	grad       func(gx, gy, in []float32) // in is x, or y for sigmoid
	ref        func(x float64) float64
	dref       func(x float64) float64
	fromOutput bool
}{
	{"relu", ReLU, ReLUGrad, func(x float64) float64 { return math.Max(x, 0) },
		func(x float64) float64 { return b2f(x > 0) }, false},
	{"relu6", ReLU6, ReLU6Grad, func(x float64) float64 { return math.Min(math.Max(x, 0), 6) },
		func(x float64) float64 { return b2f(x > 0 && x < 6) }, false},
	{"sigmoid", Sigmoid, SigmoidGrad, sigmoid64,
		func(x float64) float64 { s := sigmoid64(x); return s * (1 - s) }, true},
	{"hsigmoid", HardSigmoid, HardSigmoidGrad, func(x float64) float64 { return math.Min(math.Max(x+3, 0), 6) / 6 },
		func(x float64) float64 { return b2f(x > -3 && x < 3) / 6 }, false},
	{"swish", Swish, SwishGrad, func(x float64) float64 { return x * sigmoid64(x) },
		func(x float64) float64 { s := sigmoid64(x); return s + x*s*(1-s) }, false},
	{"hswish", HardSwish, HardSwishGrad, func(x float64) float64 { return x * math.Min(math.Max(x+3, 0), 6) / 6 },
		func(x float64) float64 {
			switch {
			case x < -3:
				return 0
			case x < 3:
				return x/3 + 0.5
			}
			return 1
		}, false},
}

func sigmoid64(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func TestActivationKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	kinks := []float32{-3, 0, 3, 6, -20, 20, -200, 200}
	const n = 67
	xs := func(i int) float32 {
		if i < len(kinks) {
			return kinks[i]
		}
		return float32(5 * rng.NormFloat64())
	}
	for _, a := range elemActRefs {
		t.Run(a.name, func(t *testing.T) {
			x, _ := elemGuarded(n, xs)
			y, yw := elemGuarded(n, func(int) float32 { return 0 })
			a.fwd(y, x)
			elemCheckGuards(t, yw, "forward")
			gy, _ := elemGuarded(n, func(int) float32 { return float32(rng.NormFloat64()) })
			gx, gxw := elemGuarded(n, func(int) float32 { return 1 }) // accumulates onto 1
			in := x
			if a.fromOutput {
				in = y
			}
			a.grad(gx, gy, in)
			elemCheckGuards(t, gxw, "gradient")
			for i := range x {
				xv := float64(x[i])
				require.InDelta(t, a.ref(xv), y[i], 1e-6*math.Max(1, math.Abs(xv)), "forward at %v", xv)
				require.InDelta(t, 1+float64(gy[i])*a.dref(xv), gx[i], 1e-5, "gradient at %v", xv)
			}
		})
	}
}

func TestActivationKernelsInPlace(t *testing.T) {
	x := []float32{-4, -1, 0.5, 4, 7}
	want := make([]float32, len(x))
	for _, a := range elemActRefs {
		a.fwd(want, x)
		got := append([]float32(nil), x...)
		a.fwd(got, got)
		require.Equal(t, want, got, a.name)
	}
}

func TestAddKernels(t *testing.T) {
	a, _ := elemGuarded(5, func(i int) float32 { return float32(i) })
	b, _ := elemGuarded(5, func(i int) float32 { return float32(10 * i) })
	dst, dw := elemGuarded(5, func(int) float32 { return 99 })
	Add(dst, a, b)
	elemCheckGuards(t, dw, "Add")
	require.Equal(t, []float32{0, 11, 22, 33, 44}, dst)
	AddTo(dst, a)
	elemCheckGuards(t, dw, "AddTo")
	require.Equal(t, []float32{0, 12, 24, 36, 48}, dst)
}

func TestMulChannelsKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const rows, hw = 7, 15
	rnd := func(int) float32 { return float32(rng.NormFloat64()) }
	x, _ := elemGuarded(rows*hw, rnd)
	s, _ := elemGuarded(rows, rnd)
	gy, _ := elemGuarded(rows*hw, rnd)
	y, yw := elemGuarded(rows*hw, rnd)
	MulChannels(y, x, s, rows, hw)
	elemCheckGuards(t, yw, "MulChannels")
	gx, gxw := elemGuarded(rows*hw, func(int) float32 { return 1 })
	gs, gsw := elemGuarded(rows, func(int) float32 { return 1 })
	MulChannelsGrad(gx, gs, gy, x, s, rows, hw)
	elemCheckGuards(t, gxw, "MulChannelsGrad gx")
	elemCheckGuards(t, gsw, "MulChannelsGrad gs")
	for r := 0; r < rows; r++ {
		var want float64
		for j := 0; j < hw; j++ {
			i := r*hw + j
			require.Equal(t, x[i]*s[r], y[i])
			require.InDelta(t, 1+float64(gy[i])*float64(s[r]), gx[i], 1e-6)
			want += float64(gy[i]) * float64(x[i])
		}
		require.InDelta(t, 1+want, gs[r], 1e-5)
	}
	// nil gradients are skipped.
	MulChannelsGrad(nil, gs, gy, x, s, rows, hw)
	MulChannelsGrad(gx, nil, gy, x, s, rows, hw)
}

// elemBenchLen is a MobileNetV2-like activation: batch 8, 144 channels at
// 56x56 (the expanded layers of the second stage).
const elemBenchLen = 8 * 144 * 56 * 56

func elemBenchData(n int) []float32 {
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(4 * rng.NormFloat64())
	}
	return x
}

// elemReportGBs reports the bytes moved per second.
func elemReportGBs(b *testing.B, bytesPerOp int) {
	b.ReportMetric(float64(bytesPerOp)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

func BenchmarkElementwise(b *testing.B) {
	x, y, dst := elemBenchData(elemBenchLen), elemBenchData(elemBenchLen), make([]float32, elemBenchLen)
	const f = 4 * elemBenchLen
	b.Run("Add", func(b *testing.B) {
		for b.Loop() {
			Add(dst, x, y)
		}
		elemReportGBs(b, 3*f)
	})
	b.Run("HardSwish", func(b *testing.B) {
		for b.Loop() {
			HardSwish(dst, x)
		}
		elemReportGBs(b, 2*f)
	})
	b.Run("HardSwishGrad", func(b *testing.B) {
		for b.Loop() {
			HardSwishGrad(dst, y, x)
		}
		elemReportGBs(b, 4*f)
	})
	b.Run("ReLU6", func(b *testing.B) {
		for b.Loop() {
			ReLU6(dst, x)
		}
		elemReportGBs(b, 2*f)
	})
}

func BenchmarkActivationGrad(b *testing.B) {
	// x spreads over all pieces (4 standard deviations): the worst case for
	// branches, and the case of pre-activations before BN has settled.
	x, gy, gx := elemBenchData(elemBenchLen), elemBenchData(elemBenchLen), make([]float32, elemBenchLen)
	const f = 4 * elemBenchLen
	for _, a := range elemActRefs {
		b.Run(a.name, func(b *testing.B) {
			for b.Loop() {
				a.grad(gx, gy, x)
			}
			elemReportGBs(b, 4*f)
		})
	}
}

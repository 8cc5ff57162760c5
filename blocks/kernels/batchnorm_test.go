package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// bnRefStats is the two-pass float64 mean and biased variance per channel.
func bnRefStats(x []float32, n, c, hw int) (mean, variance []float64) {
	mean = make([]float64, c)
	variance = make([]float64, c)
	m := float64(n * hw)
	for ch := 0; ch < c; ch++ {
		for i := 0; i < n; i++ {
			for j := 0; j < hw; j++ {
				mean[ch] += float64(x[(i*c+ch)*hw+j])
			}
		}
		mean[ch] /= m
		for i := 0; i < n; i++ {
			for j := 0; j < hw; j++ {
				d := float64(x[(i*c+ch)*hw+j]) - mean[ch]
				variance[ch] += d * d
			}
		}
		variance[ch] /= m
	}
	return mean, variance
}

func TestBatchNormKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n, c, hw = 3, 5, 21
	const size = n * c * hw
	rnd := func(int) float32 { return float32(rng.NormFloat64()) }
	// Channel ch has mean about 1000*ch: the shifted sums must not cancel.
	x, _ := elemGuarded(size, func(i int) float32 { return float32(1000*((i/hw)%c)) + 3*rnd(i) })
	gy, _ := elemGuarded(size, rnd)
	weight, _ := elemGuarded(c, func(int) float32 { return float32(0.5 + rng.Float64()) })
	bias, _ := elemGuarded(c, rnd)

	mean, mw := elemGuarded(c, rnd)
	variance, vw := elemGuarded(c, rnd)
	BatchNormStats(0, x, n, c, hw, mean, variance)
	elemCheckGuards(t, mw, "mean")
	elemCheckGuards(t, vw, "variance")
	refMean, refVar := bnRefStats(x, n, c, hw)
	for ch := 0; ch < c; ch++ {
		require.InDelta(t, refMean[ch], mean[ch], 1e-6*math.Max(1, math.Abs(refMean[ch])), "mean %d", ch)
		require.InDelta(t, refVar[ch], variance[ch], 1e-5*refVar[ch], "variance %d", ch)
	}

	const eps = 1e-3
	invStd := make([]float32, c)
	scale := make([]float32, c)
	shift := make([]float32, c)
	for ch := range invStd {
		invStd[ch] = float32(1 / math.Sqrt(refVar[ch]+eps))
		scale[ch] = weight[ch] * invStd[ch]
		shift[ch] = bias[ch] - mean[ch]*scale[ch]
	}
	y, yw := elemGuarded(size, rnd)
	ChannelAffine(0, y, x, n, c, hw, scale, shift)
	elemCheckGuards(t, yw, "ChannelAffine")

	sumGy, sgw := elemGuarded(c, rnd)
	sumGyXhat, sgxw := elemGuarded(c, rnd)
	BatchNormGradSums(0, gy, x, n, c, hw, mean, invStd, sumGy, sumGyXhat)
	elemCheckGuards(t, sgw, "sumGy")
	elemCheckGuards(t, sgxw, "sumGyXhat")

	gxTrain, gtw := elemGuarded(size, func(int) float32 { return 1 })
	BatchNormTrainGrad(0, gxTrain, gy, x, n, c, hw, mean, invStd, scale, sumGy, sumGyXhat)
	elemCheckGuards(t, gtw, "BatchNormTrainGrad")
	gxEval, gew := elemGuarded(size, func(int) float32 { return 1 })
	ChannelScaleGrad(0, gxEval, gy, n, c, hw, scale)
	elemCheckGuards(t, gew, "ChannelScaleGrad")

	// float64 reference of the same formulas. The gradients use the
	// kernel's float32 mean (checked above), as PyTorch saves it in float32
	// too: rounding a mean of 4000 moves xhat by 1e-4.
	m := float64(n * hw)
	for ch := 0; ch < c; ch++ {
		is := 1 / math.Sqrt(refVar[ch]+eps)
		var s1, s2 float64
		idx := func(i, j int) int { return (i*c+ch)*hw + j }
		for i := 0; i < n; i++ {
			for j := 0; j < hw; j++ {
				xhat := (float64(x[idx(i, j)]) - refMean[ch]) * is
				// y = x*scale + shift rounds at the size of x*scale.
				tol := 1e-6 * (math.Abs(float64(x[idx(i, j)]*scale[ch])) + 1)
				require.InDelta(t, float64(weight[ch])*xhat+float64(bias[ch]), y[idx(i, j)], tol)
				s1 += float64(gy[idx(i, j)])
				s2 += float64(gy[idx(i, j)]) * (float64(x[idx(i, j)]) - float64(mean[ch])) * is
			}
		}
		require.InDelta(t, s1, sumGy[ch], 1e-4)
		require.InDelta(t, s2, sumGyXhat[ch], 1e-4)
		k := float64(weight[ch]) * is
		for i := 0; i < n; i++ {
			for j := 0; j < hw; j++ {
				xhat := (float64(x[idx(i, j)]) - float64(mean[ch])) * is
				want := 1 + k*(float64(gy[idx(i, j)])-s1/m-xhat*s2/m)
				require.InDelta(t, want, gxTrain[idx(i, j)], 1e-4)
				require.InDelta(t, 1+k*float64(gy[idx(i, j)]), gxEval[idx(i, j)], 1e-5)
			}
		}
	}
}

func TestBatchNormStatsConstantChannel(t *testing.T) {
	// A constant channel has variance exactly 0, never a negative rounding.
	x := []float32{3, 3, -1e6, -1e6, 3, 3, -1e6, -1e6} // n=2, c=2, hw=2
	mean, variance := make([]float32, 2), make([]float32, 2)
	BatchNormStats(0, x, 2, 2, 2, mean, variance)
	require.Equal(t, []float32{3, -1e6}, []float32{mean[0], mean[1]})
	require.Equal(t, []float32{0, 0}, variance)
}

// TestBatchNormSplitEqualsWhole runs the batch norm kernels on a tensor
// large enough to be split over three goroutines and checks every result bit for
// bit against the same kernels over all channels at once.
func TestBatchNormSplitEqualsWhole(t *testing.T) {
	const n, c, hw = 4, 9, 2100 // n*c*hw above parallelMinWork
	rng := rand.New(rand.NewPCG(5, 6))
	x, gy := randSlice(rng, n*c*hw), randSlice(rng, n*c*hw)
	scale, shift := randSlice(rng, c), randSlice(rng, c)
	invStd := make([]float32, c)
	for i := range invStd {
		invStd[i] = 0.5 + rng.Float32()
	}
	type out struct{ mean, variance, sumGy, sumGyXhat, y, gx []float32 }
	run := func(split bool) out {
		o := out{make([]float32, c), make([]float32, c), make([]float32, c), make([]float32, c), make([]float32, n*c*hw), make([]float32, n*c*hw)}
		if split {
			BatchNormStats(3, x, n, c, hw, o.mean, o.variance)
			ChannelAffine(3, o.y, x, n, c, hw, scale, shift)
			BatchNormGradSums(3, gy, x, n, c, hw, o.mean, invStd, o.sumGy, o.sumGyXhat)
			BatchNormTrainGrad(3, o.gx, gy, x, n, c, hw, o.mean, invStd, scale, o.sumGy, o.sumGyXhat)
			return o
		}
		batchNormStats(x, n, c, hw, 0, c, o.mean, o.variance)
		for i := 0; i < n; i++ {
			channelAffine(o.y, x, i, c, hw, 0, c, scale, shift)
		}
		batchNormGradSums(gy, x, n, c, hw, 0, c, o.mean, invStd, o.sumGy, o.sumGyXhat)
		batchNormTrainGrad(o.gx, gy, x, n, c, hw, 0, c, o.mean, invStd, scale, o.sumGy, o.sumGyXhat, false)
		return o
	}
	whole, split := run(false), run(true)
	for name, pair := range map[string][2][]float32{
		"mean": {whole.mean, split.mean}, "variance": {whole.variance, split.variance},
		"sumGy": {whole.sumGy, split.sumGy}, "sumGyXhat": {whole.sumGyXhat, split.sumGyXhat},
		"y": {whole.y, split.y}, "gx": {whole.gx, split.gx},
	} {
		for i := range pair[0] {
			if pair[0][i] != pair[1][i] {
				t.Fatalf("%s[%d]: whole %v, split %v", name, i, pair[0][i], pair[1][i])
			}
		}
	}
}

package kernels

import (
	"github.com/stretchr/testify/require"

	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// trainSizes are slice lengths around the SIMD kernels' vector and pair
// widths, and one large enough to be split over goroutines.
var trainSizes = []int{1, 7, 8, 9, 15, 16, 17, 31, 33, 100, 1 << 17}

// trainValues draws values that hit the activations' kinks (0, 6, ±3)
// often, with infinities now and then.
func trainValues(rng *rand.Rand, n int) []float32 {
	kinks := []float32{0, 6, 3, -3, float32(math.Inf(1)), float32(math.Inf(-1))}
	s := make([]float32, n)
	for i := range s {
		if rng.IntN(5) == 0 {
			s[i] = kinks[rng.IntN(len(kinks))]
		} else {
			s[i] = float32(rng.NormFloat64() * 4)
		}
	}
	return s
}

// TestActivationGradsMatchGo checks the SIMD (and parallel) activation
// gradients bit for bit against their Go loops, with guards around gx.
func TestActivationGradsMatchGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, k := range []struct {
		name           string
		fast, set, go_ func(gx, gy, x []float32)
	}{
		{"relu", ReLUGrad, ReLUGradSet, reluGradGo},
		{"relu6", ReLU6Grad, ReLU6GradSet, relu6GradGo},
		{"hswish", HardSwishGrad, HardSwishGradSet, hardSwishGradGo},
	} {
		for _, n := range trainSizes {
			t.Run(fmt.Sprintf("%s_%d", k.name, n), func(t *testing.T) {
				x, gy, gx0 := trainValues(rng, n), randSlice(rng, n), randSlice(rng, n)
				want := append([]float32(nil), gx0...)
				k.go_(want, gy, x)
				gx, check := guarded(t, n, gx0)
				k.fast(gx, gy, x)
				check(k.name)
				for i := range want {
					if math.Float32bits(want[i]) != math.Float32bits(gx[i]) {
						t.Fatalf("element %d (x %v, gy %v): want %v, got %v", i, x[i], gy[i], want[i], gx[i])
					}
				}
				// The setting form ignores what gx held (NaN here) and
				// gives what accumulating into zeros gives (up to the sign
				// of a zero).
				fresh := make([]float32, n)
				k.go_(fresh, gy, x)
				nan := make([]float32, n)
				for i := range nan {
					nan[i] = float32(math.NaN())
				}
				set, checkSet := guarded(t, n, nan)
				k.set(set, gy, x)
				checkSet(k.name + " set")
				for i := range fresh {
					if fresh[i] != set[i] {
						t.Fatalf("set: element %d (x %v, gy %v): want %v, got %v", i, x[i], gy[i], fresh[i], set[i])
					}
				}
			})
		}
	}
}

// TestClampForwardMatchesGo checks ReLU and ReLU6 (SIMD, parallel) against
// the plain loops.
func TestClampForwardMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, n := range trainSizes {
		x := trainValues(rng, n)
		for name, f := range map[string]func(dst, x []float32){"relu": ReLU, "relu6": ReLU6} {
			hi := float32(math.Inf(1))
			if name == "relu6" {
				hi = 6
			}
			dst, check := guarded(t, n, nil)
			f(dst, x)
			check(name)
			for i, v := range x {
				if want := min(max(v, 0), hi); dst[i] != want {
					t.Fatalf("%s n=%d element %d: want %v, got %v", name, n, i, want, dst[i])
				}
			}
		}
		a, b := randSlice(rng, n), randSlice(rng, n)
		dst, check := guarded(t, n, a)
		AddToParallel(0, dst, b)
		check("AddToParallel")
		sum, checkSum := guarded(t, n, nil)
		AddParallel(0, sum, a, b)
		checkSum("AddParallel")
		for i := range a {
			if dst[i] != a[i]+b[i] || sum[i] != a[i]+b[i] {
				t.Fatalf("n=%d element %d: want %v, got %v (AddToParallel), %v (AddParallel)", n, i, a[i]+b[i], dst[i], sum[i])
			}
		}
	}
}

// TestBatchNormRowKernelsMatchGo checks the SIMD row reductions and passes
// of batch normalization against their Go loops, within float32 rounding
// of a differently ordered sum.
func TestBatchNormRowKernelsMatchGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, n := range trainSizes[:len(trainSizes)-1] {
		g, x := randSlice(rng, n), randSlice(rng, n)
		for i := range x {
			x[i] += 100 // a large mean, as batch norm sees before centring
		}
		// Three rows of n values, ld apart as a channel's rows in
		// consecutive samples are, with NaN between them that must not be
		// read.
		const rows = 3
		ld := n + 5
		gr, xr := make([]float32, rows*ld), make([]float32, rows*ld)
		var w1, w2 float32
		var v1, v2 float64
		for r := range rows {
			for j := range ld {
				gr[r*ld+j], xr[r*ld+j] = float32(math.NaN()), float32(math.NaN())
				if j < n {
					gr[r*ld+j], xr[r*ld+j] = g[j]*float32(r+1), x[j]+float32(r)
				}
			}
			a, b := sumAndCenteredDotGo(gr[r*ld:r*ld+n], xr[r*ld:r*ld+n], 100.5)
			w1, w2 = w1+a, w2+b
			c, d := shiftedSumsGo(xr[r*ld:r*ld+n], 99.5)
			v1, v2 = v1+c, v2+d
		}
		s1, s2, done := sumCenteredDotRowsSIMD(gr, xr, rows, n, ld, 100.5)
		h1, h2, _ := shiftedSumsRowsSIMD(xr, rows, n, ld, 99.5)
		for r := range rows {
			a, b := sumAndCenteredDotGo(gr[r*ld+done:r*ld+n], xr[r*ld+done:r*ld+n], 100.5)
			s1, s2 = s1+a, s2+b
			c, d := shiftedSumsGo(xr[r*ld+done:r*ld+n], 99.5)
			h1, h2 = h1+c, h2+d
		}
		near(t, float64(w1), float64(s1), 1e-5*float64(rows*n), "sum(g)")
		near(t, float64(w2), float64(s2), 1e-5*float64(rows*n), "sum(g*(x-mu))")
		near(t, v1, h1, 1e-9*float64(rows*n), "sum(x-shift)")
		near(t, v2, h2, 1e-9*float64(rows*n), "sum((x-shift)^2)")

		y, check := guarded(t, n, nil)
		channelAffine(y, x, 0, 1, n, 0, 1, []float32{1.5}, []float32{-150})
		check("channelAffine")
		for i := range x {
			near(t, float64(x[i]*1.5-150), float64(y[i]), 2e-5, "channelAffine")
		}
		gx0 := randSlice(rng, n)
		gx, check := guarded(t, n, gx0)
		a, b, c := float32(0.75), float32(-0.5), float32(50.25)
		if done := bnInputGradSIMD(gx, g, x, a, b, c, false); done < n {
			for i := done; i < n; i++ {
				gx[i] += a*g[i] + (b*x[i] + c)
			}
		}
		check("bnInputGrad")
		for i := range x {
			want := float64(gx0[i]) + float64(a)*float64(g[i]) + float64(b)*float64(x[i]) + float64(c)
			near(t, want, float64(gx[i]), 2e-5, "bnInputGrad")
		}
	}
}

func near(t *testing.T, want, got, tol float64, what string) {
	t.Helper()
	if !(math.Abs(want-got) <= tol) {
		t.Fatalf("%s: want %.9g, got %.9g", what, want, got)
	}
}

// TestDepthwiseBackwardMatchesReference checks both gradients of
// DepthwiseBackward against the reference kernels, two calls accumulating
// into guarded outputs.
func TestDepthwiseBackwardMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	type dwCase struct{ c, mult, h, w, k, s, p int }
	var cases []dwCase
	for _, s := range []int{1, 2} {
		for _, k := range []int{3, 5} {
			cases = append(cases, dwCase{3, 1, 28, 28, k, s, k / 2}, dwCase{2, 1, 14, 14, k, s, k / 2}, dwCase{2, 2, 9, 19, k, s, k / 2},
				dwCase{2, 1, 17, 33, k, s, k / 2}, dwCase{2, 1, 16, 18, k, s, 0}, dwCase{1, 1, 7, 7, k, s, k / 2}, dwCase{2, 1, 12, 11, k, s, 2})
		}
	}
	// Rows of one to 35 pairs at stride 2: whole vectors of the interleave
	// (16 pairs with AVX-512, 8 with AVX2) and the values after them.
	for _, w := range []int{1, 2, 3, 4, 31, 32, 33, 34, 63, 64, 65, 70} {
		cases = append(cases, dwCase{2, 1, 5, w, 3, 2, 1})
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("c%d_m%d_%dx%d_k%d_s%d_p%d", c.c, c.mult, c.h, c.w, c.k, c.s, c.p), func(t *testing.T) {
			oh := (c.h+2*c.p-c.k)/c.s + 1
			ow := (c.w+2*c.p-c.k)/c.s + 1
			win := Window{InH: c.h, InW: c.w, KH: c.k, KW: c.k, StrideH: c.s, StrideW: c.s, PadH: c.p, PadW: c.p,
				DilH: 1, DilW: 1, OutH: oh, OutW: ow}
			out := c.c * c.mult
			x, gy := randSlice(rng, c.c*c.h*c.w), randSlice(rng, out*oh*ow)
			w := randSlice(rng, out*c.k*c.k)
			gw0, gx0 := randSlice(rng, len(w)), randSlice(rng, len(x))
			wantW := append([]float32(nil), gw0...)
			wantX := append([]float32(nil), gx0...)
			for range 2 {
				DepthwiseConv2DBackwardFilter(win, c.c, c.mult, x, gy, wantW)
				DepthwiseConv2DBackwardData(win, c.c, c.mult, gy, w, wantX)
			}
			b := NewDepthwiseBackward(win, c.c, c.mult)
			gw, checkW := guarded(t, len(w), gw0)
			gx, checkX := guarded(t, len(x), gx0)
			scratch, checkS := guarded(t, b.ScratchLen(), nil)
			for range 2 {
				b.Filter(x, gy, gw, scratch)
				b.Data(gy, w, gx, scratch)
			}
			checkW("Filter")
			checkX("Data")
			checkS("scratch")
			for i := range wantW {
				near(t, float64(wantW[i]), float64(gw[i]), 1e-5+1e-6*float64(oh*ow), fmt.Sprintf("gw[%d]", i))
			}
			for i := range wantX {
				near(t, float64(wantX[i]), float64(gx[i]), 1e-5, fmt.Sprintf("gx[%d]", i))
			}

			// DataSet overwrites whatever gx held.
			wantSet := make([]float32, len(x))
			DepthwiseConv2DBackwardData(win, c.c, c.mult, gy, w, wantSet)
			nan := make([]float32, len(x))
			for i := range nan {
				nan[i] = float32(math.NaN())
			}
			gs, checkSet := guarded(t, len(x), nan)
			b.DataSet(gy, w, gs, scratch)
			checkSet("DataSet")
			for i := range wantSet {
				near(t, float64(wantSet[i]), float64(gs[i]), 1e-5, fmt.Sprintf("DataSet gx[%d]", i))
			}
		})
	}
}

// TestDepthwiseBackwardBoth checks Both against the stride-1 input
// gradient nn computes (the forward kernel on the flipped weights) and
// Filter, bit for bit, into guarded outputs, on the geometries of the
// inverted residuals (3x3, one output per channel, pad 1), and that it
// declines the others.
func TestDepthwiseBackwardBoth(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, c := range []struct{ c, h, w, s int }{
		{3, 28, 28, 1}, {4, 14, 14, 1}, {2, 7, 7, 1}, {2, 4, 4, 1}, {2, 2, 2, 1}, {2, 9, 19, 1}, {2, 25, 25, 1},
	} {
		t.Run(fmt.Sprintf("c%d_%dx%d_s%d", c.c, c.h, c.w, c.s), func(t *testing.T) {
			oh, ow := (c.h+2-3)/c.s+1, (c.w+2-3)/c.s+1
			win := Window{InH: c.h, InW: c.w, KH: 3, KW: 3, StrideH: c.s, StrideW: c.s, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: oh, OutW: ow}
			b := NewDepthwiseBackward(win, c.c, 1)
			if !b.CanBoth() {
				if dwGradSIMD(c.s) {
					t.Fatal("Both declines an inverted residual's geometry")
				}
				t.Skip("no SIMD weight gradient on this path")
			}
			x, gy, w := randSlice(rng, c.c*c.h*c.w), randSlice(rng, c.c*oh*ow), randSlice(rng, c.c*9)
			flipped := make([]float32, len(w))
			for o := range c.c {
				for k := range 9 {
					flipped[o*9+k] = w[o*9+8-k]
				}
			}
			gw0 := randSlice(rng, len(w))
			wantW := append([]float32(nil), gw0...)
			wantX := make([]float32, len(x))
			scratch := make([]float32, b.ScratchLen())
			b.Filter(x, gy, wantW, scratch)
			// The stride-1 input gradient of nn's convDataGrad: the
			// forward kernel over the output gradient, flipped.
			twin := Window{InH: oh, InW: ow, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: c.h, OutW: c.w}
			dt := NewDepthwiseConv(twin, c.c, 1)
			dt.Run(gy, flipped, wantX, 0, c.c, &Epilogue{}, make([]float32, dt.ScratchLen()))
			garbage := make([]float32, len(x))
			for i := range garbage {
				garbage[i] = float32(math.NaN())
			}
			gw, checkW := guarded(t, len(w), gw0)
			gx, checkX := guarded(t, len(x), garbage)
			bs, checkS := guarded(t, b.BothScratchLen(), nil)
			for range 2 { // the second call reuses the scratch's borders
				copy(gw, gw0)
				b.Both(gy, w, flipped, x, gx, gw, bs)
			}
			checkW("Both weight gradient")
			checkX("Both input gradient")
			checkS("Both scratch")
			require.Equal(t, wantX, gx, "input gradient")
			require.Equal(t, wantW, gw, "weight gradient")
		})
	}
	t.Run("declines", func(t *testing.T) {
		for _, win := range []Window{
			{InH: 8, InW: 8, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 0, PadW: 0, OutH: 6, OutW: 6}, // no padding
			{InH: 8, InW: 8, KH: 5, KW: 5, StrideH: 1, StrideW: 1, PadH: 2, PadW: 2, OutH: 8, OutW: 8}, // 5x5
		} {
			require.False(t, NewDepthwiseBackward(win, 2, 1).CanBoth(), "%+v", win)
		}
		win := Window{InH: 8, InW: 8, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, OutH: 8, OutW: 8}
		require.False(t, NewDepthwiseBackward(win, 2, 2).CanBoth(), "two outputs per channel")
	})
}

// TestBatchNormTrainGradSet checks that the setting form of the batch norm
// input gradient ignores gx and equals accumulating into zeros.
func TestBatchNormTrainGradSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, hw := range []int{1, 7, 49, 196, 2100} {
		const n, c = 3, 5
		x, gy := randSlice(rng, n*c*hw), randSlice(rng, n*c*hw)
		mean, invStd, scale := randSlice(rng, c), randSlice(rng, c), randSlice(rng, c)
		sumGy, sumGyXhat := randSlice(rng, c), randSlice(rng, c)
		want := make([]float32, n*c*hw)
		BatchNormTrainGrad(0, want, gy, x, n, c, hw, mean, invStd, scale, sumGy, sumGyXhat)
		init := make([]float32, len(want))
		for i := range init {
			init[i] = float32(math.NaN())
		}
		got, check := guarded(t, len(want), init)
		BatchNormTrainGradSet(0, got, gy, x, n, c, hw, mean, invStd, scale, sumGy, sumGyXhat)
		check("BatchNormTrainGradSet")
		for i := range want {
			if want[i] != got[i] {
				t.Fatalf("hw %d element %d: want %v, got %v", hw, i, want[i], got[i])
			}
		}
		// In place: the gradient of a fused batch norm and activation
		// is written over its masked output gradient.
		inPlace := append([]float32(nil), gy...)
		BatchNormTrainGradSet(2, inPlace, inPlace, x, n, c, hw, mean, invStd, scale, sumGy, sumGyXhat)
		for i := range want {
			if want[i] != inPlace[i] {
				t.Fatalf("in place, hw %d element %d: want %v, got %v", hw, i, want[i], inPlace[i])
			}
		}
	}
}

// TestChannelAffineClamp checks the fused batch norm and ReLU/ReLU6
// forward against ChannelAffine then the activation, bit for bit, with
// guard values around the output.
func TestChannelAffineClamp(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, hw := range []int{1, 5, 16, 49, 196} {
		const n, c = 3, 6
		x := randSlice(rng, n*c*hw)
		for i := range x {
			x[i] *= 8
		}
		scale, shift := randSlice(rng, c), randSlice(rng, c)
		for _, hi := range []float32{6, float32(math.Inf(1))} {
			want := make([]float32, len(x))
			ChannelAffine(1, want, x, n, c, hw, scale, shift)
			if hi == 6 {
				ReLU6(want, want)
			} else {
				ReLU(want, want)
			}
			got, check := guarded(t, len(x), nil)
			ChannelAffineClamp(2, got, x, n, c, hw, scale, shift, hi)
			check("ChannelAffineClamp")
			for i := range want {
				if want[i] != got[i] {
					t.Fatalf("hw %d hi %v element %d: want %v, got %v", hw, hi, i, want[i], got[i])
				}
			}
		}
	}
}

// TestChannelRowKernels checks the per-sample, all-channel kernels of
// AVX-512 or AVX2 (batch norm's forward map with and without its clamp,
// its input gradient, setting and adding, its gradient sums after a ReLU6,
// a ReLU or nothing, and its forward sums) against their formulas on rows
// of 1 to 196 values (whole vectors of 8 and 16, pairs of them, and the
// values after them), into guarded outputs. Without either they decline.
func TestChannelRowKernels(t *testing.T) {
	if !rowsSIMD() {
		require.False(t, channelAffineRowsSIMD(make([]float32, 4), make([]float32, 4), 1, 4, []float32{1}, []float32{0}, false, 0))
		t.Skip("no row kernels here")
	}
	rng := rand.New(rand.NewPCG(21, 22))
	for _, hw := range []int{1, 4, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 49, 196} {
		for _, rows := range []int{1, 3} {
			n := rows * hw
			x, gy := randSlice(rng, n), randSlice(rng, n)
			for i := range x {
				x[i] *= 4 // some values clamp at 0 and at 6
			}
			scale, shift := randSlice(rng, rows), randSlice(rng, rows)
			coef := randSlice(rng, 3*rows)
			for _, clamp := range []bool{false, true} {
				y, check := guarded(t, n, nil)
				require.True(t, channelAffineRowsSIMD(y, x, rows, hw, scale, shift, clamp, 6))
				check(fmt.Sprintf("channelAffineRows hw %d rows %d clamp %v", hw, rows, clamp))
				for i := range y {
					r := i / hw
					want := x[i]*scale[r] + shift[r]
					if clamp {
						want = min(max(want, 0), 6)
					}
					require.Equal(t, want, y[i], "channelAffineRows hw %d value %d", hw, i)
				}
			}
			for _, hi := range []float32{6, float32(math.Inf(1)), 0} {
				// hi 0: no mask (gradSumsRowsSIMD).
				mean, xb := randSlice(rng, rows), randSlice(rng, n) // xb: the batch norm's input
				sums0 := make([]float64, 2*rows)
				for i := range sums0 {
					sums0[i] = float64(i) - 1.5
				}
				sums := append([]float64(nil), sums0...)
				g, check := guarded(t, n, randSlice(rng, n))
				if hi == 0 {
					gradSumsRowsSIMD(gy, xb, rows, hw, mean, sums)
					copy(g, gy)
				} else {
					require.True(t, ClampGradSetPartials(g, gy, x, xb, rows, hw, hi, mean, sums))
				}
				check(fmt.Sprintf("gradient sums rows hw %d rows %d hi %v", hw, rows, hi))
				want := append([]float64(nil), sums0...)
				for i := range g {
					r := i / hw
					wg := gy[i]
					if hi != 0 && !(0 < x[i] && x[i] < hi) {
						wg = 0
					}
					require.Equal(t, wg, g[i], "masked gradient hw %d hi %v value %d", hw, hi, i)
					want[r] += float64(wg)
					want[rows+r] += float64(wg) * float64(xb[i]-mean[r])
				}
				for i := range want {
					near(t, want[i], sums[i], 1e-5*float64(hw), fmt.Sprintf("sums hw %d hi %v [%d]", hw, hi, i))
				}
			}
			{
				shift := []float64{0.5, -1, 2}[:rows]
				sums := []float64{1, 2, 3, 4, 5, 6}[:2*rows]
				want := append([]float64(nil), sums...)
				for i, v := range x {
					d := float64(v) - shift[i/hw]
					want[i/hw] += d
					want[rows+i/hw] += d * d
				}
				shiftedSumsChannelRowsSIMD(x, rows, hw, shift, sums)
				for i := range want {
					near(t, want[i], sums[i], 1e-9*float64(hw)*(1+math.Abs(want[i])), fmt.Sprintf("shifted sums hw %d [%d]", hw, i))
				}
			}
			for _, set := range []bool{false, true} {
				gx0 := randSlice(rng, n)
				gx, check := guarded(t, n, gx0)
				require.True(t, bnInputGradRowsSIMD(gx, gy, x, rows, hw, coef, set))
				check(fmt.Sprintf("bnInputGradRows hw %d rows %d set %v", hw, rows, set))
				for i := range gx {
					r := i / hw
					want := float64(coef[3*r])*float64(gy[i]) + float64(coef[3*r+1])*float64(x[i]) + float64(coef[3*r+2])
					if !set {
						want += float64(gx0[i])
					}
					near(t, want, float64(gx[i]), 1e-5*(1+math.Abs(want)), fmt.Sprintf("bnInputGradRows hw %d set %v value %d", hw, set, i))
				}
			}
		}
	}
}

// TestDwGradPlaneMatchesGo checks the flat-plane weight gradient kernel of
// 3x3 depthwise convolutions against its formula, at stride 1 and 2, on
// flat planes of whole vectors and of a few values more.
func TestDwGradPlaneMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	const ld = 19
	for _, s := range []int{1, 2} {
		for _, n := range []int{1, 7, 8, 16, 37, 64, 520, 1031} {
			gy := randSlice(rng, n)
			x := randSlice(rng, n+2*ld+3)
			e, o := randSlice(rng, n+2*ld+2), randSlice(rng, n+2*ld+1)
			var sums [9]float64
			for i := range sums {
				sums[i] = float64(i)
			}
			if !dwGradPlaneSIMD(s, gy, x, e, o, ld, &sums) {
				t.Skip("no flat-plane kernel here")
			}
			for kh := range 3 {
				for kw := range 3 {
					want := float64(kh*3 + kw)
					for i, g := range gy {
						p := x[i+kh*ld+kw]
						if s == 2 && kw%2 == 0 {
							p = e[i+kh*ld+kw/2]
						} else if s == 2 {
							p = o[i+kh*ld+kw/2]
						}
						want += float64(g) * float64(p)
					}
					near(t, want, sums[kh*3+kw], 1e-5*float64(n), fmt.Sprintf("stride %d, %d values, tap %d", s, n, kh*3+kw))
				}
			}
		}
	}
}

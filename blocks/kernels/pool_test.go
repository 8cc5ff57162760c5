package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

var poolWindows = []Window{
	{InH: 10, InW: 10, KH: 3, KW: 3, StrideH: 2, StrideW: 2, OutH: 5, OutW: 5, DilH: 1, DilW: 1},                  // ceil mode overhang
	{InH: 11, InW: 9, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, OutH: 6, OutW: 5, DilH: 1, DilW: 1}, // padded
	{InH: 7, InW: 8, KH: 2, KW: 3, StrideH: 1, StrideW: 2, PadH: 1, PadW: 1, OutH: 8, OutW: 5, DilH: 1, DilW: 1},  // rectangular, ceil
	{InH: 6, InW: 6, KH: 2, KW: 2, StrideH: 2, StrideW: 2, OutH: 3, OutW: 3, DilH: 1, DilW: 1},
}

func TestPoolingMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const c = 3
	for _, win := range poolWindows {
		x := randSlice(rng, c*win.InH*win.InW)
		n := c * win.OutH * win.OutW
		gy := randSlice(rng, n)
		wantMax, wantAvg := make([]float64, n), make([]float64, n)
		wantGxMax, wantGxAvg := make([]float64, len(x)), make([]float64, len(x))
		for ci := 0; ci < c; ci++ {
			for oh := 0; oh < win.OutH; oh++ {
				for ow := 0; ow < win.OutW; ow++ {
					o := (ci*win.OutH+oh)*win.OutW + ow
					best, at := math.Inf(-1), -1
					var sum float64
					count := 0
					for kh := 0; kh < win.KH; kh++ {
						for kw := 0; kw < win.KW; kw++ {
							ih := oh*win.StrideH - win.PadH + kh
							iw := ow*win.StrideW - win.PadW + kw
							if ih < win.InH+win.PadH && iw < win.InW+win.PadW {
								count++ // padding counts, the ceil-mode overhang does not
							}
							if ih < 0 || ih >= win.InH || iw < 0 || iw >= win.InW {
								continue
							}
							i := (ci*win.InH+ih)*win.InW + iw
							sum += float64(x[i])
							if float64(x[i]) > best {
								best, at = float64(x[i]), i
							}
						}
					}
					wantMax[o] = best
					wantGxMax[at] += float64(gy[o])
					wantAvg[o] = sum / float64(count)
					for kh := 0; kh < win.KH; kh++ {
						for kw := 0; kw < win.KW; kw++ {
							ih := oh*win.StrideH - win.PadH + kh
							iw := ow*win.StrideW - win.PadW + kw
							if ih >= 0 && ih < win.InH && iw >= 0 && iw < win.InW {
								wantGxAvg[(ci*win.InH+ih)*win.InW+iw] += float64(gy[o]) / float64(count)
							}
						}
					}
				}
			}
		}

		y, checkY := guarded(t, n, nil)
		argmax := make([]int32, n)
		MaxPool2D(win, c, x, y, argmax)
		checkY("max y")
		closeTo(t, wantMax, y, "max y")
		gx, checkGx := guarded(t, len(x), nil)
		MaxPool2DBackward(win, c, gy, argmax, gx)
		checkGx("max gx")
		closeTo(t, wantGxMax, gx, "max gx")

		y, checkY = guarded(t, n, nil)
		AvgPool2D(win, c, x, y)
		checkY("avg y")
		closeTo(t, wantAvg, y, "avg y")
		gx, checkGx = guarded(t, len(x), nil)
		AvgPool2DBackward(win, c, gy, gx)
		checkGx("avg gx")
		closeTo(t, wantGxAvg, gx, "avg gx")
	}
}

func TestMaxPoolNaNWins(t *testing.T) {
	win := Window{InH: 1, InW: 3, KH: 1, KW: 3, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, OutH: 1, OutW: 1}
	y := make([]float32, 1)
	MaxPool2D(win, 1, []float32{1, float32(math.NaN()), 2}, y, nil)
	if !math.IsNaN(float64(y[0])) {
		t.Fatalf("max of {1, NaN, 2} = %g, want NaN as in PyTorch", y[0])
	}
}

func TestGlobalAvgPool(t *testing.T) {
	x := []float32{1, 2, 3, 4, 10, 20, 30, 40}
	y := make([]float32, 2)
	GlobalAvgPool(2, 4, x, y)
	if y[0] != 2.5 || y[1] != 25 {
		t.Fatalf("got %v, want [2.5 25]", y)
	}
	gx := make([]float32, 8)
	GlobalAvgPoolBackward(2, 4, []float32{4, 8}, gx)
	for i, want := range []float32{1, 1, 1, 1, 2, 2, 2, 2} {
		if gx[i] != want {
			t.Fatalf("gx = %v", gx)
		}
	}
}

func TestGlobalAvgPoolLongPlanes(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, hw := range []int{15, 16, 49, 197, 3136} {
		const c = 3
		x := randSlice(rng, c*hw)
		y, check := guarded(t, c, nil)
		GlobalAvgPool(c, hw, x, y)
		check("GlobalAvgPool")
		for ci := range c {
			var s float64
			for _, v := range x[ci*hw : (ci+1)*hw] {
				s += float64(v)
			}
			want := float32(s / float64(hw))
			if math.Abs(float64(y[ci]-want)) > 1e-6*(1+math.Abs(float64(want))) {
				t.Errorf("hw %d channel %d: %v, serial float64 sum gives %v", hw, ci, y[ci], want)
			}
		}
	}
}

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestStemConvMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	type stemCase struct{ c, out, h, w, p int }
	cases := []stemCase{
		{3, 16, 224, 224, 1}, // mobilenet_v3_small's stem
		{3, 8, 19, 17, 1},    // an odd width: a tail of one
		{3, 64, 33, 31, 0},   // squeezenet's (no padding): widths of 15
		{1, 4, 9, 50, 1},     // three vectors and a tail
		{4, 12, 16, 80, 1},   // five whole vectors
		{3, 8, 64, 70, 1},    // 35 outputs a row: two vectors of 16 and a last one again
		{3, 4, 40, 33, 1},    // 17: one vector of 16 and a last one again
		{2, 4, 6, 5, 2},
	}
	for _, c := range cases {
		for _, act := range []ActKind{ActIdentity, ActReLU, ActReLU6, ActHardSwish, ActPReLU} {
			for _, generic := range []bool{false, true} {
				name := fmt.Sprintf("c%d_o%d_%dx%d_p%d_act%d_generic%v", c.c, c.out, c.h, c.w, c.p, act, generic)
				t.Run(name, func(t *testing.T) {
					oh := (c.h+2*c.p-3)/2 + 1
					ow := (c.w+2*c.p-3)/2 + 1
					win := Window{InH: c.h, InW: c.w, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: c.p, PadW: c.p,
						DilH: 1, DilW: 1, OutH: oh, OutW: ow}
					x := randSlice(rng, c.c*c.h*c.w)
					w := randSlice(rng, c.out*c.c*9)
					bias := randSlice(rng, c.out)
					slope := randSlice(rng, c.out)
					d := ConvDims{Window: win, In: c.c, Out: c.out, Groups: 1}
					want := make([]float32, c.out*oh*ow)
					Conv2D(d, x, w, bias, want, make([]float32, d.ScratchLen()))
					for o := 0; o < c.out; o++ {
						refActivate(act, want[o*oh*ow:(o+1)*oh*ow], slope[o])
					}
					s := NewStemConv(win, c.c, c.out, w, bias)
					if s == nil {
						t.Fatal("NewStemConv: nil")
					}
					buf, checkBuf := guarded(t, s.BufferLen(), nil)
					tile, checkTile := guarded(t, StemTileLen, nil)
					y, checkY := guarded(t, len(want), nil)
					e := &Epilogue{Act: act, Slope: slope, noSIMD: generic}
					s.simd = s.simd && !generic
					// Channels and rows in two parts, as two threads would.
					s.Pad(x, buf, 0, c.c/2)
					s.Pad(x, buf, c.c/2, c.c)
					s.Run(buf, tile, y, 0, oh/2, e)
					s.Run(buf, tile, y, oh/2, oh, e)
					checkBuf("StemConv buffer")
					checkTile("StemConv tile")
					checkY("StemConv.Run")
					for i := range want {
						if diff := math.Abs(float64(y[i] - want[i])); diff > 1e-5*(1+math.Abs(float64(want[i]))) {
							t.Fatalf("output %d = %v, reference %v", i, y[i], want[i])
						}
					}
					if !s.wide || generic {
						return
					}
					// The kernel in vectors of 16 gives the bits of the
					// one in vectors of 8.
					s.wide = false
					y8 := make([]float32, len(want))
					s.Run(buf, tile, y8, 0, oh, e)
					for i := range y8 {
						if math.Float32bits(y[i]) != math.Float32bits(y8[i]) {
							t.Fatalf("output %d = %v in vectors of 16, %v in vectors of 8 (bits)", i, y[i], y8[i])
						}
					}
				})
			}
		}
	}
	win := Window{InH: 9, InW: 9, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, OutH: 9, OutW: 9}
	if NewStemConv(win, 3, 8, make([]float32, 8*27), nil) != nil {
		t.Error("NewStemConv took a stride-1 convolution")
	}
	win.StrideH, win.StrideW, win.OutH, win.OutW = 2, 2, 5, 5
	if NewStemConv(win, 3, 6, make([]float32, 6*27), nil) != nil {
		t.Error("NewStemConv took 6 outputs")
	}
}

func TestStemConvAllocatesNothing(t *testing.T) {
	win := Window{InH: 30, InW: 30, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: 15, OutW: 15}
	s := NewStemConv(win, 3, 8, make([]float32, 8*27), nil)
	x, y := make([]float32, 3*900), make([]float32, 8*225)
	buf, tile := make([]float32, s.BufferLen()), make([]float32, StemTileLen)
	e := &Epilogue{Act: ActReLU6}
	if a := testing.AllocsPerRun(10, func() { s.Pad(x, buf, 0, 3); s.Run(buf, tile, y, 0, 15, e) }); a != 0 {
		t.Errorf("Pad and Run allocated %v times, want 0", a)
	}
}

// BenchmarkStemConv compares the stem kernel in vectors of 16 (AVX-512)
// with the one in vectors of 8 on the stems of the zoo at 224x224 (3
// input channels; mobilenet_v2's and mnasnet1_0's 32 outputs with ReLU6,
// mobilenet_v3_small's 16 with h-swish, shufflenet_v2_x1_0's 24 with
// ReLU, squeezenet1_1's 64 unpadded with ReLU), one thread, alternating
// in each iteration. It reports the median ratio of their times.
func BenchmarkStemConv(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		out, pad int
		act      ActKind
	}{{32, 1, ActReLU6}, {16, 1, ActHardSwish}, {24, 1, ActReLU}, {64, 0, ActReLU}} {
		b.Run(fmt.Sprintf("o%d_p%d_act%d", c.out, c.pad, c.act), func(b *testing.B) {
			o := (224+2*c.pad-3)/2 + 1
			win := Window{InH: 224, InW: 224, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: c.pad, PadW: c.pad, DilH: 1, DilW: 1, OutH: o, OutW: o}
			s := NewStemConv(win, 3, c.out, randSlice(rng, c.out*27), randSlice(rng, c.out))
			if !s.wide {
				b.Skipf("no stem kernel in vectors of 16 on the %s path", Path())
			}
			x, y := randSlice(rng, 3*224*224), make([]float32, c.out*o*o)
			buf, tile := make([]float32, s.BufferLen()), make([]float32, StemTileLen)
			s.Pad(x, buf, 0, 3)
			e := &Epilogue{Act: c.act}
			var ratios []float64
			for b.Loop() {
				s.wide = true
				t0 := time.Now()
				s.Run(buf, tile, y, 0, o, e)
				t1 := time.Now()
				s.wide = false
				s.Run(buf, tile, y, 0, o, e)
				ratios = append(ratios, float64(t1.Sub(t0))/float64(time.Since(t1)))
			}
			slices.Sort(ratios)
			b.ReportMetric(ratios[len(ratios)/2], "x16/x8")
		})
	}
}

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// convCase is one geometry for the kernel tests; out sizes are derived.
type convCase struct {
	in, out, groups, h, w, kh, kw, sh, sw, ph, pw, dh, dw int
}

func (c convCase) dims() ConvDims {
	oh := (c.h+2*c.ph-c.dh*(c.kh-1)-1)/c.sh + 1
	ow := (c.w+2*c.pw-c.dw*(c.kw-1)-1)/c.sw + 1
	return ConvDims{
		Window: Window{InH: c.h, InW: c.w, KH: c.kh, KW: c.kw, StrideH: c.sh, StrideW: c.sw,
			PadH: c.ph, PadW: c.pw, DilH: c.dh, DilW: c.dw, OutH: oh, OutW: ow},
		In: c.in, Out: c.out, Groups: c.groups,
	}
}

var convCases = []convCase{
	{in: 3, out: 5, groups: 1, h: 11, w: 11, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1, dh: 1, dw: 1},
	{in: 12, out: 7, groups: 1, h: 5, w: 6, kh: 1, kw: 1, sh: 1, sw: 1, dh: 1, dw: 1},  // pointwise
	{in: 12, out: 15, groups: 3, h: 5, w: 4, kh: 1, kw: 1, sh: 1, sw: 1, dh: 1, dw: 1}, // grouped pointwise
	{in: 8, out: 6, groups: 1, h: 7, w: 9, kh: 1, kw: 1, sh: 2, sw: 2, dh: 1, dw: 1},   // 1x1 stride 2
	{in: 6, out: 9, groups: 3, h: 8, w: 7, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1},
	{in: 10, out: 10, groups: 10, h: 9, w: 9, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1, dh: 1, dw: 1}, // depthwise
	{in: 7, out: 7, groups: 7, h: 10, w: 8, kh: 5, kw: 5, sh: 1, sw: 1, ph: 2, pw: 2, dh: 1, dw: 1},
	{in: 4, out: 8, groups: 4, h: 6, w: 7, kh: 3, kw: 3, sh: 1, sw: 2, ph: 1, pw: 1, dh: 1, dw: 1}, // multiplier 2
	{in: 5, out: 5, groups: 5, h: 11, w: 9, kh: 3, kw: 3, sh: 2, sw: 1, ph: 2, pw: 2, dh: 2, dw: 2},
	{in: 5, out: 6, groups: 1, h: 9, w: 10, kh: 3, kw: 3, sh: 1, sw: 1, ph: 2, pw: 2, dh: 2, dw: 2},
	{in: 4, out: 3, groups: 1, h: 6, w: 9, kh: 1, kw: 3, sh: 1, sw: 2, ph: 0, pw: 1, dh: 1, dw: 1},
	{in: 4, out: 3, groups: 1, h: 9, w: 6, kh: 3, kw: 1, sh: 2, sw: 1, ph: 1, pw: 0, dh: 1, dw: 1},
	{in: 3, out: 4, groups: 1, h: 15, w: 13, kh: 7, kw: 7, sh: 2, sw: 2, ph: 3, pw: 3, dh: 1, dw: 1},
	{in: 2, out: 3, groups: 1, h: 3, w: 4, kh: 5, kw: 5, sh: 3, sw: 1, ph: 2, pw: 3, dh: 1, dw: 1}, // heavy padding
	{in: 1, out: 4, groups: 1, h: 5, w: 5, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1},
	// 3x3 depthwise weight gradients (their own kernel): uneven and no padding, long rows.
	{in: 6, out: 6, groups: 6, h: 12, w: 11, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 0, dh: 1, dw: 1},
	{in: 3, out: 3, groups: 3, h: 20, w: 37, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1},
	{in: 2, out: 6, groups: 2, h: 9, w: 30, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1, dh: 1, dw: 1},
	// Kernels wider than the padded input: some taps never reach it.
	{in: 1, out: 1, groups: 1, h: 2, w: 2, kh: 10, kw: 10, sh: 1, sw: 1, ph: 4, pw: 4, dh: 1, dw: 1},
	{in: 3, out: 2, groups: 1, h: 2, w: 1, kh: 7, kw: 7, sh: 1, sw: 1, ph: 3, pw: 3, dh: 1, dw: 1},
	{in: 3, out: 3, groups: 3, h: 2, w: 1, kh: 7, kw: 7, sh: 1, sw: 1, ph: 3, pw: 3, dh: 1, dw: 1},
	{in: 2, out: 2, groups: 2, h: 3, w: 2, kh: 5, kw: 5, sh: 2, sw: 2, ph: 2, pw: 2, dh: 1, dw: 1},
}

// naiveConv computes the convolution and its gradients in float64 by the
// definition: y, and for the upstream gradient gy, gx, gw and gb.
func naiveConv(d ConvDims, x, w, b, gy []float32) (y, gx, gw, gb []float64) {
	inG, outG := d.In/d.Groups, d.Out/d.Groups
	ohw := d.OutH * d.OutW
	y = make([]float64, d.Out*ohw)
	gx = make([]float64, len(x))
	gw = make([]float64, len(w))
	gb = make([]float64, d.Out)
	for o := 0; o < d.Out; o++ {
		g := o / outG
		for oh := 0; oh < d.OutH; oh++ {
			for ow := 0; ow < d.OutW; ow++ {
				yi := o*ohw + oh*d.OutW + ow
				s := 0.0
				if b != nil {
					s = float64(b[o])
				}
				gb[o] += float64(gy[yi])
				for c := 0; c < inG; c++ {
					ci := g*inG + c
					for kh := 0; kh < d.KH; kh++ {
						ih := oh*d.StrideH - d.PadH + kh*d.DilH
						for kw := 0; kw < d.KW; kw++ {
							iw := ow*d.StrideW - d.PadW + kw*d.DilW
							if ih < 0 || ih >= d.InH || iw < 0 || iw >= d.InW {
								continue
							}
							xi := (ci*d.InH+ih)*d.InW + iw
							wi := ((o*inG+c)*d.KH+kh)*d.KW + kw
							s += float64(w[wi]) * float64(x[xi])
							gx[xi] += float64(w[wi]) * float64(gy[yi])
							gw[wi] += float64(x[xi]) * float64(gy[yi])
						}
					}
				}
				y[yi] = s
			}
		}
	}
	return y, gx, gw, gb
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// guarded returns a slice of n elements set to init inside a larger buffer
// whose margins hold a guard value, and a check that the margins are intact.
func guarded(t *testing.T, n int, init []float32) ([]float32, func(what string)) {
	const margin = 17
	const guard = float32(-12345.5)
	buf := make([]float32, n+2*margin)
	for i := range buf {
		buf[i] = guard
	}
	s := buf[margin : margin+n : margin+n]
	if init != nil {
		copy(s, init)
	} else {
		clear(s)
	}
	return s, func(what string) {
		t.Helper()
		for i := 0; i < margin; i++ {
			if buf[i] != guard || buf[margin+n+i] != guard {
				t.Fatalf("%s: write outside the output", what)
			}
		}
	}
}

func closeTo(t *testing.T, want []float64, got []float32, what string) {
	t.Helper()
	scale := 1.0
	for _, v := range want {
		scale = math.Max(scale, math.Abs(v))
	}
	for i := range want {
		if e := math.Abs(want[i] - float64(got[i])); !(e <= 1e-5*scale) {
			t.Fatalf("%s: element %d: want %.7g, got %.7g", what, i, want[i], got[i])
		}
	}
}

func TestConv2DMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range convCases {
		d := c.dims()
		name := fmt.Sprintf("in%d_out%d_g%d_%dx%d_k%dx%d_s%dx%d_p%dx%d_d%dx%d", c.in, c.out, c.groups, c.h, c.w, c.kh, c.kw, c.sh, c.sw, c.ph, c.pw, c.dh, c.dw)
		t.Run(name, func(t *testing.T) {
			x := randSlice(rng, d.In*d.InH*d.InW)
			w := randSlice(rng, d.Out*d.In/d.Groups*d.KH*d.KW)
			b := randSlice(rng, d.Out)
			gy := randSlice(rng, d.Out*d.OutH*d.OutW)
			wantY, wantGx, wantGw, wantGb := naiveConv(d, x, w, b, gy)
			scratch := make([]float32, d.ScratchLen())

			y, checkY := guarded(t, len(gy), nil)
			Conv2D(d, x, w, b, y, scratch)
			checkY("y")
			closeTo(t, wantY, y, "y")

			// Gradients accumulate: start from ones and subtract them.
			ones := make([]float32, len(x))
			for i := range ones {
				ones[i] = 1
			}
			gx, checkGx := guarded(t, len(x), ones)
			Conv2DBackwardData(d, gy, w, gx, scratch)
			checkGx("gx")
			for i := range gx {
				gx[i]--
			}
			closeTo(t, wantGx, gx, "gx")

			gw, checkGw := guarded(t, len(w), nil)
			gb, checkGb := guarded(t, len(b), nil)
			Conv2DBackwardFilter(d, x, gy, gw, gb, scratch)
			Conv2DBackwardFilter(d, x, gy, gw, gb, scratch) // twice: accumulates
			checkGw("gw")
			checkGb("gb")
			for i := range wantGw {
				wantGw[i] *= 2
			}
			for i := range wantGb {
				wantGb[i] *= 2
			}
			closeTo(t, wantGw, gw, "gw")
			closeTo(t, wantGb, gb, "gb")
		})
	}
}

// TestDepthwiseMatchesIm2col runs the direct depthwise kernel and the
// im2col path (forced by calling them separately) on the same data.
func TestDepthwiseMatchesIm2col(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	d := convCase{in: 6, out: 12, groups: 6, h: 13, w: 12, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1, dh: 1, dw: 1}.dims()
	x := randSlice(rng, d.In*d.InH*d.InW)
	w := randSlice(rng, d.Out*d.KH*d.KW)
	ohw := d.OutH * d.OutW
	direct := make([]float32, d.Out*ohw)
	DepthwiseConv2D(d.Window, d.In, 2, x, w, nil, direct)
	cols := make([]float32, d.KH*d.KW*ohw)
	viaGemm := make([]float32, d.Out*ohw)
	for c := 0; c < d.In; c++ {
		Im2col(d.Window, 1, x[c*d.InH*d.InW:], cols)
		Sgemm(false, false, 2, ohw, d.KH*d.KW, 1, w[2*c*9:], 9, cols, ohw, 0, viaGemm[2*c*ohw:], ohw)
	}
	for i := range direct {
		if math.Abs(float64(direct[i]-viaGemm[i])) > 1e-5 {
			t.Fatalf("element %d: direct %g, im2col %g", i, direct[i], viaGemm[i])
		}
	}
}

// TestCol2imIsAdjoint checks <Im2col(x), c> == <x, Col2im(c)>, which is what
// makes Col2im the input gradient of Im2col.
func TestCol2imIsAdjoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, cc := range convCases {
		d := cc.dims()
		ch := d.In / d.Groups
		x := randSlice(rng, ch*d.InH*d.InW)
		cols := make([]float32, ch*d.KH*d.KW*d.OutH*d.OutW)
		Im2col(d.Window, ch, x, cols)
		r := randSlice(rng, len(cols))
		back := make([]float32, len(x))
		Col2im(d.Window, ch, r, back)
		var lhs, rhs float64
		for i := range cols {
			lhs += float64(cols[i]) * float64(r[i])
		}
		for i := range x {
			rhs += float64(x[i]) * float64(back[i])
		}
		if math.Abs(lhs-rhs) > 1e-4*math.Max(1, math.Abs(lhs)) {
			t.Fatalf("%+v: <im2col x, r> = %g, <x, col2im r> = %g", cc, lhs, rhs)
		}
	}
}

func TestConvValidRange(t *testing.T) {
	for _, c := range []struct{ out, in, stride, pad, off, lo, hi int }{
		{out: 5, in: 5, stride: 1, pad: 1, off: 0, lo: 1, hi: 5},
		{out: 5, in: 5, stride: 1, pad: 1, off: 2, lo: 0, hi: 4},
		{out: 3, in: 5, stride: 2, pad: 1, off: 0, lo: 1, hi: 3},
		{out: 3, in: 5, stride: 2, pad: 1, off: 2, lo: 0, hi: 2},
		{out: 2, in: 1, stride: 1, pad: 3, off: 0, lo: 2, hi: 2}, // all padding
		{out: 4, in: 2, stride: 3, pad: 5, off: 1, lo: 2, hi: 2},
	} {
		lo, hi := convValidRange(c.out, c.in, c.stride, c.pad, c.off)
		// Brute force agrees with the table.
		bl, bh := -1, -1
		for o := 0; o < c.out; o++ {
			if i := o*c.stride - c.pad + c.off; i >= 0 && i < c.in {
				if bl < 0 {
					bl = o
				}
				bh = o + 1
			}
		}
		if bl < 0 {
			bl, bh = lo, lo
		}
		if lo != c.lo || hi != c.hi || (hi > lo && (lo != bl || hi != bh)) {
			t.Errorf("%+v: got [%d, %d), brute force [%d, %d)", c, lo, hi, bl, bh)
		}
	}
}

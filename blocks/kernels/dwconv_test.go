package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

var allActs = []ActKind{ActIdentity, ActReLU, ActReLU6, ActHardSwish, ActSwish, ActSigmoid, ActHardSigmoid, ActPReLU}

// refActivate applies act to y with the elementwise kernels (the oracle of
// ActivateRow).
func refActivate(act ActKind, y []float32, slope float32) {
	switch act {
	case ActReLU:
		ReLU(y, y)
	case ActReLU6:
		ReLU6(y, y)
	case ActHardSwish:
		HardSwish(y, y)
	case ActSwish:
		Swish(y, y)
	case ActSigmoid:
		Sigmoid(y, y)
	case ActHardSigmoid:
		HardSigmoid(y, y)
	case ActPReLU:
		for i, v := range y {
			if v < 0 {
				y[i] = slope * v
			}
		}
	}
}

func TestDepthwiseConvMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	type dwCase struct{ c, mult, h, w, k, s, p, d, bands int }
	var cases []dwCase
	for _, k := range []int{3, 5, 7} {
		for _, s := range []int{1, 2} {
			cases = append(cases, dwCase{5, 1, 13, 11, k, s, k / 2, 1, 0}, dwCase{3, 1, 8, 9, k, s, 0, 1, 0}, dwCase{2, 1, 17, 16, k, s, k / 2, 1, 0},
				dwCase{2, 1, 9, 75, k, s, k / 2, 1, 0}, dwCase{2, 1, 8, 80, k, s, 0, 1, 0}, dwCase{2, 1, 6, 131, k, s, k / 2, 1, 0})
		}
	}
	// Planes of one and two columns, taller than the four rows the
	// narrow-plane kernels compute at once.
	for _, k := range []int{3, 5} {
		for _, s := range []int{1, 2} {
			cases = append(cases, dwCase{3, 1, 9, 1, k, s, k / 2, 1, 0}, dwCase{3, 1, 6, 2, k, s, k / 2, 1, 0}, dwCase{9, 1, 13, 1, k, s, k / 2, 1, 0})
		}
	}
	cases = append(cases, dwCase{4, 2, 9, 7, 3, 1, 1, 1, 0}, dwCase{3, 1, 12, 12, 3, 1, 2, 2, 0}, dwCase{3, 1, 12, 10, 3, 2, 3, 3, 0}, dwCase{2, 3, 5, 5, 1, 1, 0, 1, 0})
	// Eight channels and more: the channels-last path takes groups of
	// eight (35 channels: 17 and 18 a call, a group of eight starting at
	// an odd channel, and channels left over), on planes from 3x3 to
	// 56x56, with and without a last partial block of eight positions.
	for _, k := range []int{3, 5, 7} {
		for _, s := range []int{1, 2} {
			cases = append(cases, dwCase{35, 1, 7, 7, k, s, k / 2, 1, 0}, dwCase{19, 1, 14, 14, k, s, k / 2, 1, 0}, dwCase{16, 1, 3, 3, k, s, k / 2, 1, 0},
				dwCase{16, 1, 13, 11, k, s, k / 2, 1, 0}, dwCase{16, 1, 4, 4, k, s, k / 2, 1, 0}, dwCase{16, 1, 12, 10, k, s, 0, 1, 0})
		}
	}
	// Rows of 28 and 30 outputs at stride 1: the AVX-512 kernels' chunks
	// of 14 (twice; after one of 16).
	for _, k := range []int{3, 5, 7} {
		cases = append(cases, dwCase{16, 1, 6, 28, k, 1, k / 2, 1, 0}, dwCase{16, 1, 5, 30, k, 1, k / 2, 1, 0})
	}
	cases = append(cases, dwCase{16, 1, 56, 56, 3, 1, 1, 1, 0}, dwCase{16, 1, 112, 112, 3, 2, 1, 1, 0}, dwCase{16, 1, 28, 28, 5, 2, 2, 1, 0}, dwCase{16, 2, 7, 7, 3, 1, 1, 1, 0})
	// Bands of a few output rows on small planes (the channels-last path
	// takes bands where a whole plane would not fit dwBandBytes): the
	// padding rows of the first and the last band, bands that end short,
	// input rows and columns no window reads.
	for _, k := range []int{3, 5, 7} {
		for _, s := range []int{1, 2} {
			for _, bands := range []int{1, 2, 3, 5} {
				cases = append(cases, dwCase{16, 1, 13, 11, k, s, k / 2, 1, bands}, dwCase{24, 1, 12, 10, k, s, 0, 1, bands},
					dwCase{16, 1, 14, 14, k, s, k / 2, 1, bands})
			}
		}
	}
	for _, c := range cases {
		acts := []ActKind{ActIdentity, ActReLU6, ActHardSwish, ActPReLU}
		if c.c >= 8 {
			acts = append(acts, ActReLU6, ActReLU, ActReLU)
		}
		for i, act := range acts {
			generic := i%2 == 1
			name := fmt.Sprintf("c%d_m%d_%dx%d_k%d_s%d_p%d_d%d_bands%d_act%d_generic%v", c.c, c.mult, c.h, c.w, c.k, c.s, c.p, c.d, c.bands, act, generic)
			t.Run(name, func(t *testing.T) {
				oh := (c.h+2*c.p-c.d*(c.k-1)-1)/c.s + 1
				ow := (c.w+2*c.p-c.d*(c.k-1)-1)/c.s + 1
				win := Window{InH: c.h, InW: c.w, KH: c.k, KW: c.k, StrideH: c.s, StrideW: c.s, PadH: c.p, PadW: c.p,
					DilH: c.d, DilW: c.d, OutH: oh, OutW: ow}
				out := c.c * c.mult
				x := randSlice(rng, c.c*c.h*c.w)
				w := randSlice(rng, out*c.k*c.k)
				bias := randSlice(rng, out)
				slope := randSlice(rng, out)
				want := make([]float32, out*oh*ow)
				DepthwiseConv2D(win, c.c, c.mult, x, w, bias, want)
				for o := 0; o < out; o++ {
					refActivate(act, want[o*oh*ow:(o+1)*oh*ow], slope[o])
				}
				d := NewDepthwiseConv(win, c.c, c.mult)
				if generic {
					d = d.withoutSIMD()
				}
				if c.bands > 0 {
					if !d.nhwc {
						t.Skip("no channels-last path here")
					}
					d.setBands(c.bands)
					d.planes = false
				}
				y, checkY := guarded(t, len(want), nil)
				scratch, checkScratch := guarded(t, d.ScratchLen(), nil)
				e := &Epilogue{Bias: bias, Act: act, Slope: slope}
				// Two calls over halves of the channels, as two threads would.
				half := out / 2
				d.Run(x, w, y, 0, half, e, scratch)
				d.Run(x, w, y, half, out, e, scratch)
				checkY("DepthwiseConv.Run")
				checkScratch("DepthwiseConv.Run scratch")
				for i := range want {
					if diff := math.Abs(float64(y[i] - want[i])); diff > 1e-5*(1+math.Abs(float64(want[i]))) {
						t.Fatalf("output %d = %v, reference %v", i, y[i], want[i])
					}
				}
				if generic {
					return
				}
				if d.planes && dwPlaneWide {
					// The plane kernels give the bits of the channels-last
					// ones and the row kernels.
					dwPlaneWide = false
					yr := make([]float32, len(want))
					d.Run(x, w, yr, 0, half, e, scratch)
					d.Run(x, w, yr, half, out, e, scratch)
					dwPlaneWide = true
					for i := range yr {
						if math.Float32bits(y[i]) != math.Float32bits(yr[i]) {
							t.Fatalf("output %d = %v a row a register, %v without (bits)", i, y[i], yr[i])
						}
					}
					d.planes = false // what follows compares the channels-last kernels
					defer func() { d.planes = true }()
				}
				if !d.nhwc || !dwNHWC8Wide {
					return
				}
				// The AVX-512 kernels (two positions a vector) give the
				// bits of the AVX2 ones.
				dwNHWC8Wide = false
				defer func() { dwNHWC8Wide = true }()
				y8 := make([]float32, len(want))
				d.Run(x, w, y8, 0, half, e, scratch)
				d.Run(x, w, y8, half, out, e, scratch)
				for i := range y8 {
					if math.Float32bits(y[i]) != math.Float32bits(y8[i]) {
						t.Fatalf("output %d = %v two positions a vector, %v one (bits)", i, y[i], y8[i])
					}
				}
			})
		}
	}
}

func TestEpilogueApply(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const rows, cols, ld = 5, 21, 24
	for _, act := range allActs {
		for i, withRes := range []bool{false, true, false, true} {
			y := randSlice(rng, rows*ld)
			res := randSlice(rng, rows*ld)
			bias := randSlice(rng, rows+2)
			slope := randSlice(rng, rows+2)
			want := append([]float32(nil), y...)
			for r := 0; r < rows; r++ {
				row := want[r*ld : r*ld+cols]
				for j := range row {
					row[j] += bias[2+r]
					if withRes {
						row[j] += res[r*ld+j]
					}
				}
				refActivate(act, row, slope[2+r])
			}
			e := &Epilogue{Bias: bias, Act: act, Slope: slope, noSIMD: i >= 2}
			var rr []float32
			if withRes {
				rr = res
			}
			got := append([]float32(nil), y...)
			e.Apply(got, ld, 2, rows, cols, rr, ld)
			for i := range want {
				if math.Abs(float64(got[i]-want[i])) > 1e-6*(1+math.Abs(float64(want[i]))) {
					t.Fatalf("act %d residual %v: element %d = %v, want %v (untouched padding must stay)", act, withRes, i, got[i], want[i])
				}
			}
		}
	}
}

func TestDepthwiseConvAllocatesNothing(t *testing.T) {
	win := Window{InH: 28, InW: 28, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: 28, OutW: 28}
	d := NewDepthwiseConv(win, 8, 1)
	x, w, y := make([]float32, 8*784), make([]float32, 72), make([]float32, 8*784)
	s := make([]float32, d.ScratchLen())
	e := &Epilogue{Act: ActReLU6}
	if a := testing.AllocsPerRun(10, func() { d.Run(x, w, y, 0, 8, e, s) }); a != 0 {
		t.Errorf("Run allocated %v times, want 0", a)
	}
}

// TestMatVecTFourRows checks that MatVecT, which adds four rows of wt to
// a pass where it can, gives the bits of adding them one at a time: row
// counts that leave 0 to 3 rows after the groups of four, zeros in x
// (skipped, so a row of infinities times a zero adds nothing), widths with
// and without a tail after the whole vectors, and a row of wt shorter
// than ld.
func TestMatVecTFourRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, c := range []struct{ k, n, ld int }{{4, 8, 8}, {5, 16, 16}, {6, 13, 20}, {7, 1000, 1000}, {1280, 1000, 1000}, {576, 1024, 1030}, {9, 3, 3}} {
		x := randSlice(rng, c.k)
		wt := randSlice(rng, c.k*c.ld)
		for i := 1; i < c.k; i += 3 {
			x[i] = 0
			wt[i*c.ld] = float32(math.Inf(1))
		}
		want := make([]float32, c.n)
		for i, a := range x {
			if a == 0 {
				continue
			}
			for j := range want {
				want[j] += a * wt[i*c.ld+j]
			}
		}
		ref := make([]float32, c.n)
		axpyAll := func() {
			for i, a := range x {
				if a != 0 {
					axpyRows(ref, wt, []int{i * c.ld}, []float32{a})
				}
			}
		}
		axpyAll()
		y, check := guarded(t, c.n, nil)
		MatVecT(y, x, wt, c.ld)
		check("MatVecT")
		for j := range ref {
			if math.Float32bits(y[j]) != math.Float32bits(ref[j]) {
				t.Fatalf("k %d n %d: y[%d] = %v, row by row %v (bits)", c.k, c.n, j, y[j], ref[j])
			}
			if math.Abs(float64(y[j]-want[j])) > 1e-4*(1+math.Abs(float64(want[j]))) {
				t.Fatalf("k %d n %d: y[%d] = %v, want %v", c.k, c.n, j, y[j], want[j])
			}
		}
	}
}

func TestMatVecT(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct{ k, n, ld int }{{1, 1, 1}, {7, 13, 13}, {33, 29, 40}, {64, 1000, 1000}} {
		x := randSlice(rng, c.k)
		x[0] = 0 // a skipped row
		wt := randSlice(rng, c.k*c.ld)
		want := make([]float32, c.n)
		Sgemm(false, false, 1, c.n, c.k, 1, x, c.k, wt, c.ld, 0, want, c.n)
		y, check := guarded(t, c.n, nil)
		for i := range y {
			y[i] = float32(i) // overwritten, not accumulated
		}
		MatVecT(y, x, wt, c.ld)
		check("MatVecT")
		for j := range want {
			if math.Abs(float64(y[j]-want[j])) > 1e-5*(1+math.Abs(float64(want[j]))) {
				t.Fatalf("k %d n %d: y[%d] = %v, Sgemm gives %v", c.k, c.n, j, y[j], want[j])
			}
		}
	}
}

// TestDepthwisePlanes runs the plane kernels over every row count modulo
// their loops' periods and row widths up to their limits (one to seven
// registers a row), against the reference and, bit for bit, against the
// other kernels.
func TestDepthwisePlanes(t *testing.T) {
	if !dwPlaneWide {
		t.Skip("no plane kernels on this CPU")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, k := range []int{3, 5, 7} {
		for _, s := range []int{1, 2} {
			for h := k; h < k+7; h++ {
				for _, w := range []int{1, 2, 3, 7, 8, 9, 14, 15, 16, 17, 23, 28, 31, 32, 33, 47, 48, 49, 56, 63, 64, 65, 80, 95, 96, 97, 111, 112, 113, 127, 128} {
					p := k / 2
					win := Window{InH: h, InW: w, KH: k, KW: k, StrideH: s, StrideW: s, PadH: p, PadW: p,
						DilH: 1, DilW: 1, OutH: (h-1)/s + 1, OutW: (w-1)/s + 1}
					const c = 3
					d := NewDepthwiseConv(win, c, 1)
					if !d.planes {
						wide := s == 2 && dwPlaneS2WideSIMD(k, (win.OutW+15)/16) || s == 1 && dwPlaneS1WideSIMD(k, (w+15)/16)
						if hasAVX512 && dwPlaneSIMD(k, s) && (w <= 16*s || wide) {
							t.Fatalf("k%d s%d %dx%d: no plane kernel", k, s, h, w)
						}
						continue
					}
					x, wt, bias := randSlice(rng, c*h*w), randSlice(rng, c*k*k), randSlice(rng, c)
					ohw := win.OutH * win.OutW
					want := make([]float32, c*ohw)
					DepthwiseConv2D(win, c, 1, x, wt, bias, want)
					act := ActReLU6
					if w%2 == 1 {
						act = ActHardSwish // fused into the AVX-512 kernels' stores
					}
					refActivate(act, want, 0)
					y, checkY := guarded(t, len(want), nil)
					e := &Epilogue{Bias: bias, Act: act}
					scratch := make([]float32, d.ScratchLen())
					d.Run(x, wt, y, 0, 1, e, scratch)
					d.Run(x, wt, y, 1, c, e, scratch)
					checkY(fmt.Sprintf("k%d s%d %dx%d", k, s, h, w))
					for i := range want {
						if diff := math.Abs(float64(y[i] - want[i])); diff > 1e-5*(1+math.Abs(float64(want[i]))) {
							t.Fatalf("k%d s%d %dx%d: output %d = %v, reference %v", k, s, h, w, i, y[i], want[i])
						}
					}
					dwPlaneWide = false
					yr := make([]float32, len(want))
					d.Run(x, wt, yr, 0, c, e, make([]float32, d.ScratchLen()))
					dwPlaneWide = true
					for i := range yr {
						if math.Float32bits(y[i]) != math.Float32bits(yr[i]) {
							t.Fatalf("k%d s%d %dx%d: output %d = %v a row a register, %v without (bits)", k, s, h, w, i, y[i], yr[i])
						}
					}
				}
			}
		}
	}
}

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestSgemmPackedImplicitMatchesIm2col checks that a convolution whose B
// is packed from the padded planes gives the bits of im2col followed by
// SgemmPackedEpilogue: kernels 1x1 to 5x5 (3x1 and 1x3 too), padding from
// none to more than the kernel's half, output rows of 5 positions and
// more (panels that end inside a row, at its end and over one to three
// ends), columns
// in chunks from any position, k over one block (kc) and under, rows of
// A in one block of L2 and in several, epilogues fused and not, with and
// without a residual, beta 0 and 1.
func TestSgemmPackedImplicitMatchesIm2col(t *testing.T) {
	if NewImplicitB(Window{InH: 20, InW: 20, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, OutH: 20, OutW: 20}, 1) == nil {
		t.Skipf("no implicit B on the %s path", Path())
	}
	rng := rand.New(rand.NewPCG(11, 12))
	type tc struct{ c, m, h, w, kh, kw, ph, pw int }
	cases := []tc{
		{16, 64, 55, 55, 3, 3, 1, 1}, // squeezenet1_1's expand at 55x55
		{3, 10, 20, 17, 3, 3, 1, 1},
		{5, 7, 16, 16, 5, 5, 2, 2},
		{2, 13, 18, 33, 3, 1, 1, 0},
		{4, 6, 17, 19, 1, 3, 0, 1},
		{3, 12, 20, 20, 3, 3, 0, 0},
		{2, 5, 9, 21, 5, 3, 3, 2},
		{45, 200, 18, 18, 3, 3, 1, 1}, // k = 405: two k blocks
		{2, 400, 16, 16, 3, 3, 1, 1},  // A in blocks of rows
		{1, 1, 1, 16, 1, 1, 0, 0},
		{48, 30, 13, 13, 3, 3, 1, 1}, // squeezenet1_1's expand at 13x13: panels over three rows
		{8, 9, 7, 7, 3, 3, 1, 1},     // four rows
		{3, 20, 5, 5, 3, 3, 1, 1},    // the narrowest rows
		{4, 11, 9, 8, 3, 3, 1, 0},
	}
	for _, tcase := range cases {
		win := Window{InH: tcase.h, InW: tcase.w, KH: tcase.kh, KW: tcase.kw, StrideH: 1, StrideW: 1, PadH: tcase.ph, PadW: tcase.pw, DilH: 1, DilW: 1}
		win.OutH = tcase.h + 2*tcase.ph - tcase.kh + 1
		win.OutW = tcase.w + 2*tcase.pw - tcase.kw + 1
		ib := NewImplicitB(win, tcase.c)
		if ib == nil {
			t.Fatalf("%+v: no implicit B", tcase)
		}
		m, k, npos := tcase.m, tcase.c*tcase.kh*tcase.kw, win.OutH*win.OutW
		x := randSlice(rng, tcase.c*tcase.h*tcase.w)
		cols := make([]float32, k*npos)
		Im2col(win, tcase.c, x, cols)
		padded := randSlice(rng, ib.PaddedLen()) // Pad overwrites all of it
		ib.Pad(x, 0, tcase.c/2, padded)
		ib.Pad(x, tcase.c/2, tcase.c, padded)
		pa := PackA(false, m, k, 1, randSlice(rng, m*k), k)
		for _, chunk := range [][2]int{{0, npos}, {0, 16}, {5, 300}, {npos - 37, 37}} {
			j0, n := chunk[0], min(chunk[1], npos-chunk[0])
			if j0 < 0 || n < 1 {
				continue
			}
			for _, act := range []ActKind{ActReLU, ActIdentity, ActHardSwish} {
				for _, beta := range []float32{0, 1} {
					for _, withRes := range []bool{false, true} {
						name := fmt.Sprintf("c%d_m%d_%dx%d_k%dx%d_p%d,%d/cols%d+%d_act%d_beta%v_res%v",
							tcase.c, m, tcase.h, tcase.w, tcase.kh, tcase.kw, tcase.ph, tcase.pw, j0, n, act, beta, withRes)
						t.Run(name, func(t *testing.T) {
							e := &Epilogue{Bias: randSlice(rng, m), Act: act}
							var res []float32
							if withRes {
								res = randSlice(rng, m*npos)
							}
							c0 := randSlice(rng, m*npos)
							ws := make([]float32, pa.WorkspaceLen(n))
							want := slices.Clone(c0)
							epiW := RowEpilogue{E: e, Res: res[min(j0, len(res)):], LdRes: npos}
							if res == nil {
								epiW.Res = nil
							}
							SgemmPackedEpilogue(pa, false, n, cols[j0:], npos, beta, want[j0:], npos, ws, &epiW)
							got := slices.Clone(c0)
							epiG := epiW
							SgemmPackedImplicit(pa, ib, padded, j0, n, beta, got[j0:], npos, ws, &epiG)
							for i := range want {
								if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
									t.Fatalf("C[%d] = %v, want %v", i, got[i], want[i])
								}
							}
						})
					}
				}
			}
		}
	}
}

// TestNewImplicitBRefuses checks the geometries an implicit B does not
// take: strides and dilations over 1, output rows under 5 positions.
func TestNewImplicitBRefuses(t *testing.T) {
	base := Window{InH: 20, InW: 20, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: 20, OutW: 20}
	if NewImplicitB(base, 4) == nil {
		t.Skipf("no implicit B on the %s path", Path())
	}
	for name, w := range map[string]Window{
		"stride 2":    {InH: 20, InW: 20, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: 10, OutW: 10},
		"dilation 2":  {InH: 20, InW: 20, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 2, PadW: 2, DilH: 2, DilW: 2, OutH: 20, OutW: 20},
		"4-wide rows": {InH: 4, InW: 4, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: 4, OutW: 4},
	} {
		if NewImplicitB(w, 4) != nil {
			t.Errorf("%s: NewImplicitB took it", name)
		}
	}
}

// BenchmarkSgemmPackedImplicit compares, one thread, alternating in each
// iteration, a stride-1 3x3 convolution of the zoo as im2col and
// SgemmPackedEpilogue with it as Pad and SgemmPackedImplicit, both in
// column chunks of 512 as a plan's GEMM step runs them, with a bias and
// ReLU. It reports the median ratio of their times.
func BenchmarkSgemmPackedImplicit(b *testing.B) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, s := range []struct{ c, m, hw int }{
		{16, 64, 55}, // squeezenet1_1: expand 3x3 at 55x55
		{32, 128, 27},
		{48, 192, 13},
		{64, 256, 13},
		{32, 32, 28}, // a Fire block of small28 at 28x28
		{16, 64, 14},
	} {
		win := Window{InH: s.hw, InW: s.hw, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: s.hw, OutW: s.hw}
		ib := NewImplicitB(win, s.c)
		if ib == nil {
			b.Skipf("no implicit B on the %s path", Path())
		}
		k, n := 9*s.c, s.hw*s.hw
		x := randSlice(rng, s.c*n)
		pa := PackA(false, s.m, k, 1, randSlice(rng, s.m*k), k)
		e := Epilogue{Bias: randSlice(rng, s.m), Act: ActReLU}
		cols, padded, y := make([]float32, k*n), make([]float32, ib.PaddedLen()), make([]float32, s.m*n)
		chunk := min(n, 512)
		ws := make([]float32, pa.WorkspaceLen(chunk))
		viaCols := func() time.Duration {
			t0 := time.Now()
			Im2col(win, s.c, x, cols)
			for j := 0; j < n; j += chunk {
				epi := RowEpilogue{E: &e}
				SgemmPackedEpilogue(pa, false, min(chunk, n-j), cols[j:], n, 0, y[j:], n, ws, &epi)
			}
			return time.Since(t0)
		}
		implicit := func() time.Duration {
			t0 := time.Now()
			ib.Pad(x, 0, s.c, padded)
			for j := 0; j < n; j += chunk {
				epi := RowEpilogue{E: &e}
				SgemmPackedImplicit(pa, ib, padded, j, min(chunk, n-j), 0, y[j:], n, ws, &epi)
			}
			return time.Since(t0)
		}
		b.Run(fmt.Sprintf("c%d_m%d_%dx%d", s.c, s.m, s.hw, s.hw), func(b *testing.B) {
			var ratios []float64
			var tI, tC time.Duration
			for b.Loop() {
				i, c := implicit(), viaCols()
				tI += i
				tC += c
				ratios = append(ratios, float64(i)/float64(c))
			}
			slices.Sort(ratios)
			b.ReportMetric(ratios[len(ratios)/2], "implicit/im2col")
			macs := 2 * float64(s.m*k*n) * float64(b.N)
			b.ReportMetric(macs/tI.Seconds()/1e9, "implicit-GFLOP/s")
			b.ReportMetric(macs/tC.Seconds()/1e9, "im2col-GFLOP/s")
		})
	}
}

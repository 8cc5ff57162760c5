package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestSgemmPackedTMatchesPacked checks the transposed form against
// SgemmPackedEpilogue for every kernel family: the same bits for beta 0
// and 1 (what the plan uses), within rounding for other betas (the direct
// form applies them to its edge tiles with a separate multiply), with
// and without an epilogue and a residual, k over one block and under,
// strides wider than the rows, and a workspace whose guard values must
// survive.
func TestSgemmPackedTMatchesPacked(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	// n (the second value) covers rowSplit's layouts on AVX2: fill
	// panels only (5, 10, 20), after panels of 6 (17, 49, 55), and the
	// edge kernels (1, 8, 9, 13, and 196, whose rest of 4 keeps the 4x16).
	shapes := [][3]int{{1280, 49, 320}, {160, 49, 960}, {37, 9, 5}, {16, 1, 7}, {1, 13, 3}, {100, 8, 400}, {24, 17, 800}, {9, 49, 64},
		{40, 5, 30}, {33, 10, 70}, {17, 20, 9}, {64, 55, 400}, {24, 196, 40}}
	for _, kern := range gemmKernels() {
		for i, s := range shapes {
			m, n, k := s[0], s[1], s[2]
			for _, beta := range []float32{0, 1, 0.3} {
				// Epilogues: none; ReLU6 with a residual (the pass); ReLU6,
				// ReLU and none with a bias (fused into the transpose);
				// none with a zero in the bias and h-swish (the pass).
				for ei := range 7 {
					withEpi := ei > 0
					if raceEnabled && (i+int(beta*4)+ei)%3 != 0 {
						continue
					}
					name := fmt.Sprintf("%s/m%d_n%d_k%d_beta%v_epi%d", kern.name, m, n, k, beta, ei)
					t.Run(name, func(t *testing.T) {
						ldx, ldc := n+i%3, n+(i+1)%4
						alpha := float32(1)
						if i%2 == 1 {
							alpha = -1.5
						}
						a, x := randSlice(rng, m*k), randSlice(rng, k*ldx)
						c0 := randSlice(rng, m*ldc)
						var epi *RowEpilogue
						if withEpi {
							epi = &RowEpilogue{E: &Epilogue{Bias: randSlice(rng, m+2), Act: ActReLU6}, Row0: 2}
						}
						switch ei {
						case 1:
							epi.Res, epi.LdRes = randSlice(rng, m*ldc), ldc
						case 3:
							epi.E.Act = ActReLU
						case 4, 5:
							epi.E.Act = ActIdentity
							if ei == 5 {
								epi.E.Bias[2+m/2] = 0
							}
						case 6:
							epi.E.Act = ActHardSwish
						}
						pa := packAWith(kern, false, m, k, alpha, a, k)
						want := slices.Clone(c0)
						SgemmPackedEpilogue(pa, false, n, x, ldx, beta, want, ldc, make([]float32, pa.WorkspaceLen(n)), epi)

						pt := packTWith(kern, m, k, alpha, a, k)
						wsLen := pt.WorkspaceLen(n)
						buf := make([]float32, wsLen+2*guardLen)
						for j := range buf {
							buf[j] = guard
						}
						got := slices.Clone(c0)
						SgemmPackedT(pt, n, x, ldx, beta, got, ldc, buf[guardLen:guardLen+wsLen:guardLen+wsLen], epi)
						for j, v := range buf {
							if (j < guardLen || j >= guardLen+wsLen) && math.Float32bits(v) != math.Float32bits(guard) {
								t.Fatalf("workspace guard %d overwritten", j)
							}
						}
						for j := range want {
							if beta == 0 || beta == 1 || j%ldc >= n {
								if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
									t.Fatalf("C[%d] = %v, want %v (bits)", j, got[j], want[j])
								}
								continue
							}
							if d := math.Abs(float64(got[j] - want[j])); d > 1e-5*(1+math.Abs(float64(want[j]))) {
								t.Fatalf("C[%d] = %v, want %v", j, got[j], want[j])
							}
						}
					})
				}
			}
		}
	}
}

// TestRowSplit checks that rowSplit's panels cover every row once, in
// every family, with the fill kernel exactly where it removes a short
// edge panel.
func TestRowSplit(t *testing.T) {
	for _, kern := range gemmKernels() {
		for m := 1; m <= 200; m++ {
			at, tail := rowSplit(kern, m)
			if at%kern.mr != 0 || at > m || (m > at && tail.nr != kern.nr) {
				t.Fatalf("%s: rowSplit(%d) = %d, %s", kern.name, m, at, tail.name)
			}
			switch rest := m - at; {
			case tail == kern.fill:
				if rest%tail.mr != 0 || rest/tail.mr >= kern.mr {
					t.Fatalf("%s: rowSplit(%d) leaves %d rows to %s", kern.name, m, rest, tail.name)
				}
			case rest >= kern.mr || (rest > 0 && tail.mr < rest):
				t.Fatalf("%s: rowSplit(%d) leaves %d rows to one %s panel", kern.name, m, rest, tail.name)
			}
			if got, want := splitRows(kern, m), at+(m-at+tail.mr-1)/tail.mr*tail.mr; got != want || got < m {
				t.Fatalf("%s: splitRows(%d) = %d, want %d", kern.name, m, got, want)
			}
		}
	}
}

func TestSgemmPackedTZeroSizesAndAllocations(t *testing.T) {
	c := []float32{1, 2, 3, 4}
	SgemmPackedT(PackT(2, 0, 1, nil, 0), 2, nil, 2, 0.5, c, 2, nil, nil)
	if c[0] != 0.5 || c[3] != 2 {
		t.Errorf("k = 0: C = %v, want it halved", c)
	}
	SgemmPackedT(PackT(0, 3, 1, nil, 3), 2, nil, 2, 0.5, nil, 2, nil, nil)
	const m, n, k = 200, 49, 300
	a, x, y := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	pt := PackT(m, k, 1, a, k)
	if pt.Rows() != m || pt.Depth() != k || len(pt.Data()) < m*k {
		t.Fatalf("PackT: %dx%d with %d values, want %dx%d", pt.Rows(), pt.Depth(), len(pt.Data()), m, k)
	}
	ws := make([]float32, pt.WorkspaceLen(n))
	allocs := testing.AllocsPerRun(10, func() { SgemmPackedT(pt, n, x, n, 1, y, n, ws, nil) })
	if allocs != 0 {
		t.Errorf("%v allocations per call, want 0", allocs)
	}
	defer func() {
		if recover() == nil {
			t.Error("a short workspace did not panic")
		}
	}()
	SgemmPackedT(pt, n, x, n, 0, y, n, ws[:len(ws)-1], nil)
}

// TestTransposeRows checks the transpose (SIMD kernel and Go tails) on
// shapes around the kernel's eight rows and eight columns, with guard
// values after the destination rows.
func TestTransposeRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, rows := range []int{1, 7, 8, 9, 16, 23} {
		for _, cols := range []int{1, 7, 8, 9, 49, 64} {
			lds, ldd := rows+3, cols+2
			src := randSlice(rng, cols*lds)
			dst := make([]float32, rows*ldd)
			for i := range dst {
				dst[i] = guard
			}
			transposeRows(dst, ldd, src, lds, rows, cols)
			for i := 0; i < rows; i++ {
				for j := 0; j < ldd; j++ {
					got := dst[i*ldd+j]
					if j >= cols {
						if math.Float32bits(got) != math.Float32bits(guard) {
							t.Fatalf("%dx%d: guard at (%d, %d) overwritten", rows, cols, i, j)
						}
						continue
					}
					if got != src[j*lds+i] {
						t.Fatalf("%dx%d: (%d, %d) = %v, want %v", rows, cols, i, j, got, src[j*lds+i])
					}
				}
			}
		}
	}
}

func TestPreferT(t *testing.T) {
	if !transposeFast {
		if PreferT(1280, 49) {
			t.Error("PreferT without a SIMD transpose")
		}
		return
	}
	for _, tc := range []struct {
		m, n int
		want bool
	}{
		{24, 3136, false}, {144, 3136, false}, {16, 12544, false}, {0, 49, false}, {49, 0, false},
		{1280, 49, true}, {960, 49, true},
	} {
		if got := PreferT(tc.m, tc.n); got != tc.want {
			t.Errorf("PreferT(%d, %d) = %v, want %v (path %s)", tc.m, tc.n, got, tc.want, Path())
		}
	}
}

// tShapes are 1x1 convolutions of the zoo over few positions (m output
// channels, k input channels, n positions), batch 1, 224x224.
var tShapes = [][3]int{
	{1280, 320, 49}, // mobilenet_v2: last 1x1
	{960, 160, 49},  // mobilenet_v2: expansion at 7x7
	{160, 960, 49},  // mobilenet_v2: projection at 7x7
	{1152, 192, 49}, // mnasnet1_0: expansion at 7x7
	{576, 96, 49},   // mobilenet_v3_small: expansion at 7x7
	{384, 64, 196},  // mobilenet_v2: expansion at 14x14
}

// BenchmarkSgemmPackedT compares the transposed form with the direct one
// on tShapes, one thread, alternating: hot (the same operands again) and
// cold (the weights flushed from the caches by a sweep between calls, as
// in a plan, where every step has weights of its own). It reports the
// median ratio of the two forms' times over the rounds.
func BenchmarkSgemmPackedT(b *testing.B) {
	rng := rand.New(rand.NewPCG(25, 26))
	sweep := make([]float32, 8<<20) // 32 MiB, the L3 of the machines measured
	for _, s := range tShapes {
		m, k, n := s[0], s[1], s[2]
		a, x, y := randomSlice(rng, m*k), randomSlice(rng, k*n), make([]float32, m*n)
		pa, pt := PackA(false, m, k, 1, a, k), PackT(m, k, 1, a, k)
		wsA, wsT := make([]float32, pa.WorkspaceLen(n)), make([]float32, pt.WorkspaceLen(n))
		for _, cold := range []bool{false, true} {
			name := fmt.Sprintf("%dx%dx%d/hot", m, k, n)
			if cold {
				name = fmt.Sprintf("%dx%dx%d/cold", m, k, n)
			}
			b.Run(name, func(b *testing.B) {
				var ratios []float64
				var tT, tA time.Duration
				for b.Loop() {
					if cold {
						clear(sweep)
					}
					t0 := time.Now()
					SgemmPackedT(pt, n, x, n, 0, y, n, wsT, nil)
					t1 := time.Now()
					if cold {
						clear(sweep)
					}
					t2 := time.Now()
					SgemmPacked(pa, false, n, x, n, 0, y, n, wsA)
					t3 := time.Now()
					tT += t1.Sub(t0)
					tA += t3.Sub(t2)
					ratios = append(ratios, float64(t1.Sub(t0))/float64(t3.Sub(t2)))
				}
				slices.Sort(ratios)
				b.ReportMetric(ratios[len(ratios)/2], "T/direct")
				b.ReportMetric(2*float64(m*n*k)*float64(b.N)/tT.Seconds()/1e9, "T-GFLOP/s")
				b.ReportMetric(2*float64(m*n*k)*float64(b.N)/tA.Seconds()/1e9, "direct-GFLOP/s")
			})
		}
	}
}

// BenchmarkSgemmPackedTEpilogue compares, on tShapes with a bias and
// ReLU6, the transposed form finishing the epilogue in its transpose
// (transposeRowsEpi) with the transpose followed by the epilogue's pass,
// one thread, alternating in each iteration. It reports the median ratio
// of their times.
func BenchmarkSgemmPackedTEpilogue(b *testing.B) {
	if !transposeFast {
		b.Skip("no transposed form on this path")
	}
	rng := rand.New(rand.NewPCG(27, 28))
	for _, s := range tShapes {
		m, k, n := s[0], s[1], s[2]
		a, x, y := randomSlice(rng, m*k), randomSlice(rng, k*n), make([]float32, m*n)
		pt := PackT(m, k, 1, a, k)
		ws := make([]float32, pt.WorkspaceLen(n))
		epi := &RowEpilogue{E: &Epilogue{Bias: randomSlice(rng, m), Act: ActReLU6}}
		b.Run(fmt.Sprintf("%dx%dx%d", m, k, n), func(b *testing.B) {
			defer func() { transposeFusesEpilogue = true }()
			var ratios []float64
			for b.Loop() {
				transposeFusesEpilogue = true
				t0 := time.Now()
				SgemmPackedT(pt, n, x, n, 0, y, n, ws, epi)
				t1 := time.Now()
				transposeFusesEpilogue = false
				SgemmPackedT(pt, n, x, n, 0, y, n, ws, epi)
				ratios = append(ratios, float64(t1.Sub(t0))/float64(time.Since(t1)))
			}
			slices.Sort(ratios)
			b.ReportMetric(ratios[len(ratios)/2], "fused/pass")
		})
	}
}

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// packedGemm runs a product through PackA and SgemmPacked with kern, on a
// workspace surrounded by guard values that must survive.
func packedGemm(t *testing.T, kern *microKernel) gemmFunc {
	return func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		pa := packAWith(kern, transA, m, k, alpha, a, lda)
		wsLen := pa.WorkspaceLen(n)
		buf := make([]float32, wsLen+2*guardLen)
		for i := range buf {
			buf[i] = guard
		}
		ws := buf[guardLen : guardLen+wsLen : guardLen+wsLen]
		SgemmPacked(pa, transB, n, b, ldb, beta, c, ldc, ws)
		for i, v := range buf {
			if (i < guardLen || i >= guardLen+wsLen) && math.Float32bits(v) != math.Float32bits(guard) {
				t.Fatalf("%s: workspace guard %d overwritten", kern.name, i)
			}
		}
	}
}

func TestSgemmPackedMatchesReference(t *testing.T) {
	var gemms []namedGemm
	for _, kern := range gemmKernels() {
		gemms = append(gemms, namedGemm{"packed " + kern.name, packedGemm(t, kern)})
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for i, tc := range gemmCases() {
		if raceEnabled && i%3 != 0 {
			continue // see TestSgemmMatchesReference
		}
		tc.check(t, rng, gemms)
	}
}

func TestSgemmPackedDefaultAndZeroSizes(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, tc := range gemmCases()[:40] {
		tc.check(t, rng, []namedGemm{{"PackA+SgemmPacked", func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
			pa := PackA(transA, m, k, alpha, a, lda)
			if pa.Rows() != m || pa.Depth() != k {
				t.Fatalf("packed %dx%d, want %dx%d", pa.Rows(), pa.Depth(), m, k)
			}
			SgemmPacked(pa, transB, n, b, ldb, beta, c, ldc, make([]float32, pa.WorkspaceLen(n)))
		}}})
	}
	// k = 0: C = beta*C.
	c := []float32{1, 2, 3, 4}
	SgemmPacked(PackA(false, 2, 0, 1, nil, 0), false, 2, nil, 2, 0.5, c, 2, nil)
	if c[0] != 0.5 || c[3] != 2 {
		t.Errorf("k = 0: C = %v, want it halved", c)
	}
}

func TestSgemmPackedDoesNotAllocate(t *testing.T) {
	const m, n, k = 70, 90, 300
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for _, kern := range gemmKernels() {
		pa := packAWith(kern, false, m, k, 1, a, k)
		ws := make([]float32, pa.WorkspaceLen(n))
		allocs := testing.AllocsPerRun(20, func() {
			SgemmPacked(pa, true, n, b, k, 0.5, c, n, ws)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per call, want 0", kern.name, allocs)
		}
	}
}

// BenchmarkSgemmPackedB compares packing B with reading it where it lies,
// on products of few rows (1x1 convolutions of MobileNetV2 at batch 1,
// in the plan's 512-column chunks).
func BenchmarkSgemmPackedB(b *testing.B) {
	shapes := [][3]int{{16, 512, 32}, {24, 512, 144}, {24, 3136, 144}, {36, 512, 144}, {48, 512, 144}, {96, 512, 24}, {144, 512, 24}}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		a, bm, c := randomSlice(rng, m*k), randomSlice(rng, k*n), make([]float32, m*n)
		pa := PackA(false, m, k, 1, a, k)
		ws := make([]float32, pa.WorkspaceLen(n))
		kc, nc := min(pa.kern.kc, k), min(pa.kern.nc, roundUp(n, pa.kern.nr))
		bbuf, tile := ws[:kc*nc], ws[kc*nc:]
		flops := 2 * float64(m*n*k)
		b.Run(fmt.Sprintf("m%d_n%d_k%d/pack", m, n, k), func(b *testing.B) {
			for b.Loop() {
				sgemmPackedPackB(pa, false, n, bm, n, 0, c, n, bbuf, tile, nil, nil)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		if pa.kern.runBStrided == nil {
			continue
		}
		b.Run(fmt.Sprintf("m%d_n%d_k%d/unpacked", m, n, k), func(b *testing.B) {
			for b.Loop() {
				sgemmPackedUnpackedB(pa, n, bm, n, 0, c, n, bbuf, tile, nil, nil)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// TestSgemmPackedEpilogueMatchesPass checks that the epilogue applied
// strip by strip gives the bits of the product followed by a pass of
// Epilogue.Apply, for every kernel family, with B read unpacked (few rows)
// and packed (whole blocks, and panel by panel where a block is larger
// than bBlockBytes), k over one block (kc) and under, with and without a
// residual, beta 0 and 1, for ReLU6, ReLU and no activation (the kernels
// fuse these where they can), and no activation with a zero bias (which
// they leave to the pass).
func TestSgemmPackedEpilogueMatchesPass(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, kern := range gemmKernels() {
		for _, s := range [][3]int{{16, 100, 32}, {24, 49, 700}, {97, 196, 24}, {150, 61, 400}, {5, 9, 3}, {16, 700, 40}, {40, 1100, 200}, {170, 700, 390}, {11, 40, 20}} {
			m, n, k := s[0], s[1], s[2]
			for _, beta := range []float32{0, 1} {
				for ai, act := range []ActKind{ActReLU6, ActReLU, ActIdentity, ActIdentity} {
					for _, withRes := range []bool{false, true} {
						zeroBias := ai == 3
						name := fmt.Sprintf("%s/m%d_n%d_k%d_beta%v_res%v_act%d_zerobias%v", kern.name, m, n, k, beta, withRes, act, zeroBias)
						t.Run(name, func(t *testing.T) {
							a, b := randSlice(rng, m*k), randSlice(rng, k*n)
							c0 := randSlice(rng, m*n)
							e := &Epilogue{Bias: randSlice(rng, m+3), Act: act}
							if zeroBias {
								e.Bias[3+m/2] = 0
								a[m/2*k] = float32(math.Copysign(0, -1)) // a -0 in C where k is 1
							}
							var res []float32
							if withRes {
								res = randSlice(rng, m*n)
							}
							pa := packAWith(kern, false, m, k, 1, a, k)
							ws := make([]float32, pa.WorkspaceLen(n))
							want := slices.Clone(c0)
							SgemmPacked(pa, false, n, b, n, beta, want, n, ws)
							e.Apply(want, n, 3, m, n, res, n)
							got := slices.Clone(c0)
							epi := RowEpilogue{E: e, Row0: 3, Res: res, LdRes: n}
							SgemmPackedEpilogue(pa, false, n, b, n, beta, got, n, ws, &epi)
							for i := range want {
								if got[i] != want[i] && !(got[i] != got[i] && want[i] != want[i]) {
									t.Fatalf("C[%d] = %v, want %v", i, got[i], want[i])
								}
								if math.Signbit(float64(got[i])) != math.Signbit(float64(want[i])) {
									t.Fatalf("C[%d] = %v, want %v (sign)", i, got[i], want[i])
								}
							}
						})
					}
				}
			}
		}
	}
}

// TestSgemmPackedPanelsMatchTiles checks the Panels kernels (one call per
// row of a group of tiles, B read where it lies) against the same family
// calling its kernels tile by tile: the same bits, for k in one block and
// several, column groups one to eight panels wide and several to a strip,
// whole and partial last panels and row panels, betas 0, 1 and another,
// with and without the epilogue, and C wider than the product, whose
// extra columns must keep their guard values. Products of more rows,
// which pack B, run the same code both ways.
func TestSgemmPackedPanelsMatchTiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, kern := range gemmKernels() {
		if kern.runBStridedPanels == nil {
			continue
		}
		single := withoutPanels(kern)
		for _, s := range [][3]int{{16, 300, 32}, {24, 517, 48}, {13, 200, 130}, {5, 64, 9}, {48, 700, 16}, {97, 260, 24}, {30, 1100, 200}, {16, 160, 500}} {
			m, n, k := s[0], s[1], s[2]
			for _, beta := range []float32{0, 1, 0.5} {
				for _, withEpi := range []bool{false, true} {
					t.Run(fmt.Sprintf("%s/m%d_n%d_k%d_beta%v_epi%v", kern.name, m, n, k, beta, withEpi), func(t *testing.T) {
						ldc := n + 5
						a, b := randSlice(rng, m*k), randSlice(rng, k*n)
						c0 := randSlice(rng, m*ldc)
						for i := range c0 {
							if i%ldc >= n {
								c0[i] = guard
							}
						}
						var epi *RowEpilogue
						if withEpi {
							epi = &RowEpilogue{E: &Epilogue{Bias: randSlice(rng, m), Act: ActReLU6}}
						}
						got, want := slices.Clone(c0), slices.Clone(c0)
						for _, r := range []struct {
							kern *microKernel
							c    []float32
						}{{kern, got}, {single, want}} {
							pa := packAWith(r.kern, false, m, k, 1, a, k)
							SgemmPackedEpilogue(pa, false, n, b, n, beta, r.c, ldc, make([]float32, pa.WorkspaceLen(n)), epi)
						}
						for i := range want {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("C[%d] (row %d, column %d) = %v, want %v (bits)", i, i/ldc, i%ldc, got[i], want[i])
							}
						}
					})
				}
			}
		}
	}
}

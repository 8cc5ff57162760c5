package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// guard fills every element of the test buffers that Sgemm must not write
// (C) or must not use (A, B): a NaN with a payload of its own, compared
// bit for bit.
var guard = math.Float32frombits(0x7fc0dead)

const guardLen = 9 // guard elements before and after each C buffer

// gemmCase is one product to check.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	padA, padB     int // extra row stride beyond the stored row length
	padC           int
}

func (tc gemmCase) String() string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s%s_m%d_n%d_k%d_a%g_b%g_ld+%d,%d,%d", t(tc.transA), t(tc.transB), tc.m, tc.n, tc.k, tc.alpha, tc.beta, tc.padA, tc.padB, tc.padC)
}

// operands returns A, B and C for tc, with their strides: valid elements
// random in [-1, 1), the rest guard values. C's valid elements are NaN when
// beta is 0, since Sgemm must not read them then; C has guardLen guard
// elements on each side, and c0 is the offset of its first valid element.
func (tc gemmCase) operands(rng *rand.Rand) (a []float32, lda int, b []float32, ldb int, c []float32, ldc, c0 int) {
	rowsA, colsA := tc.m, tc.k
	if tc.transA {
		rowsA, colsA = tc.k, tc.m
	}
	rowsB, colsB := tc.k, tc.n
	if tc.transB {
		rowsB, colsB = tc.n, tc.k
	}
	lda, ldb, ldc = colsA+tc.padA, colsB+tc.padB, tc.n+tc.padC
	fill := func(rows, cols, ld int, value func() float32) []float32 {
		buf := make([]float32, max(rows*ld, 1))
		for i := range buf {
			buf[i] = guard
		}
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				buf[i*ld+j] = value()
			}
		}
		return buf
	}
	random := func() float32 { return rng.Float32()*2 - 1 }
	a = fill(rowsA, colsA, lda, random)
	b = fill(rowsB, colsB, ldb, random)
	cv := random
	if tc.beta == 0 {
		cv = func() float32 { return float32(math.NaN()) }
	}
	inner := fill(tc.m, tc.n, ldc, cv)
	c = make([]float32, 0, 2*guardLen+len(inner))
	for range guardLen {
		c = append(c, guard)
	}
	c = append(c, inner...)
	for range guardLen {
		c = append(c, guard)
	}
	return a, lda, b, ldb, c, ldc, guardLen
}

// gemmFunc is Sgemm's signature, for running the tests on several
// implementations.
type gemmFunc func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

// namedGemm is one implementation under test.
type namedGemm struct {
	name string
	gemm gemmFunc
}

// check runs each gemm on tc and compares it with sgemmRef, element by
// element, within a bound on float32 rounding, and checks that no guard
// value of C changed.
func (tc gemmCase) check(t *testing.T, rng *rand.Rand, gemms []namedGemm) {
	t.Helper()
	a, lda, b, ldb, c, ldc, c0 := tc.operands(rng)
	want := append([]float32(nil), c...)
	sgemmRef(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, want[c0:], ldc)

	// tol[i*n+j] bounds the rounding error of C[i][j] in both the reference
	// and the implementation: (k+2) ulps of alpha*sum|A||B| + |beta*C|.
	tol := make([]float64, tc.m*tc.n)
	for i := 0; i < tc.m; i++ {
		for p := 0; p < tc.k; p++ {
			var av float32
			if tc.transA {
				av = a[p*lda+i]
			} else {
				av = a[i*lda+p]
			}
			for j := 0; j < tc.n; j++ {
				var bv float32
				if tc.transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				tol[i*tc.n+j] += math.Abs(float64(av) * float64(bv))
			}
		}
	}
	for i := range tol {
		bound := tol[i] * math.Abs(float64(tc.alpha))
		if tc.beta != 0 {
			bound += math.Abs(float64(tc.beta)) // |C| < 1
		}
		tol[i] = float64(tc.k+2)*0x1p-23*bound + 1e-30
	}

	for _, g := range gemms {
		got := append([]float32(nil), c...)
		g.gemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, got[c0:], ldc)
		bad := 0
		for idx := range got {
			i, j := (idx-c0)/ldc, (idx-c0)%ldc
			if idx < c0 || i >= tc.m || j >= tc.n {
				if math.Float32bits(got[idx]) != math.Float32bits(guard) {
					t.Errorf("%s %v: guard at C offset %d overwritten with %v", g.name, tc, idx-c0, got[idx])
					bad++
				}
			} else if d := math.Abs(float64(got[idx]) - float64(want[idx])); !(d <= tol[i*tc.n+j]) {
				t.Errorf("%s %v: C[%d][%d] = %v, reference %v (tolerance %.3g)", g.name, tc, i, j, got[idx], want[idx], tol[i*tc.n+j])
				bad++
			}
			if bad > 10 {
				t.Fatalf("%s %v: too many errors", g.name, tc)
			}
		}
	}
}

var alphaBetas = [][2]float32{{1, 0}, {1, 1}, {0.5, -2}, {-1.5, 0.25}, {0, 0.5}, {0, 0}, {2, 0}}

// gemmCases returns the products the tests check: every transpose at many
// small shapes, and larger, prime and blocking-boundary shapes; the
// alpha/beta pairs and stride paddings rotate through the list.
func gemmCases() []gemmCase {
	var cases []gemmCase
	small := []int{1, 2, 3, 5, 12, 13, 17, 33}
	var shapes [][3]int
	for _, m := range small {
		for _, n := range small {
			for _, k := range []int{1, 4, 7, 16, 31} {
				shapes = append(shapes, [3]int{m, n, k})
			}
		}
	}
	shapes = append(shapes,
		[3]int{97, 131, 61}, [3]int{127, 129, 257}, [3]int{300, 300, 300},
		[3]int{257, 1, 129}, [3]int{1, 300, 64}, [3]int{29, 67, 300},
		[3]int{61, 600, 17}, [3]int{14, 1100, 3}, [3]int{144, 196, 24},
		[3]int{48, 49, 520}, [3]int{211, 223, 5},
		// Rows that end on an edge kernel exactly (m % 12, m % 6 in 2, 4, 8).
		[3]int{16, 33, 40}, [3]int{20, 49, 300}, [3]int{4, 64, 7},
		[3]int{8, 31, 64}, [3]int{28, 100, 24}, [3]int{32, 96, 410},
		[3]int{10, 20, 50}, [3]int{22, 7, 33},
		// Columns that end on a half-width kernel exactly (n % 32 == 16, n % 16 == 8).
		[3]int{13, 48, 20}, [3]int{24, 16, 70}, [3]int{7, 24, 9}, [3]int{36, 208, 33},
		// Blocks of B beyond bBlockBytes: packed panel by panel (all rows
		// in one block of A), and packed whole for two blocks of rows.
		[3]int{40, 1100, 200}, [3]int{170, 700, 390},
	)
	n := 0
	for _, s := range shapes {
		for tr := 0; tr < 4; tr++ {
			ab := alphaBetas[n%len(alphaBetas)]
			cases = append(cases, gemmCase{
				transA: tr&1 != 0, transB: tr&2 != 0,
				m: s[0], n: s[1], k: s[2], alpha: ab[0], beta: ab[1],
				padA: n % 3, padB: (n / 3) % 2 * 5, padC: n % 4,
			})
			n++
		}
	}
	return cases
}

func TestSgemmMatchesReference(t *testing.T) {
	var gemms []namedGemm
	for _, kern := range gemmKernels() {
		gemms = append(gemms, namedGemm{kern.name, func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
			sgemmWith(kern, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		}})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i, tc := range gemmCases() {
		if raceEnabled && i%3 != 0 {
			// The race detector makes the Go loops ~10x slower, and there
			// is no concurrency here to check: a third of the cases keeps
			// the package's tests well under 30 s.
			continue
		}
		tc.check(t, rng, gemms)
	}
}

func TestSgemmUsesDefaultKernel(t *testing.T) {
	if !strings.HasPrefix(defaultKernel.name, Path()+"-") {
		t.Errorf("Sgemm uses kernel %q, Path() says %q", defaultKernel.name, Path())
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range gemmCases()[:40] {
		tc.check(t, rng, []namedGemm{{"Sgemm", Sgemm}})
	}
}

func TestSgemmParallel(t *testing.T) {
	shapes := [][3]int{{100, 200, 64}, {300, 37, 120}, {13, 700, 130}, {144, 3136 / 4, 24}, {1280 / 4, 49, 320}}
	rng := rand.New(rand.NewPCG(5, 6))
	var gemms []namedGemm
	for _, threads := range []int{0, 1, 2, 3, 7} {
		gemms = append(gemms, namedGemm{fmt.Sprintf("SgemmParallel(%d)", threads), func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
			SgemmParallel(threads, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		}})
	}
	for i, s := range shapes {
		ab := alphaBetas[i%len(alphaBetas)]
		tc := gemmCase{transA: i%2 == 1, transB: i%3 == 1, m: s[0], n: s[1], k: s[2], alpha: ab[0], beta: ab[1], padA: 1, padC: 3}
		tc.check(t, rng, gemms)
	}
}

func TestSgemmDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops buffers at random under the race detector")
	}
	const m, n, k = 70, 90, 300
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for _, kern := range gemmKernels() {
		allocs := testing.AllocsPerRun(20, func() {
			sgemmWith(kern, false, true, m, n, k, 1, a, k, b, k, 0.5, c, n)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per call, want 0", kern.name, allocs)
		}
	}
}

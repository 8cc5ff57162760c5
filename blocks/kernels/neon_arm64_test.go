//go:build !noasm

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The NEON kernels that reduce or read planes, called directly at every
// tail length: they must read nothing past what their contracts allow (the
// values there are NaN, which would show in the results) and write nothing
// outside their outputs (guard values).

// nanAfter returns a slice of n values from vals followed, in its backing
// array, by NaN.
func nanAfter(vals []float32, n int) []float32 {
	buf := make([]float32, n+32)
	for i := range buf {
		buf[i] = float32(math.NaN())
	}
	copy(buf, vals[:n])
	return buf[:n]
}

// TestNEONRowReductions checks the batch-norm row reductions on one to
// three rows of every length to 40 against the Go loops, NaN between the
// rows and after the last.
func TestNEONRowReductions(t *testing.T) {
	if !hasNEON {
		t.Skip("no NEON")
	}
	rng := rand.New(rand.NewPCG(31, 32))
	for cols := 0; cols <= 40; cols++ {
		for rows := 1; rows <= 3; rows++ {
			ld := cols + 3
			n := (rows-1)*ld + cols
			g, x := make([]float32, n+32), make([]float32, n+32)
			for i := range g {
				g[i], x[i] = float32(math.NaN()), float32(math.NaN())
			}
			for r := range rows {
				for j := range cols {
					g[r*ld+j], x[r*ld+j] = float32(rng.NormFloat64()), 50+float32(rng.NormFloat64())
				}
			}
			g, x = g[:n], x[:n]
			s1, s2, done := sumCenteredDotRowsSIMD(g, x, rows, cols, ld, 50.25)
			h1, h2, hdone := shiftedSumsRowsSIMD(x, rows, cols, ld, 49.5)
			if want := cols &^ 3; done != want || hdone != want {
				t.Fatalf("cols %d: done %d and %d, want %d", cols, done, hdone, want)
			}
			var w1, w2 float32
			var v1, v2 float64
			for r := range rows {
				a, b := sumAndCenteredDotGo(g[r*ld:r*ld+done], x[r*ld:r*ld+done], 50.25)
				w1, w2 = w1+a, w2+b
				c, d := shiftedSumsGo(x[r*ld:r*ld+done], 49.5)
				v1, v2 = v1+c, v2+d
			}
			what := fmt.Sprintf("rows %d cols %d", rows, cols)
			near(t, float64(w1), float64(s1), 1e-5*float64(1+n), what+" sum(g)")
			near(t, float64(w2), float64(s2), 1e-5*float64(1+n), what+" sum(g*(x-mu))")
			near(t, v1, h1, 1e-9*float64(1+n), what+" sum(x-shift)")
			near(t, v2, h2, 1e-9*float64(1+n), what+" sum((x-shift)^2)")
		}
	}
}

// TestNEONDepthwiseGradRows checks the depthwise weight gradient's row
// kernels against the lane sums they stand for, at both strides, reading
// planes followed by NaN.
func TestNEONDepthwiseGradRows(t *testing.T) {
	if !dwGradSIMD(1) || !dwGradSIMD(2) {
		t.Skip("no NEON")
	}
	rng := rand.New(rand.NewPCG(33, 34))
	for _, n := range []int{8, 16, 24, 64, 512} {
		for _, s := range []int{1, 2} {
			ld := 13
			gy := randSlice(rng, n)
			x := nanAfter(randSlice(rng, n+2*ld+2), n+2*ld+2)
			e := nanAfter(randSlice(rng, n+2*ld+1), n+2*ld+1)
			o := nanAfter(randSlice(rng, n+2*ld), n+2*ld)
			var acc, want [72]float32
			for i := range acc {
				acc[i] = float32(i) - 30
				want[i] = acc[i]
			}
			dwGradRowSIMD(s, gy, x, e, o, ld, &acc)
			for t9 := range 9 {
				kh, kw := t9/3, t9%3
				for i, g := range gy {
					var p float32
					switch {
					case s == 1:
						p = x[kh*ld+kw+i]
					case kw%2 == 0:
						p = e[kh*ld+kw/2+i]
					default:
						p = o[kh*ld+i]
					}
					want[t9*8+i%8] += g * p
				}
			}
			for i := range acc {
				near(t, float64(want[i]), float64(acc[i]), 1e-5*float64(n), fmt.Sprintf("n %d s %d acc[%d]", n, s, i))
			}
		}
	}
}

// TestNEONMaxPool3S2Rows checks the max pooling row kernel against the
// windows' maxima, on rows of 8 to 40 outputs, into guarded outputs, the
// plane followed by NaN.
func TestNEONMaxPool3S2Rows(t *testing.T) {
	if !maxPool3S2SIMD() {
		t.Skip("no NEON")
	}
	rng := rand.New(rand.NewPCG(35, 36))
	for _, n := range []int{8, 16, 24, 40} {
		ld := 2*n + 5
		x := nanAfter(randSlice(rng, 2*ld+2*n+2), 2*ld+2*n+2)
		y, check := guarded(t, n+3, nil)
		maxPool3S2AVX2(y, x, ld)
		check(fmt.Sprintf("maxPool3S2 n %d", n))
		for i := range n {
			want := x[2*i]
			for r := range 3 {
				for j := range 3 {
					want = max(want, x[r*ld+2*i+j])
				}
			}
			if y[i] != want {
				t.Fatalf("n %d output %d: %v, want %v", n, i, y[i], want)
			}
		}
		for i := n; i < n+3; i++ {
			if y[i] != 0 {
				t.Fatalf("n %d: output %d past the whole vectors written", n, i)
			}
		}
	}
}

// TestNEONSumF64 checks the float64 plane sum at every length to 40,
// followed by NaN.
func TestNEONSumF64(t *testing.T) {
	if !hasNEON {
		t.Skip("no NEON")
	}
	rng := rand.New(rand.NewPCG(37, 38))
	for n := 0; n <= 40; n++ {
		x := nanAfter(randSlice(rng, n), n)
		s, done := sumF64SIMD(x)
		if done != n&^7 {
			t.Fatalf("n %d: done %d", n, done)
		}
		var want float64
		for _, v := range x[:done] {
			want += float64(v)
		}
		near(t, want, s, 1e-12*float64(1+n), fmt.Sprintf("n %d", n))
	}
}

// TestNEONInterleaveAdd checks the interleave against its loop at every
// length to 20, into guarded outputs.
func TestNEONInterleaveAdd(t *testing.T) {
	if !hasNEON {
		t.Skip("no NEON")
	}
	rng := rand.New(rand.NewPCG(39, 40))
	for n := 0; n <= 20; n++ {
		a, b, y0 := randSlice(rng, n), randSlice(rng, n), randSlice(rng, 2*n)
		want := append([]float32(nil), y0...)
		for i := range n {
			want[2*i] += a[i]
			want[2*i+1] += b[i]
		}
		y, check := guarded(t, 2*n, y0)
		done := interleaveAddSIMD(y, a, b)
		check(fmt.Sprintf("interleaveAdd n %d", n))
		if done != n&^3 {
			t.Fatalf("n %d: done %d", n, done)
		}
		for i := range 2 * done {
			if y[i] != want[i] {
				t.Fatalf("n %d value %d: %v, want %v", n, i, y[i], want[i])
			}
		}
		for i := 2 * done; i < 2*n; i++ {
			if y[i] != y0[i] {
				t.Fatalf("n %d: value %d past the whole vectors written", n, i)
			}
		}
	}
}

// TestNEONInterleaveRows checks the rows' interleave, adding and setting,
// on one to three rows of every width to 21, into guarded outputs.
func TestNEONInterleaveRows(t *testing.T) {
	if !hasNEON {
		t.Skip("no NEON")
	}
	rng := rand.New(rand.NewPCG(41, 42))
	for w := 1; w <= 21; w++ {
		for rows := 1; rows <= 3; rows++ {
			for _, set := range []bool{false, true} {
				ldy, lda := w+2, (w+1)/2+3
				a, b := randSlice(rng, rows*lda), randSlice(rng, rows*lda)
				y0 := randSlice(rng, (rows-1)*ldy+w)
				want := append([]float32(nil), y0...)
				for r := range rows {
					for j := range w {
						v := a[r*lda+j/2]
						if j%2 == 1 {
							v = b[r*lda+j/2]
						}
						if set {
							want[r*ldy+j] = v
						} else {
							want[r*ldy+j] += v
						}
					}
				}
				y, check := guarded(t, len(y0), y0)
				if !interleaveRowsSIMD(y, a, b, rows, w, ldy, lda, set) {
					t.Fatal("interleaveRowsSIMD declined")
				}
				check(fmt.Sprintf("interleaveRows w %d rows %d set %v", w, rows, set))
				for i := range want {
					if y[i] != want[i] {
						t.Fatalf("w %d rows %d set %v value %d: %v, want %v", w, rows, set, i, y[i], want[i])
					}
				}
			}
		}
	}
}

// TestNEONHardSwish checks the hard swish forward against its formula bit
// for bit at every length to 40, on values at its kinks and infinities,
// into guarded outputs and in place.
func TestNEONHardSwish(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	for n := 0; n <= 40; n++ {
		x := trainValues(rng, n)
		y, check := guarded(t, n, nil)
		HardSwish(y, x)
		check(fmt.Sprintf("HardSwish n %d", n))
		inPlace := append([]float32(nil), x...)
		HardSwish(inPlace, inPlace)
		for i, v := range x {
			want := v * min(max(v+3, 0), 6) * sixth
			for _, got := range []float32{y[i], inPlace[i]} {
				if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
					t.Fatalf("n %d value %d (x %v): %v, want %v", n, i, v, got, want)
				}
			}
		}
	}
}

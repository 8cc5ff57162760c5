package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// rowLens are the row lengths the row kernel tests check: every length up
// to 40 (each tail of the four- and eight-value vectors, with and without
// a block of sixteen before it), and longer ones.
func rowLens() []int {
	var ns []int
	for n := 0; n <= 40; n++ {
		ns = append(ns, n)
	}
	return append(ns, 63, 64, 65, 131, 200)
}

// skipWithoutSIMD skips a test of the SIMD row kernels on the pure-Go path,
// where the wrappers only report that they did not run.
func skipWithoutSIMD(t *testing.T) {
	if Path() == "generic" {
		t.Skip("no SIMD row kernels on the pure-Go path")
	}
}

// refAct is act as the Go kernels compute it, one element.
func refAct(act ActKind, v float32) float32 {
	switch act {
	case ActReLU:
		return max(v, 0)
	case ActReLU6:
		return min(max(v, 0), 6)
	case ActHardSwish:
		return v * min(max(v+3, 0), 6) * sixth
	case ActHardSigmoid:
		return min(max(v+3, 0), 6) * sixth
	}
	return v
}

// TestRowKernelsMatchGo checks the epilogue, axpy, max, scale and
// deinterleave row kernels of this CPU's path against the Go formulas, bit
// for bit where the operations are the same (axpy's multiply-add may be
// fused), at every tail length, with guard values around each output.
func TestRowKernelsMatchGo(t *testing.T) {
	skipWithoutSIMD(t)
	rng := rand.New(rand.NewPCG(11, 12))
	wide := func(n int) []float32 { // values across the clamps' corners
		s := randSlice(rng, n)
		for i := range s {
			s[i] *= 8
		}
		return s
	}
	same := func(t *testing.T, what string, got, want []float32) {
		t.Helper()
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s: element %d of %d = %v, want %v", what, i, len(want), got[i], want[i])
			}
		}
	}
	for _, n := range rowLens() {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			for _, act := range []ActKind{ActIdentity, ActReLU, ActReLU6, ActHardSwish, ActHardSigmoid} {
				x := wide(n)
				b := float32(rng.NormFloat64())
				want := make([]float32, n)
				for i, v := range x {
					want[i] = refAct(act, v+b)
				}
				y, check := guarded(t, n, x)
				if !biasActRowSIMD(act, y, b) {
					t.Fatalf("no bias+activation kernel for act %d", act)
				}
				check(fmt.Sprintf("bias+act %d", act))
				same(t, fmt.Sprintf("bias+act %d", act), y, want)
			}

			x, r := wide(n), wide(n)
			b := float32(rng.NormFloat64())
			want := make([]float32, n)
			for i := range want {
				want[i] = x[i] + (b + r[i])
			}
			y, check := guarded(t, n, x)
			biasResidualRowSIMD(y, r, b)
			check("bias+residual")
			same(t, "bias+residual", y, want)

			for i := range want {
				want[i] = max(x[i], r[i])
			}
			y, check = guarded(t, n, x)
			maxIntoSIMD(y, r)
			check("maxInto")
			same(t, "maxInto", y, want)

			y, check = guarded(t, n, nil)
			done := scaleSIMD(y, x, b)
			for i := done; i < n; i++ {
				y[i] = b * x[i]
			}
			for i := range want {
				want[i] = b * x[i]
			}
			check("scale")
			same(t, "scale", y, want)

			y, check = guarded(t, n, x)
			axpySIMD(y, r, b)
			check("axpy")
			for i := range y {
				w := x[i] + b*r[i]
				if d := math.Abs(float64(y[i] - w)); d > 1e-6*(1+math.Abs(float64(w))) {
					t.Fatalf("axpy: element %d = %v, want %v", i, y[i], w)
				}
			}

			src := wide(2*n + 1)
			even, checkE := guarded(t, n, nil)
			odd, checkO := guarded(t, n, nil)
			if !deinterleaveSIMD(even, odd, src) {
				t.Fatal("no deinterleave kernel")
			}
			checkE("deinterleave even")
			checkO("deinterleave odd")
			for i := 0; i < n&^7; i++ {
				if even[i] != src[2*i] || odd[i] != src[2*i+1] {
					t.Fatalf("deinterleave: pair %d = (%v, %v), want (%v, %v)", i, even[i], odd[i], src[2*i], src[2*i+1])
				}
			}
		})
	}
}

// TestCopyRowsSIMD checks the plane copy of the padding against copy, at
// every row length, with guard values around the destination and between
// its rows.
func TestCopyRowsSIMD(t *testing.T) {
	skipWithoutSIMD(t)
	rng := rand.New(rand.NewPCG(13, 14))
	for _, w := range rowLens()[1:] {
		for h := 1; h <= 3; h++ {
			ldd, lds := w+3, w+5
			x := randSlice(rng, (h-1)*lds+w)
			n := (h-1)*ldd + w
			init := randSlice(rng, n)
			want := append([]float32(nil), init...)
			for r := range h {
				copy(want[r*ldd:r*ldd+w], x[r*lds:])
			}
			y, check := guarded(t, n, init)
			if !copyRowsSIMD(y, ldd, x, lds, w, h) {
				t.Fatal("no copy kernel")
			}
			check(fmt.Sprintf("copyRows w=%d h=%d", w, h))
			same := true
			for i := range want {
				same = same && math.Float32bits(y[i]) == math.Float32bits(want[i])
			}
			if !same {
				t.Fatalf("copyRows w=%d h=%d: %v, want %v", w, h, y, want)
			}
		}
	}
}

// TestMaxIntoNaN checks that a NaN in x reaches y through the SIMD max
// (max pooling propagates NaN, as PyTorch does), and on arm64 a NaN already
// in y too (FMAX returns NaN for either; AVX's VMAXPS returns x).
func TestMaxIntoNaN(t *testing.T) {
	skipWithoutSIMD(t)
	nan := float32(math.NaN())
	y := []float32{nan, 1, 2, 3, 4, 5, 6, 7}
	x := []float32{0, nan, 0, 0, 0, 0, 0, 0}
	maxIntoSIMD(y, x)
	if !math.IsNaN(float64(y[1])) || y[2] != 2 {
		t.Fatalf("max = %v, want ?, NaN, 2, ...", y)
	}
	if Path() == "neon" && !math.IsNaN(float64(y[0])) {
		t.Fatalf("max = %v, want NaN, NaN, 2, ...", y)
	}
}

package nn

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/internal/safetensors"
)

// Golden cases are safetensors files under testdata/golden/ops written by
// the generators in testdata/golden (PyTorch). A case file holds the inputs,
// the outputs, an upstream gradient "gy" and the gradients PyTorch computed
// from it ("g" + input name), and its settings as metadata.

// goldenTol is the relative tolerance against PyTorch: float32 sums of up to
// a few thousand terms accumulated in another order differ by ~1e-6 relative
// per term, so 1e-4 on the max-normalised error leaves a wide margin while
// still catching any wrong index or missing term.
const goldenTol = 1e-4

type golden struct {
	name string
	f    *safetensors.File
}

// goldenCases loads every case file matching pattern (e.g. "conv2d_*").
func goldenCases(t *testing.T, pattern string) []golden {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "testdata", "golden", "ops", pattern+".safetensors"))
	require.NoError(t, err)
	require.NotEmpty(t, paths, "no golden files for %s: run testdata/golden/gen_*.py", pattern)
	sort.Strings(paths)
	out := make([]golden, 0, len(paths))
	for _, p := range paths {
		f, err := safetensors.Read(p)
		require.NoError(t, err)
		out = append(out, golden{name: filepath.Base(p), f: f})
	}
	return out
}

// T returns the named tensor as an nn.Tensor (a copy).
func (g golden) T(t *testing.T, name string) *Tensor {
	t.Helper()
	st, ok := g.f.Tensors[name]
	require.True(t, ok, "%s: no tensor %q", g.name, name)
	return FromData(append([]float32(nil), st.F32...), st.Shape...)
}

// Has reports whether the case has the named tensor.
func (g golden) Has(name string) bool { _, ok := g.f.Tensors[name]; return ok }

// Labels returns an I64 tensor as ints.
func (g golden) Labels(t *testing.T, name string) []int {
	st, ok := g.f.Tensors[name]
	require.True(t, ok, "%s: no tensor %q", g.name, name)
	out := make([]int, len(st.I64))
	for i, v := range st.I64 {
		out[i] = int(v)
	}
	return out
}

// Int returns an integer setting from the metadata.
func (g golden) Int(t *testing.T, key string) int {
	t.Helper()
	v, err := strconv.Atoi(g.f.Metadata[key])
	require.NoError(t, err, "%s: metadata %q", g.name, key)
	return v
}

// Float returns a float setting from the metadata.
func (g golden) Float(t *testing.T, key string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(g.f.Metadata[key], 64)
	require.NoError(t, err, "%s: metadata %q", g.name, key)
	return v
}

// requireClose checks max|got-want| <= tol * max(1, max|want|).
func requireClose(t *testing.T, want, got []float32, tol float64, what string) {
	t.Helper()
	require.Equal(t, len(want), len(got), "%s: length", what)
	var maxAbs, maxErr float64
	worst := -1
	for i := range want {
		w, g := float64(want[i]), float64(got[i])
		maxAbs = math.Max(maxAbs, math.Abs(w))
		if e := math.Abs(w - g); e > maxErr || math.IsNaN(e) {
			maxErr, worst = e, i
		}
	}
	scale := math.Max(1, maxAbs)
	if maxErr > tol*scale || math.IsNaN(maxErr) {
		t.Fatalf("%s: max error %.3g (relative %.3g > %.1g) at %d: want %v, got %v", what, maxErr, maxErr/scale, tol, worst, want[worst], got[worst])
	}
}

// gradCheck compares the analytic gradients of the scalar function
// L = sum(f() * gy) with respect to each of wrt against central finite
// differences, accumulated in float64. f must rebuild its output from the
// current Data of wrt on every call (it is called with a fresh tape).
// Elements are sampled (at most samples per tensor) to keep it fast.
func gradCheck(t *testing.T, wrt []*Tensor, f func(tp *Tape) *Tensor, samples int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, w := range wrt {
		w.requiresGrad = true
		w.Grad = nil
	}
	tp := NewTape(false, nil)
	y := f(tp)
	gy := make([]float32, y.Len())
	for i := range gy {
		gy[i] = float32(rng.NormFloat64())
	}
	copy(y.grad(), gy)
	tp.BackwardFrom()
	loss := func() float64 {
		out := f(nil)
		var s float64
		for i, v := range out.Data {
			s += float64(v) * float64(gy[i])
		}
		return s
	}
	for wi, w := range wrt {
		require.NotNil(t, w.Grad, "input %d got no gradient", wi)
		n := w.Len()
		idx := make([]int, 0, samples)
		if n <= samples {
			for i := 0; i < n; i++ {
				idx = append(idx, i)
			}
		} else {
			for len(idx) < samples {
				idx = append(idx, rng.IntN(n))
			}
		}
		for _, i := range idx {
			orig := w.Data[i]
			h := float32(1e-2) * float32(math.Max(1, math.Abs(float64(orig))))
			w.Data[i] = orig + h
			lp := loss()
			w.Data[i] = orig - h
			lm := loss()
			w.Data[i] = orig
			num := (lp - lm) / (float64(2 * h))
			ana := float64(w.Grad[i])
			// float32 forward passes limit finite differences to about
			// 1e-3 relative; a wrong gradient is off by far more.
			if math.Abs(num-ana) > 2e-2*math.Max(1, math.Max(math.Abs(num), math.Abs(ana))) {
				t.Fatalf("input %d element %d: analytic gradient %.6g, finite difference %.6g", wi, i, ana, num)
			}
		}
	}
}

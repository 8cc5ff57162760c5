package nn

import (
	"fmt"
	"strings"
)

// Tensor is a dense float32 array in row-major order. Images are NCHW,
// feature vectors NC. Grad, when not nil, holds dLoss/dData and has the same
// length as Data; a Tape allocates it during Backward.
type Tensor struct {
	Shape []int
	Data  []float32
	Grad  []float32

	// requiresGrad marks leaves (parameters, inputs under test) and every
	// tensor computed from them on a Tape.
	requiresGrad bool
	// pool, for a tensor a recycling tape made, provides its gradient's
	// storage too.
	pool *tensorPool
}

// New returns a zero tensor of the given shape.
func New(shape ...int) *Tensor {
	n := numel(shape)
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float32, n)}
}

// FromData wraps data (not copied) in a tensor of the given shape. It panics
// if the length does not match: that is a programmer error.
func FromData(data []float32, shape ...int) *Tensor {
	if n := numel(shape); n != len(data) {
		panic(fmt.Sprintf("nn.FromData: %d values for shape %v (%d)", len(data), shape, n))
	}
	return &Tensor{Shape: append([]int(nil), shape...), Data: data}
}

// Len is the number of elements.
func (t *Tensor) Len() int { return len(t.Data) }

// Dims is the number of dimensions.
func (t *Tensor) Dims() int { return len(t.Shape) }

// SetRequiresGrad marks t as a leaf whose gradient Backward must compute.
func (t *Tensor) SetRequiresGrad(v bool) *Tensor { t.requiresGrad = v; return t }

// RequiresGrad reports whether Backward computes a gradient for t.
func (t *Tensor) RequiresGrad() bool { return t.requiresGrad }

// ZeroGrad clears the gradient (keeping its storage).
func (t *Tensor) ZeroGrad() {
	for i := range t.Grad {
		t.Grad[i] = 0
	}
}

// grad returns t.Grad, allocating it on first use.
func (t *Tensor) grad() []float32 {
	if t.Grad == nil {
		if t.pool != nil {
			t.Grad = t.pool.get(len(t.Data), true)
		} else {
			t.Grad = make([]float32, len(t.Data))
		}
	}
	return t.Grad
}

// gradToSet returns t's gradient storage for a backward step that writes
// every element of it when it is new (fresh): a new gradient from a
// recycling tape is not cleared, so such a step sets it instead of adding
// to zeros, which saves clearing and reading it. When t already has a
// gradient (another consumer's), the step adds to it as usual.
func (t *Tensor) gradToSet() (g []float32, fresh bool) {
	if t.Grad != nil {
		return t.Grad, false
	}
	if t.pool != nil {
		t.Grad = t.pool.get(len(t.Data), false)
	} else {
		t.Grad = make([]float32, len(t.Data))
	}
	return t.Grad, true
}

// Clone returns a deep copy of the data (not the gradient).
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
}

// SameShape reports whether a and b have equal shapes.
func SameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ShapeString formats a shape as 1x3x224x224.
func ShapeString(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return strings.Join(parts, "x")
}

func (t *Tensor) String() string {
	return fmt.Sprintf("Tensor(%s)", ShapeString(t.Shape))
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("nn: negative dimension in shape %v", shape))
		}
		n *= d
	}
	return n
}

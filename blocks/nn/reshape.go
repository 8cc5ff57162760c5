package nn

import "fmt"

// Flatten reshapes x [N, ...] into [N, D] with D the product of the other
// dimensions (torch.flatten(x, 1)). The data is copied, so later in-place
// changes to either tensor do not reach the other.
func Flatten(tp *Tape, x *Tensor) *Tensor {
	if x.Dims() < 1 {
		panic(fmt.Sprintf("nn.Flatten: input %s has no batch dimension", ShapeString(x.Shape)))
	}
	y := FromData(append([]float32(nil), x.Data...), x.Shape[0], numel(x.Shape[1:]))
	tp.record(y, func() {
		if y.Grad == nil {
			return
		}
		gx := x.grad()
		for i, g := range y.Grad {
			gx[i] += g
		}
	}, x)
	return y
}

// FlattenLayer is Flatten as a Module (PyTorch's nn.Flatten).
type FlattenLayer struct{ Name string }

// OutShape returns [N, D] for an input [N, ...].
func (f *FlattenLayer) OutShape(in []int) ([]int, error) {
	if len(in) < 1 {
		return nil, fmt.Errorf("nn.FlattenLayer %q: input %s has no batch dimension", f.Name, ShapeString(in))
	}
	return []int{in[0], numel(in[1:])}, nil
}

// Forward flattens x.
func (f *FlattenLayer) Forward(tp *Tape, x *Tensor) *Tensor { return Flatten(tp, x) }

// Params returns nil.
func (f *FlattenLayer) Params() []*Param { return nil }

// Buffers returns nil.
func (f *FlattenLayer) Buffers() []*Buffer { return nil }

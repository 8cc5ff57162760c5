package nn

import (
	"fmt"
)

// Dropout zeroes each element of x with probability p on a training tape
// and scales the kept ones by 1/(1-p) (inverted dropout), so that eval mode
// is the identity. Outside training, or with p == 0, it returns x itself.
//
// The mask is drawn from tp.RNG, one uniform number per element in order,
// so a seeded tape gives the same mask every time. It panics when training
// without tp.RNG or with p outside [0, 1): those are programmer errors
// (NewDropoutLayer checks p).
func Dropout(tp *Tape, x *Tensor, p float64) *Tensor {
	if !(p >= 0 && p < 1) {
		panic(fmt.Sprintf("nn.Dropout: probability %g outside [0, 1)", p))
	}
	if !tp.training() || p == 0 {
		return x
	}
	if tp.RNG == nil {
		panic("nn.Dropout: training tape has no RNG (set Tape.RNG from the run's seed)")
	}
	scale := float32(1 / (1 - p))
	// mask holds the factor of each element: 0 or 1/(1-p).
	mask := make([]float32, x.Len())
	out := tp.alloc(x.Shape...)
	for i, v := range x.Data {
		if tp.RNG.Float64() >= p {
			mask[i] = scale
			out.Data[i] = v * scale
		}
	}
	tp.record(out, func() {
		if out.Grad == nil {
			return
		}
		gx := x.grad()
		for i, g := range out.Grad {
			gx[i] += g * mask[i]
		}
	}, x)
	return out
}

// DropoutLayer is dropout as a Module.
type DropoutLayer struct {
	Name string
	P    float64
}

// NewDropoutLayer returns a dropout module with drop probability p, or an
// error naming the layer when p is outside [0, 1).
func NewDropoutLayer(name string, p float64) (*DropoutLayer, error) {
	if !(p >= 0 && p < 1) {
		return nil, fmt.Errorf("dropout %q: probability %g must be in [0, 1)", name, p)
	}
	return &DropoutLayer{Name: name, P: p}, nil
}

// Forward applies dropout on a training tape and is the identity otherwise.
func (l *DropoutLayer) Forward(tp *Tape, x *Tensor) *Tensor { return Dropout(tp, x, l.P) }

// Params returns nil: dropout has no parameters.
func (l *DropoutLayer) Params() []*Param { return nil }

// Buffers returns nil.
func (l *DropoutLayer) Buffers() []*Buffer { return nil }

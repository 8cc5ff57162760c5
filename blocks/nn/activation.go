package nn

import (
	"fmt"

	"nas/blocks/kernels"
)

// Act names an activation function. The names are those of blocks.Act (nn
// cannot import blocks), so a block converts with nn.Act(spec.Act).
type Act string

// The activations of the lightweight families.
const (
	ActNone     Act = ""         // identity
	ActReLU     Act = "relu"     // max(0, x)
	ActReLU6    Act = "relu6"    // min(max(0, x), 6)
	ActHSwish   Act = "hswish"   // x * ReLU6(x+3)/6
	ActSwish    Act = "swish"    // x * sigmoid(x), SiLU
	ActSigmoid  Act = "sigmoid"  // 1/(1+exp(-x))
	ActHSigmoid Act = "hsigmoid" // ReLU6(x+3)/6
)

// Valid reports whether a is a known activation.
func (a Act) Valid() bool {
	switch a {
	case ActNone, ActReLU, ActReLU6, ActHSwish, ActSwish, ActSigmoid, ActHSigmoid:
		return true
	}
	return false
}

// Activate applies the activation a to x. ActNone returns x itself. It
// panics on an unknown name (a programmer error: specs are validated when
// parsed; see Act.Valid and NewActivationLayer).
//
// Gradients at the kinks are PyTorch's: ReLU passes nothing at 0, ReLU6
// nothing at 0 and 6, h-sigmoid nothing at ±3, and h-swish x/3+1/2 on
// [-3, 3) and 1 from 3 on (PyTorch's vectorized CPU loop; see
// kernels.HardSwishGrad).
func Activate(tp *Tape, a Act, x *Tensor) *Tensor {
	switch a {
	case ActNone:
		return x
	case ActReLU:
		return ReLU(tp, x)
	case ActReLU6:
		return ReLU6(tp, x)
	case ActHSwish:
		return HSwish(tp, x)
	case ActSwish:
		return Swish(tp, x)
	case ActSigmoid:
		return Sigmoid(tp, x)
	case ActHSigmoid:
		return HSigmoid(tp, x)
	}
	panic(fmt.Sprintf("nn.Activate: unknown activation %q", string(a)))
}

// ReLU returns max(0, x).
func ReLU(tp *Tape, x *Tensor) *Tensor {
	return activationFromInput(tp, x, kernels.ReLU, kernels.ReLUGrad, kernels.ReLUGradSet)
}

// ReLU6 returns min(max(0, x), 6).
func ReLU6(tp *Tape, x *Tensor) *Tensor {
	return activationFromInput(tp, x, kernels.ReLU6, kernels.ReLU6Grad, kernels.ReLU6GradSet)
}

// HSigmoid returns the hard sigmoid ReLU6(x+3)/6 (MobileNetV3).
func HSigmoid(tp *Tape, x *Tensor) *Tensor {
	return activationFromInput(tp, x, kernels.HardSigmoid, kernels.HardSigmoidGrad, nil)
}

// HSwish returns the hard swish x*ReLU6(x+3)/6 (MobileNetV3).
func HSwish(tp *Tape, x *Tensor) *Tensor {
	return activationFromInput(tp, x, kernels.HardSwish, kernels.HardSwishGrad, kernels.HardSwishGradSet)
}

// Swish returns x*sigmoid(x), also called SiLU (EfficientNet).
func Swish(tp *Tape, x *Tensor) *Tensor {
	return activationFromInput(tp, x, kernels.Swish, kernels.SwishGrad, nil)
}

// Sigmoid returns 1/(1+exp(-x)).
func Sigmoid(tp *Tape, x *Tensor) *Tensor {
	out := tp.allocOutput(x.Shape...)
	kernels.Sigmoid(out.Data, x.Data)
	tp.record(out, func() {
		if out.Grad != nil {
			kernels.SigmoidGrad(x.grad(), out.Grad, out.Data)
		}
	}, x)
	return out
}

// activationFromInput applies an elementwise function whose gradient is
// computed from the input: grad accumulates it, gradSet (nil for none)
// writes it into a gradient that has no value yet. Both passes split the
// elements over the tape's threads when there are many.
func activationFromInput(tp *Tape, x *Tensor, fwd func(dst, x []float32), grad, gradSet func(gx, gy, x []float32)) *Tensor {
	out := tp.allocOutput(x.Shape...)
	threads := tp.threads()
	kernels.ParallelChunks(threads, x.Len(), 2*x.Len(), func(lo, hi int) { fwd(out.Data[lo:hi], x.Data[lo:hi]) })
	tp.record(out, func() {
		if out.Grad == nil {
			return
		}
		gx, fresh := x.gradToSet()
		kernels.ParallelChunks(threads, len(gx), 3*len(gx), func(lo, hi int) {
			gx, gy, xs := gx[lo:hi], out.Grad[lo:hi], x.Data[lo:hi]
			switch {
			case !fresh:
				grad(gx, gy, xs)
			case gradSet != nil:
				gradSet(gx, gy, xs)
			default:
				clear(gx)
				grad(gx, gy, xs)
			}
		})
	}, x)
	return out
}

// ActivationLayer is an activation as a Module (no parameters).
type ActivationLayer struct {
	Name string
	Act  Act
}

// NewActivationLayer returns the activation a as a module, or an error
// naming the layer if a is unknown.
func NewActivationLayer(name string, a Act) (*ActivationLayer, error) {
	if !a.Valid() {
		return nil, fmt.Errorf("activation %q: unknown activation %q (want one of relu, relu6, hswish, swish, sigmoid, hsigmoid, or empty for none)", name, string(a))
	}
	return &ActivationLayer{Name: name, Act: a}, nil
}

// Forward applies the activation.
func (l *ActivationLayer) Forward(tp *Tape, x *Tensor) *Tensor { return Activate(tp, l.Act, x) }

// Params returns nil: an activation has no parameters.
func (l *ActivationLayer) Params() []*Param { return nil }

// Buffers returns nil.
func (l *ActivationLayer) Buffers() []*Buffer { return nil }

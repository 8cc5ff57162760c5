package blocks

import "fmt"

// Act names an activation function.
type Act string

// The activations of the lightweight families.
const (
	ActNone     Act = ""         // identity (linear bottleneck)
	ActReLU     Act = "relu"     // max(0, x)
	ActReLU6    Act = "relu6"    // min(max(0, x), 6), MobileNet V1/V2
	ActHSwish   Act = "hswish"   // x * ReLU6(x+3)/6, MobileNetV3
	ActSwish    Act = "swish"    // x * sigmoid(x) (SiLU), EfficientNet
	ActSigmoid  Act = "sigmoid"  // SE gate of EfficientNet
	ActHSigmoid Act = "hsigmoid" // ReLU6(x+3)/6, SE gate of MobileNetV3

	// ActPReLU is max(0, x) + a*min(0, x) with a learnable slope a per
	// channel (ESPNetv2). It carries parameters, so it is not one of the
	// Valid activations: only the layers that count its slopes accept it
	// (conv, eesp).
	ActPReLU Act = "prelu"
)

// Params is the number of learnable parameters of activation a on c
// channels: c for PReLU, 0 for the others.
func (a Act) Params(c int) int64 {
	if a == ActPReLU {
		return int64(c)
	}
	return 0
}

// Valid reports whether a is a known activation.
func (a Act) Valid() bool {
	switch a {
	case ActNone, ActReLU, ActReLU6, ActHSwish, ActSwish, ActSigmoid, ActHSigmoid:
		return true
	}
	return false
}

func checkAct(typ, field string, a Act) error {
	if !a.Valid() {
		return fieldErr(typ, field, "unknown activation %q (want one of relu, relu6, hswish, swish, sigmoid, hsigmoid, or empty for none)", string(a))
	}
	return nil
}

// convOut is the output size of a convolution or pooling window along one
// axis, or an error when the window does not fit.
func convOut(in, k, s, p, d int) (int, error) {
	if s < 1 {
		return 0, fmt.Errorf("stride %d must be at least 1", s)
	}
	eff := d*(k-1) + 1
	if in+2*p < eff {
		return 0, fmt.Errorf("kernel %d (dilation %d) does not fit input %d with padding %d", k, d, in, p)
	}
	return (in+2*p-eff)/s + 1, nil
}

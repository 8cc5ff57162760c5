package blocks

// Fire is SqueezeNet's module (Iandola et al., 2016, "SqueezeNet:
// AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size"):
// a 1x1 "squeeze" convolution down to Squeeze channels and a ReLU, then two
// parallel "expand" convolutions of it, 1x1 to E1 channels and 3x3 (padding
// 1) to E3 channels, each with a ReLU, concatenated to E1+E3 channels. The
// convolutions have biases and no batch normalization, as in the paper and
// torchvision. Height and width are kept.
type Fire struct {
	Squeeze int `json:"squeeze" arch:"sq"`
	E1      int `json:"e1" arch:"e1"`
	E3      int `json:"e3" arch:"e3"`
}

func init() { Register("fire", func() Spec { return &Fire{} }) }

func (f *Fire) Type() string { return "fire" }

func (f *Fire) OutShape(in Shape) (Shape, error) {
	switch {
	case f.Squeeze < 1:
		return Shape{}, fieldErr("fire", "sq", "squeeze channels %d must be at least 1", f.Squeeze)
	case f.E1 < 0:
		return Shape{}, fieldErr("fire", "e1", "1x1 expand channels %d must not be negative", f.E1)
	case f.E3 < 0:
		return Shape{}, fieldErr("fire", "e3", "3x3 expand channels %d must not be negative", f.E3)
	case f.E1+f.E3 < 1:
		return Shape{}, fieldErr("fire", "e1", "the 1x1 and 3x3 expand channels (%d + %d) must add up to at least 1", f.E1, f.E3)
	}
	return Shape{f.E1 + f.E3, in.H, in.W}, nil
}

func (f *Fire) Cost(in Shape) Cost {
	hw := in.H * in.W
	return branchConvCost(in.C, f.Squeeze, 1, 1, hw, false).
		Add(branchConvCost(f.Squeeze, f.E1, 1, 1, hw, false)).
		Add(branchConvCost(f.Squeeze, f.E3, 3*3, 1, hw, false))
}

// branchConvCost counts one convolution inside a block: cin to cout
// channels in groups, a kernel of kk taps (k*k, or 3 for a 3x1), run at hw
// output positions, followed by batch normalization (bn) or with a bias.
// A conv with no outputs (an empty expand branch) costs nothing.
func branchConvCost(cin, cout, kk, groups, hw int, bn bool) Cost {
	if cout == 0 {
		return Cost{}
	}
	w := int64(cin/groups) * int64(cout) * int64(kk)
	p := w + int64(cout) // bias
	if bn {
		p = w + 2*int64(cout) // BN scale and shift
	}
	return Cost{Params: p, MACs: w * int64(hw)}
}

// Lower emits torchvision's Fire: name.squeeze (conv with bias) + ReLU,
// then name.expand1x1 and name.expand3x3 (convs with bias, padding 1 for
// the 3x3) each + ReLU, concatenated in that order. An expand branch of no
// channels is left out.
func (f *Fire) Lower(b *Builder, name string, x Value) Value {
	s := b.Conv(name+".squeeze", x, ConvAttr{Out: f.Squeeze, KH: 1, KW: 1, Bias: true})
	s = b.Act(name+".squeeze_act", s, ActReLU)
	var outs []Value
	if f.E1 > 0 {
		e := b.Conv(name+".expand1x1", s, ConvAttr{Out: f.E1, KH: 1, KW: 1, Bias: true})
		outs = append(outs, b.Act(name+".expand1x1_act", e, ActReLU))
	}
	if f.E3 > 0 {
		e := b.Conv(name+".expand3x3", s, ConvAttr{Out: f.E3, KH: 3, KW: 3, PH: 1, PW: 1, Bias: true})
		outs = append(outs, b.Act(name+".expand3x3_act", e, ActReLU))
	}
	return b.Concat(outs...)
}

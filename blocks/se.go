package blocks

// SE is a squeeze-and-excitation gate (Hu et al., 2018) as the lightweight
// families use it inside their blocks: global average pooling, a 1x1 conv
// with bias down to Squeeze channels, an inner activation, a 1x1 conv with
// bias back to the block's channels, a gate activation, and a channel-wise
// multiply. Squeeze == 0 means no SE.
//
// MobileNetV3 and GhostNet: ReLU inside, h-sigmoid gate, squeeze from the
// expanded channels. EfficientNet and MnasNet: swish (EfficientNet) or ReLU
// (MnasNet) inside, sigmoid gate, squeeze computed from the block's input
// channels. The squeeze count is explicit here, so one struct covers all.
type SE struct {
	Squeeze int `json:"se,omitempty" arch:"se"`
	Inner   Act `json:"se_act,omitempty" arch:"sea"`  // "" means relu
	Gate    Act `json:"se_gate,omitempty" arch:"seg"` // "" means hsigmoid
}

// InnerAct is the activation between the two 1x1 convs.
func (s SE) InnerAct() Act {
	if s.Inner == ActNone {
		return ActReLU
	}
	return s.Inner
}

// GateAct is the activation of the gate.
func (s SE) GateAct() Act {
	if s.Gate == ActNone {
		return ActHSigmoid
	}
	return s.Gate
}

// check validates the SE of a block of type typ acting on c channels.
func (s SE) check(typ string, c int) error {
	if s.Squeeze < 0 {
		return fieldErr(typ, "se", "squeeze channels %d must be 0 (no SE) or positive", s.Squeeze)
	}
	if err := checkAct(typ, "sea", s.Inner); err != nil {
		return err
	}
	return checkAct(typ, "seg", s.Gate)
}

// cost of the SE gate on c channels: two 1x1 convs with bias, run at 1x1.
func (s SE) cost(c int) Cost {
	if s.Squeeze == 0 {
		return Cost{}
	}
	w := 2 * int64(c) * int64(s.Squeeze)
	return Cost{Params: w + int64(s.Squeeze) + int64(c), MACs: w}
}

// lower emits the gate on x, named name.reduce, name.act, name.expand and
// name.gate (the two convs carry biases), as torchvision's
// SqueezeExcitation and GhostNet's SqueezeExcite compute it: global average
// pooling, reduce, inner activation, expand, gate activation, and x scaled
// channel by channel. Without SE it returns x.
func (s SE) lower(b *Builder, name string, x Value) Value {
	if s.Squeeze == 0 {
		return x
	}
	c := b.Shape(x).C
	g := b.GAP(x)
	g = b.Conv(name+".reduce", g, ConvAttr{Out: s.Squeeze, KH: 1, KW: 1, Bias: true})
	g = b.Act(name+".act", g, s.InnerAct())
	g = b.Conv(name+".expand", g, ConvAttr{Out: c, KH: 1, KW: 1, Bias: true})
	g = b.Act(name+".gate", g, s.GateAct())
	return b.Mul(x, g)
}

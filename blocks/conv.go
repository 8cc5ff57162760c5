package blocks

// Conv is a plain convolution followed by batch normalization and an
// activation: the stem of every family, the 1x1 head convolutions of
// MobileNet V2/V3 and EfficientNet, and SqueezeNet's classifier (NoBN, bias).
// Padding is "same", (kernel-1)/2 on each side, unless Pad sets it or
// Valid turns it off (SqueezeNet's stems are unpadded).
type Conv struct {
	Out    int  `json:"out" arch:"o"`
	Kernel int  `json:"kernel" arch:"k"`
	Stride int  `json:"stride,omitempty" def:"1" arch:"s"` // 0 means 1
	Groups int  `json:"groups,omitempty" def:"1" arch:"g"` // 0 means 1
	Act    Act  `json:"act,omitempty" arch:"a"`
	NoBN   bool `json:"no_bn,omitempty" arch:"nobn"`  // without BN the conv has a bias
	Pad    int  `json:"pad,omitempty" arch:"p"`       // padding on each side; 0 means same
	Valid  bool `json:"valid,omitempty" arch:"valid"` // no padding at all
}

func init() { Register("conv", func() Spec { return &Conv{} }) }

func (c *Conv) Type() string { return "conv" }

func (c *Conv) stride() int { return max(c.Stride, 1) }
func (c *Conv) groups() int { return max(c.Groups, 1) }

func (c *Conv) OutShape(in Shape) (Shape, error) {
	switch {
	case c.Out < 1:
		return Shape{}, fieldErr("conv", "o", "output channels %d must be at least 1", c.Out)
	case c.Kernel < 1:
		return Shape{}, fieldErr("conv", "k", "kernel %d must be at least 1", c.Kernel)
	case in.C%c.groups() != 0 || c.Out%c.groups() != 0:
		return Shape{}, fieldErr("conv", "g", "groups %d must divide input channels %d and output channels %d", c.groups(), in.C, c.Out)
	}
	if c.Act != ActPReLU {
		if err := checkAct("conv", "a", c.Act); err != nil {
			return Shape{}, err
		}
	}
	switch {
	case c.Pad < 0:
		return Shape{}, fieldErr("conv", "p", "padding %d must not be negative (use valid for none)", c.Pad)
	case c.Pad > 0 && c.Valid:
		return Shape{}, fieldErr("conv", "p", "padding %d contradicts valid (no padding): set one of them", c.Pad)
	}
	p := c.padding()
	h, err := convOut(in.H, c.Kernel, c.stride(), p, 1)
	if err != nil {
		return Shape{}, fieldErr("conv", "k", "%v", err)
	}
	w, err := convOut(in.W, c.Kernel, c.stride(), p, 1)
	if err != nil {
		return Shape{}, fieldErr("conv", "k", "%v", err)
	}
	return Shape{c.Out, h, w}, nil
}

func (c *Conv) padding() int {
	switch {
	case c.Valid:
		return 0
	case c.Pad > 0:
		return c.Pad
	}
	return (c.Kernel - 1) / 2
}

func (c *Conv) Cost(in Shape) Cost {
	out, _ := c.OutShape(in)
	w := int64(c.Out) * int64(in.C/c.groups()) * int64(c.Kernel*c.Kernel)
	params := w
	if c.NoBN {
		params += int64(c.Out) // bias
	} else {
		params += 2 * int64(c.Out) // BN scale and shift
	}
	params += c.Act.Params(c.Out)
	return Cost{Params: params, MACs: w * int64(out.H*out.W)}
}

// Lower emits conv (with bias when NoBN), BN unless NoBN, and the
// activation, named name.conv, name.bn, name.act.
func (c *Conv) Lower(b *Builder, name string, x Value) Value {
	p := c.padding()
	y := b.Conv(name+".conv", x, ConvAttr{Out: c.Out, KH: c.Kernel, KW: c.Kernel, SH: c.stride(), SW: c.stride(),
		PH: p, PW: p, Groups: c.groups(), Bias: c.NoBN})
	if !c.NoBN {
		y = b.BN(name+".bn", y)
	}
	return b.Act(name+".act", y, c.Act)
}

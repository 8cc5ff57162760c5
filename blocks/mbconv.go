package blocks

// MBConv is the inverted residual block with a linear bottleneck (Sandler et
// al., 2018, "MobileNetV2: Inverted Residuals and Linear Bottlenecks"), the
// block that MobileNet V3, MnasNet, FBNet and EfficientNet build on:
//
//	expand:  1x1 conv in -> Mid, BN, Act   (left out when Mid == input channels)
//	         channel shuffle               (only when Groups > 1, FBNet)
//	dw:      Kernel x Kernel depthwise conv on Mid at Stride, BN, Act
//	SE:      squeeze-and-excitation on Mid (when SE.Squeeze > 0)
//	project: 1x1 conv Mid -> Out, BN       (linear: no activation)
//	skip:    add the input when Stride is 1, input channels == Out and
//	         NoSkip is false
//
// Mid is explicit (it is the expansion ratio times the input channels,
// rounded the way each family rounds), so that NetAdapt can shrink it.
// Mid equal to the input channels means expansion ratio 1: no expand conv,
// as in torchvision's MobileNet V2/V3 and EfficientNet and MnasNet's first
// separable conv. AlwaysExpand keeps the expand conv anyway, as the FBNet
// authors' IRFBlock and timm's e1 blocks do.
//
// Groups splits both 1x1 convolutions into groups (FBNet's ir_k3_s2 and
// ir_k5_s2 blocks use 2) and shuffles the channels after the expand conv,
// as ShuffleNet does, so that information crosses the groups.
//
// The SE settings cover MobileNet V3 (ReLU inside, h-sigmoid gate, squeeze
// from Mid), EfficientNet (swish inside, sigmoid gate, squeeze from the
// input channels) and MnasNet (ReLU inside, sigmoid gate): the zoo computes
// the squeeze count. Act is the activation of the expand and depthwise
// convs (relu6 for V2, relu or hswish for V3, relu for MnasNet and FBNet,
// swish for EfficientNet); the empty activation is the identity.
type MBConv struct {
	Out          int  `json:"out" arch:"o"`
	Mid          int  `json:"mid" arch:"m"`
	Kernel       int  `json:"kernel,omitempty" def:"3" arch:"k"` // 0 means 3; 3, 5 or 7
	Stride       int  `json:"stride,omitempty" def:"1" arch:"s"` // 0 means 1; 1 or 2
	Groups       int  `json:"groups,omitempty" def:"1" arch:"g"` // of the 1x1 convs; 0 means 1
	Act          Act  `json:"act,omitempty" arch:"a"`
	SE                // squeeze-and-excitation on Mid channels; zero means none
	NoSkip       bool `json:"no_skip,omitempty" arch:"noskip"`   // no residual even where one fits (MnasNet)
	AlwaysExpand bool `json:"always_expand,omitempty" arch:"ax"` // keep the expand conv when Mid == input channels (FBNet)
}

func init() { Register("ir", func() Spec { return &MBConv{} }) }

// Type returns "ir".
func (m *MBConv) Type() string { return "ir" }

func (m *MBConv) kernel() int { return defaultKernel(m.Kernel) }
func (m *MBConv) stride() int { return max(m.Stride, 1) }
func (m *MBConv) groups() int { return max(m.Groups, 1) }

// Expands reports whether the block has its 1x1 expand convolution at an
// input of in.C channels.
func (m *MBConv) Expands(in Shape) bool { return m.AlwaysExpand || m.Mid != in.C }

// Residual reports whether the block adds its input to its output.
func (m *MBConv) Residual(in Shape) bool {
	return !m.NoSkip && m.stride() == 1 && in.C == m.Out
}

// OutShape checks the settings and returns Out x H/Stride x W/Stride
// (rounded up).
func (m *MBConv) OutShape(in Shape) (Shape, error) {
	switch {
	case m.Out < 1:
		return Shape{}, fieldErr("ir", "o", "output channels %d must be at least 1", m.Out)
	case m.Mid < 1:
		return Shape{}, fieldErr("ir", "m", "expanded channels %d must be at least 1 (use the input channels, %d, for no expansion)", m.Mid, in.C)
	case m.Groups < 0:
		return Shape{}, fieldErr("ir", "g", "groups %d must be at least 1 (or 0 for 1)", m.Groups)
	}
	if g := m.groups(); g > 1 {
		if m.Expands(in) && in.C%g != 0 {
			return Shape{}, fieldErr("ir", "g", "groups %d must divide the input channels %d of the expand conv", g, in.C)
		}
		if m.Mid%g != 0 || m.Out%g != 0 {
			return Shape{}, fieldErr("ir", "g", "groups %d must divide the expanded channels %d and the output channels %d", g, m.Mid, m.Out)
		}
	}
	if err := checkDepthwise("ir", m.Kernel, m.Stride); err != nil {
		return Shape{}, err
	}
	if err := checkAct("ir", "a", m.Act); err != nil {
		return Shape{}, err
	}
	if err := m.SE.check("ir", m.Mid); err != nil {
		return Shape{}, err
	}
	h, w, err := depthwiseOut("ir", in, m.kernel(), m.stride())
	if err != nil {
		return Shape{}, err
	}
	return Shape{m.Out, h, w}, nil
}

// Cost counts the expand, depthwise and project convolutions with their
// batch normalizations, and the SE gate's two 1x1 convolutions.
func (m *MBConv) Cost(in Shape) Cost {
	out, err := m.OutShape(in)
	if err != nil {
		return Cost{}
	}
	g := int64(m.groups())
	mid := int64(m.Mid)
	var c Cost
	if m.Expands(in) {
		w := int64(in.C) / g * mid
		c = c.Add(Cost{Params: w + 2*mid, MACs: w * int64(in.H*in.W)})
	}
	hw := int64(out.H * out.W)
	dw := mid * int64(m.kernel()*m.kernel())
	c = c.Add(Cost{Params: dw + 2*mid, MACs: dw * hw})
	c = c.Add(m.SE.cost(m.Mid))
	pw := mid / g * int64(m.Out)
	return c.Add(Cost{Params: pw + 2*int64(m.Out), MACs: pw * hw})
}

// Lower emits, in torchvision's order, the expand conv + BN + Act
// (name.expand.conv, .bn, .act) when the block expands, the channel
// shuffle when Groups > 1, the depthwise conv + BN + Act (name.dw.*), the
// SE gate (name.se.reduce, .expand), the project conv + BN
// (name.project.conv, .bn), and the residual add when Residual holds.
func (m *MBConv) Lower(b *Builder, name string, x Value) Value {
	in := b.Shape(x)
	g := m.groups()
	y := x
	if m.Expands(in) {
		y = b.ConvBNAct(name+".expand", y, m.Mid, 1, 1, g, m.Act)
	}
	y = b.Shuffle(y, g)
	y = b.ConvBNAct(name+".dw", y, m.Mid, m.kernel(), m.stride(), m.Mid, m.Act)
	y = m.SE.lower(b, name+".se", y)
	y = b.ConvBNAct(name+".project", y, m.Out, 1, 1, g, ActNone)
	if m.Residual(in) {
		y = b.Add(y, x)
	}
	return y
}

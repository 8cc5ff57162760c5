package blocks

// DWSep is MobileNet V1's depthwise-separable convolution (Howard et al.,
// 2017, "MobileNets: Efficient Convolutional Neural Networks for Mobile
// Vision Applications"): a depthwise Kernel x Kernel convolution at Stride
// followed by batch normalization and Act, then a pointwise 1x1 convolution
// to Out channels followed by batch normalization and Act. Padding is "same"
// ((Kernel-1)/2 on each side); neither convolution has a bias.
//
// Act applies after both convolutions. As everywhere in blocks, the empty
// activation is the identity; MobileNet V1 uses relu (relu6 in the original
// TensorFlow code).
type DWSep struct {
	Out    int `json:"out" arch:"o"`
	Kernel int `json:"kernel,omitempty" def:"3" arch:"k"` // 0 means 3; 3, 5 or 7
	Stride int `json:"stride,omitempty" def:"1" arch:"s"` // 0 means 1; 1 or 2
	Act    Act `json:"act,omitempty" arch:"a"`
}

func init() { Register("dwsep", func() Spec { return &DWSep{} }) }

// Type returns "dwsep".
func (d *DWSep) Type() string { return "dwsep" }

func (d *DWSep) kernel() int { return defaultKernel(d.Kernel) }
func (d *DWSep) stride() int { return max(d.Stride, 1) }

// OutShape checks the settings and returns Out x H/Stride x W/Stride
// (rounded up).
func (d *DWSep) OutShape(in Shape) (Shape, error) {
	if d.Out < 1 {
		return Shape{}, fieldErr("dwsep", "o", "output channels %d must be at least 1", d.Out)
	}
	if err := checkDepthwise("dwsep", d.Kernel, d.Stride); err != nil {
		return Shape{}, err
	}
	if err := checkAct("dwsep", "a", d.Act); err != nil {
		return Shape{}, err
	}
	h, w, err := depthwiseOut("dwsep", in, d.kernel(), d.stride())
	if err != nil {
		return Shape{}, err
	}
	return Shape{d.Out, h, w}, nil
}

// Cost counts the depthwise and pointwise convolutions and their batch
// normalizations.
func (d *DWSep) Cost(in Shape) Cost {
	out, err := d.OutShape(in)
	if err != nil {
		return Cost{}
	}
	hw := int64(out.H * out.W)
	k := int64(d.kernel() * d.kernel())
	dw := int64(in.C) * k
	pw := int64(in.C) * int64(d.Out)
	return Cost{
		Params: dw + 2*int64(in.C) + pw + 2*int64(d.Out),
		MACs:   (dw + pw) * hw,
	}
}

// defaultKernel is the kernel of a depthwise convolution whose setting is
// left at zero.
func defaultKernel(k int) int {
	if k == 0 {
		return 3
	}
	return k
}

// checkDepthwise validates the kernel and stride settings of the depthwise
// convolution of a block of type typ (zero means the default: kernel 3,
// stride 1).
func checkDepthwise(typ string, kernel, stride int) error {
	switch k := defaultKernel(kernel); {
	case k < 1 || k%2 == 0:
		return fieldErr(typ, "k", "kernel %d must be odd (3, 5 or 7)", k)
	case k != 3 && k != 5 && k != 7:
		return fieldErr(typ, "k", "kernel %d must be 3, 5 or 7", k)
	}
	if stride < 0 || stride > 2 {
		return fieldErr(typ, "s", "stride %d must be 1 or 2", stride)
	}
	return nil
}

// depthwiseOut is the spatial output size of a "same"-padded depthwise
// convolution.
func depthwiseOut(typ string, in Shape, k, s int) (h, w int, err error) {
	p := (k - 1) / 2
	if h, err = convOut(in.H, k, s, p, 1); err != nil {
		return 0, 0, fieldErr(typ, "k", "%v", err)
	}
	if w, err = convOut(in.W, k, s, p, 1); err != nil {
		return 0, 0, fieldErr(typ, "k", "%v", err)
	}
	return h, w, nil
}

// Lower emits the depthwise conv + BN + Act (name.dw.conv, .bn, .act) and
// the pointwise conv + BN + Act (name.pw.*).
func (d *DWSep) Lower(b *Builder, name string, x Value) Value {
	c := b.Shape(x).C
	y := b.ConvBNAct(name+".dw", x, c, d.kernel(), d.stride(), c, d.Act)
	return b.ConvBNAct(name+".pw", y, d.Out, 1, 1, 1, d.Act)
}

package blocks

// ShuffleV2 is the ShuffleNet V2 unit (Ma et al., 2018, "ShuffleNet V2:
// Practical Guidelines for Efficient CNN Architecture Design"), as
// torchvision builds it. No convolution has a bias; each is followed by BN.
//
// At stride 1 the input is split into two halves: one passes through, the
// other goes through a 1x1 convolution to Mid channels + ReLU, a depthwise
// kxk, and a 1x1 back to half the channels + ReLU; the halves are
// concatenated and shuffled in two groups. Out must equal the input
// channels and be even.
//
// At stride 2 both branches see the whole input: the left one is a
// depthwise kxk with stride 2 and a 1x1 to Out/2 channels + ReLU, the right
// one a 1x1 to Mid channels + ReLU, a depthwise kxk with stride 2 and a 1x1
// to Out/2 channels + ReLU; concatenation and shuffle follow.
type ShuffleV2 struct {
	Out    int `json:"out" arch:"o"`
	Mid    int `json:"mid,omitempty" arch:"m"`            // right branch width, 0 means Out/2
	Stride int `json:"stride,omitempty" def:"1" arch:"s"` // 0 means 1
	Kernel int `json:"kernel,omitempty" def:"3" arch:"k"` // depthwise kernel, 0 means 3
}

func init() { Register("shuffle2", func() Spec { return &ShuffleV2{} }) }

func (u *ShuffleV2) Type() string { return "shuffle2" }

func (u *ShuffleV2) stride() int { return max(u.Stride, 1) }

func (u *ShuffleV2) kernel() int {
	if u.Kernel == 0 {
		return 3
	}
	return u.Kernel
}

func (u *ShuffleV2) mid() int {
	if u.Mid == 0 {
		return u.Out / 2
	}
	return u.Mid
}

func (u *ShuffleV2) OutShape(in Shape) (Shape, error) {
	switch {
	case u.Out < 2:
		return Shape{}, fieldErr("shuffle2", "o", "output channels %d must be at least 2", u.Out)
	case u.Out%2 != 0:
		return Shape{}, fieldErr("shuffle2", "o", "output channels %d must be even (the unit splits them in two halves)", u.Out)
	case u.Stride < 0 || u.Stride > 2:
		return Shape{}, fieldErr("shuffle2", "s", "stride %d must be 1 or 2", u.Stride)
	case u.Mid < 0:
		return Shape{}, fieldErr("shuffle2", "m", "branch channels %d must not be negative (0 means out/2)", u.Mid)
	case u.Kernel < 0 || u.Kernel%2 == 0 && u.Kernel != 0:
		return Shape{}, fieldErr("shuffle2", "k", "depthwise kernel %d must be odd and positive (0 means 3)", u.Kernel)
	case u.stride() == 1 && in.C != u.Out:
		return Shape{}, fieldErr("shuffle2", "o", "output channels %d must equal input channels %d at stride 1 (half the input passes through, so the split would be unequal)", u.Out, in.C)
	}
	p := (u.kernel() - 1) / 2
	h, err := convOut(in.H, u.kernel(), u.stride(), p, 1)
	if err != nil {
		return Shape{}, fieldErr("shuffle2", "k", "%v", err)
	}
	w, err := convOut(in.W, u.kernel(), u.stride(), p, 1)
	if err != nil {
		return Shape{}, fieldErr("shuffle2", "k", "%v", err)
	}
	return Shape{u.Out, h, w}, nil
}

func (u *ShuffleV2) Cost(in Shape) Cost {
	out, _ := u.OutShape(in)
	half, m, kk := u.Out/2, u.mid(), u.kernel()*u.kernel()
	hwIn, hwOut := in.H*in.W, out.H*out.W
	var c Cost
	rightIn := half
	if u.stride() == 2 {
		rightIn = in.C
		c = branchConvCost(in.C, in.C, kk, in.C, hwOut, true).
			Add(branchConvCost(in.C, half, 1, 1, hwOut, true))
	}
	return c.Add(branchConvCost(rightIn, m, 1, 1, hwIn, true)).
		Add(branchConvCost(m, m, kk, m, hwOut, true)).
		Add(branchConvCost(m, half, 1, 1, hwOut, true))
}

// Lower follows torchvision's InvertedResidual. At stride 1 the input is
// chunked into halves x1, x2 and the output is shuffle(concat(x1,
// branch2(x2)), 2); at stride 2 it is shuffle(concat(branch1(x),
// branch2(x)), 2). branch1 is name.branch1.dw (depthwise conv + BN) and
// name.branch1.pw (1x1 + BN + ReLU); branch2 is name.branch2.pw1 (1x1 + BN
// + ReLU), name.branch2.dw (depthwise + BN) and name.branch2.pw2 (1x1 + BN
// + ReLU); each part has .conv, .bn (and .act).
func (u *ShuffleV2) Lower(b *Builder, name string, x Value) Value {
	in := b.Shape(x)
	half, k, s := u.Out/2, u.kernel(), u.stride()
	var left, right Value
	if s == 1 {
		left, right = b.Slice(x, 0, in.C/2), b.Slice(x, in.C/2, in.C)
	} else {
		left = b.ConvBNAct(name+".branch1.dw", x, in.C, k, s, in.C, ActNone)
		left = b.ConvBNAct(name+".branch1.pw", left, half, 1, 1, 1, ActReLU)
		right = x
	}
	right = b.ConvBNAct(name+".branch2.pw1", right, u.mid(), 1, 1, 1, ActReLU)
	right = b.ConvBNAct(name+".branch2.dw", right, u.mid(), k, s, u.mid(), ActNone)
	right = b.ConvBNAct(name+".branch2.pw2", right, half, 1, 1, 1, ActReLU)
	return b.Shuffle(b.Concat(left, right), 2)
}

package blocks

// ShuffleV1 is the ShuffleNet unit (Zhang et al., 2018, "ShuffleNet: An
// Extremely Efficient Convolutional Neural Network for Mobile Devices"), as
// Megvii's reference code builds it: a grouped 1x1 convolution to Mid
// channels + BN + ReLU, a depthwise kxk convolution (carrying the stride) +
// BN, a channel shuffle over Groups, and a grouped 1x1 convolution + BN.
// (The paper shuffles before the depthwise convolution; a depthwise
// convolution commutes with a channel permutation, so the two differ only
// in the order of the depthwise weights. We follow the reference code, and
// its shuffle, so that its weights map one to one.) At stride 1 the result is added to the input and goes through a ReLU
// (Out must equal the input channels). At stride 2 the shortcut is a 3x3
// average pool (stride 2, padding 1) of the input, concatenated with the
// ReLU of the branch, so the branch produces Out minus the input channels.
// No convolution has a bias.
//
// DenseFirst makes the first 1x1 ungrouped: the first unit of stage 2 does
// this, its 24 input channels being too few to split in groups.
type ShuffleV1 struct {
	Out        int  `json:"out" arch:"o"`
	Mid        int  `json:"mid,omitempty" arch:"m"`            // 0 means Out/4
	Groups     int  `json:"groups,omitempty" def:"1" arch:"g"` // 0 means 1
	Stride     int  `json:"stride,omitempty" def:"1" arch:"s"` // 0 means 1
	Kernel     int  `json:"kernel,omitempty" def:"3" arch:"k"` // depthwise kernel, 0 means 3
	DenseFirst bool `json:"dense_first,omitempty" arch:"df"`
}

func init() { Register("shuffle1", func() Spec { return &ShuffleV1{} }) }

func (u *ShuffleV1) Type() string { return "shuffle1" }

func (u *ShuffleV1) stride() int { return max(u.Stride, 1) }
func (u *ShuffleV1) groups() int { return max(u.Groups, 1) }

func (u *ShuffleV1) kernel() int {
	if u.Kernel == 0 {
		return 3
	}
	return u.Kernel
}

func (u *ShuffleV1) mid() int {
	if u.Mid == 0 {
		return u.Out / 4
	}
	return u.Mid
}

// branchOut is the number of channels the convolution branch produces.
func (u *ShuffleV1) branchOut(in int) int {
	if u.stride() == 2 {
		return u.Out - in
	}
	return u.Out
}

func (u *ShuffleV1) firstGroups() int {
	if u.DenseFirst {
		return 1
	}
	return u.groups()
}

func (u *ShuffleV1) OutShape(in Shape) (Shape, error) {
	g := u.groups()
	switch {
	case u.Out < 1:
		return Shape{}, fieldErr("shuffle1", "o", "output channels %d must be at least 1", u.Out)
	case u.Stride < 0 || u.Stride > 2:
		return Shape{}, fieldErr("shuffle1", "s", "stride %d must be 1 or 2", u.Stride)
	case u.Groups < 0:
		return Shape{}, fieldErr("shuffle1", "g", "groups %d must not be negative (0 means 1)", u.Groups)
	case u.Mid < 0:
		return Shape{}, fieldErr("shuffle1", "m", "bottleneck channels %d must not be negative (0 means out/4)", u.Mid)
	case u.Kernel < 0 || u.Kernel%2 == 0 && u.Kernel != 0:
		return Shape{}, fieldErr("shuffle1", "k", "depthwise kernel %d must be odd and positive (0 means 3)", u.Kernel)
	case u.mid() < 1:
		return Shape{}, fieldErr("shuffle1", "m", "bottleneck channels come to 0 from output channels %d: set m explicitly", u.Out)
	case u.stride() == 1 && in.C != u.Out:
		return Shape{}, fieldErr("shuffle1", "o", "output channels %d must equal input channels %d at stride 1 (the unit adds its input)", u.Out, in.C)
	case u.stride() == 2 && u.Out <= in.C:
		return Shape{}, fieldErr("shuffle1", "o", "output channels %d must exceed input channels %d at stride 2 (the pooled input is concatenated with the branch)", u.Out, in.C)
	case in.C%u.firstGroups() != 0:
		return Shape{}, fieldErr("shuffle1", "g", "groups %d must divide input channels %d (or set df for an ungrouped first 1x1)", g, in.C)
	case u.mid()%g != 0:
		return Shape{}, fieldErr("shuffle1", "m", "bottleneck channels %d must be a multiple of groups %d (the grouped 1x1 convolutions and the shuffle split them)", u.mid(), g)
	case u.branchOut(in.C)%g != 0:
		return Shape{}, fieldErr("shuffle1", "o", "branch output channels %d must be a multiple of groups %d", u.branchOut(in.C), g)
	}
	p := (u.kernel() - 1) / 2
	h, err := convOut(in.H, u.kernel(), u.stride(), p, 1)
	if err != nil {
		return Shape{}, fieldErr("shuffle1", "k", "%v", err)
	}
	w, err := convOut(in.W, u.kernel(), u.stride(), p, 1)
	if err != nil {
		return Shape{}, fieldErr("shuffle1", "k", "%v", err)
	}
	return Shape{u.Out, h, w}, nil
}

func (u *ShuffleV1) Cost(in Shape) Cost {
	out, _ := u.OutShape(in)
	m, k := u.mid(), u.kernel()
	return branchConvCost(in.C, m, 1, u.firstGroups(), in.H*in.W, true).
		Add(branchConvCost(m, m, k*k, m, out.H*out.W, true)).
		Add(branchConvCost(m, u.branchOut(in.C), 1, u.groups(), out.H*out.W, true))
}

// Lower follows Megvii's ShuffleV1Block: name.pw1 (1x1 in Groups groups, or
// ungrouped with DenseFirst, + BN + ReLU), name.dw (depthwise + BN), the
// channel shuffle, name.pw2 (1x1 in Groups groups + BN); each part has
// .conv, .bn (and .act). At stride 1 the input is added and a ReLU
// (name.act) follows; at stride 2 the output is the concatenation of a 3x3
// stride-2 average pool (padding 1) of the input and the ReLU of the branch.
//
// Megvii's channel_shuffle views the Mid channels as (Mid/Groups) x Groups
// and transposes: that is torchvision's channel_shuffle (OpShuffle) with
// Mid/Groups groups.
func (u *ShuffleV1) Lower(b *Builder, name string, x Value) Value {
	in := b.Shape(x)
	m, g, k, s := u.mid(), u.groups(), u.kernel(), u.stride()
	y := b.ConvBNAct(name+".pw1", x, m, 1, 1, u.firstGroups(), ActReLU)
	y = b.ConvBNAct(name+".dw", y, m, k, s, m, ActNone)
	if g > 1 {
		y = b.Shuffle(y, m/g)
	}
	y = b.ConvBNAct(name+".pw2", y, u.branchOut(in.C), 1, 1, g, ActNone)
	if s == 1 {
		return b.Act(name+".act", b.Add(y, x), ActReLU)
	}
	pooled := b.Pool(x, true, PoolAttr{K: 3, S: 2, P: 1})
	return b.Concat(pooled, b.Act(name+".act", y, ActReLU))
}

package blocks

import (
	"fmt"
	"sort"
)

// EESP is the Extremely Efficient Spatial Pyramid unit of ESPNetv2 (Mehta
// et al., 2019, "ESPNetv2: A Light-weight, Power Efficient, and General
// Purpose Convolutional Neural Network"), as the authors' code (ESPNetv2,
// EdgeNets) builds it. Every activation is a PReLU (one learnable slope per
// channel) and no convolution has a bias.
//
// The EESP branch on B output channels and K = Branches: a 1x1 convolution
// in K groups to B/K channels + BN + PReLU; K depthwise 3x3 convolutions of
// that, with the stride, at dilation rates 1, 2, 3, ... (see Dilations);
// hierarchical feature fusion (each branch's output is added to the next
// one's); concatenation to B channels + BN + PReLU; a 1x1 convolution in K
// groups + BN.
//
// The plain unit (Down false) is the branch with B = Out, plus the input
// when the shape is kept (residual), through a PReLU. The strided unit
// (Down true, the paper's down-sampler) concatenates a 3x3 average pool of
// the input (with the stride, padding 1) and the branch with B = Out - input
// channels, adds the input reinforcement if Reinf > 0, and applies a PReLU.
//
// Input reinforcement (Reinf = the image's channels, 3 for RGB) is the one
// link of the zoo that reaches back past the previous layer: the network's
// input image, average-pooled (3x3, stride 2, padding 1) until it has this
// unit's output size, goes through a 3x3 convolution to Reinf channels + BN
// + PReLU and a 1x1 convolution to Out channels + BN, and is added to the
// output. The executable form needs the network input for it.
type EESP struct {
	Out      int  `json:"out" arch:"o"`
	Stride   int  `json:"stride,omitempty" def:"1" arch:"s"`   // 0 means 1
	Branches int  `json:"branches,omitempty" def:"4" arch:"b"` // K, 0 means 4
	RLim     int  `json:"rlim,omitempty" def:"7" arch:"rl"`    // receptive field limit, 0 means 7
	Down     bool `json:"down,omitempty" arch:"down"`          // strided unit: pooled input concatenated
	Reinf    int  `json:"reinf,omitempty" arch:"ri"`           // image channels of the input reinforcement, 0 means none
}

func init() { Register("eesp", func() Spec { return &EESP{} }) }

func (e *EESP) Type() string { return "eesp" }

func (e *EESP) stride() int   { return max(e.Stride, 1) }
func (e *EESP) branches() int { return eespDefault(e.Branches, 4) }
func (e *EESP) rlim() int     { return eespDefault(e.RLim, 7) }

func eespDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Dilations returns the dilation rate of each depthwise branch, in the
// order of the hierarchical fusion: branch i would see a receptive field of
// 3+2i, but one that exceeds the limit falls back to 3 (dilation 1); the
// receptive fields are then sorted, smallest first.
func (e *EESP) Dilations() []int {
	k := e.branches()
	d := make([]int, k)
	for i := range d {
		size := 3 + 2*i
		if size > e.rlim() {
			size = 3
		}
		d[i] = (size - 1) / 2
	}
	sort.Ints(d)
	return d
}

// branchOut is B, the channels made by the EESP branch.
func (e *EESP) branchOut(in int) int {
	if e.Down {
		return e.Out - in
	}
	return e.Out
}

func (e *EESP) OutShape(in Shape) (Shape, error) {
	k := e.branches()
	switch {
	case e.Out < 1:
		return Shape{}, fieldErr("eesp", "o", "output channels %d must be at least 1", e.Out)
	case e.Stride < 0 || e.Stride > 2:
		return Shape{}, fieldErr("eesp", "s", "stride %d must be 1 or 2", e.Stride)
	case e.Branches < 0:
		return Shape{}, fieldErr("eesp", "b", "branches %d must not be negative (0 means 4)", e.Branches)
	case e.RLim != 0 && e.RLim < 3:
		return Shape{}, fieldErr("eesp", "rl", "receptive field limit %d must be at least 3 (0 means 7)", e.RLim)
	case e.Reinf < 0:
		return Shape{}, fieldErr("eesp", "ri", "reinforcement channels %d must not be negative (0 means none)", e.Reinf)
	case e.Reinf > 0 && !e.Down:
		return Shape{}, fieldErr("eesp", "ri", "input reinforcement (%d channels) needs the strided unit (down)", e.Reinf)
	case e.Down && e.Out <= in.C:
		return Shape{}, fieldErr("eesp", "o", "output channels %d must exceed input channels %d in the strided unit (the pooled input is concatenated with the branch)", e.Out, in.C)
	}
	b := e.branchOut(in.C)
	switch {
	case b%k != 0:
		return Shape{}, fieldErr("eesp", "o", "branch output channels %d must be a multiple of branches %d (each branch makes an equal share)", b, k)
	case in.C%k != 0 || (b/k)%k != 0:
		return Shape{}, fieldErr("eesp", "b", "branches %d must divide input channels %d and branch width %d (the reducing 1x1 convolution runs in %d groups)", k, in.C, b/k, k)
	}
	h, _ := convOut(in.H, 3, e.stride(), 1, 1)
	w, _ := convOut(in.W, 3, e.stride(), 1, 1)
	return Shape{e.Out, h, w}, nil
}

func (e *EESP) Cost(in Shape) Cost {
	out, _ := e.OutShape(in)
	k, b := e.branches(), e.branchOut(in.C)
	n := b / k
	hwIn, hwOut := in.H*in.W, out.H*out.W
	c := branchConvCost(in.C, n, 1, k, hwIn, true).Add(Cost{Params: int64(n)}) // + PReLU
	for range k {
		w := int64(n) * 3 * 3
		c = c.Add(Cost{Params: w, MACs: w * int64(hwOut)}) // depthwise, no BN
	}
	c = c.Add(Cost{Params: 3 * int64(b)}) // BN + PReLU after the concatenation
	c = c.Add(branchConvCost(b, b, 1, k, hwOut, true))
	c = c.Add(Cost{Params: int64(e.Out)}) // final PReLU
	if e.Reinf > 0 {
		r := e.Reinf
		c = c.Add(branchConvCost(r, r, 3*3, 1, hwOut, true)).Add(Cost{Params: int64(r)}).
			Add(branchConvCost(r, e.Out, 1, 1, hwOut, true))
	}
	return c
}

// Lower follows the authors' EESP and DownSampler modules, with their
// parameter names. The branch (prefix p: name for the plain unit,
// name.eesp for the strided one) is p.proj_1x1 (1x1 in K groups + BN +
// PReLU: .conv, .bn, .act), p.spp_dw.i.conv (the K dilated depthwise 3x3s,
// no BN, each added to the previous one's output), their concatenation,
// p.br_after_cat.bn and .act, and p.conv_1x1_exp (1x1 in K groups + BN).
// The plain unit adds its input when the shapes agree and ends in the
// PReLU name.module_act. The strided unit concatenates the 3x3 average pool
// of the input and the branch (in that order), adds the input
// reinforcement name.inp_reinf.0 (3x3 + BN + PReLU) and name.inp_reinf.1
// (1x1 + BN) of the network input, average-pooled (3x3, stride 2, padding
// 1) until it has the unit's output size, and ends in the PReLU name.act.
//
// The network input must have Reinf channels and pool down to the unit's
// output size; when it does not, the lowering fails (Builder.Fail).
func (e *EESP) Lower(b *Builder, name string, x Value) Value {
	in := b.Shape(x)
	if !e.Down {
		y := e.lowerBranch(b, name, x, e.Out)
		if b.Shape(y) == in {
			y = b.Add(y, x)
		}
		return b.Act(name+".module_act", y, ActPReLU)
	}
	pooled := b.Pool(x, true, PoolAttr{K: 3, S: e.stride(), P: 1})
	y := b.Concat(pooled, e.lowerBranch(b, name+".eesp", x, e.Out-in.C))
	if e.Reinf > 0 {
		y = e.lowerReinforcement(b, name+".inp_reinf", y)
	}
	return b.Act(name+".act", y, ActPReLU)
}

// lowerBranch emits the EESP branch on x to out channels, named prefix.*.
func (e *EESP) lowerBranch(b *Builder, prefix string, x Value, out int) Value {
	k, s := e.branches(), e.stride()
	n := out / k
	p := b.ConvBNAct(prefix+".proj_1x1", x, n, 1, 1, k, ActPReLU)
	fused := make([]Value, 0, k)
	for i, d := range e.Dilations() {
		y := b.Conv(fmt.Sprintf("%s.spp_dw.%d.conv", prefix, i), p, ConvAttr{Out: n, KH: 3, KW: 3,
			SH: s, SW: s, PH: d, PW: d, DH: d, DW: d, Groups: n})
		if i > 0 {
			y = b.Add(y, fused[i-1]) // hierarchical feature fusion
		}
		fused = append(fused, y)
	}
	y := b.Concat(fused...)
	y = b.Act(prefix+".br_after_cat.act", b.BN(prefix+".br_after_cat.bn", y), ActPReLU)
	y = b.Conv(prefix+".conv_1x1_exp.conv", y, ConvAttr{Out: out, KH: 1, KW: 1, Groups: k})
	return b.BN(prefix+".conv_1x1_exp.bn", y)
}

// lowerReinforcement adds the input reinforcement, named prefix.0 and
// prefix.1, to y.
func (e *EESP) lowerReinforcement(b *Builder, prefix string, y Value) Value {
	img := b.NetworkInput()
	want := b.Shape(y)
	if c := b.Shape(img).C; c != e.Reinf {
		b.Fail(fieldErr("eesp", "ri", "input reinforcement of %d channels, but the network input has %d: set ri to %d", e.Reinf, c, c))
		return y
	}
	for s := b.Shape(img); s.H > want.H || s.W > want.W; s = b.Shape(img) {
		img = b.Pool(img, true, PoolAttr{K: 3, S: 2, P: 1})
	}
	if s := b.Shape(img); s.H != want.H || s.W != want.W {
		b.Fail(fieldErr("eesp", "ri", "the network input does not pool down to this unit's output size %dx%d (3x3 stride-2 average pools give %dx%d): drop ri here, or change the strides before this unit",
			want.H, want.W, s.H, s.W))
		return y
	}
	r := b.ConvBNAct(prefix+".0", img, e.Reinf, 3, 1, 1, ActPReLU)
	r = b.ConvBNAct(prefix+".1", r, e.Out, 1, 1, 1, ActNone)
	return b.Add(y, r)
}

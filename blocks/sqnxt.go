package blocks

// SqNxt is the SqueezeNext block (Gholami et al., 2018, "SqueezeNext:
// Hardware-Aware Neural Network Design"), as the authors' Caffe definitions
// (1.0-SqNxt-23) build it: a 1x1 convolution to Reduce channels (carrying
// the stride), a 1x1 to Squeeze channels, a 3x1 back to Reduce channels, a
// 1x3 on Reduce channels and a 1x1 expansion to Out channels. Every
// convolution is followed by batch normalization and a ReLU and has no
// bias. The shortcut is the identity when the shape is kept, otherwise a
// 1x1 convolution (with the stride) + BN + ReLU; the sum goes through a
// final ReLU.
//
// The Caffe definitions alternate the order of the 3x1 and the 1x3 from one
// block to the next (the 1x3 comes first in the odd blocks of each stage);
// WidthFirst runs the 1x3 first. With BN and ReLU between them the two
// orders compute different functions; the cost is the same.
type SqNxt struct {
	Out    int `json:"out" arch:"o"`
	Stride int `json:"stride,omitempty" def:"1" arch:"s"` // 0 means 1
	// Reduce is the width of the first 1x1 and of the 3x1/1x3 pair. 0 means
	// the reference rule: the input channels for a stride-2 block, a quarter
	// of them when the block narrows (input > Out), half of them otherwise.
	Reduce int `json:"reduce,omitempty" arch:"r"`
	// Squeeze is the width of the second 1x1; 0 means half of Reduce.
	Squeeze int `json:"squeeze,omitempty" arch:"sq"`
	// WidthFirst runs the 1x3 convolution before the 3x1.
	WidthFirst bool `json:"width_first,omitempty" arch:"wf"`
}

func init() { Register("sqnxt", func() Spec { return &SqNxt{} }) }

func (q *SqNxt) Type() string { return "sqnxt" }

func (q *SqNxt) stride() int { return max(q.Stride, 1) }

func (q *SqNxt) reduce(in int) int {
	switch {
	case q.Reduce != 0:
		return q.Reduce
	case q.stride() == 2:
		return in
	case in > q.Out:
		return in / 4
	}
	return in / 2
}

func (q *SqNxt) squeeze(in int) int {
	if q.Squeeze != 0 {
		return q.Squeeze
	}
	return q.reduce(in) / 2
}

// projects reports whether the shortcut is a 1x1 projection rather than
// the identity.
func (q *SqNxt) projects(in Shape) bool { return q.stride() != 1 || in.C != q.Out }

func (q *SqNxt) OutShape(in Shape) (Shape, error) {
	switch {
	case q.Out < 1:
		return Shape{}, fieldErr("sqnxt", "o", "output channels %d must be at least 1", q.Out)
	case q.Stride < 0 || q.Stride > 2:
		return Shape{}, fieldErr("sqnxt", "s", "stride %d must be 1 or 2", q.Stride)
	case q.Reduce < 0:
		return Shape{}, fieldErr("sqnxt", "r", "reduce channels %d must not be negative (0 means the reference rule)", q.Reduce)
	case q.Squeeze < 0:
		return Shape{}, fieldErr("sqnxt", "sq", "squeeze channels %d must not be negative (0 means half of reduce)", q.Squeeze)
	case q.reduce(in.C) < 1:
		return Shape{}, fieldErr("sqnxt", "r", "reduce channels come to 0 from %d input channels: set r explicitly", in.C)
	case q.squeeze(in.C) < 1:
		return Shape{}, fieldErr("sqnxt", "sq", "squeeze channels come to 0 from reduce channels %d: set sq explicitly", q.reduce(in.C))
	}
	// The 1x1 convolutions keep the size; the stride subsamples.
	h, _ := convOut(in.H, 1, q.stride(), 0, 1)
	w, _ := convOut(in.W, 1, q.stride(), 0, 1)
	return Shape{q.Out, h, w}, nil
}

func (q *SqNxt) Cost(in Shape) Cost {
	out, _ := q.OutShape(in)
	hw := out.H * out.W
	r, sq := q.reduce(in.C), q.squeeze(in.C)
	c := branchConvCost(in.C, r, 1, 1, hw, true).
		Add(branchConvCost(r, sq, 1, 1, hw, true)).
		Add(branchConvCost(sq, r, 3, 1, hw, true)). // 3x1
		Add(branchConvCost(r, r, 3, 1, hw, true)).  // 1x3
		Add(branchConvCost(r, q.Out, 1, 1, hw, true))
	if q.projects(in) {
		c = c.Add(branchConvCost(in.C, q.Out, 1, 1, hw, true))
	}
	return c
}

// Lower emits the five convolutions, each + BN + ReLU and named
// name.reduce (1x1, with the stride), name.squeeze (1x1), name.conv3x1
// (padding 1 along the height), name.conv1x3 (padding 1 along the width),
// these two in the other order with WidthFirst, and name.expand (1x1); the
// shortcut (name.shortcut.conv, .bn, .act: a 1x1
// with the stride) when the shape changes, else the input; their sum and a
// final ReLU (name.act).
func (q *SqNxt) Lower(b *Builder, name string, x Value) Value {
	in := b.Shape(x)
	r, sq, s := q.reduce(in.C), q.squeeze(in.C), q.stride()
	y := sqnxtConv(b, name+".reduce", x, ConvAttr{Out: r, KH: 1, KW: 1, SH: s, SW: s})
	y = sqnxtConv(b, name+".squeeze", y, ConvAttr{Out: sq, KH: 1, KW: 1})
	if q.WidthFirst {
		y = sqnxtConv(b, name+".conv1x3", y, ConvAttr{Out: r, KH: 1, KW: 3, PW: 1})
		y = sqnxtConv(b, name+".conv3x1", y, ConvAttr{Out: r, KH: 3, KW: 1, PH: 1})
	} else {
		y = sqnxtConv(b, name+".conv3x1", y, ConvAttr{Out: r, KH: 3, KW: 1, PH: 1})
		y = sqnxtConv(b, name+".conv1x3", y, ConvAttr{Out: r, KH: 1, KW: 3, PW: 1})
	}
	y = sqnxtConv(b, name+".expand", y, ConvAttr{Out: q.Out, KH: 1, KW: 1})
	short := x
	if q.projects(in) {
		short = sqnxtConv(b, name+".shortcut", x, ConvAttr{Out: q.Out, KH: 1, KW: 1, SH: s, SW: s})
	}
	return b.Act(name+".act", b.Add(y, short), ActReLU)
}

// sqnxtConv is a convolution without bias + BN + ReLU, named name.conv,
// name.bn and name.act.
func sqnxtConv(b *Builder, name string, x Value, a ConvAttr) Value {
	y := b.Conv(name+".conv", x, a)
	return b.Act(name+".act", b.BN(name+".bn", y), ActReLU)
}

package blocks

import (
	"fmt"
	"sort"
)

// A Graph is a network or a block lowered to primitive operations: the one
// form that every consumer of an architecture works from. The executor runs
// it on the nn engine (training and inference), the exporters write it as
// ONNX nodes or PyTorch code, the latency profiler times its blocks, and
// Params/MACs counted on it must equal each spec's Cost (a test holds that).
//
// Values are tensors of one sample (Shape); ops read values and write one
// new value each, in order, so the op list is already topologically sorted.
type Graph struct {
	Input  Value   // the network (or block) input
	Output Value   // the last value
	Shapes []Shape // shape of each value, indexed by Value
	Ops    []Op
	Blocks []BlockSpan // which ops belong to which layer of the Arch
	// NetworkInput is the value read by blocks that reach back to the
	// network's input (BlockSpan.NetworkInput). It is Input, except in a
	// graph of one such block lowered alone (LowerBlock), where it is a
	// second input of the network's shape.
	NetworkInput Value
}

// Value names a tensor in a Graph.
type Value int

// OpKind is a primitive operation.
type OpKind string

// The primitive operations. Parameter names are the op's Name plus a
// suffix, as in a PyTorch state dict.
const (
	OpConv    OpKind = "conv"    // Conv; params .weight [Out, In/Groups, KH, KW], .bias [Out] if Bias
	OpBN      OpKind = "bn"      // batch norm, Eps; params .weight, .bias; buffers .running_mean, .running_var
	OpAct     OpKind = "act"     // Act; PReLU has param .weight [C]
	OpMaxPool OpKind = "maxpool" // Pool
	OpAvgPool OpKind = "avgpool" // Pool; padding counts in the divisor
	OpGAP     OpKind = "gap"     // global average pool to C x 1 x 1
	OpLinear  OpKind = "linear"  // on the flattened input; Units; params .weight [Units, In], .bias if Bias
	OpDropout OpKind = "dropout" // P (probability)
	OpShuffle OpKind = "shuffle" // torchvision's channel_shuffle(x, Groups): output channel j*Groups+g is input channel g*(C/Groups)+j
	OpSlice   OpKind = "slice"   // channels [Start, End)
	OpConcat  OpKind = "concat"  // along channels, In in order
	OpAdd     OpKind = "add"     // In[0] + In[1], same shape
	OpMul     OpKind = "mul"     // In[0] (C x H x W) times In[1] (C x 1 x 1), broadcast
)

// ConvAttr are the settings of a convolution.
type ConvAttr struct {
	Out    int
	KH, KW int
	SH, SW int
	PH, PW int
	DH, DW int // dilation; 0 means 1
	Groups int // 0 means 1
	Bias   bool
}

// PoolAttr are the settings of a pooling window.
type PoolAttr struct {
	K, S, P int
	Ceil    bool
}

// Op is one primitive operation. Only the fields of its kind are set.
type Op struct {
	Kind OpKind
	Name string // parameter prefix ("layers.3.dw.conv"); "" when it has none
	In   []Value
	Out  Value

	Conv       ConvAttr // OpConv
	Pool       PoolAttr // OpMaxPool, OpAvgPool
	Act        Act      // OpAct
	Eps        float64  // OpBN
	Units      int      // OpLinear
	Bias       bool     // OpLinear
	P          float64  // OpDropout
	Groups     int      // OpShuffle
	Start, End int      // OpSlice
}

// BlockSpan ties a layer of an Arch to its ops [First, Last) and values.
type BlockSpan struct {
	Index       int
	Name        string // parameter prefix of the layer ("layers.3")
	Spec        Spec
	In, Out     Value
	First, Last int
	// NetworkInput is set when the block also reads the network's input
	// (ESPNetv2's input reinforcement).
	NetworkInput bool
}

// ParamSpec is one learnable tensor (or buffer) a graph needs.
type ParamSpec struct {
	Name    string
	Shape   []int
	Buffer  bool // BN running statistics: saved, not learned
	NoDecay bool // BN scale and shift, biases, PReLU slopes
	Op      int  // index of the op that owns it
}

// Lowerer is a spec that can lower itself to primitive ops. x is its input
// value; the result is its output value. Every family implements it.
type Lowerer interface {
	Lower(b *Builder, name string, x Value) Value
}

// Builder appends ops to a graph, tracking shapes. Its methods panic on
// shapes that do not fit: lowering runs after OutShape has validated the
// spec, so a misfit is a bug in the lowering, not bad input.
type Builder struct {
	g        *Graph
	bnEps    float64
	netInput Value
	reads    bool  // the current block read the network input
	err      error // the first Fail of the current block
}

// NewBuilder starts a graph whose input has shape in.
func NewBuilder(in Shape) *Builder {
	b := &Builder{g: &Graph{}, bnEps: DefaultBNEps}
	b.g.Input = b.value(in)
	b.netInput = b.g.Input
	return b
}

func (b *Builder) value(s Shape) Value {
	b.g.Shapes = append(b.g.Shapes, s)
	return Value(len(b.g.Shapes) - 1)
}

// Shape of v.
func (b *Builder) Shape(v Value) Shape { return b.g.Shapes[v] }

// NetworkInput returns the network's input value, for the rare block that
// reads it (ESPNetv2's input reinforcement).
func (b *Builder) NetworkInput() Value {
	b.reads = true
	return b.netInput
}

// Fail records that the block being lowered does not fit this network for
// a reason its OutShape cannot see, because it lies outside the block's
// input (ESPNetv2's input reinforcement needs the network input to have the
// right channels and to pool down to the block's size). Block returns the
// first such error. After Fail the lowering may return any value.
func (b *Builder) Fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

func (b *Builder) add(op Op, out Shape) Value {
	op.Out = b.value(out)
	b.g.Ops = append(b.g.Ops, op)
	b.g.Output = op.Out
	return op.Out
}

func windowOut(in, k, s, p, d int, ceil bool) int {
	eff := d*(k-1) + 1
	num := in + 2*p - eff
	if num < 0 {
		panic(fmt.Sprintf("blocks: window %d (dilation %d) larger than input %d + 2*%d", k, d, in, p))
	}
	if !ceil {
		return num/s + 1
	}
	out := (num+s-1)/s + 1
	if (out-1)*s >= in+p {
		out--
	}
	return out
}

// Conv adds a convolution.
func (b *Builder) Conv(name string, x Value, a ConvAttr) Value {
	in := b.Shape(x)
	a.DH, a.DW, a.Groups = max(a.DH, 1), max(a.DW, 1), max(a.Groups, 1)
	a.SH, a.SW = max(a.SH, 1), max(a.SW, 1)
	if in.C%a.Groups != 0 || a.Out%a.Groups != 0 {
		panic(fmt.Sprintf("blocks: %s: groups %d do not divide %d -> %d channels", name, a.Groups, in.C, a.Out))
	}
	h := windowOut(in.H, a.KH, a.SH, a.PH, a.DH, false)
	w := windowOut(in.W, a.KW, a.SW, a.PW, a.DW, false)
	return b.add(Op{Kind: OpConv, Name: name, In: []Value{x}, Conv: a}, Shape{a.Out, h, w})
}

// DefaultBNEps is PyTorch's batch-norm eps.
const DefaultBNEps = 1e-5

// SetBNEps sets the eps of the batch normalizations added from now on
// (torchvision's MobileNetV3 uses 1e-3); 0 means DefaultBNEps.
func (b *Builder) SetBNEps(eps float64) {
	if eps == 0 {
		eps = DefaultBNEps
	}
	b.bnEps = eps
}

// BN adds a batch normalization with the builder's eps.
func (b *Builder) BN(name string, x Value) Value {
	return b.add(Op{Kind: OpBN, Name: name, In: []Value{x}, Eps: b.bnEps}, b.Shape(x))
}

// Act adds an activation; the identity adds nothing and returns x. name is
// used by PReLU's slopes.
func (b *Builder) Act(name string, x Value, a Act) Value {
	if a == ActNone {
		return x
	}
	return b.add(Op{Kind: OpAct, Name: name, In: []Value{x}, Act: a}, b.Shape(x))
}

// ConvBNAct adds the usual conv + BN + activation, named name.conv,
// name.bn and name.act, with "same" padding dilation*(k-1)/2.
func (b *Builder) ConvBNAct(name string, x Value, out, k, stride, groups int, a Act) Value {
	p := (k - 1) / 2
	y := b.Conv(name+".conv", x, ConvAttr{Out: out, KH: k, KW: k, SH: stride, SW: stride, PH: p, PW: p, Groups: groups})
	y = b.BN(name+".bn", y)
	return b.Act(name+".act", y, a)
}

// Pool adds a max or average pooling window.
func (b *Builder) Pool(x Value, avg bool, a PoolAttr) Value {
	in := b.Shape(x)
	if a.S == 0 {
		a.S = a.K
	}
	kind := OpMaxPool
	if avg {
		kind = OpAvgPool
	}
	h := windowOut(in.H, a.K, a.S, a.P, 1, a.Ceil)
	w := windowOut(in.W, a.K, a.S, a.P, 1, a.Ceil)
	return b.add(Op{Kind: kind, In: []Value{x}, Pool: a}, Shape{in.C, h, w})
}

// GAP adds global average pooling.
func (b *Builder) GAP(x Value) Value {
	return b.add(Op{Kind: OpGAP, In: []Value{x}}, Shape{b.Shape(x).C, 1, 1})
}

// Linear adds a fully connected layer on the flattened input.
func (b *Builder) Linear(name string, x Value, units int, bias bool) Value {
	return b.add(Op{Kind: OpLinear, Name: name, In: []Value{x}, Units: units, Bias: bias}, Shape{units, 1, 1})
}

// Dropout adds dropout with probability p (training only).
func (b *Builder) Dropout(x Value, p float64) Value {
	if p == 0 {
		return x
	}
	return b.add(Op{Kind: OpDropout, In: []Value{x}, P: p}, b.Shape(x))
}

// Shuffle adds a channel shuffle.
func (b *Builder) Shuffle(x Value, groups int) Value {
	if groups <= 1 {
		return x
	}
	if b.Shape(x).C%groups != 0 {
		panic(fmt.Sprintf("blocks: shuffle of %d channels in %d groups", b.Shape(x).C, groups))
	}
	return b.add(Op{Kind: OpShuffle, In: []Value{x}, Groups: groups}, b.Shape(x))
}

// Slice keeps channels [start, end).
func (b *Builder) Slice(x Value, start, end int) Value {
	s := b.Shape(x)
	if start == 0 && end == s.C {
		return x
	}
	if start < 0 || end > s.C || start >= end {
		panic(fmt.Sprintf("blocks: slice [%d, %d) of %d channels", start, end, s.C))
	}
	s.C = end - start
	return b.add(Op{Kind: OpSlice, In: []Value{x}, Start: start, End: end}, s)
}

// Concat joins values along channels.
func (b *Builder) Concat(xs ...Value) Value {
	if len(xs) == 1 {
		return xs[0]
	}
	s := b.Shape(xs[0])
	c := 0
	for _, x := range xs {
		t := b.Shape(x)
		if t.H != s.H || t.W != s.W {
			panic(fmt.Sprintf("blocks: concat of %v and %v", s, t))
		}
		c += t.C
	}
	s.C = c
	return b.add(Op{Kind: OpConcat, In: append([]Value(nil), xs...)}, s)
}

// Add sums two values of the same shape.
func (b *Builder) Add(x, y Value) Value {
	if b.Shape(x) != b.Shape(y) {
		panic(fmt.Sprintf("blocks: add of %v and %v", b.Shape(x), b.Shape(y)))
	}
	return b.add(Op{Kind: OpAdd, In: []Value{x, y}}, b.Shape(x))
}

// Mul scales each channel of x by s (C x 1 x 1).
func (b *Builder) Mul(x, s Value) Value {
	if b.Shape(s) != (Shape{b.Shape(x).C, 1, 1}) {
		panic(fmt.Sprintf("blocks: channel multiply of %v by %v", b.Shape(x), b.Shape(s)))
	}
	return b.add(Op{Kind: OpMul, In: []Value{x, s}}, b.Shape(x))
}

// Block lowers one layer as part of a network, recording its span.
func (b *Builder) Block(index int, spec Spec, x Value) (Value, error) {
	if _, err := spec.OutShape(b.Shape(x)); err != nil {
		return 0, fmt.Errorf("layer %d (%s): %w", index, spec.Type(), err)
	}
	name := fmt.Sprintf("layers.%d", index)
	first := len(b.g.Ops)
	b.reads, b.err = false, nil
	y := spec.Lower(b, name, x)
	if b.err != nil {
		return 0, fmt.Errorf("layer %d (%s): %w", index, spec.Type(), b.err)
	}
	b.g.Blocks = append(b.g.Blocks, BlockSpan{Index: index, Name: name, Spec: spec, In: x, Out: y,
		First: first, Last: len(b.g.Ops), NetworkInput: b.reads})
	b.g.Output = y
	return y, nil
}

// Graph returns the graph built so far.
func (b *Builder) Graph() *Graph { return b.g }

// LowerBlock lowers one layer alone on an input of shape in, for timing it
// by itself. A block that reads the network's input (ESPNetv2's input
// reinforcement) gets it as a second input of shape net,
// Graph.NetworkInput. net may be zero for a block that does not read it;
// for such a block it is not used.
func LowerBlock(net, in Shape, spec Spec) (*Graph, error) {
	if net == (Shape{}) {
		return Lower(in, []Spec{spec})
	}
	b := NewBuilder(in)
	b.netInput = b.value(net)
	b.g.NetworkInput = b.netInput
	if _, err := b.Block(0, spec, b.g.Input); err != nil {
		return nil, err
	}
	if !b.g.Blocks[0].NetworkInput {
		return Lower(in, []Spec{spec})
	}
	return b.Graph(), nil
}

// Lower lowers a sequence of layers on an input of shape in, with
// batch normalizations at the default eps.
func Lower(in Shape, layers []Spec) (*Graph, error) { return LowerWithEps(in, layers, 0) }

// LowerWithEps is Lower with the batch normalizations' eps (0: the default).
func LowerWithEps(in Shape, layers []Spec, bnEps float64) (*Graph, error) {
	b := NewBuilder(in)
	b.SetBNEps(bnEps)
	x := b.g.Input
	for i, l := range layers {
		var err error
		if x, err = b.Block(i, l, x); err != nil {
			return nil, err
		}
	}
	return b.Graph(), nil
}

// Params lists the parameters and buffers of the graph's ops, in op order.
func (g *Graph) Params() []ParamSpec {
	var out []ParamSpec
	for i, op := range g.Ops {
		in := g.Shapes[op.In[0]]
		add := func(suffix string, buffer, noDecay bool, shape ...int) {
			out = append(out, ParamSpec{Name: op.Name + suffix, Shape: shape, Buffer: buffer, NoDecay: noDecay, Op: i})
		}
		switch op.Kind {
		case OpConv:
			a := op.Conv
			add(".weight", false, false, a.Out, in.C/a.Groups, a.KH, a.KW)
			if a.Bias {
				add(".bias", false, true, a.Out)
			}
		case OpBN:
			add(".weight", false, true, in.C)
			add(".bias", false, true, in.C)
			add(".running_mean", true, true, in.C)
			add(".running_var", true, true, in.C)
		case OpAct:
			if op.Act == ActPReLU {
				add(".weight", false, true, in.C)
			}
		case OpLinear:
			add(".weight", false, false, op.Units, in.C*in.H*in.W)
			if op.Bias {
				add(".bias", false, true, op.Units)
			}
		}
	}
	return out
}

// Cost counts the graph's learnable parameters and its conv and linear
// multiply-accumulates, the way Spec.Cost does.
func (g *Graph) Cost() Cost {
	var c Cost
	for _, p := range g.Params() {
		if !p.Buffer {
			n := int64(1)
			for _, d := range p.Shape {
				n *= int64(d)
			}
			c.Params += n
		}
	}
	for _, op := range g.Ops {
		in, out := g.Shapes[op.In[0]], g.Shapes[op.Out]
		switch op.Kind {
		case OpConv:
			a := op.Conv
			c.MACs += int64(out.C) * int64(out.H*out.W) * int64(in.C/a.Groups) * int64(a.KH*a.KW)
		case OpLinear:
			c.MACs += int64(op.Units) * int64(in.C*in.H*in.W)
		}
	}
	return c
}

// Kinds lists the op kinds the graph uses, sorted.
func (g *Graph) Kinds() []OpKind {
	seen := map[OpKind]bool{}
	for _, op := range g.Ops {
		seen[op.Kind] = true
	}
	out := make([]OpKind, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

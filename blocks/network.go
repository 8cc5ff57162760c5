package blocks

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"nas/blocks/nn"
)

// Network is a Graph made executable on the nn engine: one nn layer per
// parameterised op, weights initialised as torchvision does: convolutions
// followed by BN Kaiming-normal by fan-out; convolutions with a bias and no
// BN (SqueezeNet) Kaiming-uniform by fan-in, a classifier conv at the end
// normal(0, 0.01); BN scale 1 and shift 0, linear layers normal(0, 0.01),
// PReLU slopes 0.25. Forward runs the ops in order; with
// a training tape it records their backward steps.
type Network struct {
	Graph *Graph

	runs       []opRun
	classifier int // op index of a classifier conv, or -1
	params     []*nn.Param
	buffers    []*nn.Buffer
	bns        []*nn.BatchNorm
	convs      map[int]*nn.Conv2D // by op index
	state      map[string]*nn.Tensor
	lastRead   []int // per value, the last op that reads it (lastReaders)
}

// opRun executes one op on its inputs.
type opRun func(tp *nn.Tape, in []*nn.Tensor) *nn.Tensor

// NewNetwork builds g with fresh weights drawn from rng.
func NewNetwork(g *Graph, rng *rand.Rand) (*Network, error) { return newNetwork(g, rng, true) }

// newNetwork is NewNetwork; fuse pairs batch norms with the activations
// after them (fuseBNAct).
func newNetwork(g *Graph, rng *rand.Rand, fuse bool) (*Network, error) {
	if rng == nil {
		return nil, fmt.Errorf("blocks.NewNetwork: a seeded *rand.Rand is required to initialise weights")
	}
	n := &Network{Graph: g, state: map[string]*nn.Tensor{}, classifier: classifierConv(g), convs: map[int]*nn.Conv2D{}, lastRead: lastReaders(g)}
	for i := range g.Ops {
		r, err := n.build(i, &g.Ops[i], rng)
		if err != nil {
			return nil, fmt.Errorf("op %d (%s %s): %w", i, g.Ops[i].Kind, g.Ops[i].Name, err)
		}
		n.runs = append(n.runs, r)
	}
	if fuse {
		n.fuseBNAct()
	}
	for _, p := range n.params {
		n.state[p.Name] = p.Tensor
	}
	for _, b := range n.buffers {
		n.state[b.Name] = b.Tensor
	}
	return n, nil
}

// fuseBNAct makes every batch norm whose output only a ReLU or ReLU6 reads,
// the op right after it, run as one operator with it
// (nn.BatchNorm.ForwardAct): the batch norm's run computes the
// activation's output, and the activation's run passes it on. When the
// activation's output in turn only feeds a depthwise convolution, the op
// after it, the three run as one (nn.BatchNorm.ForwardActDepthwise). The
// results are the same; training saves passes over memory and the
// tensors in between.
func (n *Network) fuseBNAct() {
	g := n.Graph
	uses := opUses(g)
	bn := 0 // index into n.bns, in op order
	for i := range g.Ops {
		op := &g.Ops[i]
		if op.Kind != OpBN {
			continue
		}
		layer := n.bns[bn]
		bn++
		if i+1 >= len(g.Ops) || uses[op.Out] != 1 {
			continue
		}
		next := &g.Ops[i+1]
		if next.Kind != OpAct || next.In[0] != op.Out || (next.Act != ActReLU && next.Act != ActReLU6) {
			continue
		}
		act := nn.Act(next.Act)
		pass := func(_ *nn.Tape, x []*nn.Tensor) *nn.Tensor { return x[0] }
		if conv := n.depthwiseAfter(i+1, uses); conv != nil {
			// An inverted residual's middle: the three as one.
			n.runs[i] = func(tp *nn.Tape, x []*nn.Tensor) *nn.Tensor {
				return layer.ForwardActDepthwise(tp, x[0], act, conv.Weight.Tensor, conv.Config)
			}
			n.runs[i+1], n.runs[i+2] = pass, pass
			continue
		}
		n.runs[i] = func(tp *nn.Tape, x []*nn.Tensor) *nn.Tensor { return layer.ForwardAct(tp, x[0], act) }
		n.runs[i+1] = pass
	}
}

// opUses counts the readers of each value of g (the output has one more).
func opUses(g *Graph) []int {
	uses := make([]int, len(g.Shapes))
	for _, op := range g.Ops {
		for _, v := range op.In {
			uses[v]++
		}
	}
	uses[g.Output]++
	return uses
}

// depthwiseAfter returns the convolution of op i+1 when it is a depthwise
// one without bias (one output per channel) whose input is op i's output
// and nothing else reads that output (uses counts the readers of each
// value), else nil.
func (n *Network) depthwiseAfter(i int, uses []int) *nn.Conv2D {
	g := n.Graph
	if i+1 >= len(g.Ops) || uses[g.Ops[i].Out] != 1 {
		return nil
	}
	next := &g.Ops[i+1]
	c := n.convs[i+1]
	if next.Kind != OpConv || next.In[0] != g.Ops[i].Out || c == nil {
		return nil
	}
	cfg := c.Config
	if c.Bias != nil || cfg.Groups != cfg.In || cfg.Out != cfg.In {
		return nil
	}
	return c
}

// classifierConv returns the index of the convolution that ends a network
// as its classifier (SqueezeNet's final 1x1 conv: only activations, pooling
// and dropout follow it), or -1.
func classifierConv(g *Graph) int {
	v := g.Output
	for i := len(g.Ops) - 1; i >= 0; i-- {
		op := g.Ops[i]
		if op.Out != v {
			continue
		}
		switch op.Kind {
		case OpConv:
			return i
		case OpAct, OpGAP, OpAvgPool, OpMaxPool, OpDropout:
			v = op.In[0]
		default:
			return -1
		}
	}
	return -1
}

func (n *Network) build(i int, op *Op, rng *rand.Rand) (opRun, error) {
	in := n.Graph.Shapes[op.In[0]]
	switch op.Kind {
	case OpConv:
		a := op.Conv
		cfg := nn.Conv2DConfig{In: in.C, Out: a.Out, KernelH: a.KH, KernelW: a.KW, StrideH: a.SH, StrideW: a.SW,
			PadH: a.PH, PadW: a.PW, DilationH: a.DH, DilationW: a.DW, Groups: a.Groups, Bias: a.Bias}
		c, err := nn.NewConv2D(op.Name, cfg, rng)
		if err != nil {
			return nil, err
		}
		switch {
		case i == n.classifier:
			// torchvision's SqueezeNet: the classifier conv starts small.
			for j := range c.Weight.Data {
				c.Weight.Data[j] = float32(0.01 * rng.NormFloat64())
			}
		case a.Bias:
			// A conv with a bias has no BN after it to fix the scale of its
			// output: Kaiming-uniform by fan-in keeps the variance of the
			// activations through a stack of them (torchvision's SqueezeNet).
			fanIn := float64(cfg.In / max(a.Groups, 1) * a.KH * a.KW)
			bound := math.Sqrt(6 / fanIn)
			for j := range c.Weight.Data {
				c.Weight.Data[j] = float32(bound * (2*rng.Float64() - 1))
			}
		}
		n.params = append(n.params, c.Params()...)
		n.convs[i] = c
		return func(tp *nn.Tape, x []*nn.Tensor) *nn.Tensor { return c.Forward(tp, x[0]) }, nil
	case OpBN:
		bn, err := nn.NewBatchNorm(op.Name, in.C, nn.BatchNormConfig{Eps: op.Eps})
		if err != nil {
			return nil, err
		}
		n.params = append(n.params, bn.Params()...)
		n.buffers = append(n.buffers, bn.Buffers()...)
		n.bns = append(n.bns, bn)
		return func(tp *nn.Tape, x []*nn.Tensor) *nn.Tensor { return bn.Forward(tp, x[0]) }, nil
	case OpAct:
		if op.Act == ActPReLU {
			p := nn.NewParam(op.Name+".weight", true, in.C)
			for i := range p.Data {
				p.Data[i] = 0.25
			}
			n.params = append(n.params, p)
			return func(tp *nn.Tape, x []*nn.Tensor) *nn.Tensor { return nn.PReLU(tp, x[0], p.Tensor) }, nil
		}
		a := nn.Act(op.Act)
		if !a.Valid() {
			return nil, fmt.Errorf("unknown activation %q", op.Act)
		}
		return func(tp *nn.Tape, x []*nn.Tensor) *nn.Tensor { return nn.Activate(tp, a, x[0]) }, nil
	case OpMaxPool, OpAvgPool:
		p := op.Pool
		cfg := nn.Pool2DConfig{KernelH: p.K, KernelW: p.K, StrideH: p.S, StrideW: p.S, PadH: p.P, PadW: p.P, Ceil: p.Ceil}
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		if op.Kind == OpMaxPool {
			return func(tp *nn.Tape, x []*nn.Tensor) *nn.Tensor { return nn.MaxPool(tp, x[0], cfg) }, nil
		}
		return func(tp *nn.Tape, x []*nn.Tensor) *nn.Tensor { return nn.AvgPool(tp, x[0], cfg) }, nil
	case OpGAP:
		return func(tp *nn.Tape, x []*nn.Tensor) *nn.Tensor { return nn.GlobalAvgPool(tp, x[0]) }, nil
	case OpLinear:
		l, err := nn.NewLinear(op.Name, nn.LinearConfig{In: in.C * in.H * in.W, Out: op.Units, Bias: op.Bias}, rng)
		if err != nil {
			return nil, err
		}
		n.params = append(n.params, l.Params()...)
		units := op.Units
		return func(tp *nn.Tape, x []*nn.Tensor) *nn.Tensor {
			y := l.Forward(tp, x[0])
			// Keep the NCHW convention of the graph: N x units x 1 x 1.
			y.Shape = []int{y.Shape[0], units, 1, 1}
			return y
		}, nil
	case OpDropout:
		p := op.P
		return func(tp *nn.Tape, x []*nn.Tensor) *nn.Tensor { return nn.Dropout(tp, x[0], p) }, nil
	case OpShuffle:
		g := op.Groups
		return func(tp *nn.Tape, x []*nn.Tensor) *nn.Tensor { return nn.ChannelShuffle(tp, x[0], g) }, nil
	case OpSlice:
		s, e := op.Start, op.End
		return func(tp *nn.Tape, x []*nn.Tensor) *nn.Tensor { return nn.SliceChannels(tp, x[0], s, e) }, nil
	case OpConcat:
		return func(tp *nn.Tape, x []*nn.Tensor) *nn.Tensor { return nn.ConcatChannels(tp, x...) }, nil
	case OpAdd:
		return func(tp *nn.Tape, x []*nn.Tensor) *nn.Tensor { return nn.Add(tp, x[0], x[1]) }, nil
	case OpMul:
		return func(tp *nn.Tape, x []*nn.Tensor) *nn.Tensor { return nn.MulChannels(tp, x[0], x[1]) }, nil
	}
	return nil, fmt.Errorf("no executor for op kind %q", op.Kind)
}

// CheckInput returns an error unless x is N x C x H x W with the graph's
// input shape and N >= 1.
func (n *Network) CheckInput(x *nn.Tensor) error {
	s := n.Graph.Shapes[n.Graph.Input]
	if x.Dims() != 4 || x.Shape[0] < 1 || x.Shape[1] != s.C || x.Shape[2] != s.H || x.Shape[3] != s.W {
		return fmt.Errorf("network input is %s, want Nx%dx%dx%d", nn.ShapeString(x.Shape), s.C, s.H, s.W)
	}
	return nil
}

// Forward runs the network on x (N x C x H x W) and returns the last
// value, N x classes for a classifier. A nil tape is inference in eval mode.
// It panics on an input of the wrong shape; see CheckInput.
func (n *Network) Forward(tp *nn.Tape, x *nn.Tensor) *nn.Tensor {
	return n.ForwardWith(tp, x, x)
}

// ForwardWith is Forward for a graph with a second input, a block lowered
// alone by LowerBlock that reads the network's input: x feeds Graph.Input
// and net (N x the network input's shape) feeds Graph.NetworkInput. For
// other graphs net is not used. On a tape that records no backward step
// and recycles (NoGrad and Recycle), each activation goes back to the
// tape's storage once no later op reads it.
func (n *Network) ForwardWith(tp *nn.Tape, x, net *nn.Tensor) *nn.Tensor {
	if err := n.CheckInput(x); err != nil {
		panic("blocks.Network.Forward: " + err.Error())
	}
	g := n.Graph
	vals := make([]*nn.Tensor, len(g.Shapes))
	vals[g.Input] = x
	if g.NetworkInput != g.Input {
		s := g.Shapes[g.NetworkInput]
		if net.Dims() != 4 || net.Shape[0] != x.Shape[0] || net.Shape[1] != s.C || net.Shape[2] != s.H || net.Shape[3] != s.W {
			panic(fmt.Sprintf("blocks.Network.ForwardWith: network input is %s, want %dx%dx%dx%d", nn.ShapeString(net.Shape), x.Shape[0], s.C, s.H, s.W))
		}
		vals[g.NetworkInput] = net
	}
	args := make([]*nn.Tensor, 0, 4)
	// A forward pass only releases each activation after its last reader
	// (network_release.go).
	release := tp != nil && tp.NoGrad && tp.Recycle
	for i, op := range g.Ops {
		args = args[:0]
		for _, v := range op.In {
			args = append(args, vals[v])
		}
		vals[op.Out] = n.runs[i](tp, args)
		if release {
			tp.FreeScratch()
			n.releaseDead(tp, vals, i)
		}
	}
	y := vals[g.Output]
	if s := g.Shapes[g.Output]; s.H == 1 && s.W == 1 {
		if y == x {
			// Nothing computed a new tensor (a graph that passes its input
			// through): do not reshape the caller's tensor.
			return &nn.Tensor{Shape: []int{x.Shape[0], s.C}, Data: x.Data}
		}
		y.Shape = []int{y.Shape[0], s.C}
	}
	return y
}

// Params returns the learnable tensors in op order.
func (n *Network) Params() []*nn.Param { return n.params }

// Buffers returns the BN running statistics in op order.
func (n *Network) Buffers() []*nn.Buffer { return n.buffers }

// BatchNorms returns the network's batch-norm layers in op order (for
// folding into an inference plan, or to reset statistics).
func (n *Network) BatchNorms() []*nn.BatchNorm { return n.bns }

// State returns every parameter and buffer by name (the tensors themselves,
// not copies): the content of a checkpoint.
func (n *Network) State() map[string]*nn.Tensor { return n.state }

// StateNames returns the names of State in sorted order.
func (n *Network) StateNames() []string {
	names := make([]string, 0, len(n.state))
	for k := range n.state {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// LoadState copies weights into the network. Every parameter and buffer
// must be present with the right number of values; extra names are an
// error too (they mean the weights belong to another architecture).
func (n *Network) LoadState(w map[string][]float32) error {
	var missing []string
	for _, name := range n.StateNames() {
		v, ok := w[name]
		if !ok {
			missing = append(missing, name)
			continue
		}
		t := n.state[name]
		if len(v) != t.Len() {
			return fmt.Errorf("weights for %s have %d values, the network needs %d (shape %s): they belong to another architecture", name, len(v), t.Len(), nn.ShapeString(t.Shape))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("weights miss %d tensors the network needs, e.g. %q: they belong to another architecture", len(missing), missing[0])
	}
	for name := range w {
		if _, ok := n.state[name]; !ok {
			return fmt.Errorf("weights have tensor %q that the network does not: they belong to another architecture", name)
		}
	}
	for name, v := range w {
		copy(n.state[name].Data, v)
	}
	return nil
}

package onnximport

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"nas/blocks"
	"nas/internal/onnxpb"
)

// primOp is a primitive op lowered from one or a few ONNX nodes, with its
// tensors by parameter suffix (".weight", ".bias", ".running_mean", ...).
type primOp struct {
	blocks.Op
	node, opType string // the ONNX node it came from, for errors
	w            map[string][]float32
}

// primGraph is the model as primitive ops over values of one sample.
type primGraph struct {
	shapes        []blocks.Shape
	ops           []primOp
	input, output blocks.Value
	bnEps         []float64 // the eps of each batch norm, in order
}

// A view marks the intermediate tensors of a channel shuffle
// (Reshape to groups, Transpose, Reshape back).
type view int

const (
	plain   view = iota
	split        // N x g x C/g x ... (after the first Reshape)
	swapped      // N x C/g x g x ... (after the Transpose)
)

// tensor is a value computed at run time: a graph value of shape C x H x
// W, seen by ONNX as N x C x H x W (rank 4) or N x C*H*W (rank 2).
type tensor struct {
	v      blocks.Value
	rank   int
	view   view
	groups int // of a shuffle view
}

// value is what an ONNX name holds: a tensor or a constant.
type value struct {
	t *tensor
	c *constant
}

// lowerer turns ONNX nodes into primitive ops.
type lowerer struct {
	g       *primGraph
	vals    map[string]value
	readers map[string]int // node inputs and graph outputs reading a name
	lim     Limits
	budget  int64 // values of constants still allowed
	opset   int64
	prod    []int // the op that wrote each value (-1 or stale: none)
}

func (l *lowerer) newValue(s blocks.Shape) (blocks.Value, error) {
	for _, d := range []int{s.C, s.H, s.W} {
		if d < 1 || d > l.lim.Dim {
			return 0, fmt.Errorf("a tensor of %v: every dimension must be in [1, %d]", s, l.lim.Dim)
		}
	}
	l.g.shapes = append(l.g.shapes, s)
	return blocks.Value(len(l.g.shapes) - 1), nil
}

func (l *lowerer) emit(op primOp, s blocks.Shape) (*tensor, error) {
	v, err := l.newValue(s)
	if err != nil {
		return nil, err
	}
	op.Out = v
	l.prod = append(l.prod, make([]int, int(v)+1-len(l.prod))...)
	l.prod[v] = len(l.g.ops)
	l.g.ops = append(l.g.ops, op)
	return &tensor{v: v, rank: 4}, nil
}

func (l *lowerer) shape(t *tensor) blocks.Shape { return l.g.shapes[t.v] }

// producer returns the index of the op that wrote v, or -1.
func (l *lowerer) producer(v blocks.Value) int {
	if int(v) < len(l.prod) && l.prod[v] >= 0 && l.g.ops[l.prod[v]].Out == v {
		return l.prod[v]
	}
	return -1
}

// nodeCtx gives a node's handler its inputs and attributes.
type nodeCtx struct {
	l     *lowerer
	n     *onnxpb.NodeProto
	name  string
	attrs map[string]*onnxpb.AttributeProto
}

func (c *nodeCtx) errf(format string, args ...any) error {
	return &NodeError{Node: c.name, Op: c.n.GetOpType(), Msg: fmt.Sprintf(format, args...)}
}

// has reports whether input i is given.
func (c *nodeCtx) has(i int) bool { return i < len(c.n.GetInput()) && c.n.GetInput()[i] != "" }

func (c *nodeCtx) in(i int) (value, error) {
	if !c.has(i) {
		return value{}, c.errf("input %d is missing", i)
	}
	v, ok := c.l.vals[c.n.GetInput()[i]]
	if !ok {
		return value{}, c.errf("input %q is not produced by any node, initializer or graph input", c.n.GetInput()[i])
	}
	return v, nil
}

// tensorIn returns input i as a plain run-time tensor.
func (c *nodeCtx) tensorIn(i int) (*tensor, error) {
	v, err := c.in(i)
	if err != nil {
		return nil, err
	}
	if v.t == nil {
		return nil, c.errf("input %q is a constant; nas lowers this operator on the network's data only", c.n.GetInput()[i])
	}
	if v.t.view != plain {
		return nil, c.errf("input %q is the inner reshape of a channel shuffle; only Transpose and Reshape may follow it", c.n.GetInput()[i])
	}
	return v.t, nil
}

// constIn returns input i as a constant.
func (c *nodeCtx) constIn(i int) (*constant, error) {
	v, err := c.in(i)
	if err != nil {
		return nil, err
	}
	if v.c == nil {
		return nil, c.errf("input %q must be a constant (an initializer): nas imports fixed weights and shapes", c.n.GetInput()[i])
	}
	return v.c, nil
}

// floatIn returns constant input i as float32 values of exactly dims (nil
// dims: any shape with n values).
func (c *nodeCtx) floatIn(i int, n int, what string) ([]float32, error) {
	k, err := c.constIn(i)
	if err != nil {
		return nil, err
	}
	if k.int {
		return nil, c.errf("%s %q is an integer tensor; want float", what, c.n.GetInput()[i])
	}
	if len(k.f) != n {
		return nil, c.errf("%s %q has %d values (dims %v), want %d", what, c.n.GetInput()[i], len(k.f), k.dims, n)
	}
	return k.f, nil
}

func (c *nodeCtx) intAttr(name string, def int64) int64 {
	if a, ok := c.attrs[name]; ok {
		return a.GetI()
	}
	return def
}

func (c *nodeCtx) floatAttr(name string, def float32) float32 {
	if a, ok := c.attrs[name]; ok {
		return a.GetF()
	}
	return def
}

func (c *nodeCtx) intsAttr(name string) ([]int64, bool) {
	a, ok := c.attrs[name]
	if !ok {
		return nil, false
	}
	return a.GetInts(), true
}

// set binds output i.
func (c *nodeCtx) set(i int, v value) error {
	if i >= len(c.n.GetOutput()) || c.n.GetOutput()[i] == "" {
		return nil
	}
	name := c.n.GetOutput()[i]
	if _, dup := c.l.vals[name]; dup {
		return c.errf("output %q is already produced by another node or initializer", name)
	}
	c.l.vals[name] = value(v)
	return nil
}

func (c *nodeCtx) setTensor(t *tensor) error { return c.set(0, value{t: t}) }

// onlyFirstOutput refuses nodes whose extra outputs (BN's running
// statistics in training mode, Dropout's mask, MaxPool's indices) are read.
func (c *nodeCtx) onlyFirstOutput() error {
	for _, o := range c.n.GetOutput()[min(1, len(c.n.GetOutput())):] {
		if o != "" && c.l.readers[o] > 0 {
			return c.errf("output %q is read; nas imports only the inference result of this operator", o)
		}
	}
	return nil
}

// lowerNode lowers one node.
func (l *lowerer) lowerNode(n *onnxpb.NodeProto, index int) error {
	c := &nodeCtx{l: l, n: n, name: n.GetName(), attrs: map[string]*onnxpb.AttributeProto{}}
	if c.name == "" {
		c.name = fmt.Sprintf("#%d", index)
	}
	if d := n.GetDomain(); d != "" && d != "ai.onnx" {
		return &UnsupportedError{Node: c.name, Op: d + "." + n.GetOpType()}
	}
	for _, a := range n.GetAttribute() {
		c.attrs[a.GetName()] = a
	}
	if len(n.GetOutput()) == 0 {
		return c.errf("the node has no outputs")
	}
	if done, err := c.constantFold(); done || err != nil {
		return err
	}
	switch n.GetOpType() {
	case "Conv":
		return c.conv()
	case "BatchNormalization":
		return c.batchNorm()
	case "Relu":
		return c.act(blocks.ActReLU)
	case "Sigmoid":
		return c.act(blocks.ActSigmoid)
	case "HardSwish":
		return c.act(blocks.ActHSwish)
	case "HardSigmoid":
		if a, b := c.floatAttr("alpha", 0.2), c.floatAttr("beta", 0.5); math.Abs(float64(a)-1.0/6) > 1e-6 || math.Abs(float64(b)-0.5) > 1e-6 {
			return c.errf("alpha %g, beta %g: nas's h-sigmoid is ReLU6(x+3)/6 (alpha 1/6, beta 1/2)", a, b)
		}
		return c.act(blocks.ActHSigmoid)
	case "Clip":
		return c.clip()
	case "Mul":
		return c.mul()
	case "Add":
		return c.add()
	case "Concat":
		return c.concat()
	case "MaxPool", "AveragePool":
		return c.pool()
	case "GlobalAveragePool":
		return c.gap(4)
	case "ReduceMean":
		return c.reduceMean()
	case "Gemm":
		return c.gemm()
	case "MatMul":
		return c.matMul()
	case "Flatten":
		return c.flatten()
	case "Reshape":
		return c.reshape()
	case "Transpose":
		return c.transpose()
	case "Split":
		return c.split()
	case "Slice":
		return c.slice()
	case "Dropout", "Identity":
		if err := c.onlyFirstOutput(); err != nil {
			return err
		}
		v, err := c.in(0)
		if err != nil {
			return err
		}
		return c.set(0, v)
	}
	return &UnsupportedError{Node: c.name, Op: n.GetOpType()}
}

// convPads returns the symmetric padding of a window on one axis, from
// explicit pads or auto_pad.
func (c *nodeCtx) pads(in [2]int, k, s, d [2]int) ([2]int, error) {
	var p [2]int
	switch ap := string(c.attrs["auto_pad"].GetS()); ap {
	case "", "NOTSET":
		pads, ok := c.intsAttr("pads")
		if !ok {
			return p, nil
		}
		if len(pads) != 4 {
			return p, c.errf("pads %v: want 4 values for a 2-D window", pads)
		}
		if pads[0] != pads[2] || pads[1] != pads[3] {
			return p, c.errf("pads %v are asymmetric; nas pads both sides of an axis alike", pads)
		}
		for i := range 2 {
			if pads[i] < 0 || pads[i] > int64(c.l.lim.Dim) {
				return p, c.errf("pads %v out of range", pads)
			}
			p[i] = int(pads[i])
		}
	case "VALID":
	case "SAME_UPPER", "SAME_LOWER":
		for i := range 2 {
			out := (in[i] + s[i] - 1) / s[i]
			total := max(0, (out-1)*s[i]+(k[i]-1)*d[i]+1-in[i])
			if total%2 != 0 {
				return p, c.errf("auto_pad %s pads this axis asymmetrically; nas pads both sides alike", ap)
			}
			p[i] = total / 2
		}
	default:
		return p, c.errf("auto_pad %q is not a known value", ap)
	}
	return p, nil
}

// window reads the strides, dilations and padding of a k window on in.
func (c *nodeCtx) window(in blocks.Shape, k [2]int) (s, d, p [2]int, err error) {
	if s, err = c.pair("strides", 1); err != nil {
		return
	}
	if d, err = c.pair("dilations", 1); err != nil {
		return
	}
	p, err = c.pads([2]int{in.H, in.W}, k, s, d)
	return
}

// pair reads a 2-value attribute (kernel_shape, strides, dilations).
func (c *nodeCtx) pair(name string, def int64) ([2]int, error) {
	v, ok := c.intsAttr(name)
	if !ok {
		return [2]int{int(def), int(def)}, nil
	}
	if len(v) != 2 {
		return [2]int{}, c.errf("%s %v: nas imports 2-D windows only", name, v)
	}
	for _, x := range v {
		if x < 1 || x > int64(c.l.lim.Dim) {
			return [2]int{}, c.errf("%s %v out of range", name, v)
		}
	}
	return [2]int{int(v[0]), int(v[1])}, nil
}

func windowSize(in, k, s, p, d int) int {
	num := in + 2*p - (d*(k-1) + 1)
	if num < 0 {
		return 0
	}
	return num/s + 1
}

func (c *nodeCtx) conv() error {
	x, err := c.tensorIn(0)
	if err != nil {
		return err
	}
	if x.rank != 4 {
		return c.errf("input is %d-D; Conv needs N x C x H x W", x.rank)
	}
	w, err := c.constIn(1)
	if err != nil {
		return err
	}
	if w.int || len(w.dims) != 4 {
		return c.errf("weight %q has dims %v; nas imports 2-D float convolutions (O x C/groups x KH x KW)", c.n.GetInput()[1], w.dims)
	}
	in := c.l.shape(x)
	groups := c.intAttr("group", 1)
	out, cpg := w.dims[0], w.dims[1]
	if groups < 1 || groups > int64(in.C) || cpg*groups != int64(in.C) || out%groups != 0 {
		return c.errf("weight dims %v and group %d do not fit %d input channels", w.dims, groups, in.C)
	}
	k := [2]int{int(w.dims[2]), int(w.dims[3])}
	if ks, ok := c.intsAttr("kernel_shape"); ok && (len(ks) != 2 || ks[0] != w.dims[2] || ks[1] != w.dims[3]) {
		return c.errf("kernel_shape %v does not match weight dims %v", ks, w.dims)
	}
	s, d, p, err := c.window(in, k)
	if err != nil {
		return err
	}
	h, wd := windowSize(in.H, k[0], s[0], p[0], d[0]), windowSize(in.W, k[1], s[1], p[1], d[1])
	if h < 1 || wd < 1 {
		return c.errf("a %dx%d kernel (dilation %v, padding %v) does not fit the %dx%d input", k[0], k[1], d, p, in.H, in.W)
	}
	op := primOp{Op: blocks.Op{Kind: blocks.OpConv, In: []blocks.Value{x.v}, Conv: blocks.ConvAttr{
		Out: int(out), KH: k[0], KW: k[1], SH: s[0], SW: s[1], PH: p[0], PW: p[1], DH: d[0], DW: d[1], Groups: int(groups)}},
		w: map[string][]float32{".weight": w.f}}
	if c.has(2) {
		b, err := c.floatIn(2, int(out), "bias")
		if err != nil {
			return err
		}
		op.Conv.Bias = true
		op.w[".bias"] = b
	}
	return c.emitTensor(op, blocks.Shape{C: int(out), H: h, W: wd})
}

func (c *nodeCtx) emitTensor(op primOp, s blocks.Shape) error {
	op.node, op.opType = c.name, c.n.GetOpType()
	t, err := c.l.emit(op, s)
	if err != nil {
		return c.errf("%v", err)
	}
	return c.setTensor(t)
}

func (c *nodeCtx) batchNorm() error {
	x, err := c.tensorIn(0)
	if err != nil {
		return err
	}
	if c.intAttr("training_mode", 0) != 0 {
		return c.errf("training_mode is set; export the model in eval mode (model.eval())")
	}
	if err := c.onlyFirstOutput(); err != nil {
		return err
	}
	s := c.l.shape(x)
	op := primOp{Op: blocks.Op{Kind: blocks.OpBN, In: []blocks.Value{x.v}}, w: map[string][]float32{}}
	for i, suffix := range []string{".weight", ".bias", ".running_mean", ".running_var"} {
		f, err := c.floatIn(i+1, s.C, "BN "+suffix[1:])
		if err != nil {
			return err
		}
		op.w[suffix] = f
	}
	for _, v := range op.w[".running_var"] {
		if v < 0 {
			return c.errf("negative running variance %g", v)
		}
	}
	eps := float64(c.floatAttr("epsilon", 1e-5))
	if !(eps > 0 && eps < 1) {
		return c.errf("epsilon %g must be in (0, 1)", eps)
	}
	// The float32 attribute, written back as the decimal it was meant to be.
	op.Eps = roundFloat32(eps)
	c.l.g.bnEps = append(c.l.g.bnEps, op.Eps)
	return c.emitRanked(op, s, x.rank)
}

// roundFloat32 returns the shortest decimal that reads back as float32(x):
// 1e-3 for the float32 nearest 0.001.
func roundFloat32(x float64) float64 {
	f := float32(x)
	var y float64
	fmt.Sscan(fmt.Sprint(f), &y)
	return y
}

// emitRanked emits an op whose output keeps its input's rank.
func (c *nodeCtx) emitRanked(op primOp, s blocks.Shape, rank int) error {
	op.node, op.opType = c.name, c.n.GetOpType()
	t, err := c.l.emit(op, s)
	if err != nil {
		return c.errf("%v", err)
	}
	t.rank = rank
	return c.setTensor(t)
}

func (c *nodeCtx) act(a blocks.Act) error {
	x, err := c.tensorIn(0)
	if err != nil {
		return err
	}
	return c.emitRanked(primOp{Op: blocks.Op{Kind: blocks.OpAct, In: []blocks.Value{x.v}, Act: a}}, c.l.shape(x), x.rank)
}

func (c *nodeCtx) clip() error {
	lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
	if c.l.opset < 11 {
		lo, hi = c.floatAttr("min", lo), c.floatAttr("max", hi)
	} else {
		for i, p := range []*float32{&lo, &hi} {
			if !c.has(i + 1) {
				continue
			}
			k, err := c.constIn(i + 1)
			if err != nil {
				return err
			}
			if k.int || len(k.f) != 1 {
				return c.errf("bound %q must be a float scalar", c.n.GetInput()[i+1])
			}
			*p = k.f[0]
		}
	}
	switch {
	case lo == 0 && hi == 6:
		return c.act(blocks.ActReLU6)
	case lo == 0 && math.IsInf(float64(hi), 1):
		return c.act(blocks.ActReLU)
	}
	return c.errf("bounds [%g, %g]: nas imports Clip as ReLU6 [0, 6] or ReLU [0, inf)", lo, hi)
}

// mul lowers x*sigmoid(x) to swish, x*hardsigmoid(x) to h-swish (when the
// gate is read only here), and a C x H x W tensor times a C x 1 x 1 one to
// a channel multiply (the gate of squeeze-and-excitation).
func (c *nodeCtx) mul() error {
	a, err := c.tensorIn(0)
	if err != nil {
		return err
	}
	b, err := c.tensorIn(1)
	if err != nil {
		return err
	}
	for _, pair := range [][2]*tensor{{a, b}, {b, a}} {
		x, gate := pair[0], pair[1]
		p := c.l.producer(gate.v)
		if p < 0 || c.l.readers[c.inputName(gate)] != 1 {
			continue
		}
		op := &c.l.g.ops[p]
		if op.Kind != blocks.OpAct || op.In[0] != x.v || x.rank != gate.rank {
			continue
		}
		switch op.Act {
		case blocks.ActSigmoid:
			op.Act = blocks.ActSwish
		case blocks.ActHSigmoid:
			op.Act = blocks.ActHSwish
		default:
			continue
		}
		op.node += "+" + c.name
		return c.setTensor(gate)
	}
	sa, sb := c.l.shape(a), c.l.shape(b)
	if a.rank != 4 || b.rank != 4 {
		return c.errf("nas imports Mul as x*sigmoid(x), x*hardsigmoid(x) or a channel gate on N x C x H x W tensors")
	}
	x, gate := a, b
	if sa.H*sa.W < sb.H*sb.W || (sa == sb && c.isGate(a) && !c.isGate(b)) {
		x, gate = b, a
	}
	sx, sg := c.l.shape(x), c.l.shape(gate)
	if sg != (blocks.Shape{C: sx.C, H: 1, W: 1}) {
		return c.errf("operands %v and %v: nas imports Mul as a channel gate (C x H x W times C x 1 x 1)", sa, sb)
	}
	return c.emitTensor(primOp{Op: blocks.Op{Kind: blocks.OpMul, In: []blocks.Value{x.v, gate.v}}}, sx)
}

// isGate reports whether t comes from a sigmoid-like activation.
func (c *nodeCtx) isGate(t *tensor) bool {
	p := c.l.producer(t.v)
	return p >= 0 && c.l.g.ops[p].Kind == blocks.OpAct &&
		(c.l.g.ops[p].Act == blocks.ActSigmoid || c.l.g.ops[p].Act == blocks.ActHSigmoid)
}

// inputName returns the name of this node's input that holds t.
func (c *nodeCtx) inputName(t *tensor) string {
	for _, name := range c.n.GetInput() {
		if v, ok := c.l.vals[name]; ok && v.t == t {
			return name
		}
	}
	return ""
}

func (c *nodeCtx) add() error {
	a, err := c.in(0)
	if err != nil {
		return err
	}
	b, err := c.in(1)
	if err != nil {
		return err
	}
	if a.t != nil && b.t != nil {
		x, err := c.tensorIn(0)
		if err != nil {
			return err
		}
		y, err := c.tensorIn(1)
		if err != nil {
			return err
		}
		if c.l.shape(x) != c.l.shape(y) || x.rank != y.rank {
			return c.errf("operands %v and %v differ; nas imports Add as a residual sum of equal shapes", c.l.shape(x), c.l.shape(y))
		}
		return c.emitRanked(primOp{Op: blocks.Op{Kind: blocks.OpAdd, In: []blocks.Value{x.v, y.v}}}, c.l.shape(x), x.rank)
	}
	// The bias of a MatMul: a linear op without bias, read only here.
	x, k := a.t, b.c
	name := c.n.GetInput()[0]
	if x == nil {
		x, k, name = b.t, a.c, c.n.GetInput()[1]
	}
	if x == nil || k == nil {
		return c.errf("adds two constants")
	}
	p := c.l.producer(x.v)
	if p < 0 || c.l.g.ops[p].Kind != blocks.OpLinear || c.l.g.ops[p].Bias || c.l.readers[name] != 1 || k.int || len(k.f) != c.l.g.ops[p].Units {
		return c.errf("adds a constant; nas imports Add of a constant only as the bias right after MatMul")
	}
	op := &c.l.g.ops[p]
	op.Bias = true
	op.w[".bias"] = k.f
	return c.setTensor(x)
}

func (c *nodeCtx) concat() error {
	axis := c.intAttr("axis", 1)
	var ins []blocks.Value
	var s blocks.Shape
	rank := 0
	for i := range c.n.GetInput() {
		x, err := c.tensorIn(i)
		if err != nil {
			return err
		}
		t := c.l.shape(x)
		if i == 0 {
			s, rank = t, x.rank
			s.C = 0
		}
		if x.rank != rank || t.H != s.H || t.W != s.W || (rank == 2 && t.H*t.W != 1) {
			return c.errf("input %d of shape %v does not join the others along channels", i, t)
		}
		s.C += t.C
		ins = append(ins, x.v)
	}
	if axis < 0 {
		axis += int64(rank)
	}
	if axis != 1 {
		return c.errf("axis %d: nas concatenates along channels (axis 1)", c.intAttr("axis", 1))
	}
	if len(ins) == 1 {
		return c.set(0, c.l.vals[c.n.GetInput()[0]])
	}
	return c.emitRanked(primOp{Op: blocks.Op{Kind: blocks.OpConcat, In: ins}}, s, rank)
}

func (c *nodeCtx) pool() error {
	x, err := c.tensorIn(0)
	if err != nil {
		return err
	}
	if err := c.onlyFirstOutput(); err != nil {
		return err
	}
	if x.rank != 4 {
		return c.errf("input is %d-D; pooling needs N x C x H x W", x.rank)
	}
	in := c.l.shape(x)
	k, err := c.pair("kernel_shape", 0)
	if err != nil {
		return err
	}
	s, d, p, err := c.window(in, k)
	if err != nil {
		return err
	}
	switch {
	case k[0] < 1 || k[0] != k[1]:
		return c.errf("kernel_shape %v: nas pools with square windows", k)
	case s[0] != s[1] || p[0] != p[1]:
		return c.errf("strides %v, pads %v: nas pools with the same stride and padding on both axes", s, p)
	case d != [2]int{1, 1}:
		return c.errf("dilations %v: nas pools without dilation", d)
	case 2*p[0] > k[0]:
		return c.errf("padding %d is more than half the kernel %d", p[0], k[0])
	}
	attr := blocks.PoolAttr{K: k[0], S: s[0], P: p[0], Ceil: c.intAttr("ceil_mode", 0) != 0}
	kind := blocks.OpMaxPool
	if c.n.GetOpType() == "AveragePool" {
		kind = blocks.OpAvgPool
		if p[0] > 0 && c.intAttr("count_include_pad", 0) == 0 {
			return c.errf("count_include_pad is 0 with padding %d; nas's average pool counts the padding (PyTorch's default)", p[0])
		}
	} else if c.intAttr("storage_order", 0) != 0 {
		return c.errf("storage_order 1 is not supported")
	}
	spec := &blocks.Pool{Kernel: attr.K, Stride: attr.S, Pad: attr.P, Ceil: attr.Ceil}
	out, err := spec.OutShape(in)
	if err != nil {
		return c.errf("%v", err)
	}
	return c.emitTensor(primOp{Op: blocks.Op{Kind: kind, In: []blocks.Value{x.v}, Pool: attr}}, out)
}

func (c *nodeCtx) gap(rank int) error {
	x, err := c.tensorIn(0)
	if err != nil {
		return err
	}
	if x.rank != 4 {
		return c.errf("input is %d-D; global pooling needs N x C x H x W", x.rank)
	}
	return c.emitRanked(primOp{Op: blocks.Op{Kind: blocks.OpGAP, In: []blocks.Value{x.v}}}, blocks.Shape{C: c.l.shape(x).C, H: 1, W: 1}, rank)
}

func (c *nodeCtx) reduceMean() error {
	axes, ok := c.intsAttr("axes")
	if c.has(1) {
		k, err := c.constIn(1)
		if err != nil {
			return err
		}
		axes, ok = k.i, k.int
	}
	var got []int64
	for _, a := range axes {
		if a < 0 {
			a += 4
		}
		got = append(got, a)
	}
	slices.Sort(got)
	if !ok || !slices.Equal(got, []int64{2, 3}) {
		return c.errf("axes %v: nas imports ReduceMean over H and W (axes 2, 3) only, as global average pooling", axes)
	}
	rank := 4
	if c.intAttr("keepdims", 1) == 0 {
		rank = 2
	}
	return c.gap(rank)
}

// linear emits a fully connected layer on x with weight [units, in].
func (c *nodeCtx) linear(x *tensor, w []float32, units int, bias []float32) error {
	op := primOp{Op: blocks.Op{Kind: blocks.OpLinear, In: []blocks.Value{x.v}, Units: units, Bias: bias != nil},
		w: map[string][]float32{".weight": w}}
	if bias != nil {
		op.w[".bias"] = bias
	}
	op.node, op.opType = c.name, c.n.GetOpType()
	t, err := c.l.emit(op, blocks.Shape{C: units, H: 1, W: 1})
	if err != nil {
		return c.errf("%v", err)
	}
	t.rank = 2
	return c.setTensor(t)
}

// features returns the number of features of x seen as N x features.
func (c *nodeCtx) features(x *tensor) (int, error) {
	s := c.l.shape(x)
	if x.rank != 2 {
		return 0, c.errf("input is N x %v; flatten it to N x features first", s)
	}
	return s.C * s.H * s.W, nil
}

func (c *nodeCtx) gemm() error {
	x, err := c.tensorIn(0)
	if err != nil {
		return err
	}
	in, err := c.features(x)
	if err != nil {
		return err
	}
	if c.intAttr("transA", 0) != 0 || c.floatAttr("alpha", 1) != 1 || c.floatAttr("beta", 1) != 1 {
		return c.errf("transA, alpha or beta differ from 0, 1, 1; nas imports Gemm as a linear layer")
	}
	w, err := c.constIn(1)
	if err != nil {
		return err
	}
	if w.int || len(w.dims) != 2 {
		return c.errf("weight %q has dims %v; want a 2-D float matrix", c.n.GetInput()[1], w.dims)
	}
	transB := c.intAttr("transB", 0) != 0
	units, k := int(w.dims[1]), int(w.dims[0])
	if transB {
		units, k = k, units
	}
	if k != in {
		return c.errf("weight dims %v do not fit %d input features", w.dims, in)
	}
	weight := w.f
	if !transB {
		weight = transpose(w.f, k, units)
	}
	var bias []float32
	if c.has(2) {
		b, err := c.constIn(2)
		if err != nil {
			return err
		}
		if b.int || len(b.f) != units {
			return c.errf("bias %q has dims %v; want %d values", c.n.GetInput()[2], b.dims, units)
		}
		bias = b.f
	}
	return c.linear(x, weight, units, bias)
}

func (c *nodeCtx) matMul() error {
	x, err := c.tensorIn(0)
	if err != nil {
		return err
	}
	in, err := c.features(x)
	if err != nil {
		return err
	}
	w, err := c.constIn(1)
	if err != nil {
		return err
	}
	if w.int || len(w.dims) != 2 || int(w.dims[0]) != in {
		return c.errf("weight %q has dims %v; want %d x units", c.n.GetInput()[1], w.dims, in)
	}
	return c.linear(x, transpose(w.f, in, int(w.dims[1])), int(w.dims[1]), nil)
}

// transpose returns the rows x cols matrix m transposed.
func transpose(m []float32, rows, cols int) []float32 {
	out := make([]float32, len(m))
	for r := range rows {
		for k := range cols {
			out[k*rows+r] = m[r*cols+k]
		}
	}
	return out
}

func (c *nodeCtx) flatten() error {
	x, err := c.tensorIn(0)
	if err != nil {
		return err
	}
	axis := c.intAttr("axis", 1)
	if axis < 0 {
		axis += int64(x.rank)
	}
	if axis != 1 {
		return c.errf("axis %d: nas flattens to N x features (axis 1)", c.intAttr("axis", 1))
	}
	return c.setTensor(&tensor{v: x.v, rank: 2})
}

// dims returns the ONNX dims of x at batch 1.
func (l *lowerer) dims(x *tensor) []int64 {
	s := l.shape(x)
	if x.rank == 2 {
		return []int64{1, int64(s.C * s.H * s.W)}
	}
	return []int64{1, int64(s.C), int64(s.H), int64(s.W)}
}

func (c *nodeCtx) reshape() error {
	v, err := c.in(0)
	if err != nil {
		return err
	}
	if v.t == nil {
		return c.errf("reshapes a constant")
	}
	x := v.t
	k, err := c.constIn(1)
	if err != nil {
		return err
	}
	if !k.int || len(k.dims) != 1 || len(k.i) > 8 {
		return c.errf("shape %q must be a 1-D integer constant", c.n.GetInput()[1])
	}
	s := c.l.shape(x)
	total := int64(s.C * s.H * s.W)
	// The dims of x as ONNX sees it, to resolve 0 (copy) and -1 (infer).
	src := []int64{1} // a shuffle view: only the batch is known here
	if x.view == plain {
		src = c.l.dims(x)
	}
	want := make([]int64, len(k.i))
	infer := -1
	prod := int64(1)
	for i, d := range k.i {
		switch {
		case d == 0 && c.intAttr("allowzero", 0) == 0:
			if i >= len(src) {
				return c.errf("shape %v copies dimension %d that the input does not have", k.i, i)
			}
			d = src[i]
		case d == -1 && infer < 0:
			infer = i
			continue
		case d < 1 || d > total:
			return c.errf("shape %v: dimension %d is out of range", k.i, d)
		}
		want[i] = d
		prod *= d
	}
	if infer >= 0 {
		if total%prod != 0 {
			return c.errf("shape %v does not divide %d values", k.i, total)
		}
		want[infer] = total / prod
		prod = total
	}
	if prod != total || len(want) < 2 || want[0] != 1 {
		return c.errf("shape %v does not keep the batch and the %d values of a sample (input %v)", k.i, total, s)
	}
	rest := want[1:]
	switch {
	case x.view == swapped && len(rest) == 3 && rest[0] == int64(s.C) && rest[1] == int64(s.H) && rest[2] == int64(s.W):
		op := primOp{Op: blocks.Op{Kind: blocks.OpShuffle, In: []blocks.Value{x.v}, Groups: x.groups}}
		return c.emitTensor(op, s)
	case x.view != plain:
		return c.errf("shape %v: after Reshape-Transpose, nas expects a Reshape back to N x %d x %d x %d (channel shuffle)", k.i, s.C, s.H, s.W)
	case len(rest) == 1:
		return c.setTensor(&tensor{v: x.v, rank: 2})
	case len(rest) == 3 && rest[0] == int64(s.C) && rest[1] == int64(s.H) && rest[2] == int64(s.W):
		return c.setTensor(&tensor{v: x.v, rank: 4})
	case x.rank == 4 && s.C > 1 && rest[0] > 1 && int64(s.C)%rest[0] == 0 && rest[1] == int64(s.C)/rest[0] &&
		((len(rest) == 4 && rest[2] == int64(s.H) && rest[3] == int64(s.W)) || (len(rest) == 3 && rest[2] == int64(s.H*s.W))):
		return c.setTensor(&tensor{v: x.v, rank: len(want), view: split, groups: int(rest[0])})
	}
	return c.errf("shape %v: nas imports Reshape as a flatten to N x features, its inverse, or the first step of a channel shuffle (input %v)", k.i, s)
}

func (c *nodeCtx) transpose() error {
	v, err := c.in(0)
	if err != nil {
		return err
	}
	if v.t == nil || v.t.view != split {
		return c.errf("nas imports Transpose only as the middle step of a channel shuffle (Reshape to N x g x C/g x H x W, swap axes 1 and 2, Reshape back)")
	}
	perm, _ := c.intsAttr("perm")
	want := []int64{0, 2, 1, 3, 4}[:v.t.rank]
	if !slices.Equal(perm, want) {
		return c.errf("perm %v: a channel shuffle swaps axes 1 and 2 (perm %v)", perm, want)
	}
	t := *v.t
	t.view = swapped
	return c.setTensor(&t)
}

// channelAxis checks that axis (of a tensor of the given rank) is the
// channel axis.
func (c *nodeCtx) channelAxis(axis int64, x *tensor) error {
	if axis < 0 {
		axis += int64(x.rank)
	}
	if axis != 1 {
		return c.errf("axis %d: nas slices along channels (axis 1)", axis)
	}
	if x.rank == 2 && c.l.shape(x).H*c.l.shape(x).W != 1 {
		return c.errf("slices a flattened feature map")
	}
	return nil
}

func (c *nodeCtx) sliceOp(x *tensor, start, end int, out int) error {
	s := c.l.shape(x)
	if start == 0 && end == s.C {
		return c.set(out, value{t: x})
	}
	if start < 0 || end > s.C || start >= end {
		return c.errf("channels [%d, %d) of %d are empty or out of range", start, end, s.C)
	}
	op := primOp{Op: blocks.Op{Kind: blocks.OpSlice, In: []blocks.Value{x.v}, Start: start, End: end}, node: c.name, opType: c.n.GetOpType()}
	s.C = end - start
	t, err := c.l.emit(op, s)
	if err != nil {
		return c.errf("%v", err)
	}
	t.rank = x.rank
	return c.set(out, value{t: t})
}

func (c *nodeCtx) split() error {
	x, err := c.tensorIn(0)
	if err != nil {
		return err
	}
	if err := c.channelAxis(c.intAttr("axis", 0), x); err != nil {
		return err
	}
	C := c.l.shape(x).C
	n := len(c.n.GetOutput())
	sizes, ok := c.intsAttr("split")
	if c.has(1) {
		k, err := c.constIn(1)
		if err != nil {
			return err
		}
		sizes, ok = k.i, k.int
	}
	if !ok {
		if n < 1 || C%n != 0 {
			return c.errf("%d channels do not split into %d equal parts", C, n)
		}
		sizes = make([]int64, n)
		for i := range sizes {
			sizes[i] = int64(C / n)
		}
	}
	if len(sizes) != n {
		return c.errf("split %v has %d parts for %d outputs", sizes, len(sizes), n)
	}
	start := 0
	for i, sz := range sizes {
		if sz < 1 || sz > int64(C) {
			return c.errf("split %v out of range", sizes)
		}
		if err := c.sliceOp(x, start, start+int(sz), i); err != nil {
			return err
		}
		start += int(sz)
	}
	if start != C {
		return c.errf("split %v does not add up to %d channels", sizes, C)
	}
	return nil
}

func (c *nodeCtx) slice() error {
	x, err := c.tensorIn(0)
	if err != nil {
		return err
	}
	get := func(i int, attr string) ([]int64, error) {
		if c.l.opset < 10 {
			v, _ := c.intsAttr(attr)
			return v, nil
		}
		if !c.has(i) {
			return nil, nil
		}
		k, err := c.constIn(i)
		if err != nil {
			return nil, err
		}
		if !k.int {
			return nil, c.errf("%s must be integers", attr)
		}
		return k.i, nil
	}
	starts, err := get(1, "starts")
	if err != nil {
		return err
	}
	ends, err := get(2, "ends")
	if err != nil {
		return err
	}
	axes, err := get(3, "axes")
	if err != nil {
		return err
	}
	steps, err := get(4, "steps")
	if err != nil {
		return err
	}
	if len(starts) != 1 || len(ends) != 1 || len(axes) > 1 || len(steps) > 1 || (len(steps) == 1 && steps[0] != 1) {
		return c.errf("starts %v, ends %v, axes %v, steps %v: nas slices one range of channels with step 1", starts, ends, axes, steps)
	}
	axis := int64(0)
	if len(axes) == 1 {
		axis = axes[0]
	}
	if err := c.channelAxis(axis, x); err != nil {
		return err
	}
	C := int64(c.l.shape(x).C)
	clamp := func(v int64) int {
		if v < 0 {
			v += C
		}
		return int(max(0, min(v, C)))
	}
	return c.sliceOp(x, clamp(starts[0]), clamp(ends[0]), 0)
}

var errNotConst = errors.New("not constant")

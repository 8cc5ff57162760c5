package onnximport

import (
	"fmt"

	"nas/blocks"
	"nas/internal/onnxpb"
)

// nodeName names node i of g for errors.
func nodeName(g *onnxpb.GraphProto, i int) string {
	if n := g.GetNode()[i].GetName(); n != "" {
		return n
	}
	return fmt.Sprintf("#%d", i)
}

// topoOrder returns the nodes in an order where every input is produced
// before it is read, or an error naming a dangling input or a cycle.
func topoOrder(g *onnxpb.GraphProto, known map[string]bool) ([]int, error) {
	nodes := g.GetNode()
	producer := map[string]int{}
	for i, n := range nodes {
		for _, o := range n.GetOutput() {
			if o == "" {
				continue
			}
			if _, dup := producer[o]; dup || known[o] {
				return nil, &NodeError{Node: nodeName(g, i), Op: n.GetOpType(), Msg: fmt.Sprintf("output %q is already produced by another node, initializer or graph input", o)}
			}
			producer[o] = i
		}
	}
	waiting := make([]int, len(nodes)) // inputs not yet available
	readers := map[string][]int{}
	for i, n := range nodes {
		for _, in := range n.GetInput() {
			if in == "" || known[in] {
				continue
			}
			if _, ok := producer[in]; !ok {
				return nil, &NodeError{Node: nodeName(g, i), Op: n.GetOpType(),
					Msg: fmt.Sprintf("input %q is not produced by any node, initializer or graph input", in)}
			}
			waiting[i]++
			readers[in] = append(readers[in], i)
		}
	}
	var order, ready []int
	for i := range nodes {
		if waiting[i] == 0 {
			ready = append(ready, i)
		}
	}
	for len(ready) > 0 {
		i := ready[0]
		ready = ready[1:]
		order = append(order, i)
		for _, o := range nodes[i].GetOutput() {
			for _, r := range readers[o] {
				if waiting[r]--; waiting[r] == 0 {
					ready = append(ready, r)
				}
			}
		}
	}
	if len(order) < len(nodes) {
		for i := range nodes {
			if waiting[i] > 0 {
				return nil, &NodeError{Node: nodeName(g, i), Op: nodes[i].GetOpType(), Msg: "the graph has a cycle through this node"}
			}
		}
	}
	return order, nil
}

// inputShape reads the C x H x W of the graph's one run-time input;
// override, when set, stands for dimensions the model leaves symbolic.
func inputShape(vi *onnxpb.ValueInfoProto, override blocks.Shape, lim Limits) (blocks.Shape, error) {
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		return blocks.Shape{}, fmt.Errorf("graph input %q is not a tensor", vi.GetName())
	}
	if et := onnxpb.TensorProto_DataType(tt.GetElemType()); et != onnxpb.TensorProto_FLOAT {
		return blocks.Shape{}, fmt.Errorf("graph input %q is %v; nas networks take float32 images", vi.GetName(), et)
	}
	dims := tt.GetShape().GetDim()
	if tt.GetShape() != nil && len(dims) != 4 {
		return blocks.Shape{}, fmt.Errorf("graph input %q has %d dimensions; nas networks take N x C x H x W images", vi.GetName(), len(dims))
	}
	var got [3]int
	for i := 1; i < len(dims); i++ {
		got[i-1] = int(max(0, min(dims[i].GetDimValue(), int64(lim.Dim)+1)))
	}
	want := [3]int{override.C, override.H, override.W}
	s := blocks.Shape{}
	for i, p := range []*int{&s.C, &s.H, &s.W} {
		switch {
		case want[i] > 0 && got[i] > 0 && want[i] != got[i]:
			return blocks.Shape{}, fmt.Errorf("the model's input is %v, not %v: leave --input out or give the model's shape", dimsString(got), override)
		case want[i] > 0:
			*p = want[i]
		case got[i] > 0:
			*p = got[i]
		default:
			return blocks.Shape{}, fmt.Errorf("graph input %q has a symbolic C, H or W; give the input shape (--input CxHxW)", vi.GetName())
		}
		if *p > lim.Dim {
			return blocks.Shape{}, fmt.Errorf("graph input %q: dimension %d is more than the limit of %d: %w", vi.GetName(), *p, lim.Dim, ErrTooLarge)
		}
	}
	return s, nil
}

func dimsString(d [3]int) string { return fmt.Sprintf("%dx%dx%d", d[0], d[1], d[2]) }

// lowerGraph decodes initializers, orders the nodes, and lowers them to a
// primitive graph; it returns the graph and the number of classes.
func lowerGraph(m *onnxpb.ModelProto, input blocks.Shape, lim Limits) (*primGraph, int, error) {
	g := m.GetGraph()
	l := &lowerer{g: &primGraph{}, vals: map[string]value{}, readers: map[string]int{}, lim: lim, budget: lim.TotalValues}
	for _, op := range m.GetOpsetImport() {
		if op.GetDomain() == "" || op.GetDomain() == "ai.onnx" {
			l.opset = op.GetVersion()
		}
	}
	if l.opset == 0 {
		return nil, 0, fmt.Errorf("the model imports no opset of the default domain")
	}
	known := map[string]bool{}
	for _, t := range g.GetInitializer() {
		k, err := tensorConstant(t, lim, &l.budget)
		if err != nil {
			return nil, 0, fmt.Errorf("initializer %q: %w", t.GetName(), err)
		}
		if known[t.GetName()] || t.GetName() == "" {
			return nil, 0, fmt.Errorf("initializer %q: empty or duplicate name", t.GetName())
		}
		known[t.GetName()] = true
		l.vals[t.GetName()] = value{c: k}
	}
	var runtime []*onnxpb.ValueInfoProto
	for _, vi := range g.GetInput() {
		if !known[vi.GetName()] {
			runtime = append(runtime, vi)
		}
	}
	if len(runtime) != 1 {
		return nil, 0, fmt.Errorf("the graph has %d inputs besides its initializers; nas networks take one image tensor", len(runtime))
	}
	s, err := inputShape(runtime[0], input, lim)
	if err != nil {
		return nil, 0, err
	}
	v, err := l.newValue(s)
	if err != nil {
		return nil, 0, fmt.Errorf("graph input %q: %v", runtime[0].GetName(), err)
	}
	l.g.input = v
	known[runtime[0].GetName()] = true
	l.vals[runtime[0].GetName()] = value{t: &tensor{v: v, rank: 4}}
	order, err := topoOrder(g, known)
	if err != nil {
		return nil, 0, err
	}
	for _, n := range g.GetNode() {
		for _, in := range n.GetInput() {
			l.readers[in]++
		}
	}
	if len(g.GetOutput()) != 1 {
		return nil, 0, fmt.Errorf("the graph has %d outputs; nas networks have one (the logits)", len(g.GetOutput()))
	}
	outName := g.GetOutput()[0].GetName()
	l.readers[outName]++
	for _, i := range order {
		if err := l.lowerNode(g.GetNode()[i], i); err != nil {
			return nil, 0, err
		}
	}
	out, ok := l.vals[outName]
	if !ok || out.t == nil || out.t.view != plain {
		return nil, 0, fmt.Errorf("graph output %q is not computed from the input", outName)
	}
	os := l.g.shapes[out.t.v]
	if os.H != 1 || os.W != 1 {
		return nil, 0, fmt.Errorf("graph output %q is N x %v; nas networks end in N x classes (global pooling, then a linear or 1x1 conv layer)", outName, os)
	}
	l.g.output = out.t.v
	l.g.prune()
	if len(l.g.ops) == 0 {
		return nil, 0, fmt.Errorf("graph output %q is the input itself: the model computes nothing", outName)
	}
	return l.g, os.C, nil
}

// prune drops ops whose results the output does not depend on.
func (g *primGraph) prune() {
	need := make([]bool, len(g.shapes))
	need[g.output] = true
	keep := make([]bool, len(g.ops))
	for i := len(g.ops) - 1; i >= 0; i-- {
		if need[g.ops[i].Out] {
			keep[i] = true
			for _, v := range g.ops[i].In {
				need[v] = true
			}
		}
	}
	ops := g.ops[:0]
	for i, op := range g.ops {
		if keep[i] {
			ops = append(ops, op)
		}
	}
	g.ops = ops
}

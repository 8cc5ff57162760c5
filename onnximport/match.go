package onnximport

import (
	"fmt"
	"math"

	"nas/blocks"
)

// matcher groups the primitive ops of a model into block specs.
type matcher struct {
	g       *primGraph
	readers [][]int // ops reading each value
	prod    []int   // the op writing each value, -1 for the input
	eps     float64
	// folded: the model has no batch norm, so a convolution not followed
	// by one may stand for convolution + BN folded by the exporter.
	folded bool
	// unfoldConv: plain conv layers also get their BN back (not only the
	// convs inside block families).
	unfoldConv bool

	used    []bool
	failed  map[blocks.Value]bool
	layers  []blocks.Spec
	weights map[string][]float32
	rebuilt int // batch norms rebuilt from folded convolutions
	worst   *GroupError
}

func newMatcher(g *primGraph, eps float64, folded, unfoldConv bool) *matcher {
	m := &matcher{g: g, eps: eps, folded: folded, unfoldConv: unfoldConv,
		readers: make([][]int, len(g.shapes)), prod: make([]int, len(g.shapes)),
		used: make([]bool, len(g.ops)), failed: map[blocks.Value]bool{}, weights: map[string][]float32{}}
	for i := range m.prod {
		m.prod[i] = -1
	}
	for i, op := range g.ops {
		m.prod[op.Out] = i
		for _, v := range op.In {
			m.readers[v] = append(m.readers[v], i)
		}
	}
	return m
}

// match is one spec matched at a value: the ops it takes, its output
// value and its weights under the Arch's names.
type match struct {
	ops     []int
	out     blocks.Value
	w       map[string][]float32
	rebuilt int
}

// search finds a sequence of specs from value v to the output,
// backtracking over the proposals at each block boundary.
func (m *matcher) search(v blocks.Value) bool {
	if v == m.g.output {
		for _, u := range m.used {
			if !u {
				return false
			}
		}
		return true
	}
	if m.failed[v] {
		return false
	}
	for _, spec := range m.propose(v) {
		r, ok := m.try(v, spec, len(m.layers))
		if !ok {
			continue
		}
		m.commit(r, spec, true)
		if m.search(r.out) {
			return true
		}
		m.commit(r, spec, false)
	}
	m.failed[v] = true
	m.noteFailure(v)
	return false
}

// follow matches the given specs in order from the input; it is how an
// arch recorded in the model's metadata is checked against its graph.
func (m *matcher) follow(specs []blocks.Spec) bool {
	v := m.g.input
	for i, spec := range specs {
		r, ok := m.try(v, spec, i)
		if !ok {
			return false
		}
		m.commit(r, spec, true)
		v = r.out
	}
	if v != m.g.output {
		return false
	}
	for _, u := range m.used {
		if !u {
			return false
		}
	}
	return true
}

func (m *matcher) commit(r match, spec blocks.Spec, do bool) {
	for _, p := range r.ops {
		m.used[p] = do
	}
	if do {
		m.layers = append(m.layers, spec)
		for k, v := range r.w {
			m.weights[k] = v
		}
		m.rebuilt += r.rebuilt
		return
	}
	m.layers = m.layers[:len(m.layers)-1]
	for k := range r.w {
		delete(m.weights, k)
	}
	m.rebuilt -= r.rebuilt
}

// failure is the error of a search that found no sequence: the deepest
// point where no block matched.
func (m *matcher) failure() error {
	if m.worst != nil {
		return m.worst
	}
	return &GroupError{Node: "(graph output)", Op: "-", Detail: "the graph's ops do not form a sequence of blocks"}
}

func (m *matcher) noteFailure(v blocks.Value) {
	e := &GroupError{Node: "(graph output)", Op: "-", Layer: len(m.layers)}
	for _, r := range m.readers[v] {
		if !m.used[r] {
			op := m.g.ops[r]
			e.Node, e.Op = op.node, op.opType
			e.Detail = fmt.Sprintf("after %d layers the network is %v and continues with a %s op", len(m.layers), m.g.shapes[v], op.Kind)
			break
		}
	}
	if e.Detail == "" {
		e.Detail = fmt.Sprintf("after %d layers the network is %v", len(m.layers), m.g.shapes[v])
	}
	if m.worst == nil || e.Layer > m.worst.Layer {
		m.worst = e
	}
}

// try lowers spec as layer index at value v and matches its ops against
// the model's, op by op.
func (m *matcher) try(v blocks.Value, spec blocks.Spec, index int) (r match, ok bool) {
	defer func() {
		if recover() != nil { // a spec a proposal got wrong: not a match
			ok = false
		}
	}()
	b := blocks.NewBuilder(m.g.shapes[v])
	b.SetBNEps(m.eps)
	y, err := b.Block(index, spec, b.Graph().Input)
	if err != nil {
		return r, false
	}
	cg := b.Graph()
	vmap := map[blocks.Value]blocks.Value{cg.Input: v}
	local := map[int]bool{}
	r.w = map[string][]float32{}
	for i := 0; i < len(cg.Ops); i++ {
		cop := cg.Ops[i]
		ins := make([]blocks.Value, len(cop.In))
		for j, cv := range cop.In {
			pv, ok := vmap[cv]
			if !ok {
				return r, false
			}
			ins[j] = pv
		}
		if cop.Kind == blocks.OpDropout { // inference models leave dropout out
			vmap[cop.Out] = ins[0]
			continue
		}
		if p := m.find(cop, ins, local, false); p >= 0 {
			local[p] = true
			vmap[cop.Out] = m.g.ops[p].Out
			m.takeWeights(r.w, cop, m.g.ops[p])
			continue
		}
		// A convolution and its BN, folded into one biased convolution.
		if m.folded && cop.Kind == blocks.OpConv && !cop.Conv.Bias && i+1 < len(cg.Ops) &&
			cg.Ops[i+1].Kind == blocks.OpBN && cg.Ops[i+1].In[0] == cop.Out {
			if p := m.find(cop, ins, local, true); p >= 0 {
				local[p] = true
				po := m.g.ops[p]
				vmap[cop.Out], vmap[cg.Ops[i+1].Out] = po.Out, po.Out
				r.w[cop.Name+".weight"] = po.w[".weight"]
				m.rebuildBN(r.w, cg.Ops[i+1].Name, po)
				r.rebuilt++
				i++
				continue
			}
		}
		return r, false
	}
	r.out = vmap[y]
	// The block reads nothing from inside other blocks, and nothing outside
	// it reads its inner values or its input.
	for p := range local {
		if o := m.g.ops[p].Out; o != r.out {
			for _, q := range m.readers[o] {
				if !local[q] {
					return r, false
				}
			}
		}
		r.ops = append(r.ops, p)
	}
	if len(local) == 0 { // a block that is the identity at inference (dropout)
		return r, r.out == v
	}
	for _, q := range m.readers[v] {
		if !local[q] {
			return r, false
		}
	}
	return r, true
}

// takeWeights copies the tensors of prim op po under candidate op cop's
// name; a bias the candidate has and the model's op lacks is zero.
func (m *matcher) takeWeights(w map[string][]float32, cop blocks.Op, po primOp) {
	for suffix, data := range po.w {
		w[cop.Name+suffix] = data
	}
	if cop.Kind == blocks.OpConv && cop.Conv.Bias && !po.Conv.Bias && po.Kind == blocks.OpConv {
		w[cop.Name+".bias"] = make([]float32, cop.Conv.Out)
	}
}

// rebuildBN gives a folded convolution its batch norm back: identity
// statistics (mean 0, variance 1-eps, so that the divisor is 1), scale 1,
// and the convolution's bias as the shift.
func (m *matcher) rebuildBN(w map[string][]float32, name string, conv primOp) {
	c := conv.Conv.Out
	ones, zeros, vars := make([]float32, c), make([]float32, c), make([]float32, c)
	for i := range ones {
		ones[i], vars[i] = 1, float32(1-m.eps)
	}
	shift := conv.w[".bias"]
	if shift == nil {
		shift = make([]float32, c)
	}
	w[name+".weight"], w[name+".bias"] = ones, shift
	w[name+".running_mean"], w[name+".running_var"] = zeros, vars
}

// find returns an unused op of the model equal to candidate op cop whose
// inputs are ins, or -1. folded asks for a convolution (bias or not) that
// no batch norm follows, standing for cop and the BN after it.
func (m *matcher) find(cop blocks.Op, ins []blocks.Value, local map[int]bool, folded bool) int {
	for _, p := range m.readers[ins[0]] {
		if m.used[p] || local[p] {
			continue
		}
		po := m.g.ops[p]
		if !sameInputs(cop, po.In, ins) {
			continue
		}
		if folded {
			if po.Kind == blocks.OpConv && sameConv(cop.Conv, po.Conv, true) && !m.followedByBN(p) {
				return p
			}
			continue
		}
		if m.sameOp(cop, po) {
			return p
		}
	}
	return -1
}

func (m *matcher) followedByBN(p int) bool {
	for _, q := range m.readers[m.g.ops[p].Out] {
		if m.g.ops[q].Kind == blocks.OpBN {
			return true
		}
	}
	return false
}

func sameInputs(cop blocks.Op, got, want []blocks.Value) bool {
	if len(got) != len(want) {
		return false
	}
	if (cop.Kind == blocks.OpAdd || cop.Kind == blocks.OpMul) && len(got) == 2 && got[0] == want[1] && got[1] == want[0] {
		return true
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

func sameConv(a, b blocks.ConvAttr, ignoreBias bool) bool {
	norm := func(c blocks.ConvAttr) blocks.ConvAttr {
		c.SH, c.SW, c.DH, c.DW, c.Groups = max(c.SH, 1), max(c.SW, 1), max(c.DH, 1), max(c.DW, 1), max(c.Groups, 1)
		if ignoreBias {
			c.Bias = false
		}
		return c
	}
	return norm(a) == norm(b)
}

// sameOp compares a candidate op with a model op of the same inputs.
func (m *matcher) sameOp(cop blocks.Op, po primOp) bool {
	switch {
	case cop.Kind == blocks.OpConv && po.Kind == blocks.OpConv:
		// A candidate's bias may be zero where the model has none.
		return sameConv(cop.Conv, po.Conv, true) && (cop.Conv.Bias || !po.Conv.Bias)
	case cop.Kind == blocks.OpConv && po.Kind == blocks.OpLinear:
		// A 1x1 convolution on C x 1 x 1 is a linear layer.
		in := m.g.shapes[po.In[0]]
		return in.H == 1 && in.W == 1 && cop.Conv.Bias == po.Bias &&
			sameConv(cop.Conv, blocks.ConvAttr{Out: po.Units, KH: 1, KW: 1, Bias: po.Bias}, false)
	case cop.Kind != po.Kind:
		return false
	}
	switch cop.Kind {
	case blocks.OpBN:
		return math.Abs(cop.Eps-po.Eps) <= 1e-9*cop.Eps
	case blocks.OpAct:
		return cop.Act == po.Act
	case blocks.OpMaxPool, blocks.OpAvgPool:
		a, b := cop.Pool, po.Pool
		if a.S == 0 {
			a.S = a.K
		}
		return a == b
	case blocks.OpLinear:
		return cop.Units == po.Units && cop.Bias == po.Bias
	case blocks.OpShuffle:
		return cop.Groups == po.Groups
	case blocks.OpSlice:
		return cop.Start == po.Start && cop.End == po.End
	case blocks.OpGAP, blocks.OpConcat, blocks.OpAdd, blocks.OpMul:
		return true
	}
	return false
}

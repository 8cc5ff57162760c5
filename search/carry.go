package search

import (
	"fmt"
	"reflect"
	"sort"

	"nas/blocks"
	"nas/blocks/nn"
	"nas/space"
)

// Weights are a network's tensors by state-dict name (blocks.Network.State).
type Weights = map[string]*nn.Tensor

// CarryWeights maps the weights w of network from onto network to, a
// pruned copy of it (space.Arch.Prune: the same ops with fewer channels).
// Where a channel count shrank, the channels kept are those whose
// producing filters have the largest L2 norm (summed over every producer
// when several are tied, as the convs of a residual chain are); they keep
// their order. Every consumer keeps the matching input channels, and batch
// norms, biases and PReLU slopes the matching entries. Channels that only
// follow (through a depthwise conv, a concatenation, a shuffle, a residual
// add or an SE gate) are carried with their producer.
//
// Where a pruned channel has no counterpart in the original (a ShuffleNet
// V2 stage whose pass-through halves no longer line up), its weights are
// zero and its batch norm the identity. Pruning to the full counts returns
// copies of w.
func CarryWeights(from *space.Arch, w Weights, to *space.Arch) (Weights, error) {
	g, err := from.Graph()
	if err != nil {
		return nil, err
	}
	pg, err := to.Graph()
	if err != nil {
		return nil, err
	}
	if err := space.SameStructure(g, pg); err != nil {
		return nil, fmt.Errorf("carry weights: %s is not a pruned %s: %w", to.Name, from.Name, err)
	}
	for _, p := range g.Params() {
		t, ok := w[p.Name]
		if !ok {
			return nil, fmt.Errorf("carry weights: tensor %s missing (the weights belong to another architecture)", p.Name)
		}
		if !reflect.DeepEqual(t.Shape, p.Shape) {
			return nil, fmt.Errorf("carry weights: tensor %s has shape %v, the network needs %v", p.Name, t.Shape, p.Shape)
		}
	}
	k := newKeeper(g, pg, w)
	for v := range g.Shapes {
		if _, err := k.keep(blocks.Value(v)); err != nil {
			return nil, err
		}
	}
	out := Weights{}
	for _, p := range pg.Params() {
		op := &pg.Ops[p.Op]
		oop := &g.Ops[p.Op]
		in := k.memo[k.find(int(op.In[0]))]
		src := w[p.Name]
		t := nn.New(p.Shape...)
		suffix := p.Name[len(op.Name):]
		switch op.Kind {
		case blocks.OpConv:
			o := k.memo[k.find(int(op.Out))]
			if suffix == ".bias" {
				gather1(t.Data, src.Data, o, 0)
				break
			}
			carryConv(t, src, o, in, op.Conv.Groups, oop.Conv.Groups, g.Shapes[oop.In[0]].C, g.Shapes[oop.Out].C)
		case blocks.OpBN, blocks.OpAct:
			def := float32(0)
			switch {
			case op.Kind == blocks.OpAct:
				def = 0.25
			case suffix == ".weight" || suffix == ".running_var":
				def = 1
			}
			gather1(t.Data, src.Data, in, def)
		case blocks.OpLinear:
			s := g.Shapes[oop.In[0]]
			hw := s.H * s.W
			o := k.memo[k.find(int(op.Out))]
			if suffix == ".bias" {
				gather1(t.Data, src.Data, o, 0)
				break
			}
			cols := src.Shape[1]
			for r, or := range o {
				if or < 0 {
					continue
				}
				for c, oc := range in {
					if oc < 0 {
						continue
					}
					copy(t.Data[(r*len(in)+c)*hw:(r*len(in)+c+1)*hw], src.Data[or*cols+oc*hw:or*cols+(oc+1)*hw])
				}
			}
		}
		out[p.Name] = t
	}
	return out, nil
}

// gather1 sets dst[i] = src[idx[i]], or def where idx[i] < 0.
func gather1(dst, src []float32, idx []int, def float32) {
	for i, j := range idx {
		if j < 0 {
			dst[i] = def
		} else {
			dst[i] = src[j]
		}
	}
}

// carryConv fills t (the pruned conv weight, [out', in'/groups', kh, kw])
// from src ([out, in/groups, kh, kw]): output channel o' takes original
// filter outKeep[o'], and its input slot s' the original input channel
// inKeep of the same position, when that channel is in the filter's
// original group (otherwise the weight stays zero).
func carryConv(t, src *nn.Tensor, outKeep, inKeep []int, groups, oldGroups, oldIn, oldOut int) {
	groups, oldGroups = max(groups, 1), max(oldGroups, 1)
	kk := t.Shape[2] * t.Shape[3]
	inPer, outPer := len(inKeep)/groups, len(outKeep)/groups
	oldInPer, oldOutPer := oldIn/oldGroups, oldOut/oldGroups
	for o, oc := range outKeep {
		if oc < 0 {
			continue
		}
		gp := o / outPer
		og := oc / oldOutPer
		for s := 0; s < inPer; s++ {
			ic := inKeep[gp*inPer+s]
			if ic < 0 || ic/oldInPer != og {
				continue
			}
			dst := t.Data[(o*inPer+s)*kk : (o*inPer+s+1)*kk]
			os := ic - og*oldInPer
			copy(dst, src.Data[(oc*oldInPer+os)*kk:(oc*oldInPer+os+1)*kk])
		}
	}
}

// keeper works out, for every value of the pruned graph, which original
// channel each of its channels is (-1: none). Values whose channels must be
// the same (joined by batch norm, activations, pooling, a residual add, an
// SE multiply or a depthwise conv) form one class; a class is either
// derived from another (a concatenation, slice, shuffle or depthwise
// multiplier conv produces it) or free, its channels then chosen by the L2
// norm of its producers' filters.
type keeper struct {
	g, pg  *blocks.Graph
	w      Weights
	parent []int
	prod   []int // op producing each value, -1 for the input
	memo   map[int][]int
	busy   map[int]bool
}

func newKeeper(g, pg *blocks.Graph, w Weights) *keeper {
	k := &keeper{g: g, pg: pg, w: w, parent: make([]int, len(g.Shapes)), prod: make([]int, len(g.Shapes)),
		memo: map[int][]int{}, busy: map[int]bool{}}
	for i := range k.parent {
		k.parent[i], k.prod[i] = i, -1
	}
	for i, op := range g.Ops {
		k.prod[op.Out] = i
		if k.follows(i) {
			k.union(int(op.In[0]), int(op.Out))
		}
		switch op.Kind {
		case blocks.OpAdd:
			k.union(int(op.In[1]), int(op.Out))
		case blocks.OpMul:
			k.union(int(op.In[1]), int(op.Out))
		}
	}
	// Two derived producers of one class must derive it the same way:
	// join their inputs pairwise (the Ghost modules along a residual chain
	// then keep the same primary channels) until nothing changes.
	for changed := true; changed; {
		changed = false
		first := map[int]int{}
		for i := range g.Ops {
			if !k.derived(i) {
				continue
			}
			c := k.find(int(g.Ops[i].Out))
			j, ok := first[c]
			if !ok {
				first[c] = i
				continue
			}
			a, b := g.Ops[j], g.Ops[i]
			if a.Kind != b.Kind || len(a.In) != len(b.In) {
				continue
			}
			for x := range a.In {
				if pg.Shapes[a.In[x]].C == pg.Shapes[b.In[x]].C && k.find(int(a.In[x])) != k.find(int(b.In[x])) {
					k.union(int(a.In[x]), int(b.In[x]))
					changed = true
				}
			}
		}
	}
	return k
}

func (k *keeper) find(x int) int {
	for k.parent[x] != x {
		k.parent[x] = k.parent[k.parent[x]]
		x = k.parent[x]
	}
	return x
}

func (k *keeper) union(a, b int) { k.parent[k.find(a)] = k.find(b) }

// follows reports whether op i keeps its input's channels one to one.
func (k *keeper) follows(i int) bool {
	op := &k.g.Ops[i]
	switch op.Kind {
	case blocks.OpBN, blocks.OpAct, blocks.OpMaxPool, blocks.OpAvgPool, blocks.OpGAP, blocks.OpDropout, blocks.OpAdd, blocks.OpMul:
		return true
	case blocks.OpConv:
		in := k.g.Shapes[op.In[0]].C
		return op.Conv.Groups > 1 && op.Conv.Groups == in && op.Conv.Out == in
	}
	return false
}

// derived reports whether op i produces channels computed from its input's
// (rather than new ones, or the same ones).
func (k *keeper) derived(i int) bool {
	op := &k.g.Ops[i]
	switch op.Kind {
	case blocks.OpSlice, blocks.OpConcat, blocks.OpShuffle:
		return true
	case blocks.OpConv:
		in := k.g.Shapes[op.In[0]].C
		return op.Conv.Groups > 1 && op.Conv.Groups == in && op.Conv.Out != in
	}
	return false
}

// keep returns the original channel of each channel of value v.
func (k *keeper) keep(v blocks.Value) ([]int, error) {
	c := k.find(int(v))
	if m, ok := k.memo[c]; ok {
		return m, nil
	}
	if k.busy[c] {
		return nil, fmt.Errorf("carry weights: channels of value %d depend on themselves", v)
	}
	k.busy[c] = true
	defer delete(k.busy, c)
	n, orig := k.pg.Shapes[v].C, k.g.Shapes[v].C
	var derived []int
	var free []int
	input := false
	for x := range k.parent {
		if k.find(x) != c {
			continue
		}
		switch i := k.prod[x]; {
		case i < 0:
			input = true
		case k.derived(i):
			derived = append(derived, i)
		case !k.follows(i):
			free = append(free, i)
		}
	}
	var out []int
	switch {
	case input:
		out = identity(n)
	case len(derived) > 0:
		for _, i := range derived {
			d, err := k.derive(i)
			if err != nil {
				return nil, err
			}
			if out == nil {
				out = d
			} else if !reflect.DeepEqual(out, d) {
				return nil, fmt.Errorf("carry weights: ops %s and %s must produce the same channels and do not", k.g.Ops[derived[0]].Name, k.g.Ops[i].Name)
			}
		}
	case n == orig:
		out = identity(n)
	default:
		out = k.byNorm(free, n, orig)
	}
	if len(out) != n {
		return nil, fmt.Errorf("carry weights: value %d keeps %d channels, the pruned network has %d", v, len(out), n)
	}
	k.memo[c] = out
	return out, nil
}

func identity(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// byNorm keeps the n of orig channels whose filters, summed in squares over
// the producing ops (convs and linear layers), have the largest L2 norm;
// ties go to the lower index, and the kept channels stay in order.
//
// When a producer is a grouped convolution, every group keeps n/groups
// channels (its best ones), so that the groups stay equal.
func (k *keeper) byNorm(ops []int, n, orig int) []int {
	norm := make([]float64, orig)
	groups := 1
	for _, i := range ops {
		if op := &k.g.Ops[i]; op.Kind == blocks.OpConv {
			groups = max(groups, op.Conv.Groups)
		}
		t := k.w[k.g.Ops[i].Name+".weight"]
		if t == nil {
			continue
		}
		per := t.Len() / orig
		for c := range orig {
			for _, x := range t.Data[c*per : (c+1)*per] {
				norm[c] += float64(x) * float64(x)
			}
		}
	}
	var out []int
	per, keep := orig/groups, n/groups
	for gr := range groups {
		idx := identity(per)
		for i := range idx {
			idx[i] += gr * per
		}
		sort.SliceStable(idx, func(a, b int) bool { return norm[idx[a]] > norm[idx[b]] })
		idx = idx[:keep]
		sort.Ints(idx)
		out = append(out, idx...)
	}
	return out
}

// derive computes the channels of the output of derived op i from its
// inputs'.
func (k *keeper) derive(i int) ([]int, error) {
	op, pop := &k.g.Ops[i], &k.pg.Ops[i]
	ins := make([][]int, len(op.In))
	for x, v := range op.In {
		var err error
		if ins[x], err = k.keep(v); err != nil {
			return nil, err
		}
	}
	in := ins[0]
	var out []int
	switch op.Kind {
	case blocks.OpSlice:
		for _, c := range in[pop.Start:pop.End] {
			if c >= op.Start && c < op.End {
				out = append(out, c-op.Start)
			} else {
				out = append(out, -1)
			}
		}
	case blocks.OpConcat:
		off := 0
		for x, v := range op.In {
			for _, c := range ins[x] {
				if c < 0 {
					out = append(out, -1)
				} else {
					out = append(out, c+off)
				}
			}
			off += k.g.Shapes[v].C
		}
	case blocks.OpShuffle:
		// out[j*G+g] = in[g*(C/G)+j]; the original channel at input
		// position g0*(C0/G0)+j0 sits at output position j0*G0+g0.
		G, C := pop.Groups, len(in)
		G0, C0 := op.Groups, k.g.Shapes[op.In[0]].C
		out = make([]int, C)
		for j := range C / G {
			for gr := range G {
				c := in[gr*(C/G)+j]
				if c < 0 {
					out[j*G+gr] = -1
				} else {
					out[j*G+gr] = (c%(C0/G0))*G0 + c/(C0/G0)
				}
			}
		}
	case blocks.OpConv: // depthwise with a multiplier
		m := op.Conv.Out / op.Conv.Groups
		if pop.Conv.Out/pop.Conv.Groups != m {
			return nil, fmt.Errorf("carry weights: %s changes its depthwise multiplier", op.Name)
		}
		for _, c := range in {
			for t := range m {
				if c < 0 {
					out = append(out, -1)
				} else {
					out = append(out, c*m+t)
				}
			}
		}
	}
	return out, nil
}

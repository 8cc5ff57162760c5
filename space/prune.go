package space

import (
	"fmt"
	"math"
	"reflect"
	"sort"

	"nas/blocks"
	"nas/blocks/nn"
)

// Unit is one prunable channel count of an Arch, the thing NetAdapt shrinks
// one step at a time: a field of one layer (the output channels of a conv,
// the expanded channels of an inverted residual, ...). Changing it may
// change other layers too, because some channel counts are tied to it and
// follow (see Prune): the blocks that add their input to their output
// (MBConv and Ghost residuals, ShuffleNet and SqueezeNext stride-1 units),
// depthwise convolutions and unexpanded MBConv blocks, which keep the
// channels of their producer, and SE gates, whose squeeze count scales with
// the channels they gate.
type Unit struct {
	Layer    int    // index in Arch.Layers
	Field    string // "out", "mid", "squeeze", "e1", "e3", "reduce"
	Channels int    // the current count
}

// Name is "layers.<i>.<field>", the unit as logs and histories name it.
func (u Unit) Name() string { return fmt.Sprintf("layers.%d.%s", u.Layer, u.Field) }

// unitFields lists the fields of spec that are free channel counts at
// input in (the others follow their producer or are fixed), with their
// current values.
func unitFields(l blocks.Spec, in blocks.Shape) (fields []string, counts []int) {
	add := func(f string, c int) { fields, counts = append(fields, f), append(counts, c) }
	switch s := l.(type) {
	case *blocks.Conv:
		if g := max(s.Groups, 1); g == 1 || g != in.C {
			add("out", s.Out)
		}
	case *blocks.Linear:
		add("out", s.Out)
	case *blocks.DWSep:
		add("out", s.Out)
	case *blocks.MBConv:
		if s.Expands(in) {
			add("mid", s.Mid)
		}
		if !s.Residual(in) {
			add("out", s.Out)
		}
	case *blocks.Fire:
		add("squeeze", s.Squeeze)
		if s.E1 > 0 {
			add("e1", s.E1)
		}
		if s.E3 > 0 {
			add("e3", s.E3)
		}
	case *blocks.SqNxt:
		r := sqnxtReduce(s, in.C)
		add("reduce", r)
		add("squeeze", sqnxtSqueeze(s, in.C))
		if s.Stride > 1 || in.C != s.Out {
			add("out", s.Out)
		}
	case *blocks.ShuffleV1:
		add("mid", shuffle1Mid(s))
		if s.Stride == 2 {
			add("out", s.Out)
		}
	case *blocks.ShuffleV2:
		add("mid", shuffle2Mid(s))
		if s.Stride == 2 {
			add("out", s.Out)
		}
	case *blocks.Ghost:
		add("mid", s.Mid)
		if s.Stride > 1 || in.C != s.Out {
			add("out", s.Out)
		}
	}
	return fields, counts
}

// sqnxtReduce and sqnxtSqueeze restate SqNxt's rules for a zero Reduce or
// Squeeze (blocks keeps them unexported), so that pruning can write the
// counts explicitly before the input channels change under them.
func sqnxtReduce(s *blocks.SqNxt, in int) int {
	switch {
	case s.Reduce != 0:
		return s.Reduce
	case s.Stride == 2:
		return in
	case in > s.Out:
		return in / 4
	}
	return in / 2
}

func sqnxtSqueeze(s *blocks.SqNxt, in int) int {
	if s.Squeeze != 0 {
		return s.Squeeze
	}
	return sqnxtReduce(s, in) / 2
}

func shuffle1Mid(s *blocks.ShuffleV1) int {
	if s.Mid == 0 {
		return s.Out / 4
	}
	return s.Mid
}

func shuffle2Mid(s *blocks.ShuffleV2) int {
	if s.Mid == 0 {
		return s.Out / 2
	}
	return s.Mid
}

// Units lists the prunable units of a, in layer order: every free channel
// count that has at least one smaller valid value (see ValidCounts).
func (a *Arch) Units() ([]Unit, error) {
	shapes, err := a.Shapes()
	if err != nil {
		return nil, err
	}
	var out []Unit
	for i, l := range a.Layers {
		fields, counts := unitFields(l, shapes[i])
		for k, f := range fields {
			u := Unit{Layer: i, Field: f, Channels: counts[k]}
			if n, _ := a.LargestValid(u, u.Channels-1); n > 0 {
				out = append(out, u)
			}
		}
	}
	return out, nil
}

// LargestValid returns the largest count n <= limit at which unit u can be
// pruned (Prune succeeds), or 0 and the reason the largest candidate failed
// when there is none.
func (a *Arch) LargestValid(u Unit, limit int) (int, error) {
	var first error
	for n := min(limit, u.Channels); n >= 1; n-- {
		_, err := a.Prune(u, n)
		if err == nil {
			return n, nil
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		first = fmt.Errorf("%s: no count below %d", u.Name(), u.Channels)
	}
	return 0, first
}

// ValidCounts lists every count in [1, u.Channels] at which u can be
// pruned, largest first. (Divisibility by groups, even ShuffleNet V2
// halves, Ghost counts that are multiples of the ratio and counts that
// would add or remove a residual connection are what it leaves out.)
func (a *Arch) ValidCounts(u Unit) []int {
	var out []int
	for n := u.Channels; n >= 1; n-- {
		if _, err := a.Prune(u, n); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// PruneError is a count a unit cannot take.
type PruneError struct {
	Unit     Unit
	Channels int
	Reason   string
}

func (e *PruneError) Error() string {
	return fmt.Sprintf("%s: cannot prune from %d to %d channels: %s", e.Unit.Name(), e.Unit.Channels, e.Channels, e.Reason)
}

// Prune returns a copy of a with unit u set to n channels (1 <= n <=
// u.Channels) and every channel count that is tied to it changed to match:
//
//   - a block that adds its input to its output (an MBConv or Ghost
//     residual, a ShuffleNet V1/V2 or SqueezeNext stride-1 unit) keeps
//     output channels equal to its input channels;
//   - a depthwise conv layer and an MBConv without expansion keep the
//     channels of their producer;
//   - a ShuffleNet V1 stride-2 unit keeps its branch width (output minus
//     input channels);
//   - an SE gate's squeeze count scales with the channels it gates
//     (rounded, at least 1).
//
// The pruned network must lower to the same ops as a, with smaller channel
// counts only: a count that would add or remove an op (a residual add
// appearing because the output happens to equal the input, a Ghost module
// that would have to cut its cheap channels, an expand conv that would
// disappear) is refused, or kept by setting NoSkip or AlwaysExpand where the
// block has those switches. A count the blocks refuse (groups that do not
// divide it, an odd ShuffleNet V2 output) is refused with their error.
func (a *Arch) Prune(u Unit, n int) (*Arch, error) {
	fail := func(format string, args ...any) error {
		return &PruneError{Unit: u, Channels: n, Reason: fmt.Sprintf(format, args...)}
	}
	if u.Layer < 0 || u.Layer >= len(a.Layers) {
		return nil, fail("the arch has %d layers", len(a.Layers))
	}
	if n < 1 || n > u.Channels {
		return nil, fail("the count must be between 1 and the current %d", u.Channels)
	}
	old, err := a.Shapes()
	if err != nil {
		return nil, err
	}
	fields, counts := unitFields(a.Layers[u.Layer], old[u.Layer])
	k := indexOf(fields, u.Field)
	if k < 0 {
		return nil, fail("layer %d (%s) has no free %q channel count (free: %v)", u.Layer, a.Layers[u.Layer].Type(), u.Field, fields)
	}
	if counts[k] != u.Channels {
		return nil, fail("the layer has %d channels there, not %d (the unit is from another arch)", counts[k], u.Channels)
	}
	p := *a
	p.Layers = make([]blocks.Spec, len(a.Layers))
	for i, l := range a.Layers {
		p.Layers[i] = cloneSpec(l)
	}
	setField(p.Layers[u.Layer], u.Field, n, old[u.Layer])
	in := old[0]
	for i := range p.Layers {
		if err := follow(p.Layers[i], a.Layers[i], old[i], in); err != nil {
			return nil, fail("layer %d (%s): %v", i, p.Layers[i].Type(), err)
		}
		out, err := p.Layers[i].OutShape(in)
		if err != nil {
			return nil, fail("layer %d: %v", i, err)
		}
		in = out
	}
	if _, err := p.Shapes(); err != nil {
		return nil, fail("%v", err)
	}
	g, err := a.Graph()
	if err != nil {
		return nil, err
	}
	pg, err := p.Graph()
	if err != nil {
		return nil, fail("%v", err)
	}
	if err := sameStructure(g, pg); err != nil {
		return nil, fail("%v", err)
	}
	return &p, nil
}

func indexOf(xs []string, x string) int {
	for i, s := range xs {
		if s == x {
			return i
		}
	}
	return -1
}

// setField sets a free channel count of l (at input in) to n.
func setField(l blocks.Spec, field string, n int, in blocks.Shape) {
	switch s := l.(type) {
	case *blocks.Conv:
		s.Out = n
	case *blocks.Linear:
		s.Out = n
	case *blocks.DWSep:
		s.Out = n
	case *blocks.MBConv:
		if field == "mid" {
			s.SE.Squeeze = scaleSqueeze(s.SE.Squeeze, s.Mid, n)
			s.Mid = n
			// The expand conv stays even where Mid comes to equal the
			// input channels.
			s.AlwaysExpand = s.AlwaysExpand || n == in.C
		} else {
			s.Out = n
			// No residual add appears where Out comes to equal the input.
			s.NoSkip = s.NoSkip || s.Residual(in)
		}
	case *blocks.Fire:
		switch field {
		case "squeeze":
			s.Squeeze = n
		case "e1":
			s.E1 = n
		case "e3":
			s.E3 = n
		}
	case *blocks.SqNxt:
		s.Reduce, s.Squeeze = sqnxtReduce(s, in.C), sqnxtSqueeze(s, in.C)
		switch field {
		case "reduce":
			s.Reduce = n
		case "squeeze":
			s.Squeeze = n
		case "out":
			s.Out = n
		}
	case *blocks.ShuffleV1:
		s.Mid = shuffle1Mid(s)
		if field == "mid" {
			s.Mid = n
		} else {
			s.Out = n
		}
	case *blocks.ShuffleV2:
		s.Mid = shuffle2Mid(s)
		if field == "mid" {
			s.Mid = n
		} else {
			s.Out = n
		}
	case *blocks.Ghost:
		if field == "mid" {
			s.SE.Squeeze = scaleSqueeze(s.SE.Squeeze, s.Mid, n)
			s.Mid = n
		} else {
			s.Out = n
		}
	}
}

// scaleSqueeze scales an SE squeeze count sq (of a gate on c channels) to
// a gate on n channels: rounded, at least 1; 0 (no SE) stays 0.
func scaleSqueeze(sq, c, n int) int {
	if sq == 0 || c == n {
		return sq
	}
	return max(1, int(math.Round(float64(sq)*float64(n)/float64(c))))
}

// follow updates the tied channel counts of layer p (orig in the unpruned
// arch, where its input was old) to its new input in.
func follow(p, orig blocks.Spec, old, in blocks.Shape) error {
	if in.C == old.C {
		return nil
	}
	switch s := p.(type) {
	case *blocks.Conv:
		o := orig.(*blocks.Conv)
		if g := max(o.Groups, 1); g > 1 && g == old.C {
			s.Groups = in.C
			s.Out = in.C * (o.Out / g)
		}
	case *blocks.MBConv:
		o := orig.(*blocks.MBConv)
		if !o.Expands(old) {
			s.SE.Squeeze = scaleSqueeze(s.SE.Squeeze, s.Mid, in.C)
			s.Mid = in.C
		} else if s.Mid == in.C {
			s.AlwaysExpand = true
		}
		if o.Residual(old) {
			s.Out = in.C
		} else if s.Residual(in) {
			s.NoSkip = true // keep the block without its residual add
		}
	case *blocks.SqNxt:
		o := orig.(*blocks.SqNxt)
		s.Reduce, s.Squeeze = sqnxtReduce(o, old.C), sqnxtSqueeze(o, old.C)
		if o.Stride <= 1 && old.C == o.Out {
			s.Out = in.C
		}
	case *blocks.ShuffleV1:
		o := orig.(*blocks.ShuffleV1)
		s.Mid = shuffle1Mid(o)
		s.Out = o.Out - old.C + in.C
	case *blocks.ShuffleV2:
		o := orig.(*blocks.ShuffleV2)
		s.Mid = shuffle2Mid(o)
		if o.Stride <= 1 {
			s.Out = in.C
		}
	case *blocks.Ghost:
		o := orig.(*blocks.Ghost)
		if o.Stride <= 1 && old.C == o.Out {
			s.Out = in.C
		}
	case *blocks.EESP:
		return fmt.Errorf("input channels would change from %d to %d: ESPNetv2 units are not pruned", old.C, in.C)
	}
	return nil
}

// sameStructure checks that pruned has the ops of g, in order, with the
// same names and wiring: only channel counts may differ.
func sameStructure(g, pruned *blocks.Graph) error {
	if len(g.Ops) != len(pruned.Ops) {
		return fmt.Errorf("the pruned network has %d ops, the original %d (an op would appear or disappear)", len(pruned.Ops), len(g.Ops))
	}
	for i := range g.Ops {
		a, b := &g.Ops[i], &pruned.Ops[i]
		if a.Kind != b.Kind || a.Name != b.Name || !reflect.DeepEqual(a.In, b.In) || a.Out != b.Out {
			return fmt.Errorf("op %d changes from %s %q to %s %q", i, a.Kind, a.Name, b.Kind, b.Name)
		}
		depthwise := func(op *blocks.Op, gr *blocks.Graph) bool {
			return op.Kind == blocks.OpConv && op.Conv.Groups > 1 && op.Conv.Groups == gr.Shapes[op.In[0]].C
		}
		if a.Kind == blocks.OpConv && depthwise(a, g) != depthwise(b, pruned) {
			return fmt.Errorf("op %d (%s) would change between depthwise and grouped convolution", i, a.Name)
		}
		if a.Kind == blocks.OpSlice && (a.Start == 0) != (b.Start == 0) {
			return fmt.Errorf("op %d slices from %d, pruned from %d", i, a.Start, b.Start)
		}
	}
	return nil
}

// Weights are a network's tensors by state-dict name (blocks.Network.State).
type Weights = map[string]*nn.Tensor

// CarryWeights maps the weights w of network from onto network to, a
// pruned copy of it (Prune's result: the same ops with fewer channels).
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
func CarryWeights(from *Arch, w Weights, to *Arch) (Weights, error) {
	g, err := from.Graph()
	if err != nil {
		return nil, err
	}
	pg, err := to.Graph()
	if err != nil {
		return nil, err
	}
	if err := sameStructure(g, pg); err != nil {
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

package space

import (
	"fmt"
	"math"
	"reflect"

	"nas/blocks"
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
	if err := SameStructure(g, pg); err != nil {
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

// SameStructure checks that pruned has the ops of g, in order, with the
// same names and wiring: only channel counts may differ (Prune's networks
// lower so).
func SameStructure(g, pruned *blocks.Graph) error {
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

package space

import (
	"fmt"

	"nas/blocks"
)

// LayerAt is one layer at the input shape it receives in a network.
type LayerAt struct {
	Spec blocks.Spec
	In   blocks.Shape
}

// Key is the layer's canonical block string and input shape,
// "BLOCK|CxHxW": equal for equal layers at equal inputs.
func (l LayerAt) Key() string { return BlockString(l.Spec) + "|" + l.In.String() }

// Layers lists every distinct layer, with its input shape, that networks
// of the space can contain: what a latency table needs to price any of
// them. The order is the stem, then stage by stage, then the head.
//
// It walks the stages in order with the set of input shapes a stage can
// receive (the outputs of every choice of the stages before), so its cost
// is the sum, not the product, of the stages' choices. A stage choice that
// does not fit its input is skipped, as Sample rejects it. The list is
// exact when every stage output that some choice produces can be completed
// to a valid network (true of the built-in spaces; a test samples them);
// otherwise it may hold a few layers no valid network reaches.
func (s *Space) Layers() ([]LayerAt, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("space %s: %w", s.Name, err)
	}
	var out []LayerAt
	seen := map[string]bool{}
	add := func(spec blocks.Spec, in blocks.Shape) {
		l := LayerAt{Spec: spec, In: in}
		if k := l.Key(); !seen[k] {
			seen[k] = true
			out = append(out, l)
		}
	}

	in := s.Input
	for i, l := range s.Stem {
		spec := cloneSpec(l)
		canonicalizeSpec(spec)
		o, err := spec.OutShape(in)
		if err != nil {
			return nil, fmt.Errorf("space %s: stem layer %d: %w", s.Name, i, err)
		}
		add(spec, in)
		in = o
	}

	inputs := []blocks.Shape{in}
	for i, st := range s.Stages {
		var next []blocks.Shape
		nextSeen := map[blocks.Shape]bool{}
		for _, in := range inputs {
			for _, c := range st.distinctChoices() {
				layers, o, err := st.layers(st.choice(c), in)
				if err != nil {
					continue // Sample rejects it too
				}
				x := in
				for _, l := range layers {
					canonicalizeSpec(l)
					add(l, x)
					x, _ = l.OutShape(x) // checked by st.layers
				}
				if !nextSeen[o] {
					nextSeen[o] = true
					next = append(next, o)
				}
			}
		}
		if len(next) == 0 {
			return nil, fmt.Errorf("space %s: stage %d: no choice fits any of its inputs %v", s.Name, i, inputs)
		}
		inputs = next
	}

	head, err := s.head()
	if err != nil {
		return nil, fmt.Errorf("space %s: %w", s.Name, err)
	}
	for _, in := range inputs {
		x := in
		for j, l := range head {
			canonicalizeSpec(l)
			o, err := l.OutShape(x)
			if err != nil {
				return nil, fmt.Errorf("space %s: head layer %d at input %v: %w", s.Name, j, x, err)
			}
			add(l, x)
			x = o
		}
	}
	return out, nil
}

// distinctChoices lists the stage's distinct choices, as the seven
// decisions of the choice vector: for each family, every combination of
// the options it uses (one representative of widths that round alike).
func (st Stage) distinctChoices() [][]int {
	var out [][]int
	for fi, name := range st.Blocks {
		f, ok := familyFor(name)
		if !ok {
			continue
		}
		combos := [][]int{{fi}}
		for d := decKernel; d < decisionsPerStage; d++ {
			var grown [][]int
			for _, c := range combos {
				for _, r := range st.reps(f, d) {
					grown = append(grown, append(append([]int(nil), c...), r))
				}
			}
			combos = grown
		}
		out = append(out, combos...)
	}
	return out
}

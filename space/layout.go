package space

import (
	"fmt"
	"slices"
	"strings"

	"nas/blocks"
)

// Part is the part of a space a layer of one of its networks belongs to.
type Part string

// The parts of a space.
const (
	PartStem  Part = "stem"
	PartStage Part = "stage"
	PartHead  Part = "head"
)

// Placement says where a layer of a space's network comes from: the stem
// or head layer Index, or a layer of stage Stage at depth position Index
// (0 is the stage's first layer) built by block family Family. A family
// may give one position more than one spec (Fire's stride-2 max pool, the
// ShuffleNet families' width-adapting 1x1 conv); they share the placement
// and differ in their spec type. A weight-sharing supernet keys its
// weights by placement.
type Placement struct {
	Part   Part
	Stage  int
	Index  int
	Family string
}

// String is "stem.0", "stage2.1.ir" or "head.0".
func (p Placement) String() string {
	if p.Part == PartStage {
		return fmt.Sprintf("stage%d.%d.%s", p.Stage, p.Index, p.Family)
	}
	return fmt.Sprintf("%s.%d", p.Part, p.Index)
}

// placedLayers builds the layers of a stage from its input shape, with the
// depth position of each.
func (st Stage) placedLayers(c stageChoice, in blocks.Shape) ([]blocks.Spec, []int, blocks.Shape, error) {
	f, ok := familyFor(c.family)
	if !ok {
		return nil, nil, in, fmt.Errorf("unknown block family %q", c.family)
	}
	var out []blocks.Spec
	var pos []int
	for k := range c.depth {
		stride := 1
		if k == 0 {
			stride = max(st.Stride, 1)
		}
		ls, err := f.layer(in, c, stride)
		if err != nil {
			return nil, nil, in, fmt.Errorf("layer %d: %w", k, err)
		}
		for _, l := range ls {
			o, err := l.OutShape(in)
			if err != nil {
				return nil, nil, in, fmt.Errorf("layer %d (%s): %w", k, BlockString(l), err)
			}
			in = o
			pos = append(pos, k)
		}
		out = append(out, ls...)
	}
	return out, pos, in, nil
}

// Layout is Arch with the placement of every layer of the network.
func (s *Space) Layout(choices []int) (*Arch, []Placement, error) {
	a, err := s.Arch(choices)
	if err != nil {
		return nil, nil, err
	}
	var places []Placement
	for i := range s.Stem {
		places = append(places, Placement{Part: PartStem, Index: i})
	}
	in, err := (&Arch{Input: s.Input, Layers: s.Stem}).outShape()
	if err != nil {
		return nil, nil, err
	}
	for i, st := range s.Stages {
		sc := st.choice(choices[i*decisionsPerStage:])
		_, pos, out, err := st.placedLayers(sc, in)
		if err != nil {
			return nil, nil, fmt.Errorf("stage %d: %w", i, err)
		}
		for _, k := range pos {
			places = append(places, Placement{Part: PartStage, Stage: i, Index: k, Family: sc.family})
		}
		in = out
	}
	for i := range s.Head {
		places = append(places, Placement{Part: PartHead, Index: i})
	}
	if len(places) != len(a.Layers) {
		return nil, nil, fmt.Errorf("space %s: %d placements for %d layers (internal error)", s.Name, len(places), len(a.Layers))
	}
	return a, places, nil
}

// EachLayer calls fn with every layer, its input shape and its placement,
// that some network of the space can contain: the stem, then every stage
// choice at every input shape the stages before can give it (as Layers
// walks them), then the head at each of the last stage's outputs. The
// same layer may come more than once.
func (s *Space) EachLayer(fn func(p Placement, spec blocks.Spec, in blocks.Shape)) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("space %s: %w", s.Name, err)
	}
	in := s.Input
	for i, l := range s.Stem {
		spec := cloneSpec(l)
		canonicalizeSpec(spec)
		fn(Placement{Part: PartStem, Index: i}, spec, in)
		o, err := spec.OutShape(in)
		if err != nil {
			return fmt.Errorf("space %s: stem layer %d: %w", s.Name, i, err)
		}
		in = o
	}
	inputs := []blocks.Shape{in}
	for i, st := range s.Stages {
		var next []blocks.Shape
		for _, in := range inputs {
			for _, c := range st.distinctChoices() {
				sc := st.choice(c)
				layers, pos, o, err := st.placedLayers(sc, in)
				if err != nil {
					continue // Sample rejects it too
				}
				x := in
				for j, l := range layers {
					canonicalizeSpec(l)
					fn(Placement{Part: PartStage, Stage: i, Index: pos[j], Family: sc.family}, l, x)
					x, _ = l.OutShape(x)
				}
				if !slices.Contains(next, o) {
					next = append(next, o)
				}
			}
		}
		if len(next) == 0 {
			return fmt.Errorf("space %s: stage %d: no choice fits any of its inputs %v", s.Name, i, inputs)
		}
		inputs = next
	}
	head, err := s.head()
	if err != nil {
		return fmt.Errorf("space %s: %w", s.Name, err)
	}
	for _, in := range inputs {
		x := in
		for j, l := range head {
			canonicalizeSpec(l)
			o, err := l.OutShape(x)
			if err != nil {
				break // no network of the space ends this way
			}
			fn(Placement{Part: PartHead, Index: j}, l, x)
			x = o
		}
	}
	return nil
}

// Match returns the canonical choice vector whose network is a, or an
// error naming the first layer of a that no choice of the space gives,
// the stage it falls in, and how the nearest choice there differs.
func (s *Space) Match(a *Arch) ([]int, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("space %s: %w", s.Name, err)
	}
	if a.Input != s.Input || a.Classes != s.Classes {
		return nil, fmt.Errorf("the network takes %v and has %d classes; space %s takes %v with %d classes", a.Input, a.Classes, s.Name, s.Input, s.Classes)
	}
	if a.BNEps != 0 {
		return nil, fmt.Errorf("the network sets bn_eps %g; space %s uses the default", a.BNEps, s.Name)
	}
	have := make([]string, len(a.Layers))
	for i, l := range a.Layers {
		have[i] = BlockString(l)
	}
	head, err := s.head()
	if err != nil {
		return nil, err
	}
	if len(have) < len(s.Stem)+len(head)+len(s.Stages) {
		return nil, fmt.Errorf("the network has %d layers; every network of space %s has at least %d", len(have), s.Name, len(s.Stem)+len(head)+len(s.Stages))
	}
	for i, l := range s.Stem {
		if want := BlockString(l); have[i] != want {
			return nil, fmt.Errorf("layer %d (%s) is not the stem layer %d of space %s (%s)", i, have[i], i, s.Name, want)
		}
	}
	body := len(have) - len(head)
	for j, l := range head {
		if want := BlockString(l); have[body+j] != want {
			return nil, fmt.Errorf("layer %d (%s) is not the head layer %d of space %s (%s)", body+j, have[body+j], j, s.Name, want)
		}
	}
	in, err := (&Arch{Input: s.Input, Layers: s.Stem}).outShape()
	if err != nil {
		return nil, err
	}
	m := matcher{s: s, have: have, end: body}
	choices := make([]int, len(s.Stages)*decisionsPerStage)
	if m.match(0, len(s.Stem), in, choices) {
		return s.Canonical(choices)
	}
	return nil, m.failure()
}

// matcher is the depth-first search of Match, with the deepest point it
// failed at for the error.
type matcher struct {
	s    *Space
	have []string
	end  int // index of the first head layer

	worst     int // the first layer index no choice gives, deepest so far
	stage     int
	in        blocks.Shape
	triedDeep bool
}

// match tries the choices of stage i on the layers from pos at input in,
// filling choices, and reports whether the rest matched.
func (m *matcher) match(i, pos int, in blocks.Shape, choices []int) bool {
	if i == len(m.s.Stages) {
		if pos == m.end {
			return true
		}
		m.note(pos, i, in)
		return false
	}
	st := m.s.Stages[i]
	for _, c := range st.distinctChoices() {
		layers, _, out, err := st.placedLayers(st.choice(c), in)
		if err != nil || pos+len(layers) > m.end {
			continue
		}
		ok := true
		for j, l := range layers {
			if BlockString(l) != m.have[pos+j] {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		copy(choices[i*decisionsPerStage:], c)
		if m.match(i+1, pos+len(layers), out, choices) {
			return true
		}
	}
	m.note(pos, i, in)
	return false
}

func (m *matcher) note(pos, stage int, in blocks.Shape) {
	if !m.triedDeep || pos > m.worst {
		m.worst, m.stage, m.in, m.triedDeep = pos, stage, in, true
	}
}

// failure describes the deepest layer no choice gave.
func (m *matcher) failure() error {
	s := m.s
	if m.stage == len(s.Stages) || m.worst >= m.end {
		if m.worst >= m.end {
			return fmt.Errorf("the network's stages end at layer %d, before every stage of space %s has its layers", m.worst, s.Name)
		}
		return fmt.Errorf("layer %d (%s) is one more than the last stage of space %s holds (its depths are %v)", m.worst, m.have[m.worst], s.Name, s.Stages[len(s.Stages)-1].Depths)
	}
	st := s.Stages[m.stage]
	got := m.have[m.worst]
	best, bestDiff := "", -1
	for _, c := range st.distinctChoices() {
		layers, _, _, err := st.placedLayers(st.choice(c), m.in)
		if err != nil {
			continue
		}
		for _, l := range layers {
			cand := BlockString(l)
			if d := tokenDiff(got, cand); bestDiff < 0 || d < bestDiff {
				best, bestDiff = cand, d
			}
		}
	}
	msg := fmt.Sprintf("layer %d (%s) is outside space %s: no choice of stage %d (input %v) gives it", m.worst, got, s.Name, m.stage, m.in)
	if best != "" {
		msg += fmt.Sprintf("; the nearest choice gives %s (%s)", best, describeDiff(got, best))
	}
	return fmt.Errorf("%s", msg)
}

// tokenDiff counts the tokens of block strings a and b that the other
// lacks.
func tokenDiff(a, b string) int {
	ta, tb := strings.Split(a, "_"), strings.Split(b, "_")
	n := 0
	for _, t := range ta {
		if !slices.Contains(tb, t) {
			n++
		}
	}
	for _, t := range tb {
		if !slices.Contains(ta, t) {
			n++
		}
	}
	return n
}

// describeDiff says which tokens of got differ from want.
func describeDiff(got, want string) string {
	ta, tb := strings.Split(got, "_"), strings.Split(want, "_")
	var extra, missing []string
	for _, t := range ta {
		if !slices.Contains(tb, t) {
			extra = append(extra, t)
		}
	}
	for _, t := range tb {
		if !slices.Contains(ta, t) {
			missing = append(missing, t)
		}
	}
	switch {
	case len(extra) > 0 && len(missing) > 0:
		return fmt.Sprintf("%s instead of %s", strings.Join(extra, ", "), strings.Join(missing, ", "))
	case len(extra) > 0:
		return fmt.Sprintf("%s instead of the default", strings.Join(extra, ", "))
	default:
		return fmt.Sprintf("without %s", strings.Join(missing, ", "))
	}
}

package space

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"reflect"
	"strconv"

	"nas/blocks"
)

// Space is a set of networks in MnasNet's factorized hierarchical form
// (Tan et al., "MnasNet: Platform-Aware Neural Architecture Search for
// Mobile", CVPR 2019): a fixed stem, a sequence of stages, a fixed head.
// Each stage has its own choices of block family, kernel, expansion ratio,
// squeeze-and-excitation ratio, activation, output width and depth; all the
// layers of a stage share them (block-wise search). docs/space-format.md
// describes the JSON form.
//
// One point of the space is a choice vector: one option index per decision,
// seven decisions per stage in the order of Decisions. A family that has no
// use for a decision (Fire has no kernel choice) ignores it; the canonical
// vector has 0 there.
type Space struct {
	Name    string
	Input   blocks.Shape
	Classes int
	Stem    []blocks.Spec // fixed layers before the stages
	Stages  []Stage
	Head    []blocks.Spec // fixed layers after the stages; the last one's output channels are the classes
}

// Stage is one stage of a Space: its stride (taken by the first layer) and
// its choices. A list that no family of the stage uses may be empty, and
// an empty SE list means no SE.
type Stage struct {
	Stride     int
	Blocks     []string     // block families: "conv", "ir", "fire", "shuffle2", "ghost", ...
	Kernels    []int        // depthwise/conv kernel sizes
	Expansions []float64    // expanded channels = input channels * ratio
	SE         []float64    // squeeze-and-excitation ratio, 0 for none; empty means [0]
	Acts       []blocks.Act // activation inside the block
	Widths     []int        // output channels (rounded per family, see space_blocks.go)
	Depths     []int        // number of layers
}

// The decisions of a stage, in choice-vector order.
const (
	decBlock = iota
	decKernel
	decExpansion
	decSE
	decAct
	decWidth
	decDepth
	decisionsPerStage
)

var decisionNames = [decisionsPerStage]string{"block", "kernel", "expansion", "se", "act", "width", "depth"}

// Decision is one entry of the choice vector: its name ("stage2.kernel")
// and its options as text ("3", "5").
type Decision struct {
	Name    string
	Options []string
}

// maxSampleTries bounds the rejection sampling of Sample.
const maxSampleTries = 100

// stageChoice is the value of every decision of one stage.
type stageChoice struct {
	family    string
	kernel    int
	expansion float64
	se        float64
	act       blocks.Act
	width     int // after the family's rounding
	depth     int
}

// Decisions lists the decisions of the choice vector in order, with their
// options; an empty list of the stage shows as one option "-".
func (s *Space) Decisions() []Decision {
	out := make([]Decision, 0, len(s.Stages)*decisionsPerStage)
	for i, st := range s.Stages {
		for d := range decisionsPerStage {
			opts := st.options(d)
			if len(opts) == 0 {
				opts = []string{"-"}
			}
			out = append(out, Decision{Name: fmt.Sprintf("stage%d.%s", i, decisionNames[d]), Options: opts})
		}
	}
	return out
}

// Cardinalities is the number of options of each decision, the form the
// search strategies use.
func (s *Space) Cardinalities() []int {
	out := make([]int, 0, len(s.Stages)*decisionsPerStage)
	for _, st := range s.Stages {
		for d := range decisionsPerStage {
			out = append(out, max(1, st.count(d)))
		}
	}
	return out
}

func (st Stage) count(d int) int {
	switch d {
	case decBlock:
		return len(st.Blocks)
	case decKernel:
		return len(st.Kernels)
	case decExpansion:
		return len(st.Expansions)
	case decSE:
		return len(st.SE)
	case decAct:
		return len(st.Acts)
	case decWidth:
		return len(st.Widths)
	}
	return len(st.Depths)
}

func (st Stage) options(d int) []string {
	var out []string
	switch d {
	case decBlock:
		out = append(out, st.Blocks...)
	case decKernel:
		out = itoaAll(st.Kernels)
	case decExpansion:
		out = ftoaAll(st.Expansions)
	case decSE:
		out = ftoaAll(st.SE)
	case decAct:
		for _, a := range st.Acts {
			out = append(out, string(a))
		}
	case decWidth:
		out = itoaAll(st.Widths)
	case decDepth:
		out = itoaAll(st.Depths)
	}
	return out
}

func itoaAll(ns []int) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = strconv.Itoa(n)
	}
	return out
}

func ftoaAll(xs []float64) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = strconv.FormatFloat(x, 'f', -1, 64)
	}
	return out
}

// choice returns the stage's decisions at the indices c (seven of them),
// with the width rounded for the family. It does not range-check.
func (st Stage) choice(c []int) stageChoice {
	f, _ := familyFor(st.Blocks[c[decBlock]])
	sc := stageChoice{family: st.Blocks[c[decBlock]], depth: st.Depths[c[decDepth]]}
	if f.uses[decKernel] {
		sc.kernel = st.Kernels[c[decKernel]]
	}
	if f.uses[decExpansion] {
		sc.expansion = st.Expansions[c[decExpansion]]
	}
	if f.uses[decSE] && len(st.SE) > 0 { // no list: no SE
		sc.se = st.SE[c[decSE]]
	}
	if f.uses[decAct] {
		sc.act = st.Acts[c[decAct]]
	}
	sc.width = f.roundWidth(st.Widths[c[decWidth]])
	return sc
}

// reps lists, for family f, the option indices of decision d that give
// distinct networks: [0] for a decision f ignores, the first index of each
// rounded width, every index otherwise.
func (st Stage) reps(f family, d int) []int {
	if d != decWidth && d != decDepth && !f.uses[d] || st.count(d) == 0 {
		return []int{0}
	}
	if d != decWidth {
		return seq(st.count(d))
	}
	var out []int
	seen := map[int]bool{}
	for i, w := range st.Widths {
		r := f.roundWidth(w)
		if !seen[r] {
			seen[r] = true
			out = append(out, i)
		}
	}
	return out
}

// rep is the canonical index for option i of decision d under family f.
func (st Stage) rep(f family, d, i int) int {
	switch {
	case d == decWidth:
		r := f.roundWidth(st.Widths[i])
		for j, w := range st.Widths {
			if f.roundWidth(w) == r {
				return j
			}
		}
	case d != decDepth && !f.uses[d]:
		return 0
	}
	return i
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// checkChoices says which entry of a choice vector is out of range.
func (s *Space) checkChoices(choices []int) error {
	if len(choices) != len(s.Stages)*decisionsPerStage {
		return fmt.Errorf("choice vector has %d entries, want %d (%d stages x %d decisions)", len(choices), len(s.Stages)*decisionsPerStage, len(s.Stages), decisionsPerStage)
	}
	for i, c := range choices {
		st, d := s.Stages[i/decisionsPerStage], i%decisionsPerStage
		n := max(1, st.count(d))
		if c < 0 || c >= n {
			return fmt.Errorf("choice %d (stage%d.%s) is %d, want 0 to %d", i, i/decisionsPerStage, decisionNames[d], c, n-1)
		}
	}
	return nil
}

// Canonical returns the canonical form of a choice vector: 0 for every
// decision its stage's family ignores, and the first of the widths that
// round to the same value. Two vectors give the same Arch exactly when
// their canonical forms are equal.
func (s *Space) Canonical(choices []int) ([]int, error) {
	if err := s.checkChoices(choices); err != nil {
		return nil, err
	}
	out := append([]int(nil), choices...)
	for i, st := range s.Stages {
		c := out[i*decisionsPerStage : (i+1)*decisionsPerStage]
		f, _ := familyFor(st.Blocks[c[decBlock]])
		for d := decKernel; d < decisionsPerStage; d++ {
			c[d] = st.rep(f, d, c[d])
		}
	}
	return out, nil
}

// Arch builds the network of a choice vector and checks it with
// Arch.Shapes and against DefaultLimits.
func (s *Space) Arch(choices []int) (*Arch, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("space %s: %w", s.Name, err)
	}
	if err := s.checkChoices(choices); err != nil {
		return nil, err
	}
	a := &Arch{Input: s.Input, Classes: s.Classes}
	for _, l := range s.Stem {
		a.Layers = append(a.Layers, cloneSpec(l))
	}
	in, err := a.outShape()
	if err != nil {
		return nil, err
	}
	for i, st := range s.Stages {
		layers, out, err := st.layers(st.choice(choices[i*decisionsPerStage:]), in)
		if err != nil {
			return nil, fmt.Errorf("stage %d: %w", i, err)
		}
		a.Layers = append(a.Layers, layers...)
		in = out
	}
	head, err := s.head()
	if err != nil {
		return nil, err
	}
	a.Layers = append(a.Layers, head...)
	if _, err := a.Shapes(); err != nil {
		return nil, err
	}
	if err := a.CheckLimits(Limits{}); err != nil {
		return nil, err
	}
	for _, l := range a.Layers {
		canonicalizeSpec(l)
	}
	return a, nil
}

// outShape is the output of the layers so far (which need not end in the
// classes).
func (a *Arch) outShape() (blocks.Shape, error) {
	in := a.Input
	for i, l := range a.Layers {
		out, err := l.OutShape(in)
		if err != nil {
			return blocks.Shape{}, &LayerError{Index: i, Type: l.Type(), In: in, Err: err}
		}
		in = out
	}
	return in, nil
}

// layers builds the layers of a stage from its input shape.
func (st Stage) layers(c stageChoice, in blocks.Shape) ([]blocks.Spec, blocks.Shape, error) {
	out, _, o, err := st.placedLayers(c, in)
	return out, o, err
}

// head returns copies of the head layers with the classes filled in as the
// output channels ("o") of the last one.
func (s *Space) head() ([]blocks.Spec, error) {
	out := make([]blocks.Spec, len(s.Head))
	for i, l := range s.Head {
		out[i] = cloneSpec(l)
	}
	if len(out) == 0 {
		return nil, errors.New("the head is empty: end it with global pooling and a linear layer")
	}
	last := out[len(out)-1]
	fields, err := specFields(last)
	if err != nil {
		return nil, err
	}
	f, ok := fieldByToken(fields, "o")
	if !ok || f.kind != kindInt {
		return nil, fmt.Errorf("the last head layer (%s) has no output channels to set to the classes: end the head with a linear or conv layer", last.Type())
	}
	v := reflect.ValueOf(last).Elem().FieldByIndex(f.index)
	switch v.Int() {
	case 0:
		v.SetInt(int64(s.Classes))
	case int64(s.Classes):
	default:
		return nil, fmt.Errorf("the last head layer has %d outputs but the space has %d classes: leave its \"out\" out", v.Int(), s.Classes)
	}
	return out, nil
}

// stageCount is the number of distinct choices of stage st with family f.
func (st Stage) stageCount(f family) int64 {
	n := int64(1)
	for d := decKernel; d < decisionsPerStage; d++ {
		n *= int64(len(st.reps(f, d)))
	}
	return n
}

// Cardinality is the number of distinct networks the choices describe:
// per stage the sum over its families of the product of the options they
// use (widths that round to the same value counted once), multiplied over
// stages. Networks whose layers do not fit (Sample rejects them) are
// counted.
func (s *Space) Cardinality() *big.Int {
	total := big.NewInt(1)
	for _, st := range s.Stages {
		var n int64
		for _, b := range st.Blocks {
			f, _ := familyFor(b)
			n += st.stageCount(f)
		}
		total.Mul(total, big.NewInt(n))
	}
	return total
}

// Log10Cardinality is log10 of Cardinality, the usual way to quote the
// size of a space.
func (s *Space) Log10Cardinality() float64 {
	f, _ := new(big.Float).SetInt(s.Cardinality()).Float64()
	return math.Log10(f)
}

// Sample draws a network uniformly from the distinct networks of the space
// (choosing each stage's family in proportion to its number of distinct
// choices) and returns its canonical choice vector. A draw whose layers do
// not fit is rejected and redrawn, at most maxSampleTries times.
func (s *Space) Sample(rng *rand.Rand) ([]int, *Arch, error) {
	var lastErr error
	for range maxSampleTries {
		c := make([]int, 0, len(s.Stages)*decisionsPerStage)
		for _, st := range s.Stages {
			fams := make([]family, len(st.Blocks))
			var total int64
			for i, b := range st.Blocks {
				fams[i], _ = familyFor(b)
				total += st.stageCount(fams[i])
			}
			pick := rng.Int64N(total)
			fi := 0
			for ; fi < len(fams)-1; fi++ {
				n := st.stageCount(fams[fi])
				if pick < n {
					break
				}
				pick -= n
			}
			c = append(c, fi)
			for d := decKernel; d < decisionsPerStage; d++ {
				r := st.reps(fams[fi], d)
				c = append(c, r[rng.IntN(len(r))])
			}
		}
		a, err := s.Arch(c)
		if err == nil {
			return c, a, nil
		}
		lastErr = err
	}
	return nil, nil, fmt.Errorf("no valid network in %d samples of space %s; the last one failed with: %w", maxSampleTries, s.Name, lastErr)
}

// SampleFair draws n networks for one step of a weight-sharing supernet,
// fair to the block families: in each stage the families are dealt out in
// a random order, network j taking the (j mod F)-th of the stage's F
// families, and each decision the family uses is drawn uniformly. With n
// a multiple of F, every family of every stage appears equally often;
// with n = 1 each stage's family is uniform. Sample instead weighs a
// family by its number of distinct choices, so that a family with few
// options (fire, shuffle) would be trained a few times in a hundred
// draws and the supernet would rank the networks that use it by how
// little it has seen them. A draw whose layers do not fit is redrawn with
// the same families, at most maxSampleTries times.
func (s *Space) SampleFair(rng *rand.Rand, n int) ([][]int, error) {
	perms := make([][]int, len(s.Stages))
	for i, st := range s.Stages {
		perms[i] = rng.Perm(len(st.Blocks))
	}
	out := make([][]int, 0, n)
	for j := range n {
		var lastErr error
		var c []int
		for range maxSampleTries {
			c = make([]int, 0, len(s.Stages)*decisionsPerStage)
			for i, st := range s.Stages {
				fi := perms[i][j%len(perms[i])]
				f, _ := familyFor(st.Blocks[fi])
				c = append(c, fi)
				for d := decKernel; d < decisionsPerStage; d++ {
					r := st.reps(f, d)
					c = append(c, r[rng.IntN(len(r))])
				}
			}
			if _, lastErr = s.Arch(c); lastErr == nil {
				break
			}
		}
		if lastErr != nil {
			return nil, fmt.Errorf("no valid network in %d fair samples of space %s; the last one failed with: %w", maxSampleTries, s.Name, lastErr)
		}
		out = append(out, c)
	}
	return out, nil
}

// Mutate changes one decision of a choice vector to another option that
// gives a different, valid network, chosen uniformly among all such
// changes, and returns the new canonical vector and its network. Changing
// the family may also reset decisions the new family ignores to 0 and move
// the width to the first option that rounds to the same value.
func (s *Space) Mutate(choices []int, rng *rand.Rand) ([]int, *Arch, error) {
	cur, err := s.Canonical(choices)
	if err != nil {
		return nil, nil, err
	}
	type change struct{ pos, val int }
	var cands []change
	for i, st := range s.Stages {
		base := i * decisionsPerStage
		f, _ := familyFor(st.Blocks[cur[base]])
		for d := range decisionsPerStage {
			var opts []int
			if d == decBlock {
				opts = seq(len(st.Blocks))
			} else {
				opts = st.reps(f, d)
			}
			for _, v := range opts {
				if v != cur[base+d] {
					cands = append(cands, change{base + d, v})
				}
			}
		}
	}
	var lastErr error
	for _, k := range rng.Perm(len(cands)) {
		next := append([]int(nil), cur...)
		next[cands[k].pos] = cands[k].val
		next, _ = s.Canonical(next)
		a, err := s.Arch(next)
		if err == nil {
			return next, a, nil
		}
		lastErr = err
	}
	if lastErr == nil {
		return nil, nil, fmt.Errorf("space %s has a single network: nothing to mutate", s.Name)
	}
	return nil, nil, fmt.Errorf("no single-decision change of this network is valid; the last one failed with: %w", lastErr)
}

// Key is the canonical key of a choice vector for caches: the arch string
// of its network, equal for vectors that give the same network.
func (s *Space) Key(choices []int) (string, error) {
	a, err := s.Arch(choices)
	if err != nil {
		return "", err
	}
	return a.String(), nil
}

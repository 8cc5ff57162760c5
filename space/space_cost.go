package space

import (
	"fmt"

	"nas/blocks"
)

// CostRange is the least and greatest params and MACs over the valid
// networks of a space (the least params and the least MACs may belong to
// different networks).
type CostRange struct {
	MinParams, MaxParams int64
	MinMACs, MaxMACs     int64
	Networks             int64 // valid networks (capped at the int64 range)
}

// CostRange computes the exact cost range by dynamic programming over the
// stages: a stage's layers and costs depend only on its choices and its
// input shape, so it keeps, for each distinct input shape, the range over
// all valid prefixes that reach it. The work is the sum over stages of
// (distinct input shapes x distinct stage choices), not their product.
func (s *Space) CostRange() (CostRange, error) {
	if err := s.Validate(); err != nil {
		return CostRange{}, err
	}
	stem := &Arch{Input: s.Input, Layers: s.Stem}
	in, err := stem.outShape()
	if err != nil {
		return CostRange{}, fmt.Errorf("stem: %w", err)
	}
	var c0 blocks.Cost
	sh := s.Input
	for _, l := range s.Stem {
		c0 = c0.Add(l.Cost(sh))
		sh, _ = l.OutShape(sh)
	}
	states := map[blocks.Shape]CostRange{in: {c0.Params, c0.Params, c0.MACs, c0.MACs, 1}}
	for i, st := range s.Stages {
		next := map[blocks.Shape]CostRange{}
		for bi := range st.Blocks {
			forEachChoice(st, bi, func(c []int) {
				sc := st.choice(c)
				for shape, r := range states {
					layers, out, err := st.layers(sc, shape)
					if err != nil {
						continue
					}
					var cost blocks.Cost
					x := shape
					for _, l := range layers {
						cost = cost.Add(l.Cost(x))
						x, _ = l.OutShape(x)
					}
					next[out] = merge(next[out], r.plus(cost))
				}
			})
		}
		if len(next) == 0 {
			return CostRange{}, fmt.Errorf("stage %d: no choice fits its input", i)
		}
		states = next
	}
	head, err := s.head()
	if err != nil {
		return CostRange{}, err
	}
	var total CostRange
	for shape, r := range states {
		a := &Arch{Input: shape, Classes: s.Classes, Layers: head}
		if _, err := a.Shapes(); err != nil {
			continue
		}
		c, _ := a.Cost()
		total = merge(total, r.plus(c))
	}
	if total.Networks == 0 {
		return CostRange{}, fmt.Errorf("no network of the space fits its head")
	}
	return total, nil
}

func (r CostRange) plus(c blocks.Cost) CostRange {
	return CostRange{r.MinParams + c.Params, r.MaxParams + c.Params, r.MinMACs + c.MACs, r.MaxMACs + c.MACs, r.Networks}
}

// merge is the range over the networks of both.
func merge(a, b CostRange) CostRange {
	if a.Networks == 0 {
		return b
	}
	n := a.Networks + b.Networks
	if n < 0 {
		n = 1<<63 - 1
	}
	return CostRange{min(a.MinParams, b.MinParams), max(a.MaxParams, b.MaxParams), min(a.MinMACs, b.MinMACs), max(a.MaxMACs, b.MaxMACs), n}
}

// forEachChoice calls fn with each distinct choice (seven indices) of
// stage st whose family is st.Blocks[bi].
func forEachChoice(st Stage, bi int, fn func(c []int)) {
	f, _ := familyFor(st.Blocks[bi])
	var reps [decisionsPerStage][]int
	for d := decKernel; d < decisionsPerStage; d++ {
		reps[d] = st.reps(f, d)
	}
	c := make([]int, decisionsPerStage)
	c[decBlock] = bi
	var rec func(d int)
	rec = func(d int) {
		if d == decisionsPerStage {
			fn(c)
			return
		}
		for _, v := range reps[d] {
			c[d] = v
			rec(d + 1)
		}
	}
	rec(decKernel)
}

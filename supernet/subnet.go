package supernet

import (
	"fmt"
	"math/rand/v2"

	"nas/blocks"
	"nas/space"
)

// subnet is one network of the space bound to the shared weights.
type subnet struct {
	arch  *space.Arch
	net   *blocks.Network
	binds []binding
}

// subnetOf builds the network of choices and binds it to w.
func (w *Weights) subnetOf(choices []int) (*subnet, error) {
	a, places, err := w.space.Layout(choices)
	if err != nil {
		return nil, err
	}
	g, err := a.Graph()
	if err != nil {
		return nil, err
	}
	// The initial values are replaced by the shared ones before every use.
	net, err := blocks.NewNetwork(g, rand.New(rand.NewPCG(0, 0)))
	if err != nil {
		return nil, err
	}
	binds, err := w.bind(a, places, net)
	if err != nil {
		return nil, err
	}
	return &subnet{arch: a, net: net, binds: binds}, nil
}

// load copies the shared weights into the network.
func (s *subnet) load() {
	for i := range s.binds {
		s.binds[i].load()
	}
}

// addGrads adds the network's gradients into the shared tensors.
func (s *subnet) addGrads() {
	for i := range s.binds {
		s.binds[i].addGrad()
	}
}

// Network returns the network a with the weights it inherits from w (its
// batch-norm running statistics at their initial values: see
// Recalibrate). a must be a network of w's space; otherwise the error
// names the first layer outside it.
func (w *Weights) Network(a *space.Arch) (*blocks.Network, error) {
	choices, err := w.space.Match(a)
	if err != nil {
		return nil, err
	}
	s, err := w.subnetOf(choices)
	if err != nil {
		return nil, err
	}
	s.load()
	return s.net, nil
}

// extremes returns the choice vectors of the largest and the smallest
// network of the space by MACs, chosen stage by stage: every numeric
// decision at its largest (smallest) option, and the family that gives
// the most (fewest) MACs given the stages chosen before. Two passes let a
// stage see the widths the later stages settled on.
func extremes(sp *space.Space) (largest, smallest []int, err error) {
	pick := func(big bool) ([]int, error) {
		per := len(sp.Cardinalities()) / len(sp.Stages) // decisions per stage
		c := make([]int, len(sp.Stages)*per)
		for i, st := range sp.Stages {
			base := i * per
			c[base+1] = extremeIndex(intsToFloats(st.Kernels), big)
			c[base+2] = extremeIndex(st.Expansions, big)
			c[base+3] = extremeIndex(st.SE, big)
			c[base+4] = max(0, len(st.Acts)-1)
			c[base+5] = extremeIndex(intsToFloats(st.Widths), big)
			c[base+6] = extremeIndex(intsToFloats(st.Depths), big)
		}
		for range 2 {
			for i, st := range sp.Stages {
				best, bestMACs := -1, int64(0)
				for f := range st.Blocks {
					c[i*per] = f
					a, err := sp.Arch(c)
					if err != nil {
						continue
					}
					cost, err := a.Cost()
					if err != nil {
						continue
					}
					if best < 0 || (big && cost.MACs > bestMACs) || (!big && cost.MACs < bestMACs) {
						best, bestMACs = f, cost.MACs
					}
				}
				if best < 0 {
					return nil, fmt.Errorf("space %s: no family of stage %d gives a valid network with the other stages at their extremes", sp.Name, i)
				}
				c[i*per] = best
			}
		}
		return sp.Canonical(c)
	}
	if largest, err = pick(true); err != nil {
		return nil, nil, err
	}
	if smallest, err = pick(false); err != nil {
		return nil, nil, err
	}
	return largest, smallest, nil
}

// extremeIndex is the index of the largest (smallest) value, 0 for none.
func extremeIndex(xs []float64, big bool) int {
	best := 0
	for i, x := range xs {
		if (big && x > xs[best]) || (!big && x < xs[best]) {
			best = i
		}
	}
	return best
}

func intsToFloats(ns []int) []float64 {
	out := make([]float64, len(ns))
	for i, n := range ns {
		out[i] = float64(n)
	}
	return out
}

package search

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
)

// Strategy proposes points of a factorized search space — one option index
// per decision, as in MnasNet's factorized hierarchical space — and learns
// from the reward of each. Strategies are deterministic given their seed;
// State and Restore capture everything needed to continue a killed run
// (population, policy, random generator).
type Strategy interface {
	Name() string
	// Propose returns the next point to evaluate.
	Propose() []int
	// Observe reports the reward of a proposed point.
	Observe(choices []int, reward float64)
	// State serialises the strategy; Restore loads it back.
	State() ([]byte, error)
	Restore(state []byte) error
}

// Strategies lists the strategy names NewStrategy accepts.
var Strategies = []string{"random", "evolution", "rl"}

// StrategySettings tune the strategies; zero values mean the defaults.
type StrategySettings struct {
	Population int     // evolution: population size (default 16)
	Sample     int     // evolution: tournament sample size (default 4)
	LearnRate  float64 // rl: policy-gradient step (default 0.2)
	Baseline   float64 // rl: decay of the moving-average baseline (default 0.9)
}

// NewStrategy returns the named strategy over decisions with the given
// numbers of options.
func NewStrategy(name string, cardinalities []int, seed uint64, s StrategySettings) (Strategy, error) {
	for i, c := range cardinalities {
		if c < 1 {
			return nil, fmt.Errorf("decision %d has %d options; every decision needs at least one", i, c)
		}
	}
	src := newSource(seed)
	switch name {
	case "random":
		return &Random{card: cardinalities, src: src}, nil
	case "evolution":
		return newEvolution(cardinalities, src, s), nil
	case "rl":
		return newReinforce(cardinalities, src, s), nil
	}
	return nil, fmt.Errorf("unknown strategy %q (want one of %v)", name, Strategies)
}

// source is a seeded PCG generator whose state can be saved.
type source struct {
	pcg *rand.PCG
	rng *rand.Rand
}

func newSource(seed uint64) *source {
	pcg := rand.NewPCG(seed, 0x6e6173) // "nas"
	return &source{pcg: pcg, rng: rand.New(pcg)}
}

func (s *source) MarshalJSON() ([]byte, error) {
	b, err := s.pcg.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return json.Marshal(b)
}

func (s *source) UnmarshalJSON(data []byte) error {
	var b []byte
	if err := json.Unmarshal(data, &b); err != nil {
		return err
	}
	if s.pcg == nil {
		*s = *newSource(0)
	}
	return s.pcg.UnmarshalBinary(b)
}

// uniform draws one option per decision.
func uniform(card []int, rng *rand.Rand) []int {
	c := make([]int, len(card))
	for i, n := range card {
		c[i] = rng.IntN(n)
	}
	return c
}

// mutate changes exactly one decision that has more than one option to
// another of its options. A space with no such decision is returned as is.
func mutate(choices, card []int, rng *rand.Rand) []int {
	out := append([]int(nil), choices...)
	var free []int
	for i, n := range card {
		if n > 1 {
			free = append(free, i)
		}
	}
	if len(free) == 0 {
		return out
	}
	d := free[rng.IntN(len(free))]
	v := rng.IntN(card[d] - 1)
	if v >= out[d] {
		v++
	}
	out[d] = v
	return out
}

// Random samples every decision uniformly and learns nothing: the baseline
// the other strategies must beat.
type Random struct {
	card []int
	src  *source
}

func (r *Random) Name() string                     { return "random" }
func (r *Random) Propose() []int                   { return uniform(r.card, r.src.rng) }
func (r *Random) Observe(choices []int, _ float64) {}
func (r *Random) State() ([]byte, error)           { return json.Marshal(r.src) }
func (r *Random) Restore(b []byte) error           { return json.Unmarshal(b, r.src) }

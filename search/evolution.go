package search

import "encoding/json"

// Evolution is regularized (aging) evolution (Real et al., "Regularized
// Evolution for Image Classifier Architecture Search", AAAI 2019): a
// population of the most recent Population members; each child is a
// single-decision mutation of the best of Sample members drawn at random;
// the oldest member dies when a child is born. Until the population is
// full, proposals are uniform samples.
type Evolution struct {
	card []int
	st   evolutionState
}

type member struct {
	Choices []int   `json:"c"`
	Reward  float64 `json:"r"`
}

type evolutionState struct {
	Population int      `json:"population"`
	Sample     int      `json:"sample"`
	Members    []member `json:"members"` // oldest first
	Src        *source  `json:"rng"`
}

func newEvolution(card []int, src *source, s StrategySettings) *Evolution {
	p, k := s.Population, s.Sample
	if p <= 0 {
		p = 16
	}
	if k <= 0 {
		k = 4
	}
	k = min(k, p)
	return &Evolution{card: card, st: evolutionState{Population: p, Sample: k, Src: src}}
}

func (e *Evolution) Name() string { return "evolution" }

func (e *Evolution) Propose() []int {
	rng := e.st.Src.rng
	if len(e.st.Members) < e.st.Population {
		return uniform(e.card, rng)
	}
	best := -1
	for range e.st.Sample {
		i := rng.IntN(len(e.st.Members))
		if best < 0 || e.st.Members[i].Reward > e.st.Members[best].Reward {
			best = i
		}
	}
	return mutate(e.st.Members[best].Choices, e.card, rng)
}

func (e *Evolution) Observe(choices []int, reward float64) {
	e.st.Members = append(e.st.Members, member{append([]int(nil), choices...), reward})
	if len(e.st.Members) > e.st.Population {
		e.st.Members = e.st.Members[1:]
	}
}

func (e *Evolution) State() ([]byte, error) { return json.Marshal(&e.st) }

func (e *Evolution) Restore(b []byte) error { return json.Unmarshal(b, &e.st) }

package search

import (
	"encoding/json"
	"math"
)

// Reinforce is a policy-gradient controller in the spirit of MnasNet's:
// MnasNet trains an LSTM controller with PPO over the factorized
// per-stage decisions; here the policy is one independent softmax per
// decision (the factorization itself), trained with REINFORCE (Williams,
// 1992) against a moving-average baseline, with the advantage divided by a
// moving estimate of the reward's spread so that the step size does not
// depend on the reward's scale (rewards of a search differ by percents).
type Reinforce struct {
	card []int
	st   reinforceState
}

type reinforceState struct {
	Logits    [][]float64 `json:"logits"`
	LearnRate float64     `json:"lr"`
	Decay     float64     `json:"decay"`
	Baseline  float64     `json:"baseline"`
	Spread    float64     `json:"spread"` // moving mean of squared advantage
	Seen      int         `json:"seen"`
	Src       *source     `json:"rng"`
}

func newReinforce(card []int, src *source, s StrategySettings) *Reinforce {
	lr, decay := s.LearnRate, s.Baseline
	if lr <= 0 {
		lr = 0.2
	}
	if decay <= 0 || decay >= 1 {
		decay = 0.9
	}
	logits := make([][]float64, len(card))
	for i, n := range card {
		logits[i] = make([]float64, n)
	}
	return &Reinforce{card: card, st: reinforceState{Logits: logits, LearnRate: lr, Decay: decay, Src: src}}
}

func (r *Reinforce) Name() string { return "rl" }

// Probabilities returns the policy's distribution over decision d.
func (r *Reinforce) Probabilities(d int) []float64 { return softmax(r.st.Logits[d]) }

func (r *Reinforce) Propose() []int {
	rng := r.st.Src.rng
	out := make([]int, len(r.card))
	for d := range r.card {
		p := softmax(r.st.Logits[d])
		u := rng.Float64()
		out[d] = len(p) - 1
		for i, pi := range p {
			if u < pi {
				out[d] = i
				break
			}
			u -= pi
		}
	}
	return out
}

func (r *Reinforce) Observe(choices []int, reward float64) {
	st := &r.st
	if st.Seen == 0 {
		st.Baseline = reward
	}
	st.Seen++
	adv := reward - st.Baseline
	st.Spread = st.Decay*st.Spread + (1-st.Decay)*adv*adv
	st.Baseline = st.Decay*st.Baseline + (1-st.Decay)*reward
	if st.Spread <= 0 {
		return
	}
	step := st.LearnRate * adv / math.Sqrt(st.Spread)
	for d, a := range choices {
		p := softmax(st.Logits[d])
		for i := range p {
			g := -p[i]
			if i == a {
				g += 1
			}
			st.Logits[d][i] += step * g
		}
	}
}

func (r *Reinforce) State() ([]byte, error) { return json.Marshal(&r.st) }

func (r *Reinforce) Restore(b []byte) error { return json.Unmarshal(b, &r.st) }

func softmax(x []float64) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, v)
	}
	out := make([]float64, len(x))
	var s float64
	for i, v := range x {
		out[i] = math.Exp(v - m)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}

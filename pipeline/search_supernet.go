package pipeline

import (
	"fmt"

	"nas/search"
	"nas/space"
	"nas/supernet"
)

// Defaults of a search that scores its candidates with a supernet
// (SearchSettings.Supernet): a candidate costs well under a second
// instead of a proxy training run, so the budget is sized for many of
// them, and evolution's population for a budget of that size.
const (
	DefaultSupernetBudget = 1000
	// SupernetPopulation is the largest evolution population of a
	// supernet search, and SupernetSample its tournament size: those of
	// regularized evolution (Real et al., AAAI 2019) on its large
	// searches, 100 and 25.
	SupernetPopulation = 100
	SupernetSample     = 25
)

// strategySettings sizes the strategies to the budget. Evolution's
// population is a third of the budget up to 16 for proxy training, so
// that a small budget still breeds after the random start; a supernet
// search, with budgets of hundreds to thousands, keeps a tenth of its
// budget up to SupernetPopulation, with tournaments of a quarter of the
// population.
func (s SearchSettings) strategySettings() search.StrategySettings {
	if s.Supernet == "" {
		return search.StrategySettings{Population: min(16, max(4, s.Budget/3))}
	}
	pop := min(SupernetPopulation, max(4, s.Budget/10))
	return search.StrategySettings{Population: pop, Sample: max(2, min(SupernetSample, pop/4))}
}

// supernetEvaluator opens st's supernet for the run's space and data and
// returns its evaluator. A run that recorded a supernet's identity
// (a resumed run) refuses a folder whose weights are not those any more;
// a new run records the identity of the weights it opened.
func supernetEvaluator(st *SearchSettings, sp *space.Space, data Dataset, ds *Datasets) (*supernet.Evaluator, error) {
	sn, err := supernet.Open(st.Supernet)
	if err != nil {
		return nil, fmt.Errorf("supernet: %w", err)
	}
	if err := sn.CheckSpace(sp); err != nil {
		return nil, fmt.Errorf("supernet: %w", err)
	}
	if st.supernetIdentity != "" && st.supernetIdentity != sn.Identity {
		return nil, fmt.Errorf("supernet: the run searched with the supernet in %s whose weights have identity %.12s, and the folder now holds weights %.12s (trained further or replaced): resume with the same supernet, or start a new search with --supernet %s",
			st.Supernet, st.supernetIdentity, sn.Identity, st.Supernet)
	}
	sets, err := ds.Open(data)
	if err != nil {
		return nil, err
	}
	ev, err := supernet.NewEvaluator(sn, data.Name, sets, supernet.EvalOptions{})
	if err != nil {
		return nil, fmt.Errorf("supernet: %w", err)
	}
	st.supernetIdentity = sn.Identity
	return ev, nil
}

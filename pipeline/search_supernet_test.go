package pipeline

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/results"
	"nas/search"
	"nas/space"
	"nas/supernet"
)

// A supernet search without a budget gets DefaultSupernetBudget and an
// evolution population sized for it; proxy training keeps its own.
func TestSupernetSearchDefaults(t *testing.T) {
	st := SearchSettings{Objective: search.SoftObjective(1, search.DefaultW), Supernet: "runs/super"}.withDefaults()
	require.NoError(t, st.Validate())
	require.Equal(t, DefaultSupernetBudget, st.Budget)
	require.Equal(t, search.StrategySettings{Population: DefaultSupernetBudget / 10, Sample: DefaultSupernetBudget / 40}, st.strategySettings())
	st.Budget = 5000
	require.Equal(t, search.StrategySettings{Population: SupernetPopulation, Sample: SupernetSample}, st.strategySettings())

	st.Budget = 200
	require.Equal(t, search.StrategySettings{Population: 20, Sample: 5}, st.strategySettings())

	// A window of candidates in flight: scored on workers through a
	// SupernetScorer, one at a time in this process.
	par := st
	par.Parallel = 4
	require.NoError(t, par.Validate())

	proxy := SearchSettings{Objective: search.SoftObjective(1, search.DefaultW), Proxy: true}.withDefaults()
	require.NoError(t, proxy.Validate())
	require.Equal(t, DefaultProxyBudget, proxy.Budget)
	require.Equal(t, search.StrategySettings{Population: 4}, proxy.strategySettings())
	require.Equal(t, 1, proxy.FinalEpochs)
	require.Equal(t, DefaultFinalFraction, proxy.FinalFraction)
	proxy.Supernet = "runs/super"
	require.ErrorContains(t, proxy.Validate(), "proxy training scores candidates without a supernet")

	// The supernet's fine-tune: DefaultFinalEpochs on all of the training
	// split from the inherited weights, validated on the supernet's split.
	require.Equal(t, DefaultFinalEpochs, st.FinalEpochs)
	require.Equal(t, 1.0, st.FinalFraction)
	require.Equal(t, DefaultSupernetRecipe(), st.SupernetRecipe)
	fr := FinalRecipe(st)
	require.Equal(t, DefaultFineTuneLR, fr.LR)
	require.Equal(t, uint64(supernetSeed), fr.SplitSeed)
	bad := st
	bad.SupernetRecipe.Fraction = 1.5
	require.ErrorContains(t, bad.Validate(), "supernet_fraction")

	// The run stores the folder and the weights' identity, and reads them back.
	st.supernetIdentity = "abc"
	got, err := settingsOf(1, st.runConfig(""))
	require.NoError(t, err)
	require.Equal(t, "runs/super", got.Supernet)
	require.Equal(t, "abc", got.supernetIdentity)
	require.False(t, got.Proxy)
	require.Equal(t, st.SupernetRecipe, got.SupernetRecipe)
	got, err = settingsOf(1, proxy.runConfig(""))
	require.NoError(t, err)
	require.True(t, got.Proxy)

	// Runs stored before the accuracy source was recorded: proxy training
	// unless a supernet folder is named.
	old := results.RunConfig{Strategy: "evolution", TargetMs: 1, Settings: []byte(`{"budget": 12}`)}
	got, err = settingsOf(1, old)
	require.NoError(t, err)
	require.True(t, got.Proxy)
	old.Settings = []byte(`{"budget": 12, "supernet": "runs/super"}`)
	got, err = settingsOf(1, old)
	require.NoError(t, err)
	require.False(t, got.Proxy)
	require.Equal(t, DefaultSupernetRecipe(), got.withDefaults().SupernetRecipe)
}

// SupernetFolder names one folder per space, data and recipe.
func TestSupernetFolder(t *testing.T) {
	sp, err := space.LoadSpace("small28")
	require.NoError(t, err)
	other, err := space.LoadSpace("convnet28")
	require.NoError(t, err)
	data := supernet.DataIdentity{Name: "fashion-mnist", Hash: "aa"}
	cfg := DefaultSupernetRecipe().Config("fashion-mnist", 64, 2)
	a, err := SupernetFolder("runs/supernets", sp, data, cfg)
	require.NoError(t, err)
	require.Regexp(t, `^runs/supernets/small28-fashion-mnist-[0-9a-f]{12}$`, a)
	cfg.Recipe.Threads, cfg.Recipe.CheckpointSteps = 1, 7 // not what the weights are
	same, _ := SupernetFolder("runs/supernets", sp, data, cfg)
	require.Equal(t, a, same, "threads and checkpoints do not name another supernet")
	b, _ := SupernetFolder("runs/supernets", other, data, cfg)
	c, _ := SupernetFolder("runs/supernets", sp, supernet.DataIdentity{Name: "fashion-mnist", Hash: "bb"}, cfg)
	cfg.Random = 3
	d, _ := SupernetFolder("runs/supernets", sp, data, cfg)
	cfg.Random, cfg.Sampling = 1, supernet.SamplingFair
	e, _ := SupernetFolder("runs/supernets", sp, data, cfg)
	require.Len(t, map[string]bool{a: true, b: true, c: true, d: true, e: true}, 5, "another space, data or recipe is another folder")
	cfg.Sampling = supernet.SamplingUniform
	named, _ := SupernetFolder("runs/supernets", sp, data, cfg)
	require.Equal(t, a, named, "the uniform rule named is the default")
}

// gateProbe is a LatencySource whose table lacks the blocks of the
// networks in missing: it records, at each prediction, whether the gate
// was held exclusively (no evaluation could hold it shared).
type gateProbe struct {
	gate      *sync.RWMutex
	missing   map[*space.Arch]bool
	exclusive []bool
}

func (g *gateProbe) Complete(a *space.Arch) (bool, error) { return !g.missing[a], nil }

func (g *gateProbe) PredictMs(_ context.Context, a *space.Arch) (float64, error) {
	held := !g.gate.TryRLock()
	if !held {
		g.gate.RUnlock()
	}
	g.exclusive = append(g.exclusive, held)
	return 1, nil
}

func (g *gateProbe) MeasureMs(context.Context, []*space.Arch, int) ([]float64, error) {
	return nil, errors.New("not used")
}

// A prediction that measures blocks holds the gate exclusively, so that
// no supernet evaluation runs beside the measurement; one the table
// answers does not, so that it never waits for the evaluations.
func TestSearchLatencyGate(t *testing.T) {
	sp, err := space.LoadSpace(DefaultSpace)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	_, known, err := sp.Sample(rng)
	require.NoError(t, err)
	_, unknown, err := sp.Sample(rng)
	require.NoError(t, err)
	gate := &sync.RWMutex{}
	probe := &gateProbe{gate: gate, missing: map[*space.Arch]bool{unknown: true}}
	l := searchLatency{ctx: context.Background(), src: probe, gate: gate}
	for _, a := range []*space.Arch{known, unknown, known} {
		_, err := l.LatencyMs(a)
		require.NoError(t, err)
	}
	require.Equal(t, []bool{false, true, false}, probe.exclusive)

	// An evaluation in flight holds the gate shared: a prediction the
	// table answers goes ahead meanwhile.
	gate.RLock()
	_, err = l.LatencyMs(known)
	require.NoError(t, err)
	gate.RUnlock()
}

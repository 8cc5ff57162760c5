package pipeline

import (
	"testing"

	"github.com/stretchr/testify/require"

	"nas/search"
)

// A supernet search without a budget gets DefaultSupernetBudget and an
// evolution population sized for it; proxy training keeps its own.
func TestSupernetSearchDefaults(t *testing.T) {
	st := SearchSettings{Objective: search.SoftObjective(1, search.DefaultW), Supernet: "runs/super"}.withDefaults()
	require.NoError(t, st.Validate())
	require.Equal(t, DefaultSupernetBudget, st.Budget)
	require.Equal(t, search.StrategySettings{Population: SupernetPopulation, Sample: SupernetSample}, st.strategySettings())

	st.Budget = 200
	require.Equal(t, search.StrategySettings{Population: 20, Sample: 5}, st.strategySettings())

	proxy := SearchSettings{Objective: search.SoftObjective(1, search.DefaultW)}.withDefaults()
	require.Error(t, proxy.Validate(), "proxy training needs a budget")
	proxy.Budget = 12
	require.Equal(t, search.StrategySettings{Population: 4}, proxy.strategySettings())

	// The run stores the folder and the weights' identity, and reads them back.
	st.supernetIdentity = "abc"
	got, err := settingsOf(1, st.runConfig(""))
	require.NoError(t, err)
	require.Equal(t, "runs/super", got.Supernet)
	require.Equal(t, "abc", got.supernetIdentity)
}

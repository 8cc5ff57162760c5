package results

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBaselines(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "results.db"))
	id, err := s.CreateRun(testConfig)
	require.NoError(t, err)

	got, err := s.Baselines(id)
	require.NoError(t, err)
	require.Empty(t, got, "a run starts without baselines")

	v3 := Baseline{Name: "mobilenet_v3_small", LatencyMs: 2.1, Accuracy: 0.88, Params: 1_528_106, MACs: 2_800_000}
	test := 0.885
	v2 := Baseline{Name: "mobilenet_v2", Arch: "in1x28x28 cls10 | gap | linear_o10", LatencyMs: 7.6, Accuracy: 0.9, TestAccuracy: &test, Params: 2_236_682, MACs: 6_000_000}
	require.NoError(t, s.AddBaselines(id, v3, v2))
	require.NoError(t, s.SetStatus(id, RunFinished))
	v3.Accuracy = 0.89 // same name: replaced, also on a finished run
	require.NoError(t, s.AddBaselines(id, v3))

	got, err = s.Baselines(id)
	require.NoError(t, err)
	require.Equal(t, []Baseline{v2, v3}, got, "by name, the latest of each name")

	r, err := s.Run(id)
	require.NoError(t, err)
	require.Zero(t, r.Trials, "baselines are not trials")

	_, err = s.Baselines(99)
	require.ErrorIs(t, err, ErrUnknownRun)
}

func TestBaselineInvalid(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "results.db"))
	id, err := s.CreateRun(testConfig)
	require.NoError(t, err)
	good := Baseline{Name: "squeezenet1_1", LatencyMs: 7, Accuracy: 0.8}
	pct := 85.0
	for name, b := range map[string]Baseline{
		"no name":          {LatencyMs: 1, Accuracy: 0.5},
		"NaN latency":      {Name: "x", LatencyMs: math.NaN(), Accuracy: 0.5},
		"negative latency": {Name: "x", LatencyMs: -1, Accuracy: 0.5},
		"accuracy in %":    {Name: "x", LatencyMs: 1, Accuracy: 85},
		"test acc in %":    {Name: "x", LatencyMs: 1, Accuracy: 0.5, TestAccuracy: &pct},
		"negative params":  {Name: "x", LatencyMs: 1, Accuracy: 0.5, Params: -1},
	} {
		t.Run(name, func(t *testing.T) {
			err := s.AddBaselines(id, good, b)
			require.ErrorIs(t, err, ErrInvalidBaseline)
			got, err := s.Baselines(id)
			require.NoError(t, err)
			require.Empty(t, got, "one bad baseline stores none")
		})
	}
}

package results

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPlotEdgeCases(t *testing.T) {
	one := okTrial(1, 2, 0.9, 0.9)
	failed := Trial{Seq: 2, Arch: "a2", PredictedLatencyMs: 0, Status: TrialFailed, Reason: "diverged"}
	for name, tc := range map[string]struct {
		trials    []Trial
		baselines []Baseline
		target    float64
	}{
		"no trials":            {},
		"no trials, target":    {target: 3},
		"one trial":            {trials: []Trial{one}},
		"identical trials":     {trials: []Trial{one, okTrial(2, 2, 0.9, 0.9), okTrial(3, 2, 0.9, 0.9)}, target: 2},
		"only failed, 0 ms":    {trials: []Trial{failed}},
		"only baselines":       {baselines: testBaselines, target: 2},
		"accuracy 0 and 1":     {trials: []Trial{okTrial(1, 1, 0, 0), okTrial(2, 5, 1, 1)}},
		"sub-microsecond span": {trials: []Trial{okTrial(1, 1e-4, 0.5, 0.5), okTrial(2, 2e-4, 0.6, 0.6)}},
	} {
		t.Run(name, func(t *testing.T) {
			r := NewReport(Run{ID: 1, Config: RunConfig{Strategy: "random", TargetMs: tc.target}}, tc.trials, tc.baselines)
			fig, err := r.Plot()
			require.NoError(t, err)
			var svg, png bytes.Buffer
			require.NoError(t, WriteSVG(&svg, fig))
			require.NoError(t, WritePNG(&png, fig))
			xmlTexts(t, svg.Bytes())
			require.True(t, bytes.HasPrefix(png.Bytes(), []byte("\x89PNG")))
			require.Less(t, fig.Plot.X.Min, fig.Plot.X.Max)
			require.Less(t, fig.Plot.Y.Min, fig.Plot.Y.Max)
		})
	}
}

func TestNiceTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		labels []string
	}{
		{76, 92, []string{"76", "78", "80", "82", "84", "86", "88", "90", "92"}},
		{0.4, 2.7, []string{"0.5", "1.0", "1.5", "2.0", "2.5"}},
		{0, 100, []string{"0", "20", "40", "60", "80", "100"}},
		{0.0001, 0.0002, []string{"0.00010", "0.00012", "0.00014", "0.00016", "0.00018", "0.00020"}},
		{5, 5, []string{"5"}},
	} {
		var got []string
		for _, tick := range (niceTicks{}).Ticks(tc.lo, tc.hi) {
			require.GreaterOrEqual(t, tick.Value, tc.lo-1e-12)
			require.LessOrEqual(t, tick.Value, tc.hi+1e-12)
			if tick.Label != "" {
				got = append(got, tick.Label)
			}
		}
		require.Equal(t, tc.labels, got, "ticks of [%v, %v]", tc.lo, tc.hi)
	}
}

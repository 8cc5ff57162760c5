package latency

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/space"
)

func spread(s ValidationSample, pct float64) ValidationSample {
	s.RoundGapPct = pct
	return s
}

func TestSummarize(t *testing.T) {
	s := func(pred, meas float64) ValidationSample {
		return ValidationSample{PredictedMs: pred, MeasuredMs: meas, ErrorPct: 100 * (pred - meas) / meas}
	}
	tests := []struct {
		name    string
		samples []ValidationSample
		want    Validation
	}{
		{"none", nil, Validation{}},
		{"exact", []ValidationSample{s(2, 2), s(3, 3)}, Validation{Within5: 1, Within10: 1}},
		{
			"mixed",
			// errors +4%, -8%, +20%, -5%; rounds 1%, 3%, 10%, 2% apart
			[]ValidationSample{spread(s(10.4, 10), 1), spread(s(9.2, 10), 3), spread(s(12, 10), 10), spread(s(9.5, 10), 2)},
			Validation{
				MedianRoundGapPct: 2.5,
				MeanAbsPct:        (4 + 8 + 20 + 5) / 4.0,
				MeanPct:           (4 - 8 + 20 - 5) / 4.0,
				RMSEMs:            math.Sqrt((0.16 + 0.64 + 4 + 0.25) / 4),
				P90AbsPct:         8 + 0.7*(20-8), // type-7 quantile of 4, 5, 8, 20
				Within5:           0.5,
				Within10:          0.75,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Summarize(tt.samples)
			require.InDelta(t, tt.want.MeanAbsPct, got.MeanAbsPct, 1e-9)
			require.InDelta(t, tt.want.MeanPct, got.MeanPct, 1e-9)
			require.InDelta(t, tt.want.RMSEMs, got.RMSEMs, 1e-9)
			require.InDelta(t, tt.want.P90AbsPct, got.P90AbsPct, 1e-9)
			require.InDelta(t, tt.want.Within5, got.Within5, 1e-9)
			require.InDelta(t, tt.want.Within10, got.Within10, 1e-9)
			require.InDelta(t, tt.want.MedianRoundGapPct, got.MedianRoundGapPct, 1e-9)
			require.Equal(t, tt.samples, got.Samples)
		})
	}
}

func TestValidator(t *testing.T) {
	tbl := openTest(t, filepath.Join(t.TempDir(), "lut.db"), testFingerprint(1), Options{})
	archs := []*space.Arch{tinyArch("a", 1), tinyArch("b", 2)}
	items, err := DistinctItems(archs, 1)
	require.NoError(t, err)
	_, err = newTestProfiler(t, tbl).Profile(context.Background(), items)
	require.NoError(t, err)

	var progress []int
	v := &Validator{Predictor: &Predictor{Table: tbl}, Compile: NetworkCompiler(1), Protocol: fastProtocol,
		Progress: func(done, total int) { progress = append(progress, done, total) }}
	res, err := v.Validate(context.Background(), archs)
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 2, 2}, progress)
	require.Len(t, res.Samples, 2)
	for i, s := range res.Samples {
		require.Equal(t, archs[i].Name, s.Network)
		require.Greater(t, s.PredictedMs, 0.0)
		require.Greater(t, s.MeasuredMs, 0.0)
		require.InDelta(t, 100*(s.PredictedMs-s.MeasuredMs)/s.MeasuredMs, s.ErrorPct, 1e-9)
	}
	require.GreaterOrEqual(t, res.Within10, res.Within5)

	// A network whose entries are missing from a table that may not be
	// filled stops validation with the predictor's error.
	_, err = (&Validator{Predictor: &Predictor{Table: tbl}, Compile: NetworkCompiler(1), Protocol: fastProtocol}).
		Validate(context.Background(), []*space.Arch{tinyArch("c", 3)})
	require.ErrorIs(t, err, ErrMissingEntries)
}

package pipeline

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/search"
)

const historyTestArch = "in1x28x28 cls10 | conv_o16_k3_arelu | gap | linear_o10"

// testHistory is a small valid history of two iterations.
func testHistory() History {
	return History{
		Settings: NetAdaptSettings{Arch: historyTestArch, TargetMs: 1, Seed: 3},
		Iterations: []search.Iteration{
			{Index: 0, Arch: historyTestArch, LatencyMs: 2, MeasuredMs: 2.1, Accuracy: 0.8},
			{Index: 1, Arch: "in1x28x28 cls10 | conv_o8_k3_arelu | gap | linear_o10", Unit: "conv0", From: 16, To: 8,
				ConstraintMs: 1.5, LatencyMs: 1.4, MeasuredMs: 1.5, Accuracy: 0.7,
				Proposals: []search.Proposal{{Unit: "conv0", From: 16, To: 8, LatencyMs: 1.4, Accuracy: 0.7}}},
		},
	}
}

func TestReadHistory(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadHistory(dir)
	require.ErrorIs(t, err, ErrNoHistory)

	want := testHistory()
	b, err := json.Marshal(want)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, HistoryFile), b, 0o644))
	h, err := ReadHistory(dir)
	require.NoError(t, err)
	require.Equal(t, want, *h)

	// A file beyond the bound is refused before it is read.
	f, err := os.Create(filepath.Join(dir, HistoryFile))
	require.NoError(t, err)
	require.NoError(t, f.Truncate(MaxHistoryBytes+1))
	require.NoError(t, f.Close())
	_, err = ReadHistory(dir)
	require.ErrorContains(t, err, "more than the 64 MiB")
}

func TestDecodeHistoryRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(h *History)
		want string
	}{
		"settings":       {func(h *History) { h.Settings.TargetMs = 0 }, "settings: target_ms"},
		"settings arch":  {func(h *History) { h.Settings.Arch = "conv" }, "settings: arch"},
		"order":          {func(h *History) { h.Iterations[1].Index = 2 }, "iterations[1]: index 2, want 1"},
		"final early":    {func(h *History) { h.Iterations[0].Final = true }, "iterations[0]: a final iteration"},
		"arch":           {func(h *History) { h.Iterations[1].Arch = "nonsense" }, "iterations[1]: arch"},
		"channels":       {func(h *History) { h.Iterations[1].To = -1 }, "must not be negative"},
		"latency":        {func(h *History) { h.Iterations[0].LatencyMs = -1 }, "iterations[0]: latency_ms -1"},
		"proposal value": {func(h *History) { h.Iterations[1].Proposals[0].Accuracy = -0.5 }, "iterations[1]: proposals[0]: val_acc"},
	} {
		t.Run(name, func(t *testing.T) {
			h := testHistory()
			tc.edit(&h)
			b, err := json.Marshal(h)
			require.NoError(t, err)
			_, err = DecodeHistory(b)
			require.ErrorContains(t, err, tc.want)
		})
	}
	// JSON has no NaN or infinity; a figure too large for a float64 is
	// a decoding error.
	_, err := DecodeHistory([]byte(`{"settings": {}, "iterations": [{"latency_ms": 1e999}]}`))
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrNoHistory))
	require.Error(t, checkFigure("val_acc", math.NaN()))
	require.Error(t, checkFigure("val_acc", math.Inf(1)))
}

// FuzzReadHistory: the decoder of history.json never panics, and what it
// accepts encodes and decodes to the same history.
func FuzzReadHistory(f *testing.F) {
	good, err := json.Marshal(testHistory())
	require.NoError(f, err)
	f.Add(good)
	f.Add([]byte(`{"settings": {"arch": "` + historyTestArch + `", "target_ms": 1}, "iterations": []}`))
	f.Add([]byte(`{"settings": {}, "iterations": [{"index": 0}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := DecodeHistory(data)
		if err != nil {
			return
		}
		b, err := json.Marshal(h)
		require.NoError(t, err)
		h2, err := DecodeHistory(b)
		require.NoError(t, err, "re-encoded: %s", b)
		b2, err := json.Marshal(h2)
		require.NoError(t, err)
		require.Equal(t, string(b), string(b2))
	})
}

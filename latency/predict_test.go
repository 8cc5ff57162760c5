package latency

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPredictSumsEntries(t *testing.T) {
	tbl := openTest(t, filepath.Join(t.TempDir(), "lut.db"), testFingerprint(1), Options{})
	a := tinyArch("tiny", 1)
	items, err := ArchItems(a, 1)
	require.NoError(t, err)
	want := 0.0
	entries := map[string]Entry{}
	for i, it := range items {
		e := entryFor(i)
		entries[it.Key] = e
		// A block counts its latency (p10); the overhead its median, the
		// median over the calibration networks.
		if it.IsOverhead() {
			want += e.MedianMs()
		} else {
			want += e.LatencyMs()
		}
	}
	require.NoError(t, tbl.PutMany(entries))
	pred, err := (&Predictor{Table: tbl}).Predict(context.Background(), a)
	require.NoError(t, err)
	require.InDelta(t, want, pred.Ms, 1e-12)
	require.Len(t, pred.Blocks, len(a.Layers))
	require.Equal(t, entryFor(5).MedianMs(), pred.OverheadMs)
	for i, b := range pred.Blocks {
		require.Equal(t, i, b.Index)
		require.Equal(t, a.Layers[i].Type(), b.Type)
		require.Equal(t, entryFor(i).LatencyMs(), b.Ms)
	}
	require.Zero(t, pred.MeasuredNow)
}

func TestPredictMissing(t *testing.T) {
	a := tinyArch("tiny", 1)
	items, err := ArchItems(a, 1)
	require.NoError(t, err)

	t.Run("foreign device: error lists the missing entries and the command", func(t *testing.T) {
		foreign := foreignTable(t, items)
		// Fill is set but must not be used on another device's table.
		_, err := (&Predictor{Table: foreign, Fill: newTestProfiler(t, foreign)}).Predict(context.Background(), a)
		var me *MissingError
		require.True(t, errors.As(err, &me), "got %v", err)
		require.ErrorIs(t, err, ErrMissingEntries)
		require.Len(t, me.Keys, len(items)-1)
		require.Equal(t, items[1].Key, me.Keys[0])
		require.Equal(t, testFingerprint(2).ID(), me.Device)
		require.Contains(t, err.Error(), "nas profile --lut "+foreign.Path()+" --lut-threads 2 --batch 1 tiny")
	})

	t.Run("this machine: measured on the spot", func(t *testing.T) {
		tbl := openTest(t, filepath.Join(t.TempDir(), "lut.db"), testFingerprint(1), Options{})
		require.NoError(t, tbl.Put(items[0].Key, entryFor(0)))
		pr := &Predictor{Table: tbl, Fill: newTestProfiler(t, tbl)}
		pred, err := pr.Predict(context.Background(), a)
		require.NoError(t, err)
		require.Equal(t, len(items)-1, pred.MeasuredNow)
		require.Equal(t, entryFor(0).LatencyMs(), pred.Blocks[0].Ms)
		n, err := tbl.Len()
		require.NoError(t, err)
		require.Equal(t, len(items), n)
	})

	t.Run("this machine without Fill: error", func(t *testing.T) {
		tbl := openTest(t, filepath.Join(t.TempDir(), "lut.db"), testFingerprint(1), Options{})
		_, err := (&Predictor{Table: tbl}).Predict(context.Background(), a)
		require.ErrorIs(t, err, ErrMissingEntries)
		require.Contains(t, err.Error(), fmt.Sprintf("lacks %d entries", len(items)))
		require.Contains(t, err.Error(), "and 1 more")
	})
}

func TestPredictFillsOnlyWhatIsMissing(t *testing.T) {
	tbl := openTest(t, filepath.Join(t.TempDir(), "lut.db"), testFingerprint(1), Options{})
	a := tinyArch("tiny", 1)
	items, err := ArchItems(a, 1)
	require.NoError(t, err)
	// One entry of one round; the rest missing.
	require.NoError(t, tbl.Put(items[0].Key, entryFor(0)))
	fill := newTestProfiler(t, tbl)
	fill.Rounds = 3
	pred, err := (&Predictor{Table: tbl, Fill: fill}).Predict(context.Background(), a)
	require.NoError(t, err)
	require.Equal(t, len(items)-1, pred.MeasuredNow, "entries, not measurements")
	e, _, err := tbl.Get(items[0].Key)
	require.NoError(t, err)
	require.Equal(t, entryFor(0), e, "a prediction does not refine what is there")
	for _, it := range items[1:] {
		e, ok, err := tbl.Get(it.Key)
		require.NoError(t, err)
		require.True(t, ok, it.Key)
		require.Equal(t, 3, e.Rounds, it.Key)
	}
}

// TestPredictScalesBySum checks a calibrated overhead's beta and scale:
// each block counts its latency plus beta times its cold excess, and the
// prediction is their sum times the scale, whatever the overhead's median.
func TestPredictScalesBySum(t *testing.T) {
	for _, beta := range []float64{0, 1.5} {
		tbl := openTest(t, filepath.Join(t.TempDir(), "lut.db"), testFingerprint(1), Options{})
		a := tinyArch("tiny", 1)
		items, err := ArchItems(a, 1)
		require.NoError(t, err)
		sum := 0.0 // ns
		entries := map[string]Entry{}
		for i, it := range items {
			e := entryFor(i)
			if it.IsOverhead() {
				e.Scale, e.Beta = 1.25, beta
			} else {
				e.ColdNs = e.P10Ns + 1000*float64(i+1)
				sum += e.P10Ns + beta*(e.ColdNs-e.P10Ns)
			}
			entries[it.Key] = e
		}
		require.NoError(t, tbl.PutMany(entries))
		pred, err := (&Predictor{Table: tbl}).Predict(context.Background(), a)
		require.NoError(t, err)
		require.InDelta(t, 1.25*sum/1e6, pred.Ms, 1e-12, "beta %v", beta)
		require.InDelta(t, 0.25*sum/1e6, pred.OverheadMs, 1e-12, "beta %v", beta)
		for _, b := range pred.Blocks {
			require.InDelta(t, b.Entry.BlockNs(beta)/1e6, b.Ms, 1e-15)
			if beta > 0 {
				require.Greater(t, b.Ms, b.Entry.LatencyMs())
			} else {
				require.Equal(t, b.Entry.LatencyMs(), b.Ms)
			}
		}
	}
	// Without a cold entry, or with beta 0, a block counts its latency.
	require.Equal(t, 7.0, Entry{P10Ns: 7}.BlockNs(2))
	require.Equal(t, 7.0, Entry{P10Ns: 7, ColdNs: 9}.BlockNs(0))
	require.Equal(t, 0.0, Entry{P10Ns: 7, ColdNs: 1}.BlockNs(4), "never below 0")
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"nas/blocks/kernels"
	"nas/latency"
)

// writeTinySpace writes a small conv-only search space on 1x8x8 inputs.
func writeTinySpace(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tiny.json")
	require.NoError(t, os.WriteFile(path, []byte(`{
	  "version": 1, "name": "tiny", "input": [1, 8, 8], "classes": 3,
	  "stem": [{"type": "conv", "out": 4, "kernel": 3, "act": "relu"}],
	  "stages": [
	    {"stride": 2, "blocks": ["conv"], "kernels": [1, 3], "acts": ["relu"], "widths": [8], "depths": [1, 2]},
	    {"stride": 1, "blocks": ["conv"], "kernels": [3], "acts": ["relu"], "widths": [8, 16], "depths": [1]}
	  ],
	  "head": [{"type": "gap"}, {"type": "linear"}]
	}`), 0o644))
	return path
}

func TestLatencyFlags(t *testing.T) {
	var got *latencyOptions
	cmd := newCmdLatency(func(_ *cobra.Command, o *latencyOptions) error { got = o; return nil }, nil)
	cmd.SetArgs([]string{"mobilenet_v2", "--lut", "x.db", "--measure", "--lut-threads", "2", "--json", "--input", "3x32x32", "--device", "fp-1"})
	require.NoError(t, cmd.Execute())
	require.Equal(t, "mobilenet_v2", got.Ref)
	require.True(t, got.Measure && got.JSON)
	require.Equal(t, tableFlags{LUT: "x.db", Device: "fp-1", Threads: 2, Batch: 1}, got.Table)

	var gotV *validateOptions
	cmd = newCmdLatency(nil, func(_ *cobra.Command, o *validateOptions) error { gotV = o; return nil })
	cmd.SetArgs([]string{"validate", "--lut", "x.db", "--space", "small28", "--samples", "7", "--seed", "9"})
	require.NoError(t, cmd.Execute())
	require.Equal(t, "small28", gotV.Space)
	require.Equal(t, 7, gotV.Samples)
	require.Equal(t, uint64(9), gotV.Seed)

	for _, args := range [][]string{
		{"latency", "mobilenet_v2", "--lut", ""},
		{"latency", "mobilenet_v2", "--lut-threads", "-1"},
		{"latency", "--lut", "x.db"},
		{"latency", "validate", "--lut", "x.db", "--samples", "3"},
		{"latency", "validate", "--lut", "x.db", "--space", "small28", "--samples", "0"},
	} {
		code, _, errOut := runNas(t, args...)
		require.Equal(t, exitUsage, code, "%v: %s", args, errOut)
	}
}

func TestLatencyPredictAndMeasure(t *testing.T) {
	lut := filepath.Join(t.TempDir(), "lut.db")
	code, _, errOut := runNas(t, append([]string{"profile", "--lut", lut, tinyNet}, fastFlags...)...)
	require.Equal(t, 0, code, errOut)

	code, out, errOut := runNas(t, append([]string{"latency", tinyNet, "--lut", lut, "--json", "--measure"}, fastFlags...)...)
	require.Equal(t, 0, code, errOut)
	var r struct {
		PredictedMs float64  `json:"predicted_ms"`
		OverheadMs  float64  `json:"overhead_ms"`
		MeasuredMs  *float64 `json:"measured_ms"`
		ErrorPct    *float64 `json:"error_pct"`
		MeasuredNow int      `json:"entries_measured_now"`
		Blocks      []struct {
			Index int     `json:"index"`
			Block string  `json:"block"`
			Ms    float64 `json:"ms"`
		} `json:"blocks"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &r))
	require.Len(t, r.Blocks, 4)
	require.Equal(t, "ir_o8_m8", r.Blocks[1].Block)
	sum := r.OverheadMs
	for _, b := range r.Blocks {
		sum += b.Ms
	}
	require.InDelta(t, r.PredictedMs, sum, 1e-9)
	require.NotNil(t, r.MeasuredMs)
	require.Greater(t, *r.MeasuredMs, 0.0)
	require.InDelta(t, 100*(r.PredictedMs-*r.MeasuredMs) / *r.MeasuredMs, *r.ErrorPct, 1e-9)
	require.Zero(t, r.MeasuredNow)

	// Text form, and an entry measured on the spot for a network the table
	// lacks a block of.
	other := "in1x8x8 cls3 | conv_o4_k3_s2_arelu | ir_e2_o8_k5 | gap | linear_o3"
	code, out, errOut = runNas(t, append([]string{"latency", other, "--lut", lut}, fastFlags...)...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "1 missing entries measured now")
	require.Contains(t, out, "ir_o8_m8_k5")
	require.Contains(t, out, "predicted")
}

// writeBoardLut writes a table of an arm64 board profiled with this
// build's kernels, with one entry.
func writeBoardLut(t *testing.T) (string, latency.Fingerprint) {
	t.Helper()
	board := boardFingerprint
	board.KernelVersion = kernels.Version
	path := filepath.Join(t.TempDir(), "lut.db")
	tbl, err := latency.Open(path, board, latency.Options{})
	require.NoError(t, err)
	require.NoError(t, tbl.Put("gap|8x4x4|b1", latency.Entry{MedianNs: 1000, P10Ns: 900, P90Ns: 1100, Samples: 20, MeasuredAt: time.Now()}))
	require.NoError(t, tbl.Close())
	return path, board
}

func TestLatencyForeignTable(t *testing.T) {
	lut, board := writeBoardLut(t) // one entry of the network
	code, _, errOut := runNas(t, "latency", tinyNet, "--lut", lut)
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "was profiled on another device")

	// Naming the device reads it, but cannot measure what it lacks here.
	code, _, errOut = runNas(t, "latency", tinyNet, "--lut", lut, "--device", board.ID())
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "lacks 4 entries")
	require.Contains(t, errOut, "conv_o4_k3_s2_arelu|1x8x8|b1")
	require.NotContains(t, errOut, "gap|8x4x4|b1", "the entry the table has is not missing")
	require.Contains(t, errOut, "nas profile --lut "+lut+" --lut-threads 4 --batch 1 '"+tinyNet+"'", "the board's thread count, read from the table")

	code, _, errOut = runNas(t, "latency", tinyNet, "--lut", filepath.Join(t.TempDir(), "none.db"))
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "nas profile --lut")
}

func TestLatencyValidate(t *testing.T) {
	lut := filepath.Join(t.TempDir(), "lut.db")
	spaceFile := writeTinySpace(t)
	code, _, errOut := runNas(t, append([]string{"profile", "--lut", lut, "--space", spaceFile}, fastFlags...)...)
	require.Equal(t, 0, code, errOut)
	code, out, errOut := runNas(t, append([]string{"latency", "validate", "--lut", lut, "--space", spaceFile, "--samples", "3", "--json"}, fastFlags...)...)
	require.Equal(t, 0, code, errOut)
	var r map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &r))
	for _, k := range []string{"mean_abs_pct", "p90_abs_pct", "rmse_ms", "within_5pct", "within_10pct"} {
		require.Contains(t, r, k)
	}
	w5, w10 := r["within_5pct"].(float64), r["within_10pct"].(float64)
	require.True(t, 0 <= w5 && w5 <= w10 && w10 <= 1, "fractions: %v %v", w5, w10)
	require.Len(t, r["samples"], 3)

	code, out, errOut = runNas(t, append([]string{"latency", "validate", "--lut", lut, "--space", spaceFile, "--samples", "2"}, fastFlags...)...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "within ±5%")
}

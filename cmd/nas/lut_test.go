package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"nas/latency"
)

// boardFingerprint is a device other than the machine running the tests.
var boardFingerprint = latency.Fingerprint{
	CPUModel: "Cortex-A76", CPUFeatures: []string{"asimd"}, KernelPath: "generic", KernelVersion: 1,
	GOOS: "linux", GOARCH: "arm64", Threads: 4, GoVersion: "go1.26.0", OSRelease: "6.6.31-v8",
}

func writeLut(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lut.db")
	tbl, err := latency.Open(path, boardFingerprint, latency.Options{})
	require.NoError(t, err)
	at := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	require.NoError(t, tbl.PutMany(map[string]latency.Entry{
		"ir_k3_e6_i16_o24|in16x56x56|b1": {MedianNs: 152300, P10Ns: 150000, P90Ns: 160000.5, Samples: 50, MeasuredAt: at, Protocol: "warmup=5, repeats=50"},
		"conv_k3_s2_o16|in3x224x224|b1":  {MedianNs: 98000, P10Ns: 97000, P90Ns: 99000, Samples: 50, MeasuredAt: at.Add(time.Hour)},
	}))
	require.NoError(t, tbl.Close())
	return path
}

func TestLutShowText(t *testing.T) {
	path := writeLut(t)
	code, out, errOut := runNas(t, "lut", "show", path)
	require.Equal(t, exitOK, code, errOut)
	for _, want := range []string{
		"latency table " + path + " (schema " + strconv.Itoa(latency.SchemaVersion),
		"device " + boardFingerprint.ID(),
		"Cortex-A76", "generic, version 1", "linux/arm64, go1.26.0", "6.6.31-v8",
		"threads       4",
		"entries       2, measured 2026-11-27 09:00:00Z .. 2026-11-27 10:00:00Z",
	} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out, "this machine")
	t.Log("\n" + out)

	// A second device, this machine, is marked as such.
	here := latency.CurrentFingerprint(1)
	tbl, err := latency.Open(path, here, latency.Options{AddDevice: true})
	require.NoError(t, err)
	require.NoError(t, tbl.Close())
	code, out, errOut = runNas(t, "lut", "show", path)
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "device "+here.ID()+"  (this machine)")
	require.Contains(t, out, "entries       0\n")
}

func TestLutShowJSON(t *testing.T) {
	path := writeLut(t)
	code, out, errOut := runNas(t, "lut", "show", "--json", path)
	require.Equal(t, exitOK, code, errOut)
	var doc lutJSON
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	require.Equal(t, latency.SchemaVersion, doc.Schema)
	require.Len(t, doc.Devices, 1)
	d := doc.Devices[0]
	require.Equal(t, boardFingerprint, d.Fingerprint)
	require.Equal(t, 2, d.Count)
	require.Len(t, d.Entries, 2)
	require.Equal(t, "conv_k3_s2_o16|in3x224x224|b1", d.Entries[0].Key)
	require.Equal(t, 160000.5, d.Entries[1].P90Ns)
	require.Equal(t, "warmup=5, repeats=50", d.Entries[1].Protocol)
}

func TestLutShowCSV(t *testing.T) {
	path := writeLut(t)
	code, out, errOut := runNas(t, "lut", "show", path, "--csv")
	require.Equal(t, exitOK, code, errOut)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, [][]string{
		{"device", "key", "median_ns", "p10_ns", "p90_ns", "samples", "rounds", "scale", "cold_ns", "beta", "measured_at", "protocol"},
		{boardFingerprint.ID(), "conv_k3_s2_o16|in3x224x224|b1", "98000", "97000", "99000", "50", "1", "0", "0", "0", "2026-11-27T10:00:00Z", ""},
		{boardFingerprint.ID(), "ir_k3_e6_i16_o24|in16x56x56|b1", "152300", "150000", "160000.5", "50", "1", "0", "0", "0", "2026-11-27T09:00:00Z", "warmup=5, repeats=50"},
	}, rows)
}

func TestLutShowErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	code, _, errOut := runNas(t, "lut", "show", missing)
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, missing)
	require.Contains(t, errOut, "no such file")

	text := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(text, []byte(strings.Repeat("hello\n", 2000)), 0o644))
	code, _, errOut = runNas(t, "lut", "show", text)
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, text)
	require.Contains(t, errOut, "not a latency table")

	code, _, _ = runNas(t, "lut", "show")
	require.Equal(t, exitUsage, code)
	code, _, errOut = runNas(t, "lut", "show", "--json", "--csv", writeLut(t))
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "cannot be used together")
}

func TestLutShowFlags(t *testing.T) {
	var got *lutShowOptions
	cmd := newCmdLutShow(func(_ *cobra.Command, o *lutShowOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--csv", "x.db"})
	require.NoError(t, cmd.Execute())
	require.Equal(t, &lutShowOptions{Path: "x.db", CSV: true}, got)
}

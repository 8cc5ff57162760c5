package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"nas/latency"
)

// tinyNet is a small network that profiles in milliseconds.
const tinyNet = "in1x8x8 cls3 | conv_o4_k3_s2_arelu | ir_e2_o8_k3 | gap | linear_o3"

// fastFlags keep measurements in tests short.
var fastFlags = []string{"--warmup", "1ms", "--cap", "5ms"}

func TestProfileFlags(t *testing.T) {
	var got *profileOptions
	cmd := newCmdProfile(func(_ *cobra.Command, o *profileOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--lut", "x.db", "--lut-threads", "2", "--batch", "4", "mobilenet_v2", "ghostnet", "--cap", "1s"})
	require.NoError(t, cmd.Execute())
	require.Equal(t, []string{"mobilenet_v2", "ghostnet"}, got.Refs)
	require.Equal(t, 2, got.Threads)
	require.Equal(t, 4, got.Batch)
	require.Equal(t, "nas-lut.db", newCmdProfile(nil).Flags().Lookup("lut").DefValue, "one default table")
	// --threads, the old name of --lut-threads, still works.
	cmd = newCmdProfile(func(_ *cobra.Command, o *profileOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--threads", "3", "m"})
	require.NoError(t, cmd.Execute())
	require.Equal(t, 3, got.Threads)

	for _, args := range [][]string{
		{"--lut", "", "m"}, // no table
		{"--lut", "x.db"},  // nothing to profile
		{"--lut", "x.db", "--space", "small28", "m"},  // both
		{"--lut", "x.db", "--lut-threads", "-1", "m"}, // threads
		{"--lut", "x.db", "--batch", "0", "m"},        // batch
		{"--lut", "x.db", "--clock", "sundial", "m"},  // clock
		{"--lut", "x.db", "--tolerance", "-1", "m"},   // tolerance
		{"--lut", "x.db", "--rounds", "0", "m"},       // rounds
	} {
		code, _, errOut := runNas(t, append([]string{"profile"}, args...)...)
		require.Equal(t, exitUsage, code, "%v: %s", args, errOut)
	}
}

func TestProfileAndResume(t *testing.T) {
	lut := filepath.Join(t.TempDir(), "lut.db")
	args := append([]string{"profile", "--lut", lut, tinyNet}, fastFlags...)
	code, out, errOut := runNas(t, args...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "5 entries, 3 rounds: 15 measurements now")
	code, out, errOut = runNas(t, args...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "5 entries, 3 rounds: 0 measurements now")
	require.Contains(t, out, "15 already present")

	// Another network sharing the stem adds only what it lacks.
	other := strings.Replace(tinyNet, "ir_e2_o8_k3", "ir_e2_o8_k5", 1)
	code, out, errOut = runNas(t, append([]string{"profile", "--lut", lut, other}, fastFlags...)...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "5 entries, 3 rounds: 3 measurements now")

	// More rounds refine the table: one more measurement of each block,
	// and the overhead calibrated again.
	code, out, errOut = runNas(t, append([]string{"profile", "--lut", lut, "--rounds", "4", tinyNet}, fastFlags...)...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "5 entries, 4 rounds: 5 measurements now")
	require.Contains(t, out, "15 already present")

	// --recalibrate makes the overhead entry anew and measures no block.
	code, out, errOut = runNas(t, append([]string{"profile", "--lut", lut, "--rounds", "4", "--recalibrate", tinyNet}, fastFlags...)...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "5 entries, 4 rounds: 4 measurements now", "the overhead's 4 rounds")
	require.Contains(t, out, "16 already present")
}

func TestProfileSpaceFile(t *testing.T) {
	lut := filepath.Join(t.TempDir(), "lut.db")
	code, out, errOut := runNas(t, append([]string{"profile", "--lut", lut, "--space", writeTinySpace(t)}, fastFlags...)...)
	require.Equal(t, 0, code, errOut)
	// stem, stage 0 (kernel 1 or 3, two layers deep), stage 1 (width 8 or
	// 16), the head at both widths, and the overhead.
	require.Contains(t, out, "11 entries, 3 rounds: 33 measurements now")
}

func TestProfileRefusesForeignTable(t *testing.T) {
	lut := writeLut(t) // profiled on an arm64 board
	code, _, errOut := runNas(t, append([]string{"profile", "--lut", lut, tinyNet}, fastFlags...)...)
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "was profiled on another device")
	require.Contains(t, errOut, "--device "+boardFingerprint.ID())
	tbl, err := latency.Open(lut, boardFingerprint, latency.Options{ReadOnly: true})
	require.NoError(t, err)
	defer tbl.Close()
	n, err := tbl.Len()
	require.NoError(t, err)
	require.Equal(t, 2, n, "nothing was added")
}

func TestShellQuote(t *testing.T) {
	tests := map[string]string{
		"mobilenet_v2":  "mobilenet_v2",
		"lut.db":        "lut.db",
		tinyNet:         "'" + tinyNet + "'",
		"it's":          `'it'\''s'`,
		"":              "''",
		"/tmp/my dir/x": "'/tmp/my dir/x'",
	}
	for in, want := range tests {
		require.Equal(t, want, shellQuote(in), in)
	}
}

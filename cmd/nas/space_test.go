package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
)

func TestSpaceList(t *testing.T) {
	code, out, errOut := runNas(t, "space", "list")
	require.Equal(t, 0, code, errOut)
	for _, name := range []string{"small28", "imagenet224"} {
		require.Contains(t, out, name)
	}
}

func TestSpaceShowFlags(t *testing.T) {
	var got *spaceShowOptions
	cmd := newCmdSpaceShow(func(_ *cobra.Command, o *spaceShowOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"small28", "--json"})
	require.NoError(t, cmd.Execute())
	require.Equal(t, &spaceShowOptions{Space: "small28", JSON: true}, got)
}

func TestSpaceShow(t *testing.T) {
	code, out, errOut := runNas(t, "space", "show", "small28")
	require.Equal(t, 0, code, errOut)
	for _, want := range []string{"space small28: input 1x28x28, 10 classes, 4 stages", "(exact)", "STAGE", "ir,ghost,fire,shuffle2", "head: conv_o256_k1_ahswish | gap | linear"} {
		require.Contains(t, out, want)
	}

	code, out, errOut = runNas(t, "space", "show", "--json", "small28")
	require.Equal(t, 0, code, errOut)
	var s spaceSummary
	require.NoError(t, json.Unmarshal([]byte(out), &s))
	require.Equal(t, "small28", s.Name)
	require.Len(t, s.Decisions, 4*7)
	require.Equal(t, "stage0.block", s.Decisions[0].Name)
	require.Less(t, s.MinMACs, s.MaxMACs)
	require.Greater(t, s.Log10Cardinality, 3.0)
	require.NotEmpty(t, s.Space)
}

func TestSpaceShowFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mine.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"version":1,"name":"mine","input":[1,8,8],"classes":2,
	  "stages":[{"stride":2,"blocks":["conv"],"kernels":[1,3],"acts":["relu"],"widths":[4],"depths":[1]}],
	  "head":[{"type":"gap"},{"type":"linear"}]}`), 0o644))
	code, out, errOut := runNas(t, "space", "show", file)
	require.Equal(t, 0, code, errOut)
	// k1: 4*1 + 8 BN = 12 params, 4*16 = 64 MACs; k3: 36 + 8 = 44, 576.
	// linear 4*2+2 = 10 params, 8 MACs.
	require.Contains(t, out, "networks: 2 (10^0.30); all of them fit their input")
	require.Contains(t, out, "MACs:   72 to 584 (exact)")
	require.Contains(t, out, "params: 22 to 54 (exact)")

	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"version":1,"input":[1,8,8],"classes":2,"stages":[{"blocks":["resnet"],"widths":[4],"depths":[1]}],"head":[{"type":"gap"},{"type":"linear"}]}`), 0o644))
	code, _, errOut = runNas(t, "space", "show", bad)
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, bad+`: stages[0].blocks[0]: unknown block family "resnet"`)

	code, _, errOut = runNas(t, "space", "show", "nosuch")
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, `no space "nosuch"`)
}

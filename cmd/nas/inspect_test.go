package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
)

const tinyArchString = "in1x28x28 cls10 | conv_o16_k3_s2_ahswish | ir_e4_o24_k3_s2 | gap | linear_o10"

func TestInspectFlags(t *testing.T) {
	var got *inspectOptions
	cmd := newCmdInspect(func(_ *cobra.Command, o *inspectOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"mobilenet_v2", "--input", "3x32x32", "--classes", "10", "--width", "0.5", "--json"})
	require.NoError(t, cmd.Execute())
	require.Equal(t, &inspectOptions{Ref: "mobilenet_v2", Zoo: zooFlags{Input: "3x32x32", Classes: 10, Width: 0.5}, JSON: true}, got)
}

func TestInspectTable(t *testing.T) {
	code, out, errOut := runNas(t, "inspect", tinyArchString)
	require.Equal(t, 0, code, errOut)
	// conv: 16*1*9 weights + 32 BN; ir: expand 16->64 (1024+128), dw 64*9+128,
	// project 64->24 (1536+48); linear 24*10+10.
	for _, want := range []string{
		"input 1x28x28, 10 classes, 4 layers",
		"conv_o16_k3_s2_ahswish  16x14x14            176           28,224",
		"ir_o24_m64_s2",
		"total                                     3,866          332,656",
	} {
		require.Contains(t, out, want)
	}
}

func TestInspectJSON(t *testing.T) {
	code, out, errOut := runNas(t, "inspect", "--json", tinyArchString)
	require.Equal(t, 0, code, errOut)
	var r struct {
		Params int64 `json:"params"`
		MACs   int64 `json:"macs"`
		Layers []struct {
			Block  string `json:"block"`
			Output string `json:"output"`
			Params int64  `json:"params"`
			MACs   int64  `json:"macs"`
		} `json:"layers"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &r))
	require.Equal(t, int64(3866), r.Params)
	require.Equal(t, int64(332656), r.MACs)
	require.Len(t, r.Layers, 4)
	require.Equal(t, "ir_o24_m64_s2", r.Layers[1].Block)
	require.Equal(t, "24x7x7", r.Layers[1].Output)
	var sum int64
	for _, l := range r.Layers {
		sum += l.MACs
	}
	require.Equal(t, r.MACs, sum)
}

func TestInspectZooAndFile(t *testing.T) {
	code, out, errOut := runNas(t, "inspect", "--json", "mobilenet_v2")
	require.Equal(t, 0, code, errOut)
	var r struct{ Params, MACs int64 }
	require.NoError(t, json.Unmarshal([]byte(out), &r))
	// torchvision's figures (docs/DESIGN.md).
	require.Equal(t, int64(3504872), r.Params)
	require.Equal(t, int64(300774272), r.MACs)

	code, out, _ = runNas(t, "inspect", "mobilenet_v2", "--input", "3x32x32", "--classes", "10")
	require.Equal(t, 0, code)
	require.Contains(t, out, "input 3x32x32, 10 classes")

	file := filepath.Join(t.TempDir(), "a.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"version":1,"input":[1,8,8],"classes":2,"layers":[{"type":"gap"},{"type":"linear","out":2}]}`), 0o644))
	code, out, _ = runNas(t, "inspect", file)
	require.Equal(t, 0, code)
	require.Contains(t, out, "linear_o2")
}

func TestInspectErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"bad input flag", []string{"inspect", "mobilenet_v2", "--input", "3x22"}, exitUsage, `--input: input shape "3x22" must be CxHxW`},
		{"negative classes", []string{"inspect", "mobilenet_v2", "--classes", "-1"}, exitUsage, "--classes -1"},
		{"no arg", []string{"inspect"}, exitUsage, "accepts 1 arg"},
		{"bad token", []string{"inspect", "in1x28x28 cls10 | conv_o8_k3 | conv_o8_kq | gap | linear_o10"}, exitError, `layer 1 "conv_o8_kq": token "kq": "q" is not an integer`},
		{"shape error", []string{"inspect", "in1x28x28 cls10 | conv_o8_k3 | gap | linear_o12"}, exitError, "want 10x1x1 for 10 classes"},
		{"unknown name", []string{"inspect", "mobilenet_v9"}, exitError, `"mobilenet_v9" is not a zoo network`},
		{"missing file", []string{"inspect", "nope.json"}, exitError, "nope.json"},
		{"flags on a string", []string{"inspect", tinyArchString, "--classes", "5"}, exitError, "apply to zoo networks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runNas(t, tt.args...)
			require.Equal(t, tt.code, code, errOut)
			require.Contains(t, errOut, tt.msg)
		})
	}
}

func TestGroupDigits(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 3504872: "3,504,872", -1234: "-1,234"} {
		require.Equal(t, want, groupDigits(n))
	}
}

func TestZooList(t *testing.T) {
	code, out, errOut := runNas(t, "zoo", "list")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "NAME")
	line := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "mobilenet_v2 ") {
			line = l
		}
	}
	require.Equal(t, []string{"mobilenet_v2", "mobilenet_v2", "3,504,872", "300,774,272"}, strings.Fields(line))

	code, out, _ = runNas(t, "zoo", "list", "--json")
	require.Equal(t, 0, code)
	var entries []zooListEntry
	require.NoError(t, json.Unmarshal([]byte(out), &entries))
	require.NotEmpty(t, entries)
	for _, e := range entries {
		require.Positive(t, e.Params, e.Name)
		require.Positive(t, e.MACs, e.Name)
		require.Equal(t, [3]int{3, 224, 224}, e.Input, e.Name)
	}
	code, _, _ = runNas(t, "zoo", "list", "extra")
	require.Equal(t, exitUsage, code)
}

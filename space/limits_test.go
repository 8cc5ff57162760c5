package space

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// archLimitCases are arch strings beyond DefaultLimits, each with the part
// of the error that names the value, the limit and the Limits field (the
// fix). docs/reliability.md counts them.
var archLimitCases = []struct {
	name, in, msg string
}{
	{"input channels", "in70000x8x8 cls10 | gap | linear_o10", "input channels 70000 is above the limit of 65536"},
	{"input height", "in1x5000x8 cls10 | gap | linear_o10", "input height 5000 is above the limit of 4096"},
	{"input width", "in1x8x99999 cls10 | gap | linear_o10", "input width 99999 is above the limit of 4096"},
	{"classes", "in1x8x8 cls100000 | gap | linear_o100000", "classes 100000 is above the limit of 65536"},
	{"out channels", "in1x8x8 cls10 | conv_o100000_k3 | gap | linear_o10", "out 100000 is above the limit of 65536: make it smaller, or, if the network really needs it, raise space.Limits.Channels"},
	{"mid channels", "in1x8x8 cls10 | ir_o8_m9999999 | gap | linear_o10", "mid 9999999 is above the limit of 65536"},
	{"squeeze channels", "in1x8x8 cls10 | fire_sq99999999_e14_e34 | gap | linear_o10", "squeeze 99999999 is above the limit"},
	{"kernel", "in1x8x8 cls10 | conv_o8_k99 | gap | linear_o10", "kernel 99 is above the limit of 31"},
	{"pad", "in1x8x8 cls10 | conv_o8_k3_p1000000 | gap | linear_o10", "pad 1000000 is above the limit of 31"},
	{"stride", "in1x8x8 cls10 | conv_o8_k3_s1000 | gap | linear_o10", "stride 1000 is above the limit of 64"},
	{"groups", "in1x8x8 cls10 | conv_o8_k3_g100000 | gap | linear_o10", "groups 100000 is above the limit of 65536"},
	{"expansion", "in8x8x8 cls10 | ir_o8_e1000 | gap | linear_o10", "expansion 1000 is above the limit of 64"},
	{"expanded channels", "in60000x8x8 cls10 | ir_o8_e2 | gap | linear_o10", "expanded channels (60000 input channels times 2) 120000 is above the limit of 65536"},
	{"depth", "in1x8x8 cls10 | conv_o8_k3*20000 | gap | linear_o10", "number of layers 20000 is above the limit of 10000"},
	{"activation channels", "in1x8x8 cls10 | fire_sq8_e140000_e340000 | gap | linear_o10", "layer 0 (fire) output channels 80000 is above the limit of 65536"},
	{"activation height", "in1x4000x8 cls10 | conv_o1_k31_p30*4 | gap | linear_o10", "layer 3 (conv) output height 4120 is above the limit of 4096"},
	{"params", "in1x1x1 cls10 | linear_o60000 | linear_o60000 | linear_o10", "params up to layer 1 (linear) 3600180000 is above the limit of 250000000: make it smaller, or, if the network really needs it, raise space.Limits.Params"},
	{"macs", "in3x4096x4096 cls10 | conv_o512_k7 | gap | linear_o10", "MACs up to layer 0 (conv) 1262720385024 is above the limit of 1000000000000"},
	{"macs bound", "in65536x4096x4096 cls10 | conv_o65536_k31_g65536 | gap | linear_o10", "layer 0 (conv) MACs, bounded by its sizes at"},
}

func TestArchLimits(t *testing.T) {
	for _, c := range archLimitCases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseArch(c.in)
			require.Error(t, err)
			require.Contains(t, err.Error(), c.msg)
			require.Contains(t, err.Error(), "space.Limits.")
		})
	}
}

// TestArchLimitsJSON holds that the JSON form refuses the same networks,
// naming the JSON field where the value is a field.
func TestArchLimitsJSON(t *testing.T) {
	for _, c := range archLimitCases {
		if c.name == "expansion" || c.name == "expanded channels" || c.name == "depth" {
			continue // conveniences of the string form
		}
		t.Run(c.name, func(t *testing.T) {
			a, err := parseArchString(c.in, Limits{Channels: 1 << 30, Kernel: 1 << 20, Stride: 1 << 20, Groups: 1 << 30, Spatial: 1 << 30, Classes: 1 << 30, Params: 1 << 62, MACs: 1 << 62}.withDefaults())
			require.NoError(t, err)
			js, err := a.MarshalJSON()
			require.NoError(t, err)
			_, err = ParseArchJSON(js)
			require.Error(t, err)
			require.Contains(t, err.Error(), c.msg)
		})
	}
	_, err := ParseArchJSON([]byte(`{"version":1,"input":[1,8,8],"classes":10,"layers":[{"type":"conv","out":8,"kernel":3},{"type":"conv","out":8,"kernel":99},{"type":"gap"},{"type":"linear","out":10}]}`))
	var je *JSONError
	require.True(t, errors.As(err, &je), "%T %v", err, err)
	require.Equal(t, "layers[1].kernel", je.Path)
	_, err = ParseArchJSON([]byte(`{"version":1,"input":[1,8,9000],"classes":10,"layers":[{"type":"gap"},{"type":"linear","out":10}]}`))
	require.True(t, errors.As(err, &je), "%T %v", err, err)
	require.Equal(t, "input[2]", je.Path)
	many := `{"version":1,"input":[1,8,8],"classes":10,"layers":[` + strings.Repeat(`{"type":"gap"},`, 10001) + `{"type":"linear","out":10}]}`
	_, err = ParseArchJSON([]byte(many))
	require.ErrorContains(t, err, "layers: number of layers 10002 is above the limit of 10000")
}

// TestArchLimitsRaised holds that a program can raise each limit.
func TestArchLimitsRaised(t *testing.T) {
	big := Limits{Channels: 1 << 17, Kernel: 99, Stride: 1000, Expansion: 1000, Spatial: 5000, Classes: 100000, Params: 4e9, MACs: 2e12}
	for _, s := range []string{
		"in1x8x8 cls10 | conv_o100000_k3 | gap | linear_o10",
		"in1x8x8 cls10 | conv_o8_k99_p49 | gap | linear_o10",
		"in8x8x8 cls10 | ir_o8_e1000 | gap | linear_o10",
		"in1x5000x8 cls10 | gap | linear_o10",
		"in1x8x8 cls100000 | gap | linear_o100000",
		"in1x1x1 cls10 | linear_o60000 | linear_o60000 | linear_o10",
		"in3x4096x4096 cls10 | conv_o512_k7 | gap | linear_o10",
	} {
		_, err := ParseArchWith(s, big)
		require.NoError(t, err, s)
		_, err = ParseArch(s)
		require.Error(t, err, s)
	}
	_, err := ParseArchWith("in1x8x8 cls10 | conv_o8_k3 | gap | linear_o10", Limits{MACs: 100})
	require.ErrorContains(t, err, "MACs up to layer 0 (conv) 4608 is above the limit of 100")
}

// TestZooWithinLimits holds that the default limits accept every zoo
// network at ImageNet size.
func TestZooWithinLimits(t *testing.T) {
	for _, e := range Zoo() {
		a, err := ZooArch(e.Name, ZooOptions{})
		require.NoError(t, err, e.Name)
		require.NoError(t, a.CheckLimits(Limits{}), e.Name)
	}
}

func TestSpaceLimits(t *testing.T) {
	tests := []struct{ name, old, new, path, msg string }{
		{"width", `[8, 12, 16]`, `[8, 12, 100000]`, "stages[0].widths[2]", "between 1 and 65536 (space.Limits.Channels)"},
		{"kernel", `"kernels": [3, 5]`, `"kernels": [3, 99]`, "stages[1].kernels[1]", "kernel 99 is above the limit of 31"},
		{"expansion", `"expansions": [3, 6]`, `"expansions": [3, 600]`, "stages[0].expansions[1]", "at most 64 (space.Limits.Expansion)"},
		{"stride", `{"stride": 2, "blocks": ["conv"], "kernels": [1, 3]`, `{"stride": 200, "blocks": ["conv"], "kernels": [1, 3]`, "stages[0].stride", "stride 200 is above the limit of 64"},
		{"input", `"input": [1, 16, 16]`, `"input": [1, 16, 16000]`, "input[2]", "input width 16000 is above the limit of 4096"},
		{"classes", `"classes": 10`, `"classes": 1000000`, "classes", "classes 1000000 is above the limit of 65536"},
		{"stem out", `"stem": [{"type": "conv", "out": 8, "kernel": 3}]`, `"stem": [{"type": "conv", "out": 8000000, "kernel": 3}]`, "stem[0].out", "out 8000000 is above the limit of 65536"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			js := strings.Replace(convSpace, tt.old, tt.new, 1)
			require.NotEqual(t, convSpace, js, "test replacement did not apply")
			_, err := ParseSpaceJSON([]byte(js))
			var je *JSONError
			require.True(t, errors.As(err, &je), "want a *JSONError, got %T: %v", err, err)
			require.Equal(t, tt.path, je.Path, err.Error())
			require.Contains(t, err.Error(), tt.msg)
		})
	}
	_, err := ParseSpaceJSONWith([]byte(strings.Replace(convSpace, `[8, 12, 16]`, `[8, 12, 100000]`, 1)), Limits{Channels: 1 << 17})
	require.NoError(t, err)
}

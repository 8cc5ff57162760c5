package space

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseBlock(t *testing.T) {
	a, err := ParseArch("in3x32x32 cls10 | conv_o16_k3_s2 | ir_k3_m64_o24_se8 | gap | linear_o10")
	require.NoError(t, err)
	for _, l := range a.Layers {
		s := BlockString(l)
		got, err := ParseBlock(s)
		require.NoError(t, err, s)
		require.Equal(t, s, BlockString(got))
	}
	for _, bad := range []string{"", "nope_k3", "ir_k3_m64_o24*2", "ir_k3_e4_o24", "ir_o24_k3_m64", "conv_o99999999_k3", "ir_k3_m64_o24_r2"} {
		_, err := ParseBlock(bad)
		require.Error(t, err, bad)
	}
}

package space

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBNEpsRoundTripsAndReachesTheGraph(t *testing.T) {
	a, err := ZooArch("mobilenet_v3_small", ZooOptions{})
	require.NoError(t, err)
	require.Equal(t, 1e-3, a.BNEps)
	require.Contains(t, a.String(), "cls1000 bneps0.001 |")
	b, err := ParseArch(a.String())
	require.NoError(t, err)
	require.Equal(t, a.String(), b.String())
	js, err := a.MarshalJSON()
	require.NoError(t, err)
	require.Contains(t, string(js), `"bn_eps":0.001`)
	c, err := ParseArchJSON(js)
	require.NoError(t, err)
	require.Equal(t, 1e-3, c.BNEps)
	g, err := c.Graph()
	require.NoError(t, err)
	for _, op := range g.Ops {
		if op.Kind == "bn" {
			require.Equal(t, 1e-3, op.Eps)
		}
	}
	_, err = ParseArch("in1x8x8 cls2 bneps2 | gap | linear_o2")
	require.ErrorContains(t, err, "bn eps")
	_, err = ParseArchJSON([]byte(`{"version":1,"input":[1,8,8],"classes":2,"bn_eps":-1,"layers":[{"type":"gap"},{"type":"linear","out":2}]}`))
	require.ErrorContains(t, err, "bn_eps")
}

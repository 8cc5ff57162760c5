package space

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLayersCoverSamples checks, on the built-in spaces, that every layer
// of sampled networks (and of the networks at the first and last choice of
// every decision) is in Layers, and that every listed layer fits its input.
func TestLayersCoverSamples(t *testing.T) {
	for _, name := range SpaceNames() {
		t.Run(name, func(t *testing.T) {
			s, err := LoadSpace(name)
			require.NoError(t, err)
			layers, err := s.Layers()
			require.NoError(t, err)
			listed := map[string]bool{}
			for _, l := range layers {
				require.False(t, listed[l.Key()], "listed twice: %s", l.Key())
				listed[l.Key()] = true
				_, err := l.Spec.OutShape(l.In)
				require.NoError(t, err, l.Key())
			}
			rng := rand.New(rand.NewPCG(7, uint64(len(name))))
			n := 300
			if testing.Short() {
				n = 50
			}
			found := map[string]bool{}
			for range n {
				_, a, err := s.Sample(rng)
				require.NoError(t, err)
				shapes, err := a.Shapes()
				require.NoError(t, err)
				for i, l := range a.Layers {
					k := LayerAt{Spec: l, In: shapes[i]}.Key()
					require.True(t, listed[k], "layer %d of %s is not listed: %s", i, a, k)
					found[k] = true
				}
			}
			t.Logf("%s: %d layers listed, %d seen in %d samples", name, len(layers), len(found), n)
		})
	}
}

// TestLayersExact counts the layers of a small space by hand.
func TestLayersExact(t *testing.T) {
	s, err := ParseSpaceJSON([]byte(`{
	  "version": 1, "name": "tiny", "input": [1, 8, 8], "classes": 3,
	  "stem": [{"type": "conv", "out": 4, "kernel": 3, "act": "relu"}],
	  "stages": [
	    {"stride": 2, "blocks": ["conv"], "kernels": [1, 3], "acts": ["relu"], "widths": [8], "depths": [1, 2]},
	    {"stride": 1, "blocks": ["conv"], "kernels": [3], "acts": ["relu"], "widths": [8, 16], "depths": [1]}
	  ],
	  "head": [{"type": "gap"}, {"type": "linear"}]
	}`))
	require.NoError(t, err)
	layers, err := s.Layers()
	require.NoError(t, err)
	var keys []string
	for _, l := range layers {
		keys = append(keys, l.Key())
	}
	require.Equal(t, []string{
		"conv_o4_k3_arelu|1x8x8",
		// stage 0: kernel 1 or 3, first layer (stride 2) and second layer
		"conv_o8_k1_s2_arelu|4x8x8",
		"conv_o8_k1_arelu|8x4x4",
		"conv_o8_k3_s2_arelu|4x8x8",
		"conv_o8_k3_arelu|8x4x4",
		// stage 1: width 8 or 16 from one input
		"conv_o16_k3_arelu|8x4x4",
		// head, at both widths
		"gap|8x4x4",
		"linear_o3|8x1x1",
		"gap|16x4x4",
		"linear_o3|16x1x1",
	}, keys)
}

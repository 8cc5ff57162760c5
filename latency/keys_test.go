package latency

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
	"nas/space"
)

func TestArchItems(t *testing.T) {
	items, err := ArchItems(tinyArch("tiny", 1), 1)
	require.NoError(t, err)
	require.Len(t, items, 6)
	want := []string{
		`conv_o4_k3_s2_arelu|3x8x8|b1`,
		`conv_o4_k3_g4_ahswish|4x4x4|b1`,
		`conv_o8_k1_arelu|4x4x4|b1`,
		`gap|8x4x4|b1`,
		`linear_o4|8x1x1|b1`,
		`overhead|3x8x8|b1`,
	}
	for i, it := range items {
		require.Equal(t, want[i], it.Key, "item %d", i)
		require.Equal(t, i == 5, it.IsOverhead())
	}
	items4, err := ArchItems(tinyArch("tiny", 1), 4)
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(items4[0].Key, "|b4"))

	_, err = ArchItems(tinyArch("tiny", 1), 0)
	require.ErrorContains(t, err, "batch 0")
	bad := tinyArch("bad", 1)
	bad.Layers[1] = &blocks.Conv{Out: 6, Kernel: 3, Groups: 4}
	_, err = ArchItems(bad, 1)
	require.ErrorContains(t, err, "network bad")
}

func TestDistinctItems(t *testing.T) {
	items, err := DistinctItems([]*space.Arch{tinyArch("a", 1), tinyArch("b", 2), tinyArch("a again", 1)}, 1)
	require.NoError(t, err)
	// b differs from a in its second layer, and so in the third's input.
	require.Len(t, items, 8)
	seen := map[string]bool{}
	for _, it := range items {
		require.False(t, seen[it.Key], "duplicate %s", it.Key)
		seen[it.Key] = true
	}
}

func TestItemGraphs(t *testing.T) {
	items, err := DistinctItems([]*space.Arch{tinyArch("a", 1)}, 1)
	require.NoError(t, err)
	for _, it := range items {
		g, err := it.Graph()
		require.NoError(t, err, it.Key)
		require.Equal(t, it.In, g.Shapes[g.Input], it.Key)
		if it.IsOverhead() {
			require.Empty(t, g.Ops)
		} else {
			require.Len(t, g.Blocks, 1)
		}
		r, err := NetworkCompiler(1)(g, 2, 1)
		require.NoError(t, err, it.Key)
		r.Run()
	}
}

// TestLayerItemsMatchArchItems checks that the items of a space's layer
// list carry the keys the predictor looks up for its networks.
func TestLayerItemsMatchArchItems(t *testing.T) {
	s, err := space.LoadSpace("small28")
	require.NoError(t, err)
	layers, err := s.Layers()
	require.NoError(t, err)
	items, err := LayerItems(layers, s.Input, 1)
	require.NoError(t, err)
	listed := map[string]bool{}
	for _, it := range items {
		listed[it.Key] = true
	}
	require.True(t, items[len(items)-1].IsOverhead())
	rng := rand.New(rand.NewPCG(1, 1))
	for range 20 {
		_, a, err := s.Sample(rng)
		require.NoError(t, err)
		ais, err := ArchItems(a, 1)
		require.NoError(t, err)
		for _, it := range ais {
			require.True(t, listed[it.Key], "%s of %s", it.Key, a)
		}
	}

	// Reinforced units get the network input in their key.
	a, err := space.ZooArch("espnetv2", space.ZooOptions{Input: blocks.Shape{C: 3, H: 32, W: 32}, Classes: 10})
	require.NoError(t, err)
	shapes, err := a.Shapes()
	require.NoError(t, err)
	var ls []space.LayerAt
	for i, l := range a.Layers {
		ls = append(ls, space.LayerAt{Spec: l, In: shapes[i]})
	}
	fromLayers, err := LayerItems(ls, a.Input, 1)
	require.NoError(t, err)
	fromArch, err := ArchItems(a, 1)
	require.NoError(t, err)
	require.Equal(t, len(fromArch), len(fromLayers))
	for i := range fromArch {
		require.Equal(t, fromArch[i].Key, fromLayers[i].Key)
		require.Equal(t, fromArch[i].Net, fromLayers[i].Net)
	}
}

package space

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
)

func TestMakeDivisible(t *testing.T) {
	// torchvision's _make_divisible on MobileNet V3's SE squeeze counts.
	for _, tt := range []struct {
		v    float64
		d    int
		want int
	}{{4, 8, 8}, {18, 8, 24}, {60, 8, 64}, {30, 8, 32}, {120, 8, 120}, {12.5, 4, 12}, {3, 8, 8}} {
		require.Equal(t, tt.want, makeDivisible(tt.v, tt.d), "%v/%d", tt.v, tt.d)
	}
}

func TestFamilyLayers(t *testing.T) {
	in := blocks.Shape{C: 16, H: 28, W: 28}
	tests := []struct {
		family string
		c      stageChoice
		stride int
		in     blocks.Shape
		want   string
	}{
		{"conv", stageChoice{kernel: 5, act: blocks.ActReLU, width: 24}, 2, in, "conv_o24_k5_s2_arelu"},
		{"dwsep", stageChoice{kernel: 3, act: blocks.ActHSwish, width: 24}, 1, in, "dwsep_o24_ahswish"},
		{"ir", stageChoice{kernel: 3, expansion: 6, se: 0.25, act: blocks.ActHSwish, width: 24}, 2, in, "ir_o24_m96_s2_ahswish_se24"},
		{"ir", stageChoice{kernel: 5, expansion: 1, act: blocks.ActReLU, width: 16}, 1, in, "ir_o16_m16_k5_arelu"},
		{"ghost", stageChoice{kernel: 3, expansion: 3, se: 0.25, width: 24}, 2, in, "ghost_m48_o24_s2_se12"},
		{"fire", stageChoice{width: 24}, 1, in, "fire_sq3_e112_e312"},
		{"fire", stageChoice{width: 64}, 2, in, "pool_k3_s2_p1 fire_sq8_e132_e332"},
		{"shuffle2", stageChoice{kernel: 3, width: 24}, 2, in, "shuffle2_o24_s2"},
		{"shuffle2", stageChoice{kernel: 5, width: 24}, 1, in, "conv_o24_k1_arelu shuffle2_o24_k5"},
		{"shuffle2", stageChoice{kernel: 5, width: 16}, 1, in, "shuffle2_o16_k5"},
		{"shuffle1", stageChoice{kernel: 3, width: 36}, 2, in, "conv_o18_k1_arelu shuffle1_o36_g3_s2"},
		{"shuffle1", stageChoice{kernel: 3, width: 36}, 2, blocks.Shape{C: 12, H: 8, W: 8}, "shuffle1_o36_g3_s2"},
		{"shuffle1", stageChoice{kernel: 3, width: 24}, 1, in, "conv_o24_k1_arelu shuffle1_o24_g3"},
		{"sqnxt", stageChoice{width: 32}, 2, in, "sqnxt_o32_s2"},
	}
	for _, tt := range tests {
		t.Run(tt.family+" "+tt.want, func(t *testing.T) {
			f, ok := familyFor(tt.family)
			require.True(t, ok)
			ls, err := f.layer(tt.in, tt.c, tt.stride)
			require.NoError(t, err)
			var got []string
			x := tt.in
			for _, l := range ls {
				got = append(got, BlockString(l))
				x, err = l.OutShape(x)
				require.NoError(t, err, BlockString(l))
			}
			require.Equal(t, tt.want, strings.Join(got, " "))
			require.Equal(t, tt.c.width, x.C)
			require.Equal(t, (tt.in.H-1)/tt.stride+1, x.H, "every family keeps the spatial size of a same-padded conv")
		})
	}
}

func TestFamilyWidthRounding(t *testing.T) {
	for _, tt := range []struct {
		family string
		in     []int
		want   []int
	}{
		{"ir", []int{1, 23, 24}, []int{1, 23, 24}},
		{"fire", []int{1, 23, 24}, []int{2, 24, 24}},
		{"shuffle2", []int{1, 23, 24}, []int{2, 24, 24}},
		{"shuffle1", []int{1, 17, 18, 40, 48}, []int{12, 12, 24, 36, 48}},
	} {
		f, _ := familyFor(tt.family)
		for i, w := range tt.in {
			require.Equal(t, tt.want[i], f.roundWidth(w), "%s width %d", tt.family, w)
		}
	}
}

// mixedSpace mixes families with different ignored decisions and widths
// (23, 24) that round together for fire and shuffle2.
const mixedSpace = `{
  "version": 1, "name": "mixed", "input": [3, 16, 16], "classes": 5,
  "stem": [{"type": "conv", "out": 16, "kernel": 3, "stride": 2, "act": "relu"}],
  "stages": [
    {"stride": 2, "blocks": ["ir", "fire", "shuffle2", "ghost"], "kernels": [3, 5], "expansions": [2, 4], "se": [0, 0.25], "acts": ["relu", "hswish"], "widths": [23, 24], "depths": [1, 2]},
    {"stride": 1, "blocks": ["ir", "fire"], "kernels": [3], "expansions": [2], "acts": ["relu"], "widths": [32, 33], "depths": [1]}
  ],
  "head": [{"type": "gap"}, {"type": "linear"}]
}`

func TestMixedSpaceBruteForce(t *testing.T) {
	s := mustSpace(t, mixedSpace)
	keys := map[string][]int{}
	var want CostRange
	for _, c := range allChoices(s) {
		a, err := s.Arch(c)
		require.NoError(t, err)
		canon, err := s.Canonical(c)
		require.NoError(t, err)
		key := a.String()
		if prev, ok := keys[key]; ok {
			require.Equal(t, prev, canon, "%v and %v give %s", prev, c, key)
			continue
		}
		keys[key] = canon
		cost, err := a.Cost()
		require.NoError(t, err)
		want = merge(want, CostRange{cost.Params, cost.Params, cost.MACs, cost.MACs, 1})
	}
	// stage 0: ir 2*2*2*2*2*2 = 64, fire 1*2 (one rounded width) = 2,
	// shuffle2 2*1*2 = 4, ghost 2*2*2*2*2 = 32; stage 1: ir 2, fire 1 (32
	// and 33 round to 32 and 34: 2).
	require.Equal(t, int64((64+2+4+32)*(2+2)), s.Cardinality().Int64())
	require.Len(t, keys, (64+2+4+32)*(2+2))
	got, err := s.CostRange()
	require.NoError(t, err)
	require.Equal(t, want, got)
}

func TestMixedSpaceMutate(t *testing.T) {
	s := mustSpace(t, mixedSpace)
	rng := rand.New(rand.NewPCG(7, 8))
	c, a, err := s.Sample(rng)
	require.NoError(t, err)
	families := map[string]bool{}
	for range 1000 {
		next, b, err := s.Mutate(c, rng)
		require.NoError(t, err)
		require.NotEqual(t, a.String(), b.String())
		// next is c with one decision changed, then made canonical.
		one := false
		for p := range c {
			trial := append([]int(nil), c...)
			trial[p] = next[p]
			if canon, _ := s.Canonical(trial); slices.Equal(canon, next) {
				one = true
				break
			}
		}
		require.True(t, one, "%v -> %v changes more than one decision", c, next)
		families[s.Stages[0].Blocks[next[0]]] = true
		c, a = next, b
	}
	require.Len(t, families, 4, "mutation reaches every family")
}

// Every zoo network survives both codecs.
func TestZooRoundTrip(t *testing.T) {
	for _, e := range Zoo() {
		t.Run(e.Name, func(t *testing.T) {
			a, err := ZooArch(e.Name, ZooOptions{})
			require.NoError(t, err)
			b, err := ParseArch(a.String())
			require.NoError(t, err)
			require.Equal(t, a.Layers, b.Layers)
			data, err := a.MarshalJSON()
			require.NoError(t, err)
			c, err := ParseArchJSON(data)
			require.NoError(t, err)
			require.Equal(t, a, c)
		})
	}
}

package space

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
)

// TestMatchRoundTrip samples networks of every built-in space and requires
// Match to give back their canonical choice vectors, and Layout to place
// every layer where EachLayer says a layer of that placement can be.
func TestMatchRoundTrip(t *testing.T) {
	for _, name := range SpaceNames() {
		t.Run(name, func(t *testing.T) {
			s, err := LoadSpace(name)
			require.NoError(t, err)
			seen := map[string]bool{}
			require.NoError(t, s.EachLayer(func(p Placement, spec blocks.Spec, in blocks.Shape) {
				seen[p.String()+"|"+BlockString(spec)+"|"+in.String()] = true
			}))
			rng := rand.New(rand.NewPCG(5, 6))
			for range 30 {
				c, a, err := s.Sample(rng)
				require.NoError(t, err)
				got, err := s.Match(a)
				require.NoError(t, err)
				require.Equal(t, c, got, a.String())
				b, places, err := s.Layout(c)
				require.NoError(t, err)
				require.Equal(t, a.String(), b.String())
				shapes, err := b.Shapes()
				require.NoError(t, err)
				for i, l := range b.Layers {
					key := places[i].String() + "|" + BlockString(l) + "|" + shapes[i].String()
					require.True(t, seen[key], "layer %d %s not enumerated", i, key)
				}
			}
		})
	}
}

func TestMatchErrors(t *testing.T) {
	s, err := LoadSpace("small28")
	require.NoError(t, err)
	_, a, err := s.Sample(rand.New(rand.NewPCG(1, 2)))
	require.NoError(t, err)
	str := a.String()

	// A kernel the space does not offer.
	b, err := ParseArch(str)
	require.NoError(t, err)
	var at int
	for i, l := range b.Layers {
		if m, ok := l.(*blocks.MBConv); ok {
			m.Kernel, at = 7, i
			break
		}
	}
	if at == 0 {
		b.Layers[1] = &blocks.MBConv{Out: 16, Mid: 16, Kernel: 7, Act: blocks.ActReLU}
		at = 1
	}
	_, err = s.Match(b)
	require.ErrorContains(t, err, "outside space small28")
	require.ErrorContains(t, err, "(k7 instead of")

	other, err := ParseArch("in3x28x28 cls10 | conv_o16_k3_arelu | gap | linear_o10")
	require.NoError(t, err)
	_, err = s.Match(other)
	require.ErrorContains(t, err, "takes 3x28x28")

	stemless, err := ParseArch("in1x28x28 cls10 | conv_o8_k3_arelu | conv_o8_k3_arelu | conv_o8_k3_arelu | conv_o8_k3_arelu | conv_o8_k3_arelu | conv_o256_k1_ahswish | gap | linear_o10")
	require.NoError(t, err)
	_, err = s.Match(stemless)
	require.ErrorContains(t, err, "layer 0 (conv_o8_k3_arelu) is not the stem layer 0")
}

// FuzzMatch matches arbitrary networks against small28: never a panic, and
// a match is exact (the vector's network is the one given).
func FuzzMatch(f *testing.F) {
	s, err := LoadSpace("small28")
	require.NoError(f, err)
	rng := rand.New(rand.NewPCG(9, 9))
	for range 8 {
		_, a, err := s.Sample(rng)
		require.NoError(f, err)
		f.Add(a.String())
	}
	f.Add("in1x28x28 cls10 | conv_o16_k3_arelu | gap | linear_o10")
	f.Fuzz(func(t *testing.T, str string) {
		a, err := ParseArch(str)
		if err != nil {
			return
		}
		c, err := s.Match(a)
		if err != nil {
			return
		}
		b, err := s.Arch(c)
		require.NoError(t, err)
		require.Equal(t, a.String(), b.String())
	})
}

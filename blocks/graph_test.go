package blocks

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLowerHeadAndConv(t *testing.T) {
	layers := []Spec{
		&Conv{Out: 16, Kernel: 3, Stride: 2, Act: ActHSwish},
		&Conv{Out: 8, Kernel: 1, NoBN: true, Act: ActPReLU},
		&Pool{Kernel: 3, Stride: 2, Ceil: true},
		&GlobalPool{},
		&Dropout{P: 20},
		&Linear{Out: 10},
	}
	in := Shape{3, 29, 29}
	g, err := Lower(in, layers)
	require.NoError(t, err)
	var want Cost
	s := in
	for _, l := range layers {
		want = want.Add(l.Cost(s))
		s, err = l.OutShape(s)
		require.NoError(t, err)
	}
	require.Equal(t, want, g.Cost())
	require.Equal(t, Shape{10, 1, 1}, g.Shapes[g.Output])
	require.Len(t, g.Blocks, len(layers))
	require.Equal(t, "layers.1.conv", g.Ops[g.Blocks[1].First].Name)
	names := []string{}
	for _, p := range g.Params() {
		names = append(names, p.Name)
	}
	require.Equal(t, []string{
		"layers.0.conv.weight", "layers.0.bn.weight", "layers.0.bn.bias", "layers.0.bn.running_mean", "layers.0.bn.running_var",
		"layers.1.conv.weight", "layers.1.conv.bias", "layers.1.act.weight",
		"layers.5.fc.weight", "layers.5.fc.bias",
	}, names)
	// 29 -> 15 (conv s2) -> 7 (pool 3/2 ceil: PyTorch gives 7).
	require.Equal(t, Shape{8, 7, 7}, g.Shapes[g.Blocks[2].Out])
}

func TestLowerRejectsBadLayer(t *testing.T) {
	_, err := Lower(Shape{3, 8, 8}, []Spec{&Conv{Out: 8, Kernel: 3, Groups: 2}})
	require.ErrorContains(t, err, "layer 0 (conv)")
	require.ErrorContains(t, err, "groups 2")
}

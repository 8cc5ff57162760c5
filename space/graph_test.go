package space

import (
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
)

// TestZooGraphCost lowers every zoo network at every width it supports, at
// ImageNet and Fashion-MNIST shapes, and checks that the graph holds
// exactly what the analytic count says: the params of its ops' tensors and
// the MACs of its convolutions and linear layers equal Arch.Cost, the
// output is classes x 1 x 1, and no parameter name repeats.
func TestZooGraphCost(t *testing.T) {
	sizes := []ZooOptions{
		{Input: blocks.Shape{C: 3, H: 224, W: 224}, Classes: 1000},
		{Input: blocks.Shape{C: 1, H: 28, W: 28}, Classes: 10},
	}
	for _, e := range Zoo() {
		widths := e.Widths
		if len(widths) == 0 {
			widths = []float64{1}
		}
		for _, w := range widths {
			for _, o := range sizes {
				o.Width = w
				t.Run(zooCaseName(e.Name, w, o), func(t *testing.T) {
					a, err := ZooArch(e.Name, o)
					require.NoError(t, err)
					g, err := a.Graph()
					require.NoError(t, err)
					want, err := a.Cost()
					require.NoError(t, err)
					require.Equal(t, want, g.Cost())
					require.Equal(t, blocks.Shape{C: o.Classes, H: 1, W: 1}, g.Shapes[g.Output])
					require.Len(t, g.Blocks, len(a.Layers))
					seen := map[string]bool{}
					for _, p := range g.Params() {
						require.False(t, seen[p.Name], "parameter %s repeats", p.Name)
						seen[p.Name] = true
					}
				})
			}
		}
	}
}

func zooCaseName(name string, w float64, o ZooOptions) string {
	return name + "/" + strconvScale(w) + "/" + o.Input.String()
}

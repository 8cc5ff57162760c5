package space

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
	"nas/blocks/nn"
)

// Every zoo network builds into an executable network that holds exactly
// the parameters Arch.Cost counts and runs forward at batch 1 and 2 with
// one output per class.
func TestZooNetworksRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every zoo network; the full run covers it")
	}
	for _, e := range Zoo() {
		t.Run(e.Name, func(t *testing.T) {
			a, err := ZooArch(e.Name, ZooOptions{Input: blocks.Shape{C: 3, H: 32, W: 32}, Classes: 10})
			require.NoError(t, err)
			cost, err := a.Cost()
			require.NoError(t, err)
			g, err := a.Graph()
			require.NoError(t, err)
			n, err := blocks.NewNetwork(g, rand.New(rand.NewPCG(1, 1)))
			require.NoError(t, err)
			var params int64
			for _, p := range n.Params() {
				params += int64(p.Len())
			}
			require.Equal(t, cost.Params, params, "built parameters against Arch.Cost")
			for _, batch := range []int{1, 2} {
				x := nn.New(batch, 3, 32, 32)
				for i := range x.Data {
					x.Data[i] = float32(i%13) / 13
				}
				y := n.Forward(nil, x)
				require.Equal(t, []int{batch, 10}, y.Shape)
				for _, v := range y.Data {
					require.False(t, v != v, "NaN in the output")
				}
			}
		})
	}
}

package space

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
	"nas/blocks/nn"
)

// A freshly initialised network predicts close to uniformly: its loss on
// random data is near ln(classes). SqueezeNet, whose convs have no BN after
// them, started at losses of 7 to 13 with the BN-style initialisation and
// did not train; with torchvision's (Kaiming-uniform by fan-in, a small
// classifier conv) it starts near 2.3.
func TestInitialLossNearUniform(t *testing.T) {
	for _, name := range []string{"squeezenet1_0", "squeezenet1_1", "mobilenet_v2", "shufflenet_v2_x0_5"} {
		t.Run(name, func(t *testing.T) {
			a, err := ZooArch(name, ZooOptions{Input: blocks.Shape{C: 1, H: 28, W: 28}, Classes: 10, Width: zooWidth(name)})
			require.NoError(t, err)
			g, err := a.Graph()
			require.NoError(t, err)
			n, err := blocks.NewNetwork(g, rand.New(rand.NewPCG(3, 3)))
			require.NoError(t, err)
			rng := rand.New(rand.NewPCG(4, 4))
			x := nn.New(8, 1, 28, 28)
			for i := range x.Data {
				x.Data[i] = float32(rng.NormFloat64())
			}
			labels := []int{0, 1, 2, 3, 4, 5, 6, 7}
			loss, err := nn.SoftmaxCrossEntropy(nil, n.Forward(nn.NewTape(true, rng), x), labels, 0)
			require.NoError(t, err)
			require.InDelta(t, math.Log(10), float64(loss.Data[0]), 1.0, "initial loss")
		})
	}
}

func zooWidth(name string) float64 {
	if name == "mobilenet_v2" {
		return 0.5
	}
	return 1
}

package space

import (
	"encoding/json"
	"os"
	"strings"
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

// TestZooGraphMatchesTorchvisionStateDict checks that the lowered
// torchvision networks of the zoo hold torchvision's tensors one to one and
// in order: the i-th tensor of Graph.Params has the shape of the i-th entry
// of the network's state dict (trailing 1s dropped on both sides, as
// MobileNet V3's classifier is a linear layer there and a 1x1 conv here).
// The reference list comes from testdata/zoo/torchvision_param_shapes.py.
func TestZooGraphMatchesTorchvisionStateDict(t *testing.T) {
	raw, err := os.ReadFile("../testdata/zoo/torchvision_param_shapes.json")
	require.NoError(t, err)
	var ref map[string][][2]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &ref))
	require.NotEmpty(t, ref)
	for name, entries := range ref {
		t.Run(name, func(t *testing.T) {
			a, err := ZooArch(name, ZooOptions{})
			require.NoError(t, err)
			g, err := a.Graph()
			require.NoError(t, err)
			params := g.Params()
			require.Len(t, params, len(entries))
			for i, e := range entries {
				var key string
				var shape []int
				require.NoError(t, json.Unmarshal(e[0], &key))
				require.NoError(t, json.Unmarshal(e[1], &shape))
				require.Equal(t, trimOnes(shape), trimOnes(params[i].Shape),
					"tensor %d: torchvision %s, ours %s", i, key, params[i].Name)
				require.Equal(t, suffix(key), suffix(params[i].Name), "tensor %d: torchvision %s, ours %s", i, key, params[i].Name)
			}
		})
	}
}

func trimOnes(s []int) []int {
	for len(s) > 1 && s[len(s)-1] == 1 {
		s = s[:len(s)-1]
	}
	return s
}

// suffix is the last dotted part of a tensor name (weight, bias,
// running_mean, running_var).
func suffix(name string) string { return name[strings.LastIndex(name, ".")+1:] }

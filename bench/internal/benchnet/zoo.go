package benchnet

import (
	"fmt"
	"math/rand/v2"

	"nas/blocks"
	"nas/space"
)

// Targets returns the networks of the batch-1 latency comparison with ONNX
// Runtime (bench/compare_ort.sh), a fresh slice each call: the geometric
// mean of nas/ORT over them is the figure of merit.
func Targets() []string {
	return []string{"mobilenet_v2", "mobilenet_v3_small", "shufflenet_v2_x1_0", "squeezenet1_1", "mnasnet1_0"}
}

// ZooNetwork builds the named zoo network at input in with weights drawn
// from rng and batch-norm statistics that are not the identity, so that a
// plan's folding of batch norm is exercised.
func ZooNetwork(name string, in blocks.Shape, rng *rand.Rand) (*blocks.Network, error) {
	a, err := space.ZooArch(name, space.ZooOptions{Input: in})
	if err != nil {
		return nil, err
	}
	g, err := a.Graph()
	if err != nil {
		return nil, fmt.Errorf("zoo network %s: %w", name, err)
	}
	n, err := blocks.NewNetwork(g, rng)
	if err != nil {
		return nil, fmt.Errorf("zoo network %s: %w", name, err)
	}
	for _, bn := range n.BatchNorms() {
		for i := range bn.RunningVar.Data {
			bn.RunningVar.Data[i] = 0.5 + rng.Float32()
			bn.RunningMean.Data[i] = 0.2 * float32(rng.NormFloat64())
			bn.Weight.Data[i] = 1 + 0.2*float32(rng.NormFloat64())
			bn.Bias.Data[i] = 0.1 * float32(rng.NormFloat64())
		}
	}
	return n, nil
}

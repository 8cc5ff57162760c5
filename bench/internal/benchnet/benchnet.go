// Package benchnet builds the networks that the bench commands and tests
// run: Compile compiles a network as the profiler times it (the inference
// plan, one thread, batch 1, weights from a fixed seed), ZooNetwork builds a
// zoo network with random weights and batch-norm statistics, and Targets
// lists the networks of the comparison with ONNX Runtime.
package benchnet

import (
	"math/rand/v2"

	"nas/blocks"
	"nas/space"
)

// Compile resolves ref (anything nas inspect takes, zoo networks at their
// default shape) and compiles it.
func Compile(ref string) (*blocks.Plan, error) {
	a, err := space.Resolve(ref, space.ZooOptions{})
	if err != nil {
		return nil, err
	}
	g, err := a.Graph()
	if err != nil {
		return nil, err
	}
	return CompileGraph(g)
}

// CompileGraph compiles g.
func CompileGraph(g *blocks.Graph) (*blocks.Plan, error) {
	n, err := blocks.NewNetwork(g, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		return nil, err
	}
	return blocks.NewPlan(n, 1, 1)
}

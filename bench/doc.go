// Package bench measures nas's inference plans (blocks.Plan) on the zoo
// networks: correctness against the training executor at small and full
// input sizes, and batch-1 latency benchmarks at 224x224, one thread and
// two (go test -bench . ./bench). compare_ort.sh times the same networks in
// ONNX Runtime side by side; docs/performance.md has the figures.
//
// It holds no library code: everything here is a test, a benchmark, a
// script, or a command one of them drives (planrun, trainbench), and
// blockctx, which times a network's blocks inside the network, alone and
// alone with their weights flushed; block_models.py, which scores models
// of blocks inside networks on blockctx's figures; overhead_models.py,
// which scores models of the network-level overhead on a validation run;
// probecheck, which checks the profiler's probe against a network's
// runs; probetrace (Linux), which follows the machine's slow spells on
// each CPU over time; and zeropage, which shows why the old memory probe
// did not measure memory (docs/latency.md).
package bench

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"nas/blocks"
	"nas/space"
)

// Targets returns the networks of the latency target (issue 4), a fresh
// slice each call: the geometric mean of nas/ORT over them is the figure of
// merit.
func Targets() []string {
	return []string{"mobilenet_v2", "mobilenet_v3_small", "shufflenet_v2_x1_0", "squeezenet1_1", "mnasnet1_0"}
}

// ErrNotLowered reports a zoo network with a block family that cannot be
// lowered to a graph yet.
type ErrNotLowered struct{ Err error }

func (e ErrNotLowered) Error() string { return e.Err.Error() }
func (e ErrNotLowered) Unwrap() error { return e.Err }

// ZooNetwork builds the named zoo network at input c x h x w with weights
// drawn from rng and batch-norm statistics that are not the identity (so a
// plan's folding is exercised).
func ZooNetwork(name string, in blocks.Shape, rng *rand.Rand) (*blocks.Network, error) {
	a, err := space.ZooArch(name, space.ZooOptions{Input: in})
	if err != nil {
		return nil, err
	}
	g, err := a.Graph()
	if err != nil {
		if strings.Contains(err.Error(), "cannot be executed yet") {
			return nil, ErrNotLowered{err}
		}
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

package latency

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"nas/blocks"
	"nas/blocks/nn"
	"nas/internal/cacheflush"
)

// Runner runs one inference pass of a compiled network (or block) on an
// input it owns. It is what the profiler times: everything Run does counts.
type Runner interface {
	Run()
}

// Compiler makes a Runner of a graph for a batch size and a thread count.
// The profiler, the predictor's measure-on-miss and validation all time
// through one Compiler, so that blocks and whole networks run the same way.
type Compiler func(g *blocks.Graph, batch, threads int) (Runner, error)

// NetworkCompiler compiles a graph into a blocks.Network, weights and input
// drawn from a generator seeded with seed, run in inference mode
// (Network.Forward with no tape). The nn engine spreads the samples of a
// batch over up to GOMAXPROCS goroutines; the thread count itself is fixed
// by the caller (nas profile sets GOMAXPROCS to --threads), so threads is
// not used here.
//
// A graph of one block that reads the network input (see
// blocks.LowerBlock) gets a second input of the network's shape.
func NetworkCompiler(seed uint64) Compiler {
	return func(g *blocks.Graph, batch, _ int) (Runner, error) {
		n, rng, err := seededNetwork(g, batch, seed)
		if err != nil {
			return nil, err
		}
		r := &forwardRunner{net: n, x: randomInput(rng, batch, g.Shapes[g.Input])}
		r.netIn = r.x
		if g.NetworkInput != g.Input {
			r.netIn = randomInput(rng, batch, g.Shapes[g.NetworkInput])
		}
		r.xShape, r.netShape = slices.Clone(r.x.Shape), slices.Clone(r.netIn.Shape)
		return r, nil
	}
}

// PlanCompiler compiles a graph into a blocks.Plan, the inference plan
// (batch norm folded, activations fused, buffers allocated once, threads
// splitting each operator), with weights and input drawn from a generator
// seeded with seed. A graph with a second input, a block that reads the
// network's input lowered alone (ESPNetv2's reinforced units), runs on
// blocks.Network instead, which can feed it. The Runner it returns has a
// Close method that stops the plan's threads.
func PlanCompiler(seed uint64) Compiler {
	network := NetworkCompiler(seed)
	return func(g *blocks.Graph, batch, threads int) (Runner, error) {
		if g.NetworkInput != g.Input {
			return network(g, batch, threads)
		}
		n, rng, err := seededNetwork(g, batch, seed)
		if err != nil {
			return nil, err
		}
		p, err := blocks.NewPlan(n, batch, threads)
		if err != nil {
			return nil, err
		}
		return &planRunner{plan: p, x: randomInput(rng, batch, g.Shapes[g.Input]).Data}, nil
	}
}

// seededNetwork builds the network of g, its weights drawn from a
// generator seeded with seed, for runs of batch inputs; the compilers draw
// the input from the generator it returns, after the weights.
func seededNetwork(g *blocks.Graph, batch int, seed uint64) (*blocks.Network, *rand.Rand, error) {
	if batch < 1 {
		return nil, nil, fmt.Errorf("batch %d: want at least 1", batch)
	}
	rng := rand.New(rand.NewPCG(seed, 0x6e6173))
	n, err := blocks.NewNetwork(g, rng)
	return n, rng, err
}

type planRunner struct {
	plan    *blocks.Plan
	x       []float32
	sink    float32
	weights [][]float32 // flattened plan.Weights(), made on first flush
}

// FlushWeights drops the plan's weights from the caches (a no-op where
// cacheflush is not supported).
func (r *planRunner) FlushWeights() {
	if r.weights == nil {
		r.weights = [][]float32{}
		for _, ws := range r.plan.Weights() {
			r.weights = append(r.weights, ws...)
		}
	}
	for _, w := range r.weights {
		cacheflush.Float32s(w)
	}
}

// RunSteps runs the plan once, adding each step's time to ns.
func (r *planRunner) RunSteps(ns []int64, clock func() int64) {
	y, err := r.plan.RunTimed(r.x, ns, clock)
	if err != nil {
		// Batch 1 is checked by MeasureBlocks; an error is a bug.
		panic("latency: plan run: " + err.Error())
	}
	if len(y) > 0 {
		r.sink += y[0]
	}
}

// StepOps is the plan's step-to-op map.
func (r *planRunner) StepOps() []int { return r.plan.StepOps() }

func (r *planRunner) Run() {
	y, err := r.plan.Run(r.x)
	if err != nil {
		// The input is made to the plan's size; an error is a bug.
		panic("latency: plan run: " + err.Error())
	}
	if len(y) > 0 {
		r.sink += y[0]
	}
}

// Close stops the plan's threads.
func (r *planRunner) Close() { r.plan.Close() }

// closeRunner releases what a Runner holds, if it holds anything.
func closeRunner(r Runner) {
	if c, ok := r.(interface{ Close() }); ok {
		c.Close()
	}
}

func randomInput(rng *rand.Rand, batch int, s blocks.Shape) *nn.Tensor {
	x := nn.New(batch, s.C, s.H, s.W)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	return x
}

type forwardRunner struct {
	net              *blocks.Network
	x, netIn         *nn.Tensor
	xShape, netShape []int
	sink             float32
}

func (r *forwardRunner) Run() {
	// Forward reshapes a C x 1 x 1 output to N x C in place, and an op that
	// is the identity in inference (dropout) returns its input: put the
	// inputs' shapes back.
	r.x.Shape, r.netIn.Shape = r.xShape, r.netShape
	y := r.net.ForwardWith(nil, r.x, r.netIn)
	r.sink += y.Data[0] // keep the result alive
}

// WeightFlusher is a Runner that can drop its weights (the memory its runs
// read and never write) from the CPU's caches: blocks.Plan's, through
// nas/internal/cacheflush.
type WeightFlusher interface {
	Runner
	FlushWeights()
}

// StepTimer is a Runner that can time its steps and say which graph op
// each comes from (blocks.Plan.RunTimed and StepOps), so that the time of
// each block inside a whole network can be read (MeasureBlocks).
type StepTimer interface {
	Runner
	RunSteps(ns []int64, clock func() int64)
	StepOps() []int
}

package search

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"nas/blocks"
	"nas/blocks/nn"
	"nas/space"
)

// pruneZoo is one small network per block family.
var pruneZoo = []struct {
	name  string
	width float64
}{
	{"mobilenet_v1", 0.25},      // conv, dwsep
	{"mobilenet_v2", 0.5},       // ir, residual chains
	{"mobilenet_v3_small", 0.5}, // ir with SE, hswish
	{"fbnet_a", 0},              // grouped ir with shuffle
	{"squeezenet1_1", 0},        // fire
	{"squeezenext23", 0},        // sqnxt
	{"shufflenet_v1_g3", 0},     // shuffle1
	{"shufflenet_v2_x0_5", 0},   // shuffle2
	{"ghostnet", 0.5},           // ghost
}

func smallZoo(t testing.TB, name string, width float64) *space.Arch {
	t.Helper()
	a, err := space.ZooArch(name, space.ZooOptions{Input: blocks.Shape{C: 3, H: 32, W: 32}, Classes: 10, Width: width})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func freshWeights(t testing.TB, a *space.Arch, seed uint64) (*blocks.Network, Weights) {
	t.Helper()
	g, err := a.Graph()
	if err != nil {
		t.Fatal(err)
	}
	n, err := blocks.NewNetwork(g, rand.New(rand.NewPCG(seed, 1)))
	if err != nil {
		t.Fatal(err)
	}
	return n, n.State()
}

// checkCarried fails unless the carried tensors are exactly those of the
// pruned graph, with its shapes.
func checkCarried(t *testing.T, a *space.Arch, w Weights) map[string][]float32 {
	t.Helper()
	g, err := a.Graph()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]int{}
	for _, p := range g.Params() {
		want[p.Name] = p.Shape
	}
	if len(want) != len(w) {
		t.Fatalf("carried %d tensors, the pruned graph has %d", len(w), len(want))
	}
	flat := map[string][]float32{}
	for name, tensor := range w {
		if !reflect.DeepEqual(want[name], tensor.Shape) {
			t.Fatalf("%s: carried shape %v, the pruned graph needs %v", name, tensor.Shape, want[name])
		}
		flat[name] = tensor.Data
	}
	return flat
}

// loadCarried builds the pruned network and loads the carried weights.
func loadCarried(t *testing.T, a *space.Arch, w Weights) *blocks.Network {
	t.Helper()
	flat := checkCarried(t, a, w)
	g, err := a.Graph()
	if err != nil {
		t.Fatal(err)
	}
	n, err := blocks.NewNetwork(g, rand.New(rand.NewPCG(9, 9)))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.LoadState(flat); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCarryWeightsEveryUnit prunes every unit of one network per family to its
// largest valid smaller count and checks the result: a valid arch, tied
// counts changed together, carried weights of exactly the pruned graph's
// shapes, and fewer MACs.
func TestCarryWeightsEveryUnit(t *testing.T) {
	skipPruneInShort(t)
	for _, z := range pruneZoo {
		t.Run(z.name, func(t *testing.T) {
			a := smallZoo(t, z.name, z.width)
			_, w := freshWeights(t, a, 1)
			units, err := a.Units()
			if err != nil {
				t.Fatal(err)
			}
			if len(units) == 0 {
				t.Fatal("no prunable units")
			}
			full, _ := a.Cost()
			for _, u := range units {
				n, err := a.LargestValid(u, u.Channels-1)
				if err != nil {
					t.Fatalf("%s: %v", u.Name(), err)
				}
				p, err := a.Prune(u, n)
				if err != nil {
					t.Fatalf("%s to %d: %v", u.Name(), n, err)
				}
				c, _ := p.Cost()
				if c.MACs >= full.MACs && c.Params >= full.Params {
					t.Errorf("%s to %d: cost %+v not below %+v", u.Name(), n, c, full)
				}
				pw, err := CarryWeights(a, w, p)
				if err != nil {
					t.Fatalf("%s to %d: %v", u.Name(), n, err)
				}
				checkCarried(t, p, pw)
			}
		})
	}
}

// TestCarryWeightsFullCountIsIdentity: carrying weights to the same arch returns
// the same tensors, and the network computes the same outputs.
func TestCarryWeightsFullCountIsIdentity(t *testing.T) {
	skipPruneInShort(t)
	for _, z := range pruneZoo {
		t.Run(z.name, func(t *testing.T) {
			a := smallZoo(t, z.name, z.width)
			net, w := freshWeights(t, a, 2)
			units, _ := a.Units()
			p, err := a.Prune(units[0], units[0].Channels)
			if err != nil {
				t.Fatal(err)
			}
			if p.String() != a.String() {
				t.Fatalf("pruning to the full count changed the arch:\n%s\n%s", a, p)
			}
			pw, err := CarryWeights(a, w, p)
			if err != nil {
				t.Fatal(err)
			}
			for name, tensor := range w {
				if !reflect.DeepEqual(pw[name].Data, tensor.Data) {
					t.Fatalf("%s changed", name)
				}
			}
			x := randomInput(3, a.Input, 2)
			y0 := net.Forward(nil, x)
			y1 := loadCarried(t, p, pw).Forward(nil, x)
			if d := maxDiff(y0.Data, y1.Data); d != 0 {
				t.Fatalf("outputs differ by %g", d)
			}
		})
	}
}

func randomInput(seed uint64, s blocks.Shape, n int) *nn.Tensor {
	rng := rand.New(rand.NewPCG(seed, 3))
	x := nn.New(n, s.C, s.H, s.W)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	return x
}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// TestCarryWeightsDeadChannelsKeepOutputs zeroes the filters of as many channels
// as a unit loses, in every producer of every class the pruning shrinks.
// Those channels are then dead (zero after batch norm at its initial
// statistics, and after every activation of these networks); L2 selection
// must drop exactly them, and the pruned network with carried weights must
// compute what the original did. This checks the whole mapping: filters
// kept, consumers' input channels, BN entries, SE convs, depthwise
// followers, residual chains, Ghost primary/cheap pairs.
func TestCarryWeightsDeadChannelsKeepOutputs(t *testing.T) {
	skipPruneInShort(t)
	// Units whose pruning cannot preserve outputs by construction: in
	// ShuffleNet V1 the shuffle moves kept channels into other groups of
	// the next grouped conv, in ShuffleNet V2 the pass-through halves of a
	// stage are interleaved by the shuffles (see CarryWeights).
	inexact := map[string]bool{"shufflenet_v1_g3 mid": true, "shufflenet_v1_g3 out": true, "shufflenet_v2_x0_5 out": true}
	for _, z := range pruneZoo {
		t.Run(z.name, func(t *testing.T) {
			a := smallZoo(t, z.name, z.width)
			units, _ := a.Units()
			x := randomInput(4, a.Input, 2)
			// A spread of units keeps the test fast; -short takes fewer.
			step := max(1, len(units)/3)
			if testing.Short() {
				step = max(1, len(units)/2)
			}
			for j, u := range units {
				if j%step != 0 && j != len(units)-1 || inexact[z.name+" "+u.Field] {
					continue
				}
				n, _ := a.LargestValid(u, u.Channels-1)
				p, err := a.Prune(u, n)
				if err != nil {
					t.Fatal(err)
				}
				net, w := freshWeights(t, a, 5)
				killPrunedChannels(t, a, p, w)
				y0 := net.Forward(nil, x)
				pw, err := CarryWeights(a, w, p)
				if err != nil {
					t.Fatal(err)
				}
				y1 := loadCarried(t, p, pw).Forward(nil, x)
				// Relative to the outputs' scale: summation order changes
				// with the channel counts.
				scale := maxDiff(y0.Data, make([]float32, len(y0.Data)))
				if d := maxDiff(y0.Data, y1.Data); d > 1e-5*max(scale, 1) {
					t.Errorf("%s to %d: outputs differ by %g (scale %g)", u.Name(), n, d, scale)
				}
			}
		})
	}
}

// killPrunedChannels zeroes, in each class of values the pruning shrinks
// freely, the filters and biases of channels spread over the class (per
// group where a producer is grouped), as many as it loses.
func killPrunedChannels(t *testing.T, a, p *space.Arch, w Weights) {
	t.Helper()
	g, _ := a.Graph()
	pg, _ := p.Graph()
	k := newKeeper(g, pg, w)
	classes := map[int][]int{}
	for i, op := range g.Ops {
		if op.Kind != blocks.OpConv && op.Kind != blocks.OpLinear || k.follows(i) || k.derived(i) {
			continue
		}
		if pg.Shapes[op.Out].C != g.Shapes[op.Out].C {
			c := k.find(int(op.Out))
			classes[c] = append(classes[c], i)
		}
	}
	for c, ops := range classes {
		orig, n := g.Shapes[c].C, pg.Shapes[c].C
		groups := 1
		for _, i := range ops {
			if g.Ops[i].Kind == blocks.OpConv {
				groups = max(groups, g.Ops[i].Conv.Groups)
			}
		}
		per, drop := orig/groups, (orig-n)/groups
		var dead []int
		for gr := range groups {
			for j := range drop {
				dead = append(dead, gr*per+(2*j+1)%per)
			}
		}
		for _, i := range ops {
			for _, suffix := range []string{".weight", ".bias"} {
				tensor := w[g.Ops[i].Name+suffix]
				if tensor == nil {
					continue
				}
				row := tensor.Len() / orig
				for _, d := range dead {
					clear(tensor.Data[d*row : (d+1)*row])
				}
			}
		}
	}
	// Producers of classes derived from those (a conv shortcut beside a
	// Ghost module) must leave the dropped channels dead too.
	k = newKeeper(g, pg, w)
	for i, op := range g.Ops {
		if op.Kind != blocks.OpConv && op.Kind != blocks.OpLinear || k.follows(i) || k.derived(i) {
			continue
		}
		keep, err := k.keep(op.Out)
		if err != nil {
			t.Fatal(err)
		}
		kept := map[int]bool{}
		for _, c := range keep {
			kept[c] = true
		}
		orig := g.Shapes[op.Out].C
		for _, suffix := range []string{".weight", ".bias"} {
			tensor := w[op.Name+suffix]
			if tensor == nil {
				continue
			}
			row := tensor.Len() / orig
			for d := range orig {
				if !kept[d] {
					clear(tensor.Data[d*row : (d+1)*row])
				}
			}
		}
	}
}

// skipPruneInShort skips the whole-network pruning tests in -short mode:
// pruning has no concurrency for the race run to check, and under the race
// detector these tests take over a minute. The full run covers them.
func skipPruneInShort(t *testing.T) {
	if testing.Short() {
		t.Skip("whole-network pruning runs in the full (non-short) test run")
	}
}

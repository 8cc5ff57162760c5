package space

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"nas/blocks"
	"nas/blocks/nn"
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

func smallZoo(t testing.TB, name string, width float64) *Arch {
	t.Helper()
	a, err := ZooArch(name, ZooOptions{Input: blocks.Shape{C: 3, H: 32, W: 32}, Classes: 10, Width: width})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func freshWeights(t testing.TB, a *Arch, seed uint64) (*blocks.Network, Weights) {
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
func checkCarried(t *testing.T, a *Arch, w Weights) map[string][]float32 {
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
func loadCarried(t *testing.T, a *Arch, w Weights) *blocks.Network {
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

// TestPruneEveryUnit prunes every unit of one network per family to its
// largest valid smaller count and checks the result: a valid arch, tied
// counts changed together, carried weights of exactly the pruned graph's
// shapes, and fewer MACs.
func TestPruneEveryUnit(t *testing.T) {
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

// TestPruneFullCountIsIdentity: carrying weights to the same arch returns
// the same tensors, and the network computes the same outputs.
func TestPruneFullCountIsIdentity(t *testing.T) {
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

// TestPruneDeadChannelsKeepsOutputs zeroes the filters of as many channels
// as a unit loses, in every producer of every class the pruning shrinks.
// Those channels are then dead (zero after batch norm at its initial
// statistics, and after every activation of these networks); L2 selection
// must drop exactly them, and the pruned network with carried weights must
// compute what the original did. This checks the whole mapping: filters
// kept, consumers' input channels, BN entries, SE convs, depthwise
// followers, residual chains, Ghost primary/cheap pairs.
func TestPruneDeadChannelsKeepsOutputs(t *testing.T) {
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
func killPrunedChannels(t *testing.T, a, p *Arch, w Weights) {
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

// TestPruneConstraints checks the structural constraints family by family.
func TestPruneConstraints(t *testing.T) {
	t.Run("residual chain changes together", func(t *testing.T) {
		a := smallZoo(t, "mobilenet_v2", 0.5)
		shapes, _ := a.Shapes()
		// The first block of a stage with residual followers.
		for i, l := range a.Layers[:len(a.Layers)-1] {
			m, ok := l.(*blocks.MBConv)
			next, ok2 := a.Layers[i+1].(*blocks.MBConv)
			if !ok || !ok2 || m.Residual(shapes[i]) || !next.Residual(shapes[i+1]) {
				continue
			}
			u := Unit{Layer: i, Field: "out", Channels: m.Out}
			n, err := a.LargestValid(u, m.Out-1)
			if err != nil {
				t.Fatal(err)
			}
			p, _ := a.Prune(u, n)
			ps, _ := p.Shapes()
			pn := p.Layers[i+1].(*blocks.MBConv)
			if pn.Out != n || !pn.Residual(ps[i+1]) {
				t.Fatalf("layer %d: follower has out %d (residual %v), want %d with its residual", i+1, pn.Out, pn.Residual(ps[i+1]), n)
			}
			if pn.Mid != next.Mid {
				t.Fatalf("the follower's expansion changed from %d to %d", next.Mid, pn.Mid)
			}
			return
		}
		t.Fatal("no residual stage found")
	})
	t.Run("no residual appears", func(t *testing.T) {
		a := &Arch{Input: blocks.Shape{C: 3, H: 8, W: 8}, Classes: 4, Layers: []blocks.Spec{
			&blocks.Conv{Out: 8, Kernel: 3},
			&blocks.MBConv{Mid: 24, Out: 12},
			&blocks.GlobalPool{}, &blocks.Linear{Out: 4},
		}}
		u := Unit{Layer: 1, Field: "out", Channels: 12}
		p, err := a.Prune(u, 8)
		if err != nil {
			t.Fatal(err)
		}
		if m := p.Layers[1].(*blocks.MBConv); !m.NoSkip {
			t.Fatalf("pruned block %+v would add a residual", m)
		}
		u = Unit{Layer: 1, Field: "mid", Channels: 24}
		p, err = a.Prune(u, 8)
		if err != nil {
			t.Fatal(err)
		}
		if m := p.Layers[1].(*blocks.MBConv); !m.AlwaysExpand {
			t.Fatalf("pruned block %+v would lose its expand conv", m)
		}
	})
	t.Run("depthwise and SE follow", func(t *testing.T) {
		a := smallZoo(t, "mobilenet_v3_small", 1)
		shapes, _ := a.Shapes()
		for i, l := range a.Layers {
			m, ok := l.(*blocks.MBConv)
			if !ok || m.SE.Squeeze == 0 || !m.Expands(shapes[i]) {
				continue
			}
			u := Unit{Layer: i, Field: "mid", Channels: m.Mid}
			p, err := a.Prune(u, m.Mid/2)
			if err != nil {
				t.Fatal(err)
			}
			pm := p.Layers[i].(*blocks.MBConv)
			want := int(math.Round(float64(m.SE.Squeeze) / 2))
			if pm.SE.Squeeze != want {
				t.Fatalf("squeeze %d after halving mid %d, want %d", pm.SE.Squeeze, m.Mid, want)
			}
			g, _ := p.Graph()
			for _, op := range g.Ops {
				if op.Name == fmt.Sprintf("layers.%d.dw.conv", i) && (op.Conv.Out != m.Mid/2 || op.Conv.Groups != m.Mid/2) {
					t.Fatalf("depthwise conv %+v does not follow mid %d", op.Conv, m.Mid/2)
				}
			}
			return
		}
		t.Fatal("no SE block found")
	})
	t.Run("unexpanded MBConv follows its producer", func(t *testing.T) {
		a := smallZoo(t, "mobilenet_v2", 1)
		// layer 0 is the stem, layer 1 the t=1 block with mid = 32.
		u := Unit{Layer: 0, Field: "out", Channels: 32}
		p, err := a.Prune(u, 24)
		if err != nil {
			t.Fatal(err)
		}
		if m := p.Layers[1].(*blocks.MBConv); m.Mid != 24 {
			t.Fatalf("unexpanded block has mid %d, want 24", m.Mid)
		}
	})
	t.Run("group divisibility", func(t *testing.T) {
		a := smallZoo(t, "shufflenet_v1_g3", 1)
		for _, u := range mustUnits(t, a) {
			for _, n := range a.ValidCounts(u)[:3] {
				p, _ := a.Prune(u, n)
				ps, _ := p.Shapes()
				s, ok := p.Layers[u.Layer].(*blocks.ShuffleV1)
				if !ok {
					continue
				}
				if s.Mid%3 != 0 || (s.Out-ps[u.Layer].C)%3 != 0 && s.Stride == 2 {
					t.Fatalf("%s to %d: %+v breaks groups of 3", u.Name(), n, s)
				}
			}
		}
	})
	t.Run("shufflenet v2 halves stay equal", func(t *testing.T) {
		a := smallZoo(t, "shufflenet_v2_x0_5", 0)
		for _, u := range mustUnits(t, a) {
			if _, ok := a.Layers[u.Layer].(*blocks.ShuffleV2); !ok || u.Field != "out" {
				continue
			}
			counts := a.ValidCounts(u)
			for _, n := range counts {
				if n%2 != 0 {
					t.Fatalf("%s: odd count %d accepted", u.Name(), n)
				}
			}
			p, _ := a.Prune(u, counts[1])
			g, _ := p.Graph()
			// every concat joins equal halves
			for _, op := range g.Ops {
				if op.Kind == blocks.OpConcat && g.Shapes[op.In[0]].C != g.Shapes[op.In[1]].C {
					t.Fatalf("%s: concat of %d and %d channels", u.Name(), g.Shapes[op.In[0]].C, g.Shapes[op.In[1]].C)
				}
			}
		}
	})
	t.Run("ghost ratio", func(t *testing.T) {
		a := smallZoo(t, "ghostnet", 0.5)
		checked := 0
		for _, u := range mustUnits(t, a) {
			if _, ok := a.Layers[u.Layer].(*blocks.Ghost); !ok || checked == 6 {
				continue
			}
			checked++
			for _, n := range a.ValidCounts(u) {
				if n%2 != 0 {
					t.Fatalf("%s: count %d does not keep the 1:1 primary/cheap split", u.Name(), n)
				}
			}
		}
	})
}

func mustUnits(t *testing.T, a *Arch) []Unit {
	t.Helper()
	u, err := a.Units()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestPruneErrors(t *testing.T) {
	a := smallZoo(t, "mobilenet_v2", 0.5)
	cases := []struct {
		name string
		u    Unit
		n    int
	}{
		{"layer out of range", Unit{Layer: 99, Field: "out", Channels: 8}, 4},
		{"zero channels", Unit{Layer: 0, Field: "out", Channels: 16}, 0},
		{"growing", Unit{Layer: 0, Field: "out", Channels: 16}, 17},
		{"no such field", Unit{Layer: 0, Field: "mid", Channels: 16}, 8},
		{"stale count", Unit{Layer: 0, Field: "out", Channels: 15}, 8},
		{"classifier", Unit{Layer: len(a.Layers) - 1, Field: "out", Channels: 10}, 9},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := a.Prune(c.u, c.n); err == nil {
				t.Fatal("no error")
			}
		})
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

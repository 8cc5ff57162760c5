package space

import (
	"fmt"
	"math"
	"testing"

	"nas/blocks"
)

func smallZoo(t testing.TB, name string, width float64) *Arch {
	t.Helper()
	a, err := ZooArch(name, ZooOptions{Input: blocks.Shape{C: 3, H: 32, W: 32}, Classes: 10, Width: width})
	if err != nil {
		t.Fatal(err)
	}
	return a
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

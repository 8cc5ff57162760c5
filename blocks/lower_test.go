package blocks

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// lowerCase is one block lowered alone: the ops it must emit, one line per
// op as opLine writes them.
type lowerCase struct {
	name string
	spec Spec
	in   Shape
	ops  []string
}

// opLine writes op as "vOUT = kind[attrs](vIN, ...) CxHxW", with the
// parameter prefix "layers.0." left off names.
func opLine(g *Graph, op Op) string {
	name := strings.TrimPrefix(op.Name, "layers.0.")
	var attr string
	switch op.Kind {
	case OpConv:
		a := op.Conv
		attr = fmt.Sprintf("%s k%dx%d s%d p%d,%d d%d g%d", name, a.KH, a.KW, a.SH, a.PH, a.PW, a.DH, a.Groups)
		if a.Bias {
			attr += " bias"
		}
	case OpBN, OpLinear:
		attr = name
	case OpAct:
		attr = string(op.Act) + " " + name
	case OpMaxPool, OpAvgPool:
		attr = fmt.Sprintf("k%d s%d p%d", op.Pool.K, op.Pool.S, op.Pool.P)
	case OpShuffle:
		attr = fmt.Sprintf("g%d", op.Groups)
	case OpSlice:
		attr = fmt.Sprintf("%d:%d", op.Start, op.End)
	}
	ins := make([]string, len(op.In))
	for i, v := range op.In {
		ins[i] = fmt.Sprintf("v%d", v)
	}
	if attr != "" {
		attr = "[" + attr + "]"
	}
	return fmt.Sprintf("v%d = %s%s(%s) %v", op.Out, op.Kind, attr, strings.Join(ins, ", "), g.Shapes[op.Out])
}

// runLowerCases lowers each case's block as layer 0 of a graph whose input
// is the block's input, and checks its ops, that the graph's cost equals
// the spec's, that its output shape is OutShape's, and that no parameter
// name repeats.
func runLowerCases(t *testing.T, cases []lowerCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, err := Lower(tc.in, []Spec{tc.spec})
			require.NoError(t, err)
			var got []string
			for _, op := range g.Ops {
				got = append(got, opLine(g, op))
			}
			require.Equal(t, tc.ops, got)
			require.Equal(t, tc.spec.Cost(tc.in), g.Cost())
			out, err := tc.spec.OutShape(tc.in)
			require.NoError(t, err)
			require.Equal(t, out, g.Shapes[g.Output])
			requireUniqueParams(t, g)
		})
	}
}

func requireUniqueParams(t *testing.T, g *Graph) {
	t.Helper()
	seen := map[string]bool{}
	for _, p := range g.Params() {
		require.False(t, seen[p.Name], "parameter %s repeats", p.Name)
		require.True(t, strings.HasPrefix(p.Name, "layers."), "parameter %q has no layer prefix", p.Name)
		seen[p.Name] = true
	}
}

func TestLowerInputReinforcement(t *testing.T) {
	stem := &Conv{Out: 8, Kernel: 3, Stride: 2}
	t.Run("marks the span", func(t *testing.T) {
		g, err := Lower(Shape{3, 16, 16}, []Spec{stem, &EESP{Out: 16, Stride: 2, Branches: 2, Down: true, Reinf: 3}})
		require.NoError(t, err)
		require.False(t, g.Blocks[0].NetworkInput)
		require.True(t, g.Blocks[1].NetworkInput)
		// The image is pooled twice, 16 -> 8 -> 4, to the unit's 4x4 output,
		// and the reinforcement's 3x3 conv reads the second pool.
		img := g.Input
		var pooled []Shape
		for _, op := range g.Ops[g.Blocks[1].First:g.Blocks[1].Last] {
			switch {
			case op.Kind == OpAvgPool && op.In[0] == img:
				img = op.Out
				pooled = append(pooled, g.Shapes[img])
			case op.Name == "layers.1.inp_reinf.0.conv":
				require.Equal(t, img, op.In[0])
			}
		}
		require.Equal(t, []Shape{{3, 8, 8}, {3, 4, 4}}, pooled)
		require.Equal(t, Shape{16, 4, 4}, g.Shapes[g.Output])
	})
	cases := []struct {
		name   string
		in     Shape
		layers []Spec
		want   []string
	}{
		{"image channels", Shape{3, 16, 16},
			[]Spec{stem, &EESP{Out: 16, Stride: 2, Branches: 2, Down: true, Reinf: 1}},
			[]string{"layer 1 (eesp)", "ri", "network input has 3: set ri to 3"}},
		// 12 -> 8 (unpadded 5x5) -> 4 (the unit); the image pools 12 -> 6 -> 3.
		{"image size", Shape{3, 12, 12},
			[]Spec{&Conv{Out: 8, Kernel: 5, Valid: true}, &EESP{Out: 16, Stride: 2, Branches: 2, Down: true, Reinf: 3}},
			[]string{"layer 1 (eesp)", "ri", "output size 4x4", "give 3x3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Lower(tc.in, tc.layers)
			require.Error(t, err)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, "ri", fe.Field)
		})
	}
}

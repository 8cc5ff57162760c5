package nn

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestChannelShuffleGolden(t *testing.T) {
	for _, g := range goldenCases(t, "shuffle_*") {
		t.Run(g.name, func(t *testing.T) {
			x := g.T(t, "x")
			groups := g.Int(t, "groups")
			elemPrefill(x)
			tp := NewTape(true, nil)
			y := ChannelShuffle(tp, x, groups)
			requireClose(t, g.T(t, "y").Data, y.Data, 0, "y")
			elemSeed(t, y, g.T(t, "gy"))
			tp.BackwardFrom()
			requireClose(t, g.T(t, "gx").Data, elemGrad(t, x), goldenTol, "gx")
		})
	}
}

func TestSplitChannelsGolden(t *testing.T) {
	for _, g := range goldenCases(t, "split_*") {
		t.Run(g.name, func(t *testing.T) {
			var sizes []int
			for _, s := range strings.Split(g.f.Metadata["sizes"], ",") {
				v, err := strconv.Atoi(s)
				require.NoError(t, err)
				sizes = append(sizes, v)
			}
			x := g.T(t, "x")
			elemPrefill(x)
			tp := NewTape(true, nil)
			parts := SplitChannels(tp, x, sizes...)
			require.Len(t, parts, len(sizes))
			for i, p := range parts {
				requireClose(t, g.T(t, fmt.Sprintf("y%d", i)).Data, p.Data, 0, fmt.Sprintf("y%d", i))
				require.Equal(t, g.T(t, fmt.Sprintf("y%d", i)).Shape, p.Shape)
				elemSeed(t, p, g.T(t, fmt.Sprintf("gy%d", i)))
			}
			tp.BackwardFrom()
			requireClose(t, g.T(t, "gx").Data, elemGrad(t, x), goldenTol, "gx")
		})
	}
}

func TestConcatChannelsGolden(t *testing.T) {
	for _, g := range goldenCases(t, "concat_*") {
		t.Run(g.name, func(t *testing.T) {
			var xs []*Tensor
			for _, name := range []string{"a", "b", "c"} {
				if g.Has(name) {
					xs = append(xs, g.T(t, name))
				}
			}
			elemPrefill(xs...)
			tp := NewTape(true, nil)
			y := ConcatChannels(tp, xs...)
			require.Equal(t, g.T(t, "y").Shape, y.Shape)
			requireClose(t, g.T(t, "y").Data, y.Data, 0, "y")
			elemSeed(t, y, g.T(t, "gy"))
			tp.BackwardFrom()
			for i, x := range xs {
				name := "g" + string(rune('a'+i))
				requireClose(t, g.T(t, name).Data, elemGrad(t, x), goldenTol, name)
			}
		})
	}
}

func TestSliceChannelsGolden(t *testing.T) {
	for _, g := range goldenCases(t, "slice_*") {
		t.Run(g.name, func(t *testing.T) {
			x := g.T(t, "x")
			elemPrefill(x)
			tp := NewTape(true, nil)
			y := SliceChannels(tp, x, g.Int(t, "start"), g.Int(t, "end"))
			require.Equal(t, g.T(t, "y").Shape, y.Shape)
			requireClose(t, g.T(t, "y").Data, y.Data, 0, "y")
			elemSeed(t, y, g.T(t, "gy"))
			tp.BackwardFrom()
			requireClose(t, g.T(t, "gx").Data, elemGrad(t, x), goldenTol, "gx")
		})
	}
}

func TestChannelOpsGradCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	x := actAwayFromKinks(rng, 2, 6, 3, 1) // the split test applies ReLU6
	a, b := elemRandn(rng, 2, 2, 3, 1), elemRandn(rng, 2, 5, 3, 1)
	tests := []struct {
		name string
		wrt  []*Tensor
		f    func(tp *Tape) *Tensor
	}{
		{"shuffle", []*Tensor{x}, func(tp *Tape) *Tensor { return ChannelShuffle(tp, x, 3) }},
		{"slice", []*Tensor{x}, func(tp *Tape) *Tensor { return SliceChannels(tp, x, 1, 4) }},
		{"concat", []*Tensor{a, b}, func(tp *Tape) *Tensor { return ConcatChannels(tp, a, b) }},
		// Split then re-join in another order: every part's backward runs.
		{"split", []*Tensor{x}, func(tp *Tape) *Tensor {
			p := SplitChannels(tp, x, 1, 3, 2)
			return ConcatChannels(tp, p[2], p[0], p[1])
		}},
		// ShuffleNet V2 unit shape: split, shuffle of the concat.
		{"split-concat-shuffle", []*Tensor{x}, func(tp *Tape) *Tensor {
			p := SplitChannels(tp, x, 3, 3)
			return ChannelShuffle(tp, ConcatChannels(tp, p[0], ReLU6(tp, p[1])), 2)
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { gradCheck(t, tt.wrt, tt.f, 50, uint64(i)) })
	}
}

func TestChannelShuffleIsPermutation(t *testing.T) {
	// Channel-index data: output channel j*g+i holds input channel i*(C/g)+j.
	x := FromData([]float32{0, 1, 2, 3, 4, 5}, 1, 6, 1, 1)
	require.Equal(t, []float32{0, 3, 1, 4, 2, 5}, ChannelShuffle(nil, x, 2).Data)
	require.Equal(t, []float32{0, 2, 4, 1, 3, 5}, ChannelShuffle(nil, x, 3).Data)
	require.Equal(t, x.Data, ChannelShuffle(nil, x, 1).Data)
}

func TestConcatOnlySomeInputsNeedGrad(t *testing.T) {
	a := FromData([]float32{1, 2}, 1, 2)
	b := FromData([]float32{3}, 1, 1).SetRequiresGrad(true)
	tp := NewTape(true, nil)
	y := ConcatChannels(tp, a, b)
	require.Equal(t, []float32{1, 2, 3}, y.Data)
	y.Grad = []float32{10, 20, 30}
	tp.BackwardFrom()
	require.Nil(t, a.Grad)
	require.Equal(t, []float32{30}, b.Grad)
}

func TestChannelOpsPanics(t *testing.T) {
	tests := []struct {
		name string
		f    func()
	}{
		{"shuffle groups do not divide", func() { ChannelShuffle(nil, New(1, 6, 2, 2), 4) }},
		{"shuffle zero groups", func() { ChannelShuffle(nil, New(1, 6, 2, 2), 0) }},
		{"shuffle no channels dim", func() { ChannelShuffle(nil, New(6), 2) }},
		{"slice empty", func() { SliceChannels(nil, New(1, 6, 2, 2), 3, 3) }},
		{"slice past end", func() { SliceChannels(nil, New(1, 6, 2, 2), 2, 7) }},
		{"slice negative", func() { SliceChannels(nil, New(1, 6, 2, 2), -1, 2) }},
		{"split sum", func() { SplitChannels(nil, New(1, 6, 2, 2), 2, 3) }},
		{"split zero part", func() { SplitChannels(nil, New(1, 6, 2, 2), 6, 0) }},
		{"concat none", func() { ConcatChannels(nil) }},
		{"concat spatial mismatch", func() { ConcatChannels(nil, New(1, 2, 3, 3), New(1, 2, 3, 4)) }},
		{"concat batch mismatch", func() { ConcatChannels(nil, New(1, 2, 3, 3), New(2, 2, 3, 3)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { require.Panics(t, tt.f) })
	}
}

func TestNewChannelShuffleLayer(t *testing.T) {
	l, err := NewChannelShuffleLayer("stage2.0.shuffle", 12, 3)
	require.NoError(t, err)
	var _ Module = l
	x := elemRandn(rand.New(rand.NewPCG(1, 1)), 2, 12, 3, 3)
	require.Equal(t, ChannelShuffle(nil, x, 3).Data, l.Forward(nil, x).Data)
	require.Panics(t, func() { l.Forward(nil, New(2, 6, 3, 3)) })

	for _, tt := range []struct{ channels, groups int }{{12, 5}, {12, 0}, {0, 3}, {-6, 3}} {
		_, err := NewChannelShuffleLayer("stage2.0.shuffle", tt.channels, tt.groups)
		require.ErrorContains(t, err, fmt.Sprintf(`channel shuffle "stage2.0.shuffle": %d groups must be positive and divide %d channels`, tt.groups, tt.channels))
	}
}

// The caller may reuse the slice it passes; the backward step must still
// reach the original inputs.
func TestConcatChannelsKeepsItsInputs(t *testing.T) {
	a := FromData([]float32{1, 2}, 1, 1, 1, 2).SetRequiresGrad(true)
	b := FromData([]float32{3, 4}, 1, 1, 1, 2).SetRequiresGrad(true)
	args := []*Tensor{a, b}
	tp := NewTape(true, nil)
	y := ConcatChannels(tp, args...)
	args[0], args[1] = New(1, 1, 1, 2), New(1, 1, 1, 2)
	copy(y.grad(), []float32{1, 2, 3, 4})
	tp.BackwardFrom()
	require.Equal(t, []float32{1, 2}, a.Grad)
	require.Equal(t, []float32{3, 4}, b.Grad)
}

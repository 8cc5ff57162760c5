// Package testnets builds random graphs that use every primitive op of
// blocks.Graph in the combinations the block families make (residual adds,
// squeeze-and-excitation gating, split-shuffle-concat units, grouped and
// dilated convolutions, pools with ceil mode, a linear head with BN and
// PReLU on its features), so the exporters are tested on all ops before
// every family lowers itself. For tests and scripts/check-export.sh only.
package testnets

import (
	"fmt"
	"math/rand/v2"

	"nas/blocks"
)

// Random builds a random network on input in with the given classes.
// The same rng state gives the same graph.
func Random(rng *rand.Rand, in blocks.Shape, classes int) *blocks.Graph {
	b := blocks.NewBuilder(in)
	acts := []blocks.Act{blocks.ActReLU, blocks.ActReLU6, blocks.ActHSwish, blocks.ActSwish, blocks.ActSigmoid, blocks.ActHSigmoid, blocks.ActPReLU}
	act := func() blocks.Act { return acts[rng.IntN(len(acts))] }
	c := 8 * (1 + rng.IntN(3))
	x := b.ConvBNAct("stem", b.Graph().Input, c, 3, 2, 1, act())
	// Every kind of unit once, in random order, then a few more.
	kinds := rng.Perm(5)
	for range rng.IntN(3) {
		kinds = append(kinds, rng.IntN(5))
	}
	for u, kind := range kinds {
		name := fmt.Sprintf("units.%d", u)
		switch kind {
		case 0: // inverted residual with SE
			x = residualSE(b, rng, name, x, act())
		case 1: // ShuffleNet V2 style: split, one branch, concat, shuffle
			s := b.Shape(x)
			half := s.C / 2
			left := b.Slice(x, 0, half)
			right := b.Slice(x, half, s.C)
			right = b.ConvBNAct(name+".pw", right, s.C-half, 1, 1, 1, act())
			right = b.ConvBNAct(name+".dw", right, s.C-half, 3, 1, s.C-half, blocks.ActNone)
			x = b.Shuffle(b.Concat(left, right), 2)
		case 2: // grouped conv, shuffle, dilated depthwise
			s := b.Shape(x)
			g := []int{2, 4}[rng.IntN(2)]
			out := 8 * g * (1 + rng.IntN(2))
			y := b.ConvBNAct(name+".gconv", x, out, 1, 1, g, act())
			y = b.Shuffle(y, g)
			d := 1 + rng.IntN(2)
			y = b.Conv(name+".dw", y, blocks.ConvAttr{Out: out, KH: 3, KW: 3, SH: 1, SW: 1, PH: d, PW: d, DH: d, DW: d, Groups: out, Bias: rng.IntN(2) == 0})
			y = b.BN(name+".bn", y)
			if out == s.C {
				x = b.Add(x, y)
			} else {
				x = b.Concat(x, y)
			}
		case 3: // downsampling: pool, maybe with ceil mode and padding
			s := b.Shape(x)
			if s.H < 4 || s.W < 4 {
				continue
			}
			avg := rng.IntN(2) == 0
			k := 2 + rng.IntN(2)
			p := rng.IntN(k/2 + 1)
			x = b.Pool(x, avg, blocks.PoolAttr{K: k, S: 2, P: p, Ceil: rng.IntN(2) == 0})
		case 4: // strided conv with a non-square kernel and no BN
			s := b.Shape(x)
			if s.H < 5 || s.W < 5 {
				continue
			}
			out := s.C + 8
			x = b.Conv(name+".conv", x, blocks.ConvAttr{Out: out, KH: 3, KW: 5, SH: 2, SW: 1, PH: 1, PW: 2, Bias: true})
			x = b.Act(name+".act", x, act())
		}
	}
	x = b.GAP(x)
	if rng.IntN(2) == 0 {
		// SqueezeNet-style head: the classifier is a 1x1 conv, output N x C x 1 x 1.
		x = b.Dropout(x, 0.2)
		x = b.Conv("head.conv", x, blocks.ConvAttr{Out: classes, KH: 1, KW: 1, Bias: true})
		return b.Graph()
	}
	hidden := 16 + 8*rng.IntN(3)
	x = b.Linear("head.fc1", x, hidden, rng.IntN(2) == 0)
	x = b.BN("head.bn", x)
	x = b.Act("head.act", x, blocks.ActPReLU)
	x = b.Dropout(x, 0.2)
	b.Linear("head.fc2", x, classes, true)
	return b.Graph()
}

func residualSE(b *blocks.Builder, rng *rand.Rand, name string, x blocks.Value, a blocks.Act) blocks.Value {
	s := b.Shape(x)
	mid := s.C * (2 + rng.IntN(3))
	k := []int{3, 5}[rng.IntN(2)]
	y := b.ConvBNAct(name+".expand", x, mid, 1, 1, 1, a)
	y = b.ConvBNAct(name+".dw", y, mid, k, 1, mid, a)
	g := b.GAP(y)
	g = b.Conv(name+".se.reduce", g, blocks.ConvAttr{Out: max(mid/4, 1), KH: 1, KW: 1, Bias: true})
	g = b.Act(name+".se.act", g, blocks.ActReLU)
	g = b.Conv(name+".se.expand", g, blocks.ConvAttr{Out: mid, KH: 1, KW: 1, Bias: true})
	g = b.Act(name+".se.gate", g, []blocks.Act{blocks.ActSigmoid, blocks.ActHSigmoid}[rng.IntN(2)])
	y = b.Mul(y, g)
	y = b.ConvBNAct(name+".project", y, s.C, 1, 1, 1, blocks.ActNone)
	return b.Add(x, y)
}

package blocks

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks/kernels"
	"nas/blocks/nn"
)

// planGraphs are small networks that, together, use every op kind and
// every fusion the plan compiler makes (and the cases where it must not
// fuse).
func planGraphs() map[string]*Graph {
	gs := map[string]*Graph{}

	// MobileNetV2/V3-like: stem, inverted residuals with depthwise 3x3, 5x5
	// and 7x7 at strides 1 and 2, SE, residual sums, head.
	b := NewBuilder(Shape{3, 19, 17})
	x := b.ConvBNAct("stem", b.g.Input, 8, 3, 2, 1, ActHSwish)
	for i, k := range []int{3, 5, 7, 3} {
		name := fmt.Sprintf("ir%d", i)
		stride := 1 + i%2
		y := b.ConvBNAct(name+".exp", x, 16, 1, 1, 1, ActReLU6)
		y = b.ConvBNAct(name+".dw", y, 16, k, stride, 16, ActHSwish)
		// squeeze-and-excitation
		s := b.GAP(y)
		s = b.Conv(name+".se.fc1", s, ConvAttr{Out: 4, KH: 1, KW: 1, Bias: true})
		s = b.Act(name+".se.act1", s, ActReLU)
		s = b.Conv(name+".se.fc2", s, ConvAttr{Out: 16, KH: 1, KW: 1, Bias: true})
		s = b.Act(name+".se.gate", s, ActHSigmoid)
		y = b.Mul(y, s)
		y = b.ConvBNAct(name+".proj", y, 8, 1, 1, 1, ActNone)
		if stride == 1 {
			y = b.Add(x, y)
		}
		x = y
	}
	x = b.ConvBNAct("head", x, 24, 1, 1, 1, ActSwish)
	x = b.GAP(x)
	x = b.Linear("fc1", x, 20, true)
	x = b.Act("fc1.act", x, ActHSwish)
	x = b.Dropout(x, 0.2)
	b.Linear("fc2", x, 5, true)
	gs["mbconv"] = b.Graph()

	// ShuffleNet V2-like: slice views, branches, concat, shuffle, max pool
	// with ceil mode, a grouped 3x3 convolution (im2col per group).
	b = NewBuilder(Shape{3, 20, 20})
	x = b.ConvBNAct("stem", b.g.Input, 12, 3, 2, 1, ActReLU)
	x = b.Pool(x, false, PoolAttr{K: 3, S: 2, P: 1, Ceil: true})
	for i := range 2 {
		name := fmt.Sprintf("unit%d", i)
		l := b.Slice(x, 0, 6)
		r := b.Slice(x, 6, 12)
		r = b.ConvBNAct(name+".pw1", r, 6, 1, 1, 1, ActReLU)
		r = b.ConvBNAct(name+".dw", r, 6, 3, 1, 6, ActNone)
		r = b.ConvBNAct(name+".pw2", r, 6, 1, 1, 1, ActReLU)
		x = b.Shuffle(b.Concat(l, r), 2)
	}
	x = b.ConvBNAct("grouped", x, 12, 3, 1, 3, ActReLU)
	x = b.Pool(x, true, PoolAttr{K: 2, S: 2, Ceil: true})
	x = b.Pool(x, false, PoolAttr{K: 2, S: 1})
	b.Linear("fc", x, 4, false)
	gs["shuffle"] = b.Graph()

	// Inverted residuals without squeeze-and-excitation: each pointwise
	// projection reads a depthwise output alone and splits by input
	// channels (gemmKStep), over more columns than a chunk (28x28), over
	// few (14x14, where kernels.PreferT takes the transposed form), onto
	// a residual that shares its storage, and onto one that does not (the
	// block input is read again by the concat).
	b = NewBuilder(Shape{8, 28, 28})
	x = b.ConvBNAct("a.exp", b.g.Input, 40, 1, 1, 1, ActReLU6)
	x = b.ConvBNAct("a.dw", x, 40, 3, 1, 40, ActReLU6)
	x = b.Add(b.g.Input, b.ConvBNAct("a.proj", x, 8, 1, 1, 1, ActNone))
	u := b.ConvBNAct("b.exp", x, 48, 1, 1, 1, ActReLU6)
	u = b.ConvBNAct("b.dw", u, 48, 5, 1, 48, ActReLU6)
	u = b.Add(x, b.ConvBNAct("b.proj", u, 8, 1, 1, 1, ActNone))
	x = b.Concat(u, x)
	x = b.ConvBNAct("c.exp", x, 64, 1, 1, 1, ActHSwish)
	x = b.ConvBNAct("c.dw", x, 64, 3, 2, 64, ActHSwish)
	x = b.ConvBNAct("c.proj", x, 64, 1, 1, 1, ActNone)
	u = b.ConvBNAct("d.exp", x, 136, 1, 1, 1, ActReLU)
	u = b.ConvBNAct("d.dw", u, 136, 3, 1, 136, ActReLU)
	x = b.Add(x, b.ConvBNAct("d.proj", u, 64, 1, 1, 1, ActNone))
	x = b.ConvBNAct("e.dw", x, 64, 3, 1, 64, ActNone)
	b.ConvBNAct("e.pw", x, 32, 1, 1, 1, ActReLU6)
	gs["invres"] = b.Graph()

	// Odd ones: batch norm and activations that do not follow a
	// convolution, PReLU, sigmoid, a conv read twice (no BN folding), a sum
	// whose other term is computed after the convolution (no residual
	// fusion), a sum followed by an activation, avg pool with padding,
	// dilation, a depthwise multiplier and a value read at the end by a
	// concat of itself.
	b = NewBuilder(Shape{4, 15, 13})
	x = b.BN("bn0", b.g.Input)
	x = b.Act("act0", x, ActPReLU)
	c := b.Conv("c1", x, ConvAttr{Out: 8, KH: 3, KW: 3, PH: 2, PW: 2, DH: 2, DW: 2})
	p := b.BN("c1.bn", c)
	q := b.Act("c1.sig", c, ActSigmoid)
	y := b.Add(p, q)
	y = b.Act("sum.act", y, ActReLU)
	z := b.Conv("c2", y, ConvAttr{Out: 8, KH: 1, KW: 1})
	w := b.Conv("c3", y, ConvAttr{Out: 8, KH: 3, KW: 3, PH: 1, PW: 1, Groups: 8})
	z = b.Add(z, w) // w is produced after z: not fused into c2
	z = b.Act("z.prelu", z, ActPReLU)
	m := b.Conv("dwmult", z, ConvAttr{Out: 16, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1, Groups: 8, Bias: true})
	m = b.BN("dwmult.bn", m)
	m = b.Act("dwmult.act", m, ActPReLU)
	m = b.Pool(m, true, PoolAttr{K: 3, S: 2, P: 1})
	m = b.Conv("strided1x1", m, ConvAttr{Out: 6, KH: 1, KW: 1, SH: 2, SW: 2})
	m = b.Shuffle(m, 3) // alone, not after a concat
	m = b.Act("tail", m, ActSigmoid)
	b.Concat(m, m)
	gs["odd"] = b.Graph()

	// Planes whose rows do not start on cache lines (7x4: a line every 4
	// rows; 25x27: every 16), with enough output channels that the GEMMs
	// split by rows at two and three threads: a pointwise convolution
	// with a residual sum, a dense 3x3 one (im2col), and a pointwise one
	// over more columns than a chunk.
	b = NewBuilder(Shape{8, 7, 4})
	x = b.ConvBNAct("pw1", b.g.Input, 48, 1, 1, 1, ActReLU6)
	y = b.ConvBNAct("dense", x, 48, 3, 1, 1, ActReLU)
	x = b.Add(x, b.ConvBNAct("pw2", y, 48, 1, 1, 1, ActNone))
	b.ConvBNAct("pw3", x, 40, 1, 1, 1, ActHSwish)
	gs["offline"] = b.Graph()
	b = NewBuilder(Shape{4, 25, 27})
	b.ConvBNAct("wide", b.g.Input, 136, 1, 1, 1, ActReLU)
	gs["offline_wide"] = b.Graph()
	return gs
}

// randomizeState gives every parameter and buffer random values (positive
// variances), so that folded batch norms are far from the identity.
func randomizeState(n *Network, rng *rand.Rand) {
	for name, t := range n.State() {
		for i := range t.Data {
			switch {
			case len(name) > 12 && name[len(name)-12:] == ".running_var":
				t.Data[i] = 0.2 + rng.Float32()
			case len(name) > 13 && name[len(name)-13:] == ".running_mean":
				t.Data[i] = 0.5 * float32(rng.NormFloat64())
			default:
				t.Data[i] = float32(rng.NormFloat64()) * 0.5
			}
		}
	}
}

// closeRel fails unless got matches want within tol relative to the
// largest magnitude of want (BN folding changes the rounding).
func closeRel(t *testing.T, want, got []float32, tol float64, what string) {
	t.Helper()
	require.Len(t, got, len(want), what)
	scale := 1e-6
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); !(d <= tol*scale) {
			t.Fatalf("%s: output %d = %v, Network.Forward gives %v (|diff| %.3g > %.0e x %.3g)", what, i, got[i], want[i], d, tol, scale)
		}
	}
}

func TestPlanMatchesNetworkForward(t *testing.T) {
	for name, g := range planGraphs() {
		rng := rand.New(rand.NewPCG(7, 8))
		n, err := NewNetwork(g, rng)
		require.NoError(t, err)
		randomizeState(n, rng)
		in := g.Shapes[g.Input]
		for _, batch := range []int{1, 3} {
			x := nn.New(batch, in.C, in.H, in.W)
			for i := range x.Data {
				x.Data[i] = float32(rng.NormFloat64())
			}
			xCopy := append([]float32(nil), x.Data...)
			want := n.Forward(nil, x).Data
			for _, threads := range []int{1, 2, 3} {
				t.Run(fmt.Sprintf("%s/batch%d/threads%d", name, batch, threads), func(t *testing.T) {
					// Every step is split, however small.
					p, err := newPlan(n, batch, threads, 0)
					require.NoError(t, err)
					defer p.Close()
					for range 2 { // the second run sees buffers dirty from the first
						got, err := p.Run(x.Data)
						require.NoError(t, err)
						closeRel(t, want, got, 1e-4, name)
					}
					require.Equal(t, xCopy, x.Data, "Run changed its input")
				})
			}
		}
	}
}

func TestPlanFusesAndShares(t *testing.T) {
	g := planGraphs()["mbconv"]
	n, err := NewNetwork(g, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	p, err := NewPlan(n, 1, 1)
	require.NoError(t, err)
	defer p.Close()
	st := p.Stats()
	require.Equal(t, 14, st.FoldedBN, "every conv+BN pair folds")
	require.Equal(t, 2, st.FusedAdds, "both stride-1 residual sums fuse into the projection")
	require.Equal(t, 1, st.Views, "dropout is a view")
	require.LessOrEqual(t, st.Steps, st.Ops/2, "%+v", st)
	// Storage is shared: far less than the sum of all values.
	total := 0
	for _, s := range g.Shapes {
		total += 4 * shapeLen(s)
	}
	require.Less(t, st.ArenaBytes, total/2)
}

func TestPlanRunAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes Sgemm's sync.Pool drop buffers")
	}
	for name, g := range planGraphs() {
		n, err := NewNetwork(g, rand.New(rand.NewPCG(1, 1)))
		require.NoError(t, err)
		for _, threads := range []int{1, 2} {
			for _, batch := range []int{1, 2} {
				p, err := newPlan(n, batch, threads, 0)
				require.NoError(t, err)
				x := make([]float32, p.InputLen())
				for range 5 { // warm up Sgemm's pooled packing buffers
					_, _ = p.Run(x)
				}
				allocs := testing.AllocsPerRun(20, func() {
					if _, err := p.Run(x); err != nil {
						t.Fatal(err)
					}
				})
				p.Close()
				require.Zero(t, allocs, "%s threads %d batch %d: Run allocates", name, threads, batch)
			}
		}
	}
}

func TestPlanRefusesWrongInput(t *testing.T) {
	n, err := NewNetwork(planGraphs()["odd"], rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	_, err = NewPlan(n, 0, 1)
	require.ErrorContains(t, err, "batch 0")
	p, err := NewPlan(n, 2, 1)
	require.NoError(t, err)
	_, err = p.Run(make([]float32, 5))
	require.ErrorContains(t, err, "want batch 2")
	p.Close()
	_, err = p.Run(make([]float32, p.InputLen()))
	require.ErrorContains(t, err, "after Close")
}

func TestGemmStepSplitsOnCacheLines(t *testing.T) {
	for _, tc := range []struct {
		m, n, threads int
		rowBlocks     int // 0: split by columns
	}{
		{m: 576, n: 196, threads: 2, rowBlocks: 2},  // 14x14: rows start 16 bytes apart
		{m: 128, n: 3025, threads: 2, rowBlocks: 2}, // 55x55
		{m: 64, n: 3025, threads: 2},                // 55x55, rows too few to split evenly on lines
		{m: 16, n: 3025, threads: 2},                // too few rows: columns
		{m: 96, n: 3136, threads: 2},                // 56x56: rows start on lines
		{m: 576, n: 49, threads: 2, rowBlocks: 2},   // one chunk: rows
	} {
		d := kernels.ConvDims{Window: kernels.Window{InH: 1, InW: tc.n, KH: 1, KW: 1, StrideH: 1, StrideW: 1,
			DilH: 1, DilW: 1, OutH: 1, OutW: tc.n}, In: 32, Out: tc.m, Groups: 1}
		s := newGemmStep(d, make([]float32, tc.m*32), kernels.Epilogue{}, nil, tc.threads, 0, false)
		if tc.rowBlocks == 0 {
			require.Equal(t, 1, s.rowBlocks, "m %d n %d", tc.m, tc.n)
			require.Zero(t, s.colChunk%16, "m %d n %d: column chunk %d", tc.m, tc.n, s.colChunk)
			continue
		}
		require.Equal(t, tc.rowBlocks, s.rowBlocks, "m %d n %d", tc.m, tc.n)
		for _, r := range s.rowAt[:len(s.rowAt)-1] {
			require.Zero(t, r*tc.n%16, "m %d n %d: row block boundary at row %d is inside a cache line", tc.m, tc.n, r)
		}
	}
}

func TestAlignedSpans(t *testing.T) {
	require.Equal(t, []int{0, 64, 136}, alignedSpans(136, 2, 16))
	require.Equal(t, []int{0, 48, 96, 144}, alignedSpans(144, 3, 12))
	require.Equal(t, []int{0, 16, 32, 50}, alignedSpans(50, 3, 4))
	require.Equal(t, []int{0, 20, 40}, alignedSpans(40, 2, 16)) // too few rows: plain spans
	require.Equal(t, []int{0, 5, 10}, alignedSpans(10, 2, 1))
	require.Equal(t, 4, lineRows(196))
	require.Equal(t, 16, lineRows(3025))
	require.Equal(t, 1, lineRows(3136))
}

// TestPlanSplitsAtDepthwiseChannels checks that the GEMMs on either side of
// a depthwise step split at its channels: the one before by output rows,
// the one after by input channels with a reduce step to finish it, so
// that each thread reads what it wrote (plan.go, localitySplits).
func TestPlanSplitsAtDepthwiseChannels(t *testing.T) {
	n, err := NewNetwork(planGraphs()["invres"], rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	for _, threads := range []int{1, 2, 3} {
		p, err := newPlan(n, 1, threads, 0)
		require.NoError(t, err)
		splitK, reduces, aligned := 0, 0, 0
		for i, s := range p.steps {
			switch s := s.(type) {
			case *gemmKStep:
				splitK++
				dw := p.steps[i-1].(*dwStep)
				require.Len(t, s.kAt, threads+1)
				for part := range threads {
					lo, hi := dwChannelSpan(dw.out, part, threads)
					require.Equal(t, []int{lo, hi}, s.kAt[part:part+2], "step %d part %d", i, part)
				}
				require.IsType(t, &reduceKStep{}, p.steps[i+1], "step %d", i)
			case *reduceKStep:
				reduces++
			case *gemmStep:
				if i+1 < len(p.steps) {
					if dw, ok := p.steps[i+1].(*dwStep); ok && threads > 1 {
						for part := range threads {
							lo, hi := dwChannelSpan(dw.out, part, threads)
							require.Equal(t, []int{lo, hi}, s.rowAt[part:part+2], "step %d part %d", i, part)
						}
						aligned++
					}
				}
			}
		}
		p.Close()
		if threads == 1 {
			require.Zero(t, splitK+reduces+aligned, "one thread: no split")
			continue
		}
		require.Equal(t, 5, splitK, "threads %d: every projection after a depthwise step", threads)
		require.Equal(t, splitK, reduces)
		require.Equal(t, 4, aligned, "threads %d: every expansion before a depthwise step", threads)
	}
}

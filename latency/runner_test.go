package latency

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
	"nas/blocks/nn"
	"nas/space"
)

// TestNetworkCompilerSecondInput runs a graph whose block reads the network
// input as a second input of another shape: y = x + maxpool(net).
func TestNetworkCompilerSecondInput(t *testing.T) {
	g := &blocks.Graph{
		Input: 0, NetworkInput: 1, Output: 3,
		Shapes: []blocks.Shape{{C: 2, H: 2, W: 2}, {C: 2, H: 4, W: 4}, {C: 2, H: 2, W: 2}, {C: 2, H: 2, W: 2}},
		Ops: []blocks.Op{
			{Kind: blocks.OpMaxPool, In: []blocks.Value{1}, Out: 2, Pool: blocks.PoolAttr{K: 2, S: 2}},
			{Kind: blocks.OpAdd, In: []blocks.Value{0, 2}, Out: 3},
		},
	}
	r, err := NetworkCompiler(3)(g, 1, 1)
	require.NoError(t, err)
	r.Run()
	fr := r.(*forwardRunner)
	require.Equal(t, []int{1, 2, 4, 4}, fr.netIn.Shape)
	y := fr.net.ForwardWith(nil, fr.x, fr.netIn)
	for c := range 2 {
		for i := range 2 {
			for j := range 2 {
				m := float32(-1e30)
				for di := range 2 {
					for dj := range 2 {
						m = max(m, fr.netIn.Data[c*16+(2*i+di)*4+2*j+dj])
					}
				}
				require.InDelta(t, fr.x.Data[c*4+i*2+j]+m, y.Data[c*4+i*2+j], 1e-6)
			}
		}
	}
	require.Panics(t, func() { fr.net.ForwardWith(nil, fr.x, nn.New(1, 2, 2, 2)) })
}

// TestReinforcedBlockAlone times ESPNetv2's strided units, which read the
// network's input, alone: their graph gets the image as a second input and
// their key names its shape.
func TestReinforcedBlockAlone(t *testing.T) {
	a, err := space.ZooArch("espnetv2", space.ZooOptions{Input: blocks.Shape{C: 3, H: 32, W: 32}, Classes: 10})
	require.NoError(t, err)
	items, err := ArchItems(a, 1)
	require.NoError(t, err)
	reinforced := 0
	for _, it := range items {
		g, err := it.Graph()
		require.NoError(t, err, it.Key)
		if it.Net == (blocks.Shape{}) {
			require.Equal(t, g.Input, g.NetworkInput, it.Key)
			require.NotContains(t, it.Key, "|net")
			continue
		}
		reinforced++
		require.True(t, strings.HasSuffix(it.Key, "|net3x32x32"), it.Key)
		require.NotEqual(t, g.Input, g.NetworkInput, it.Key)
		require.Equal(t, a.Input, g.Shapes[g.NetworkInput])
		require.True(t, g.Blocks[0].NetworkInput)
		r, err := NetworkCompiler(1)(g, 1, 1)
		require.NoError(t, err, it.Key)
		r.Run()
	}
	require.Equal(t, 3, reinforced, "the strided units of levels 2-4")
}

// TestIdentityBlockRunsTwice runs an item whose only op returns its input
// in inference (dropout) and whose output is C x 1 x 1, which the executor
// reshapes in place, more than once.
func TestIdentityBlockRunsTwice(t *testing.T) {
	it := Item{Spec: &blocks.Dropout{P: 20}, In: blocks.Shape{C: 6, H: 1, W: 1}}
	g, err := it.Graph()
	require.NoError(t, err)
	r, err := NetworkCompiler(1)(g, 1, 1)
	require.NoError(t, err)
	for range 3 {
		require.NotPanics(t, r.Run)
	}
}

// TestPlanCompiler runs every kind of item on the inference plan: blocks,
// the overhead's empty graph, and a reinforced unit (on the Network).
func TestPlanCompiler(t *testing.T) {
	items, err := DistinctItems([]*space.Arch{tinyArch("a", 1)}, 1)
	require.NoError(t, err)
	esp, err := space.ZooArch("espnetv2", space.ZooOptions{Input: blocks.Shape{C: 3, H: 32, W: 32}, Classes: 10})
	require.NoError(t, err)
	espItems, err := ArchItems(esp, 1)
	require.NoError(t, err)
	items = append(items, espItems[1]) // the first reinforced unit
	require.NotEqual(t, blocks.Shape{}, espItems[1].Net)
	for _, threads := range []int{1, 2} {
		for _, it := range items {
			g, err := it.Graph()
			require.NoError(t, err, it.Key)
			r, err := PlanCompiler(1)(g, 2, threads)
			require.NoError(t, err, it.Key)
			for range 2 {
				r.Run()
			}
			closeRunner(r)
		}
	}
	// Whole networks, through the profiler and the predictor.
	tbl := openTest(t, filepath.Join(t.TempDir(), "lut.db"), testFingerprint(1), Options{})
	p := &Profiler{Table: tbl, Compile: PlanCompiler(1), Protocol: fastProtocol, Calibration: []*space.Arch{tinyArch("a", 1)}}
	pred, err := (&Predictor{Table: tbl, Fill: p}).Predict(context.Background(), tinyArch("a", 1))
	require.NoError(t, err)
	require.Greater(t, pred.Ms, 0.0)
}

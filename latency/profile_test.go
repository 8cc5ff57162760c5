package latency

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"nas/blocks"
	"nas/blocks/nn"
	"nas/internal/cacheflush"
	"nas/space"
)

// tinyArch is a small conv network on 3x8x8 inputs, widths scaled by w.
func tinyArch(name string, w int) *space.Arch {
	return &space.Arch{Name: name, Input: blocks.Shape{C: 3, H: 8, W: 8}, Classes: 4, Layers: []blocks.Spec{
		&blocks.Conv{Out: 4, Kernel: 3, Stride: 2, Act: blocks.ActReLU},
		&blocks.Conv{Out: 4 * w, Kernel: 3, Groups: 4, Act: blocks.ActHSwish},
		&blocks.Conv{Out: 8, Kernel: 1, Act: blocks.ActReLU},
		&blocks.GlobalPool{},
		&blocks.Linear{Out: 4},
	}}
}

func newTestProfiler(t *testing.T, tbl *Table) *Profiler {
	t.Helper()
	return &Profiler{Table: tbl, Compile: NetworkCompiler(1), Protocol: fastProtocol}
}

func TestArchItems(t *testing.T) {
	items, err := ArchItems(tinyArch("tiny", 1), 1)
	require.NoError(t, err)
	require.Len(t, items, 6)
	want := []string{
		`conv_o4_k3_s2_arelu|3x8x8|b1`,
		`conv_o4_k3_g4_ahswish|4x4x4|b1`,
		`conv_o8_k1_arelu|4x4x4|b1`,
		`gap|8x4x4|b1`,
		`linear_o4|8x1x1|b1`,
		`overhead|3x8x8|b1`,
	}
	for i, it := range items {
		require.Equal(t, want[i], it.Key, "item %d", i)
		require.Equal(t, i == 5, it.IsOverhead())
	}
	items4, err := ArchItems(tinyArch("tiny", 1), 4)
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(items4[0].Key, "|b4"))

	_, err = ArchItems(tinyArch("tiny", 1), 0)
	require.ErrorContains(t, err, "batch 0")
	bad := tinyArch("bad", 1)
	bad.Layers[1] = &blocks.Conv{Out: 6, Kernel: 3, Groups: 4}
	_, err = ArchItems(bad, 1)
	require.ErrorContains(t, err, "network bad")
}

func TestDistinctItems(t *testing.T) {
	items, err := DistinctItems([]*space.Arch{tinyArch("a", 1), tinyArch("b", 2), tinyArch("a again", 1)}, 1)
	require.NoError(t, err)
	// b differs from a in its second layer, and so in the third's input.
	require.Len(t, items, 8)
	seen := map[string]bool{}
	for _, it := range items {
		require.False(t, seen[it.Key], "duplicate %s", it.Key)
		seen[it.Key] = true
	}
}

func TestItemGraphs(t *testing.T) {
	items, err := DistinctItems([]*space.Arch{tinyArch("a", 1)}, 1)
	require.NoError(t, err)
	for _, it := range items {
		g, err := it.Graph()
		require.NoError(t, err, it.Key)
		require.Equal(t, it.In, g.Shapes[g.Input], it.Key)
		if it.IsOverhead() {
			require.Empty(t, g.Ops)
		} else {
			require.Len(t, g.Blocks, 1)
		}
		r, err := NetworkCompiler(1)(g, 2, 1)
		require.NoError(t, err, it.Key)
		r.Run()
	}
}

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

func TestProfileFillsAndResumes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lut.db")
	tbl := openTest(t, path, testFingerprint(1), Options{})
	items, err := DistinctItems([]*space.Arch{tinyArch("a", 1)}, 1)
	require.NoError(t, err)

	// A first run stopped after three entries...
	ctx, cancel := context.WithCancel(context.Background())
	p := newTestProfiler(t, tbl)
	p.Progress = func(done, total int) {
		if done == 3 {
			cancel()
		}
	}
	st, err := p.Profile(ctx, items)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 3, st.Measured)
	n, err := tbl.Len()
	require.NoError(t, err)
	require.Equal(t, 3, n)

	// ...and a second that continues.
	var calls [][2]int
	p = newTestProfiler(t, tbl)
	p.Progress = func(done, total int) { calls = append(calls, [2]int{done, total}) }
	st, err = p.Profile(context.Background(), append(items, items...))
	require.NoError(t, err)
	require.Equal(t, ProfileStats{Total: 6, Present: 3, Measured: 3, Elapsed: st.Elapsed}, st)
	require.Equal(t, [][2]int{{3, 6}, {4, 6}, {5, 6}, {6, 6}}, calls)
	for _, it := range items {
		e, ok, err := tbl.Get(it.Key)
		require.NoError(t, err)
		require.True(t, ok, it.Key)
		require.NoError(t, e.Validate())
	}

	st, err = newTestProfiler(t, tbl).Profile(context.Background(), items)
	require.NoError(t, err)
	require.Zero(t, st.Measured)
}

// foreignTable returns a table file profiled by a device with 2 threads,
// opened from a machine with 1 thread by naming that device.
func foreignTable(t *testing.T, items []Item) *Table {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lut.db")
	other := testFingerprint(2)
	tbl, err := Open(path, other, Options{})
	require.NoError(t, err)
	require.NoError(t, tbl.Put(items[0].Key, entryFor(0)))
	require.NoError(t, tbl.Close())
	return openTest(t, path, testFingerprint(1), Options{ReadOnly: true, Device: other.ID()})
}

func TestProfileRefusesForeignAndReadOnly(t *testing.T) {
	items, err := ArchItems(tinyArch("a", 1), 1)
	require.NoError(t, err)
	foreign := foreignTable(t, items)
	_, err = newTestProfiler(t, foreign).Profile(context.Background(), items)
	require.ErrorIs(t, err, ErrForeignDevice)
	require.ErrorContains(t, err, testFingerprint(2).ID())

	path := filepath.Join(t.TempDir(), "lut.db")
	tbl, err := Open(path, testFingerprint(1), Options{})
	require.NoError(t, err)
	require.NoError(t, tbl.Close())
	ro := openTest(t, path, testFingerprint(1), Options{ReadOnly: true})
	_, err = newTestProfiler(t, ro).Profile(context.Background(), items)
	require.ErrorIs(t, err, ErrReadOnly)
}

func TestPredictSumsEntries(t *testing.T) {
	tbl := openTest(t, filepath.Join(t.TempDir(), "lut.db"), testFingerprint(1), Options{})
	a := tinyArch("tiny", 1)
	items, err := ArchItems(a, 1)
	require.NoError(t, err)
	want := 0.0
	entries := map[string]Entry{}
	for i, it := range items {
		e := entryFor(i)
		entries[it.Key] = e
		// A block counts its latency (p10); the overhead its median, the
		// median over the calibration networks.
		if it.IsOverhead() {
			want += e.MedianMs()
		} else {
			want += e.LatencyMs()
		}
	}
	require.NoError(t, tbl.PutMany(entries))
	pred, err := (&Predictor{Table: tbl}).Predict(context.Background(), a)
	require.NoError(t, err)
	require.InDelta(t, want, pred.Ms, 1e-12)
	require.Len(t, pred.Blocks, len(a.Layers))
	require.Equal(t, entryFor(5).MedianMs(), pred.OverheadMs)
	for i, b := range pred.Blocks {
		require.Equal(t, i, b.Index)
		require.Equal(t, a.Layers[i].Type(), b.Type)
		require.Equal(t, entryFor(i).LatencyMs(), b.Ms)
	}
	require.Zero(t, pred.MeasuredNow)
}

func TestCalibratedOverhead(t *testing.T) {
	// Three networks: 10 over 8, 30 over 20, 13 over 10 (ns).
	e := calibratedOverhead([]float64{10, 30, 13}, []float64{8, 20, 10})
	require.NoError(t, e.Validate())
	require.Equal(t, 3, e.Samples)
	require.InDelta(t, 1.3, e.Scale, 1e-12, "the median ratio")
	require.InDelta(t, 3, e.MedianNs, 1e-12, "the median difference")
	// Networks faster than their blocks: no negative overhead, and a
	// scale below 1.
	e = calibratedOverhead([]float64{9, 18}, []float64{10, 20})
	require.NoError(t, e.Validate())
	require.Zero(t, e.MedianNs)
	require.InDelta(t, 0.9, e.Scale, 1e-12)
}

func TestPredictMissing(t *testing.T) {
	a := tinyArch("tiny", 1)
	items, err := ArchItems(a, 1)
	require.NoError(t, err)

	t.Run("foreign device: error lists the missing entries and the command", func(t *testing.T) {
		foreign := foreignTable(t, items)
		// Fill is set but must not be used on another device's table.
		_, err := (&Predictor{Table: foreign, Fill: newTestProfiler(t, foreign)}).Predict(context.Background(), a)
		var me *MissingError
		require.True(t, errors.As(err, &me), "got %v", err)
		require.ErrorIs(t, err, ErrMissingEntries)
		require.Len(t, me.Keys, len(items)-1)
		require.Equal(t, items[1].Key, me.Keys[0])
		require.Equal(t, testFingerprint(2).ID(), me.Device)
		require.Contains(t, err.Error(), "nas profile --lut "+foreign.Path()+" --threads 2 --batch 1 tiny")
	})

	t.Run("this machine: measured on the spot", func(t *testing.T) {
		tbl := openTest(t, filepath.Join(t.TempDir(), "lut.db"), testFingerprint(1), Options{})
		require.NoError(t, tbl.Put(items[0].Key, entryFor(0)))
		pr := &Predictor{Table: tbl, Fill: newTestProfiler(t, tbl)}
		pred, err := pr.Predict(context.Background(), a)
		require.NoError(t, err)
		require.Equal(t, len(items)-1, pred.MeasuredNow)
		require.Equal(t, entryFor(0).LatencyMs(), pred.Blocks[0].Ms)
		n, err := tbl.Len()
		require.NoError(t, err)
		require.Equal(t, len(items), n)
	})

	t.Run("this machine without Fill: error", func(t *testing.T) {
		tbl := openTest(t, filepath.Join(t.TempDir(), "lut.db"), testFingerprint(1), Options{})
		_, err := (&Predictor{Table: tbl}).Predict(context.Background(), a)
		require.ErrorIs(t, err, ErrMissingEntries)
		require.Contains(t, err.Error(), fmt.Sprintf("lacks %d entries", len(items)))
		require.Contains(t, err.Error(), "and 1 more")
	})
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

// TestLayerItemsMatchArchItems checks that the items of a space's layer
// list carry the keys the predictor looks up for its networks.
func TestLayerItemsMatchArchItems(t *testing.T) {
	s, err := space.LoadSpace("small28")
	require.NoError(t, err)
	layers, err := s.Layers()
	require.NoError(t, err)
	items, err := LayerItems(layers, s.Input, 1)
	require.NoError(t, err)
	listed := map[string]bool{}
	for _, it := range items {
		listed[it.Key] = true
	}
	require.True(t, items[len(items)-1].IsOverhead())
	rng := rand.New(rand.NewPCG(1, 1))
	for range 20 {
		_, a, err := s.Sample(rng)
		require.NoError(t, err)
		ais, err := ArchItems(a, 1)
		require.NoError(t, err)
		for _, it := range ais {
			require.True(t, listed[it.Key], "%s of %s", it.Key, a)
		}
	}

	// Reinforced units get the network input in their key.
	a, err := space.ZooArch("espnetv2", space.ZooOptions{Input: blocks.Shape{C: 3, H: 32, W: 32}, Classes: 10})
	require.NoError(t, err)
	shapes, err := a.Shapes()
	require.NoError(t, err)
	var ls []space.LayerAt
	for i, l := range a.Layers {
		ls = append(ls, space.LayerAt{Spec: l, In: shapes[i]})
	}
	fromLayers, err := LayerItems(ls, a.Input, 1)
	require.NoError(t, err)
	fromArch, err := ArchItems(a, 1)
	require.NoError(t, err)
	require.Equal(t, len(fromArch), len(fromLayers))
	for i := range fromArch {
		require.Equal(t, fromArch[i].Key, fromLayers[i].Key)
		require.Equal(t, fromArch[i].Net, fromLayers[i].Net)
	}
}

func TestOverheadCalibration(t *testing.T) {
	archs := []*space.Arch{tinyArch("a", 1), tinyArch("b", 2), tinyArch("c", 3)}
	items, err := DistinctItems(archs[:1], 1)
	require.NoError(t, err)

	t.Run("calibrated on networks, whose blocks are profiled too", func(t *testing.T) {
		tbl := openTest(t, filepath.Join(t.TempDir(), "lut.db"), testFingerprint(1), Options{})
		p := newTestProfiler(t, tbl)
		p.Calibration = archs
		st, err := p.Profile(context.Background(), items)
		require.NoError(t, err)
		all, err := DistinctItems(archs, 1)
		require.NoError(t, err)
		require.Equal(t, len(all), st.Measured)
		e, ok, err := tbl.Get(OverheadKey(archs[0].Input, 1))
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, 3, e.Samples)
		require.Contains(t, e.Protocol, "calibrated on 3 networks")
		require.NoError(t, e.Validate())
		require.Positive(t, e.Scale)
	})

	t.Run("without networks of the input: the empty graph", func(t *testing.T) {
		tbl := openTest(t, filepath.Join(t.TempDir(), "lut.db"), testFingerprint(1), Options{})
		p := newTestProfiler(t, tbl)
		other := tinyArch("big", 1)
		other.Input = blocks.Shape{C: 3, H: 16, W: 16}
		p.Calibration = []*space.Arch{other}
		_, err := p.Profile(context.Background(), items)
		require.NoError(t, err)
		e, ok, err := tbl.Get(OverheadKey(archs[0].Input, 1))
		require.NoError(t, err)
		require.True(t, ok)
		require.Contains(t, e.Protocol, "empty graph")
		_, ok, err = tbl.Get(OverheadKey(other.Input, 1))
		require.NoError(t, err)
		require.True(t, ok, "the calibration network's own overhead")
	})
}

func TestProfileRecalibrate(t *testing.T) {
	archs := []*space.Arch{tinyArch("a", 1), tinyArch("b", 2)}
	items, err := DistinctItems(archs, 1)
	require.NoError(t, err)
	tbl := openTest(t, filepath.Join(t.TempDir(), "lut.db"), testFingerprint(1), Options{})
	p := newTestProfiler(t, tbl)
	p.Calibration = archs
	_, err = p.Profile(context.Background(), items)
	require.NoError(t, err)
	before := map[string]Entry{}
	for _, it := range items {
		e, ok, err := tbl.Get(it.Key)
		require.NoError(t, err)
		require.True(t, ok, it.Key)
		before[it.Key] = e
	}

	// Nothing is missing: a plain run measures nothing.
	st, err := p.Profile(context.Background(), items)
	require.NoError(t, err)
	require.Zero(t, st.Measured)

	p.Recalibrate = true
	st, err = p.Profile(context.Background(), items)
	require.NoError(t, err)
	require.Equal(t, 1, st.Measured, "the one overhead entry, nothing else")
	for _, it := range items {
		e, ok, err := tbl.Get(it.Key)
		require.NoError(t, err)
		require.True(t, ok, it.Key)
		if it.IsOverhead() {
			require.True(t, e.MeasuredAt.After(before[it.Key].MeasuredAt), "the overhead entry is made anew")
			require.Len(t, e.CalibrationNs, len(archs))
			require.NoError(t, e.Validate())
			continue
		}
		require.Equal(t, before[it.Key], e, "block %s is left as it was", it.Key)
	}
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

func TestProfileRounds(t *testing.T) {
	tbl := openTest(t, filepath.Join(t.TempDir(), "lut.db"), testFingerprint(1), Options{})
	a := tinyArch("a", 1)
	items, err := ArchItems(a, 1)
	require.NoError(t, err)
	blockItems := items[:len(items)-1]

	// Entries from an earlier run: one faster than anything measurable,
	// which a new measurement must not replace, and one slower.
	fast, slow := entryFor(0), entryFor(1)
	fast.MedianNs, fast.P10Ns, fast.P90Ns = 1, 1, 1
	slow.MedianNs, slow.P10Ns, slow.P90Ns = 1e12, 1e12, 1e12
	require.NoError(t, tbl.Put(blockItems[0].Key, fast))
	require.NoError(t, tbl.Put(blockItems[1].Key, slow))

	// Stopped in the middle of the second pass...
	ctx, cancel := context.WithCancel(context.Background())
	p := newTestProfiler(t, tbl)
	p.Rounds, p.Calibration = 3, []*space.Arch{a}
	var last [2]int
	p.Progress = func(done, total int) {
		last = [2]int{done, total}
		if done == 2+len(blockItems)+1 {
			cancel()
		}
	}
	st, err := p.Profile(ctx, items)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 3*len(items), last[1], "progress counts measurements")
	require.Equal(t, 2+len(blockItems)+1, st.Present+st.Measured)
	// The second pass takes the blocks in its own order (roundOrder): its
	// first three have two measurements, the others one.
	keys := make([]string, len(blockItems))
	for i, it := range blockItems {
		keys[i] = it.Key
	}
	for i, k := range roundOrder(keys, 2) {
		e, ok, err := tbl.Get(k)
		require.NoError(t, err)
		require.True(t, ok, k)
		want := 1
		if i < 3 {
			want = 2
		}
		require.Equal(t, want, e.rounds(), "%s, %d in the second pass", k, i)
	}

	// ...and continued: every entry is the best of 3, the overhead too.
	p = newTestProfiler(t, tbl)
	p.Rounds, p.Calibration = 3, []*space.Arch{a}
	st, err = p.Profile(context.Background(), items)
	require.NoError(t, err)
	require.Equal(t, 3*len(items), st.Present+st.Measured)
	for _, it := range items {
		e, ok, err := tbl.Get(it.Key)
		require.NoError(t, err)
		require.True(t, ok, it.Key)
		require.NoError(t, e.Validate())
		require.Equal(t, 3, e.Rounds, it.Key)
	}
	e, _, err := tbl.Get(blockItems[0].Key)
	require.NoError(t, err)
	require.Equal(t, 1.0, e.P10Ns, "the best measurement is kept")
	require.Equal(t, fast.MeasuredAt, e.MeasuredAt)
	e, _, err = tbl.Get(blockItems[1].Key)
	require.NoError(t, err)
	require.Less(t, e.P10Ns, 1e12, "a slower one is replaced")

	// Nothing left to do at 3 rounds.
	st, err = p.Profile(context.Background(), items)
	require.NoError(t, err)
	require.Zero(t, st.Measured)
}

func TestMeasureNetworksKeepsBest(t *testing.T) {
	defer func(f func() float64) { probeFn = f }(probeFn)
	probeFn = func() float64 { return 1 } // a quiet machine: no extra passes
	archs := []*space.Arch{tinyArch("a", 1), tinyArch("b", 2)}
	var calls [][2]int
	ms, err := MeasureNetworks(context.Background(), NetworkCompiler(1), archs, 1, 1, fastProtocol, 3,
		func(done, total int) { calls = append(calls, [2]int{done, total}) })
	require.NoError(t, err)
	require.Len(t, ms, 2)
	require.Equal(t, [][2]int{{1, 6}, {2, 6}, {3, 6}, {4, 6}, {5, 6}, {6, 6}}, calls)
	for _, m := range ms {
		require.NoError(t, m.Validate())
		require.False(t, m.Contended)
		require.Greater(t, m.RoundGap, 0.0, "the second best of 3 over the best: timings never agree to the nanosecond")
	}
	ms, err = MeasureNetworks(context.Background(), NetworkCompiler(1), archs[:1], 1, 1, fastProtocol, 1, nil)
	require.NoError(t, err)
	require.Zero(t, ms[0].RoundGap, "one measurement: no gap")
}

// TestMeasureNetworksReproduces: a network whose second measurement is
// twice its first is measured again, and no more than rounds more times.
func TestMeasureNetworksReproduces(t *testing.T) {
	defer func(v float64) { reproduceTolerance = v }(reproduceTolerance)
	reproduceTolerance = ReproduceTolerance
	compiles := 0
	compile := func(g *blocks.Graph, batch, threads int) (Runner, error) {
		compiles++
		work := 20000
		if compiles == 2 {
			work *= 2 // the second round runs slow
		}
		return &spinRunner{work: work}, nil
	}
	var last [2]int
	ms, err := MeasureNetworks(context.Background(), compile, []*space.Arch{tinyArch("a", 1)}, 1, 1, fastProtocol, 2,
		func(done, total int) { last = [2]int{done, total} })
	require.NoError(t, err)
	require.GreaterOrEqual(t, last[0], 3, "the best was not reproduced by the second round: a third")
	require.LessOrEqual(t, last[0], 4, "at most rounds more")
	require.Equal(t, last[0], last[1])
	require.Equal(t, last[0], compiles)
	require.GreaterOrEqual(t, ms[0].RoundGap, 0.0)
}

// TestMeasureNetworksRetriesContended: a machine busy throughout makes
// every measurement contended, and each network gets rounds more
// measurements; one busy only at first needs none.
func TestMeasureNetworksRetriesContended(t *testing.T) {
	defer func(f func() float64) { probeFn = f }(probeFn)
	archs := []*space.Arch{tinyArch("a", 1), tinyArch("b", 2)}
	p := fastProtocol
	p.MaxTime = 5 * time.Millisecond

	probeFn = func() float64 { return 2 } // always busy
	var last [2]int
	ms, err := MeasureNetworks(context.Background(), NetworkCompiler(1), archs, 1, 1, p, 2,
		func(done, total int) { last = [2]int{done, total} })
	require.NoError(t, err)
	require.Equal(t, [2]int{8, 8}, last, "2 rounds, then 2 more passes over both")
	for _, m := range ms {
		require.True(t, m.Contended)
		require.Greater(t, m.ProbeDropped, 0)
	}

	calls := 0
	probeFn = func() float64 { // busy for the first network's measurement only
		calls++
		if calls < 40 {
			return 2
		}
		return 1
	}
	ms, err = MeasureNetworks(context.Background(), NetworkCompiler(1), archs, 1, 1, p, 2,
		func(done, total int) { last = [2]int{done, total} })
	require.NoError(t, err)
	require.Equal(t, [2]int{4, 4}, last, "a clean measurement of each in the 2 rounds: no extra pass")
	for _, m := range ms {
		require.False(t, m.Contended)
	}
}

func TestPredictFillsOnlyWhatIsMissing(t *testing.T) {
	tbl := openTest(t, filepath.Join(t.TempDir(), "lut.db"), testFingerprint(1), Options{})
	a := tinyArch("tiny", 1)
	items, err := ArchItems(a, 1)
	require.NoError(t, err)
	// One entry of one round; the rest missing.
	require.NoError(t, tbl.Put(items[0].Key, entryFor(0)))
	fill := newTestProfiler(t, tbl)
	fill.Rounds = 3
	pred, err := (&Predictor{Table: tbl, Fill: fill}).Predict(context.Background(), a)
	require.NoError(t, err)
	require.Equal(t, len(items)-1, pred.MeasuredNow, "entries, not measurements")
	e, _, err := tbl.Get(items[0].Key)
	require.NoError(t, err)
	require.Equal(t, entryFor(0), e, "a prediction does not refine what is there")
	for _, it := range items[1:] {
		e, ok, err := tbl.Get(it.Key)
		require.NoError(t, err)
		require.True(t, ok, it.Key)
		require.Equal(t, 3, e.Rounds, it.Key)
	}
}

// TestRoundOrder checks that each pass of a profile takes the blocks in an
// order of its own, every block once, the same for a pass on every run
// (so that a resumed run measures what it would have).
func TestRoundOrder(t *testing.T) {
	keys := make([]string, 50)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%02d", i)
	}
	orig := slices.Clone(keys)
	var orders [][]string
	for round := 1; round <= 3; round++ {
		o := roundOrder(keys, round)
		require.Equal(t, o, roundOrder(keys, round), "round %d is deterministic", round)
		require.ElementsMatch(t, keys, o, "round %d is a permutation", round)
		orders = append(orders, o)
	}
	require.Equal(t, orig, keys, "the keys are not reordered in place")
	require.NotEqual(t, orders[0], orders[1])
	require.NotEqual(t, orders[1], orders[2])
	require.NotEqual(t, keys, orders[0])
}

func TestFitBeta(t *testing.T) {
	var xs, ys []float64
	for i := range 50 {
		x := float64(i * 7 % 23)
		xs = append(xs, x)
		ys = append(ys, 1.7*x+5+0.01*float64(i%3-1))
	}
	require.InDelta(t, 1.7, fitBeta(xs, ys), 0.01, "the slope, whatever the intercept")
	require.Zero(t, fitBeta(xs[:2], ys[:2]), "too few points")
	require.Zero(t, fitBeta([]float64{3, 3, 3}, []float64{1, 2, 3}), "no spread in x")
	neg := make([]float64, len(xs))
	for i, x := range xs {
		neg[i] = -x
	}
	require.Zero(t, fitBeta(xs, neg), "clamped at 0")
	require.Equal(t, maxBeta, fitBeta(xs, scaled(xs, 100)), "clamped at maxBeta")
}

func scaled(v []float64, f float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = f * x
	}
	return out
}

// TestPredictScalesBySum checks a calibrated overhead's beta and scale:
// each block counts its latency plus beta times its cold excess, and the
// prediction is their sum times the scale, whatever the overhead's median.
func TestPredictScalesBySum(t *testing.T) {
	for _, beta := range []float64{0, 1.5} {
		tbl := openTest(t, filepath.Join(t.TempDir(), "lut.db"), testFingerprint(1), Options{})
		a := tinyArch("tiny", 1)
		items, err := ArchItems(a, 1)
		require.NoError(t, err)
		sum := 0.0 // ns
		entries := map[string]Entry{}
		for i, it := range items {
			e := entryFor(i)
			if it.IsOverhead() {
				e.Scale, e.Beta = 1.25, beta
			} else {
				e.ColdNs = e.P10Ns + 1000*float64(i+1)
				sum += e.P10Ns + beta*(e.ColdNs-e.P10Ns)
			}
			entries[it.Key] = e
		}
		require.NoError(t, tbl.PutMany(entries))
		pred, err := (&Predictor{Table: tbl}).Predict(context.Background(), a)
		require.NoError(t, err)
		require.InDelta(t, 1.25*sum/1e6, pred.Ms, 1e-12, "beta %v", beta)
		require.InDelta(t, 0.25*sum/1e6, pred.OverheadMs, 1e-12, "beta %v", beta)
		for _, b := range pred.Blocks {
			require.InDelta(t, b.Entry.BlockNs(beta)/1e6, b.Ms, 1e-15)
			if beta > 0 {
				require.Greater(t, b.Ms, b.Entry.LatencyMs())
			} else {
				require.Equal(t, b.Entry.LatencyMs(), b.Ms)
			}
		}
	}
	// Without a cold entry, or with beta 0, a block counts its latency.
	require.Equal(t, 7.0, Entry{P10Ns: 7}.BlockNs(2))
	require.Equal(t, 7.0, Entry{P10Ns: 7, ColdNs: 9}.BlockNs(0))
	require.Equal(t, 0.0, Entry{P10Ns: 7, ColdNs: 1}.BlockNs(4), "never below 0")
}

// TestProfileColdAndBeta profiles a small network on the inference plan:
// every block with weights gets a cold entry, and the calibrated overhead
// a beta fitted on its blocks timed inside it.
func TestProfileColdAndBeta(t *testing.T) {
	if !cacheflush.Supported {
		t.Skip("no cache flush on " + runtime.GOARCH)
	}
	tbl := openTest(t, filepath.Join(t.TempDir(), "lut.db"), testFingerprint(1), Options{})
	a := tinyArch("a", 1)
	p := &Profiler{Table: tbl, Compile: PlanCompiler(1), Protocol: fastProtocol, Calibration: []*space.Arch{a}, Rounds: 2}
	items, err := ArchItems(a, 1)
	require.NoError(t, err)
	_, err = p.Profile(context.Background(), items)
	require.NoError(t, err)
	for _, it := range items {
		e, ok, err := tbl.Get(it.Key)
		require.NoError(t, err)
		require.True(t, ok, it.Key)
		require.NoError(t, e.Validate(), it.Key)
		if it.IsOverhead() {
			require.Contains(t, e.Protocol, "beta")
			require.LessOrEqual(t, e.Beta, maxBeta)
			require.Greater(t, e.Scale, 0.0)
			require.Equal(t, []string{a.String()}, e.CalibrationArchs, "the reference for Drift")
			require.Len(t, e.CalibrationNs, 1)
			continue
		}
		g, err := it.Graph()
		require.NoError(t, err)
		if len(g.Ops) > 0 {
			require.Contains(t, e.Protocol, "cold: weights flushed", it.Key)
		}
	}
	// Drift measures the calibration network again, and only it.
	var compiled []int
	counting := func(g *blocks.Graph, batch, threads int) (Runner, error) {
		compiled = append(compiled, len(g.Blocks))
		return PlanCompiler(1)(g, batch, threads)
	}
	drift, ok, err := Drift(context.Background(), tbl, counting, a.Input, 1, 1, fastProtocol, 1)
	require.NoError(t, err)
	require.True(t, ok)
	require.False(t, math.IsNaN(drift) || math.IsInf(drift, 0))
	require.Greater(t, drift, -1.0)
	ag, err := a.Graph()
	require.NoError(t, err)
	require.Equal(t, []int{len(ag.Blocks)}, compiled)
	_, ok, err = Drift(context.Background(), tbl, counting, blocks.Shape{C: 3, H: 9, W: 9}, 1, 1, fastProtocol, 1)
	require.NoError(t, err)
	require.False(t, ok, "no overhead entry for that input")

	// The blocks timed inside the network: one figure per block.
	g, err := a.Graph()
	require.NoError(t, err)
	r, err := PlanCompiler(1)(g, 1, 1)
	require.NoError(t, err)
	defer closeRunner(r)
	inside, err := MeasureBlocks(context.Background(), r.(StepTimer), g, fastProtocol)
	require.NoError(t, err)
	require.Len(t, inside, len(g.Blocks))
	for i, v := range inside {
		require.Greater(t, v, 0.0, "block %d", i)
	}
}

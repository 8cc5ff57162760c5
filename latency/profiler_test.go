package latency

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
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

package latency

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
	"nas/space"
)

func TestParseKeyRoundTrips(t *testing.T) {
	s, err := space.LoadSpace("small28")
	require.NoError(t, err)
	layers, err := s.Layers()
	require.NoError(t, err)
	for _, batch := range []int{1, 4} {
		items, err := LayerItems(layers, s.Input, batch)
		require.NoError(t, err)
		for _, it := range items {
			got, b, err := ParseKey(it.Key)
			require.NoError(t, err, it.Key)
			require.Equal(t, batch, b)
			require.Equal(t, it.Key, got.Key)
			require.Equal(t, it.In, got.In)
			require.Equal(t, it.Net, got.Net)
			require.Equal(t, it.IsOverhead(), got.IsOverhead())
		}
	}
	for _, bad := range []string{"", "x", "overhead|3x28x28", "overhead|3x28x28|b0", "overhead|3x28x28|b1|net3x28x28",
		"ir_k3_m64_o24|16x14x14|b1|16x14x14", "ir_k3_m64_o24|16x14x99999|b1", "conv_o8_k3|0x1x1|b1", "nope|3x3x3|b1",
		"ir_k3_m64_o24|16x14x14|b01", "ir_k3_m64_o24|16x14x14|b1|net3x28x28|x"} {
		_, _, err := ParseKey(bad)
		require.ErrorIs(t, err, ErrInvalidEntry, bad)
	}
}

// deviceProfiler is a Measurer that measures in this process through a
// Profiler of its own, as an agent does, and counts the measurements in
// flight at once.
type deviceProfiler struct {
	fp         Fingerprint
	n          int
	mu         sync.Mutex // Measure times one runner at a time
	count      sync.Mutex // guards the counts
	inFlight   int
	maxFlight  int
	items, net int
}

// enter counts a request in flight and waits for the device.
func (d *deviceProfiler) enter() func() {
	d.count.Lock()
	d.inFlight++
	d.maxFlight = max(d.maxFlight, d.inFlight)
	d.count.Unlock()
	d.mu.Lock()
	return func() {
		d.mu.Unlock()
		d.count.Lock()
		d.inFlight--
		d.count.Unlock()
	}
}

func (d *deviceProfiler) MeasureItem(ctx context.Context, it Item, batch int, p Protocol) (Measurement, error) {
	defer d.enter()()
	d.items++
	return (&Profiler{Compile: PlanCompiler(1), Protocol: p, Batch: batch, Threads: d.fp.Threads}).MeasureItem(ctx, it)
}

func (d *deviceProfiler) MeasureNetwork(ctx context.Context, a *space.Arch, batch int, p Protocol, inside bool) (Measurement, []float64, error) {
	defer d.enter()()
	d.net++
	return (&Profiler{Compile: PlanCompiler(1), Protocol: p, Batch: batch, Threads: d.fp.Threads}).MeasureNetwork(ctx, a, inside)
}

func (d *deviceProfiler) Concurrency() int         { return d.n }
func (d *deviceProfiler) Fingerprint() Fingerprint { return d.fp }

// TestProfileThroughMeasurer: a profile through a Measurer stores its
// entries under the remote device's fingerprint, and a ConcurrentMeasurer
// gets several blocks at once.
func TestProfileThroughMeasurer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lut.db")
	board := testFingerprint(1)
	board.CPUModel = "a board"
	board.KernelVersion = CurrentFingerprint(1).KernelVersion
	dev := &deviceProfiler{fp: board, n: 3}
	tbl, err := OpenRemote(path, board, Options{})
	require.NoError(t, err)
	a := tinyArch("a", 1)
	items, err := ArchItems(a, 1)
	require.NoError(t, err)
	p := &Profiler{Table: tbl, Measurer: dev, Protocol: fastProtocol, Calibration: []*space.Arch{a}}
	st, err := p.Profile(context.Background(), items)
	require.NoError(t, err)
	require.Equal(t, len(items), st.Measured)
	require.Equal(t, 1, dev.net, "one calibration network, one round")
	require.Equal(t, len(items)-1, dev.items, "every block, and no empty graph: the overhead is calibrated")
	require.Greater(t, dev.maxFlight, 1, "blocks are asked for concurrently")
	require.LessOrEqual(t, dev.maxFlight, dev.n)
	require.Equal(t, board.ID(), tbl.Device().ID())

	// The board's table is not measured here, nor with another device's
	// measurer.
	_, err = (&Profiler{Table: tbl, Compile: PlanCompiler(1), Protocol: fastProtocol}).Profile(context.Background(), items)
	require.ErrorIs(t, err, ErrForeignDevice)
	other := &deviceProfiler{fp: testFingerprint(1), n: 1}
	_, err = (&Profiler{Table: tbl, Measurer: other, Protocol: fastProtocol}).Profile(context.Background(), items)
	require.ErrorIs(t, err, ErrForeignDevice)
	require.NoError(t, tbl.Close())

	// The file holds the board, not this machine: opening it as this
	// machine's table is refused, naming the board's ID.
	_, err = Open(path, CurrentFingerprint(1), Options{ReadOnly: true})
	var me *MismatchError
	require.ErrorAs(t, err, &me)
	require.Equal(t, board.ID(), me.Closest.ID())

	// A device on other kernels is refused before anything is measured.
	old := board
	old.KernelVersion--
	_, err = OpenRemote(filepath.Join(t.TempDir(), "x.db"), old, Options{})
	require.ErrorIs(t, err, ErrStaleKernels)
}

// FuzzParseKey: no key makes ParseKey panic, and a key it accepts is the
// canonical key of what it read.
func FuzzParseKey(f *testing.F) {
	for _, k := range []string{"ir_k3_m64_o24|16x14x14|b1", "overhead|1x28x28|b1", "conv_o8_k3_s2_arelu|3x8x8|b4", "espr_o16|8x14x14|b1|net3x28x28", "x|1x1x1|b1"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		it, batch, err := ParseKey(key)
		if err != nil {
			return
		}
		var want string
		if it.IsOverhead() {
			want = OverheadKey(it.In, batch)
		} else {
			var net *blocks.Shape
			if it.Net != (blocks.Shape{}) {
				net = &it.Net
			}
			want = BlockKey(it.Spec, it.In, batch, net)
		}
		if want != key {
			t.Fatalf("ParseKey(%q) read %q", key, want)
		}
	})
}

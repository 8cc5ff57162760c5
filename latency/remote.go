package latency

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"nas/blocks"
	"nas/space"
)

// Measurer takes a Profiler's measurements somewhere other than this
// process: on a device reached over the network (cluster.Device, which
// asks a `nas agent` running there). The device runs this package's
// Profiler (MeasureItem, MeasureNetwork) with the protocol and batch it
// is sent, so that its figures are those a `nas profile` on the device
// would store.
type Measurer interface {
	// MeasureItem measures one block or overhead item as
	// Profiler.MeasureItem does.
	MeasureItem(ctx context.Context, it Item, batch int, p Protocol) (Measurement, error)
	// MeasureNetwork measures a network end to end as
	// Profiler.MeasureNetwork does, with the time of each of its blocks
	// inside it when inside is set (nil otherwise).
	MeasureNetwork(ctx context.Context, a *space.Arch, batch int, p Protocol, inside bool) (Measurement, []float64, error)
}

// ConcurrentMeasurer is a Measurer that takes several measurements at
// once (several agents of one device): the profiler keeps Concurrency
// block measurements in flight.
type ConcurrentMeasurer interface {
	Measurer
	Concurrency() int
}

// RemoteDevice is a device measured from this process: its fingerprint,
// under which its entries are stored, and the Measurer that times items
// there.
type RemoteDevice interface {
	Measurer
	Fingerprint() Fingerprint
}

// MeasureItem measures one item in this process under the profiler's
// protocol, batch and threads, as Profile does before storing it: a block
// alone, warm and with its weights flushed, minus the run's boundary; an
// overhead item as the graph with no operation. It is what an agent runs
// for a MeasureItem request; it ignores p.Measurer and p.Table.
func (p *Profiler) MeasureItem(ctx context.Context, it Item) (Measurement, error) {
	return p.measureHere(ctx, it)
}

// MeasureNetwork measures network a end to end in this process, as a
// calibration network is, and, when inside is set and the runner can time
// its steps (the plan, batch 1), each of its blocks inside it (nil
// otherwise). It ignores p.Measurer and p.Table.
func (p *Profiler) MeasureNetwork(ctx context.Context, a *space.Arch, inside bool) (Measurement, []float64, error) {
	return p.measureNetworkHere(ctx, a, inside)
}

// ParseKey reads a table key (BlockKey, OverheadKey) back into the item
// it names and its batch, checking the block, the shapes and the batch
// against space.DefaultLimits; the item's Key is the key. A key that is
// not in canonical form is refused: BlockKey of what it reads must give
// it back.
func ParseKey(key string) (Item, int, error) {
	bad := func(format string, args ...any) (Item, int, error) {
		return Item{}, 0, fmt.Errorf("%w: key %q: %s", ErrInvalidEntry, clipKey(key), fmt.Sprintf(format, args...))
	}
	if err := validateKey(key); err != nil {
		return Item{}, 0, err
	}
	parts := strings.Split(key, "|")
	if len(parts) != 3 && len(parts) != 4 {
		return bad("want TOKEN|CxHxW|bN or TOKEN|CxHxW|bN|netCxHxW")
	}
	in, err := space.ParseShape(parts[1])
	if err == nil {
		err = space.CheckShape(in)
	}
	if err != nil {
		return bad("%v", err)
	}
	b, ok := strings.CutPrefix(parts[2], "b")
	batch, err := strconv.Atoi(b)
	if !ok || err != nil || batch < 1 || batch > maxBatch {
		return bad("batch %q: want b1 to b%d", parts[2], maxBatch)
	}
	it := Item{Key: key, In: in}
	var net *blocks.Shape
	if len(parts) == 4 {
		s, ok := strings.CutPrefix(parts[3], "net")
		if !ok {
			return bad("fourth field %q: want netCxHxW", parts[3])
		}
		if it.Net, err = space.ParseShape(s); err == nil {
			err = space.CheckShape(it.Net)
		}
		if err != nil {
			return bad("%v", err)
		}
		net = &it.Net
	}
	want := ""
	if parts[0] == overheadType {
		if net != nil {
			return bad("an overhead key has no network input")
		}
		want = OverheadKey(in, batch)
	} else {
		if it.Spec, err = space.ParseBlock(parts[0]); err != nil {
			return bad("%v", err)
		}
		want = BlockKey(it.Spec, in, batch, net)
	}
	if want != key {
		return bad("not canonical, want %q", want)
	}
	return it, batch, nil
}

// maxBatch bounds the batch a key may name.
const maxBatch = 1024

func clipKey(k string) string {
	if len(k) > 80 {
		return k[:77] + "..."
	}
	return k
}

// measureEach measures the items of keys and calls store with each
// measurement as it comes, in keys' order when measuring here or on a
// Measurer of one, in the order they finish on a ConcurrentMeasurer,
// with Concurrency measurements in flight (store is never called
// concurrently). The first error stops it: measurements in flight are
// cancelled, and what was stored stays.
func (p *Profiler) measureEach(ctx context.Context, byKey map[string]Item, keys []string, store func(string, Measurement) error) error {
	n := 1
	if cm, ok := p.Measurer.(ConcurrentMeasurer); ok {
		n = max(1, cm.Concurrency())
	}
	if n == 1 || len(keys) < 2 {
		for _, k := range keys {
			m, err := p.measure(ctx, byKey[k])
			if err != nil {
				return fmt.Errorf("profiling %s: %w", k, err)
			}
			if err := store(k, m); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type done struct {
		key string
		m   Measurement
		err error
	}
	next := make(chan string)
	results := make(chan done)
	for range min(n, len(keys)) {
		go func() {
			for k := range next {
				m, err := p.measure(ctx, byKey[k])
				results <- done{k, m, err}
			}
		}()
	}
	var first error
	sent, received := 0, 0
	for received < len(keys) {
		var send chan string
		if sent < len(keys) && first == nil {
			send = next
		}
		var k string
		if send != nil {
			k = keys[sent]
		}
		select {
		case send <- k:
			sent++
		case r := <-results:
			received++
			switch {
			case first != nil:
			case r.err != nil:
				first = fmt.Errorf("profiling %s: %w", r.key, r.err)
				cancel()
			default:
				if err := store(r.key, r.m); err != nil {
					first = err
					cancel()
				}
			}
			if first != nil && received == sent {
				close(next)
				return first
			}
		}
	}
	close(next)
	return first
}

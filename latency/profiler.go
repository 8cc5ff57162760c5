package latency

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"nas/blocks"
	"nas/internal/cacheflush"
	"nas/space"
)

// Profiler measures items into a table, one committed entry each, skipping
// those already there: run again after an interruption, it continues where
// it stopped.
type Profiler struct {
	Table    *Table
	Compile  Compiler
	Protocol Protocol
	Batch    int // the batch the items' keys were made for; default 1
	Threads  int // passed to Compile; default the table device's
	// Calibration are the networks the overhead entry of their input shape
	// is calibrated on: each is measured end to end, and the overhead is
	// the median over them of the end-to-end latency minus the sum of their
	// blocks' entries (latencies are 10th percentiles, LatencyQuantile).
	// Without a network of that input, the overhead is the executor's own
	// cost of a graph with no operation. Their blocks are profiled too.
	Calibration []*space.Arch
	// Rounds is the number of measurements of each block, each in its own
	// pass over all of them, of which its entry keeps the best (default 1).
	// The passes spread an entry's measurements over the whole run, so
	// that a burst of load elsewhere on the machine, which slows every
	// measurement it covers, spoils one of them, not the entry; the
	// calibration networks are measured as many times.
	Rounds int
	// Recalibrate makes the overhead entries anew (the calibration
	// networks measured again, beta and the scale fitted again) even when
	// the table has them, and measures no block that the table has: a
	// table brought to the device's present state in the time of its
	// calibration networks' measurements instead of a whole profile. The old overhead entry stays until
	// the new one replaces it.
	Recalibrate bool
	// Progress, when set, is called once before the first measurement and
	// after each stored one, with the measurements present and the total
	// (entries times Rounds).
	Progress func(done, total int)
	// Measurer, when set, takes the measurements on another device (an
	// agent, cluster.Device) instead of in this process; Compile is then
	// not used. The table must be open for that device (Open with its
	// fingerprint). A ConcurrentMeasurer gets several blocks at once.
	Measurer Measurer

	// boundary caches the cost of a run's boundary per output shape (see
	// measure); it is measured again by each process, never stored.
	boundary map[blocks.Shape]float64
	// coldBoundary is the boundary timed one run per sample, as the cold
	// entries are.
	coldBoundary map[blocks.Shape]float64
}

// ProfileStats says what a Profile call did. With Rounds above 1 it
// counts measurements, Rounds per entry, rather than entries.
type ProfileStats struct {
	Total    int           // distinct items asked for (times Rounds)
	Present  int           // already in the table
	Measured int           // measured and stored now
	Elapsed  time.Duration // of the measuring
}

// Profile measures the items the table does not have yet and stores each
// as soon as it is measured, in its own transaction: a kill loses at most
// the entry being measured. Blocks come first, overhead entries last (they
// need the blocks of the calibration networks). It refuses a table it may
// not write (another device's, or read-only) before measuring anything.
//
// With Rounds above 1 it passes over the blocks Rounds times, and each
// entry keeps the best of its measurements (the lowest latency; see
// Entry.Rounds), stored after each pass: a kill loses at most one
// measurement, and a run with more rounds than a table has refines it.
func (p *Profiler) Profile(ctx context.Context, items []Item) (ProfileStats, error) {
	var st ProfileStats
	if err := p.check(); err != nil {
		return st, err
	}
	w, err := p.work(items)
	if err != nil {
		return st, err
	}
	rounds, have := p.rounds(), w.have
	st.Total = rounds * len(have)
	for _, n := range have {
		st.Present += min(n, rounds)
	}
	if p.Progress != nil {
		p.Progress(st.Present, st.Total)
	}
	start := time.Now()
	defer func() { st.Elapsed = time.Since(start) }()
	put := func(k string, e Entry, done int) error {
		if err := p.Table.Put(k, e); err != nil {
			return err
		}
		st.Measured += done - have[k]
		have[k] = done
		if p.Progress != nil {
			p.Progress(st.Present+st.Measured, st.Total)
		}
		return nil
	}
	// The calibration networks of the overhead entries still to make are
	// measured once after each pass over the blocks, so that their
	// measurements too are spread over the whole run.
	cal := p.newCalibration(w)
	for round := 1; round <= rounds; round++ {
		if err := p.measureCalibration(ctx, cal, round-1); err != nil {
			return st, err
		}
		var todo []string
		for _, k := range roundOrder(w.blockKeys, round) {
			if have[k] < round {
				todo = append(todo, k)
			}
		}
		if err := p.measureEach(ctx, w.byKey, todo, func(k string, m Measurement) error {
			e, err := p.best(k, m.Entry, have[k])
			if err != nil {
				return err
			}
			return put(k, e, have[k]+1)
		}); err != nil {
			return st, err
		}
	}
	// After an interrupted run, the calibration networks may lack rounds.
	if err := p.measureCalibration(ctx, cal, rounds); err != nil {
		return st, err
	}
	for _, k := range w.overheadKeys {
		if have[k] >= rounds {
			continue
		}
		e, err := p.overhead(ctx, w.byKey[k], cal)
		if err != nil {
			return st, fmt.Errorf("profiling %s: %w", k, err)
		}
		e.Rounds = rounds
		if err := put(k, e, rounds); err != nil {
			return st, err
		}
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

// check refuses a table the profiler may not write, and a profiler
// without a compiler.
func (p *Profiler) check() error {
	switch {
	case !p.Table.local:
		return fmt.Errorf("latency table %s: %w: its device is %s (%s); profile on that device, or into a table of this machine (omit --device)",
			p.Table.Path(), ErrForeignDevice, p.Table.Device().ID(), p.Table.Device())
	case p.Table.readOnly:
		return fmt.Errorf("latency table %s: %w: open it writable to profile", p.Table.Path(), ErrReadOnly)
	case p.Compile == nil && p.Measurer == nil:
		return fmt.Errorf("latency: Profiler.Compile is not set")
	case p.Table.remote && p.Measurer == nil:
		return fmt.Errorf("latency table %s: %w: its device is %s (%s), measured through its agents, and Profiler.Measurer is not set",
			p.Table.Path(), ErrForeignDevice, p.Table.Device().ID(), p.Table.Device())
	}
	if d, ok := p.Measurer.(RemoteDevice); ok && !d.Fingerprint().Equal(p.Table.Device()) {
		return fmt.Errorf("latency table %s: %w: the table's device is %s, the measurer's %s", p.Table.Path(), ErrForeignDevice, p.Table.Device().ID(), d.Fingerprint().ID())
	}
	return nil
}

// profileWork is what a Profile call has to do.
type profileWork struct {
	byKey map[string]Item // the items asked for and the calibration networks'
	// blockKeys and overheadKeys are the keys of byKey, blocks and
	// overhead entries apart, in order of first appearance.
	blockKeys, overheadKeys []string
	// have is how many rounds each entry counts as done: the rounds its
	// stored entry is the best of, raised to Rounds for an entry that is
	// to be kept as it is.
	have map[string]int
}

// work lists the entries of the items and of the calibration networks,
// and how many rounds of each are done. A calibration network's block
// that is not asked for is measured only if it is missing, not refined to
// more rounds; under Recalibrate, see recalibration.
func (p *Profiler) work(items []Item) (*profileWork, error) {
	calib, err := DistinctItems(p.Calibration, p.batch())
	if err != nil {
		return nil, fmt.Errorf("calibration networks: %w", err)
	}
	w := &profileWork{byKey: make(map[string]Item, len(items))}
	for _, it := range append(slices.Clip(items), calib...) {
		if _, dup := w.byKey[it.Key]; dup {
			continue
		}
		w.byKey[it.Key] = it
		if it.IsOverhead() {
			w.overheadKeys = append(w.overheadKeys, it.Key)
		} else {
			w.blockKeys = append(w.blockKeys, it.Key)
		}
	}
	if w.have, err = p.roundsDone(append(slices.Clip(w.blockKeys), w.overheadKeys...)); err != nil {
		return nil, err
	}
	rounds := p.rounds()
	asked := make(map[string]bool, len(items))
	for _, it := range items {
		asked[it.Key] = true
	}
	for k, n := range w.have {
		if !asked[k] && n > 0 {
			w.have[k] = max(n, rounds)
		}
	}
	if p.Recalibrate {
		p.recalibration(w)
	}
	return w, nil
}

// roundOrder is the order of the blocks in pass round: a permutation of
// keys seeded by the round. What a block's measurement shares with the
// ones before it (the heap's layout, what the collector left, the
// machine's state a few seconds in) then changes from pass to pass, and
// the best of a block's measurements is one such effect did not slow.
// Passes in one fixed order share those effects: over small28's 207
// blocks, one such pass can leave 49 entries more than 15% above a
// profile of those blocks alone, and the best of three such passes 6.
func roundOrder(keys []string, round int) []string {
	order := make([]string, len(keys))
	for i, j := range roundPerm(len(keys), round) {
		order[i] = keys[j]
	}
	return order
}

// roundPerm is the permutation of n items that pass round takes
// (roundOrder; MeasureNetworks's passes over the networks too).
func roundPerm(n, round int) []int {
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	rng := rand.New(rand.NewPCG(uint64(round), 0x6c6174)) // "lat"
	rng.Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	return perm
}

// rounds is the number of passes over the blocks, at least 1.
func (p *Profiler) rounds() int { return max(p.Rounds, 1) }

// roundsDone returns, for each key, how many measurements its stored entry
// is the best of (0 when it is missing).
func (p *Profiler) roundsDone(keys []string) (map[string]int, error) {
	have := make(map[string]int, len(keys))
	for _, k := range keys {
		e, ok, err := p.Table.Get(k)
		if err != nil {
			return nil, err
		}
		if ok {
			have[k] = e.rounds()
		} else {
			have[k] = 0
		}
	}
	return have, nil
}

// best returns the entry to store after a new measurement m of key k whose
// stored entry is the best of done earlier ones: the one of lower latency,
// as the best of done+1.
func (p *Profiler) best(k string, m Entry, done int) (Entry, error) {
	m.Rounds = done + 1
	if done == 0 {
		return m, nil
	}
	old, ok, err := p.Table.Get(k)
	if err != nil || !ok {
		return m, err
	}
	cold := minPositive(old.ColdNs, m.ColdNs)
	if old.P10Ns <= m.P10Ns {
		old.Rounds, old.ColdNs = done+1, cold
		return old, nil
	}
	m.ColdNs = cold
	return m, nil
}

// minPositive is the smaller of a and b, ignoring one that is 0 (not
// measured).
func minPositive(a, b float64) float64 {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}

func (p *Profiler) threads() int {
	if p.Threads > 0 {
		return p.Threads
	}
	return p.Table.Device().Threads
}

func (p *Profiler) batch() int { return max(p.Batch, 1) }

// measure times one item alone, on the Measurer's device when there is
// one, else here (measureHere).
func (p *Profiler) measure(ctx context.Context, it Item) (Measurement, error) {
	if p.Measurer != nil {
		return p.Measurer.MeasureItem(ctx, it, p.batch(), p.Protocol)
	}
	return p.measureHere(ctx, it)
}

// measureHere times one item alone in this process. A block's entry is its run minus the run's
// boundary (see boundaryNs): inside a network the block's steps run
// between the previous block's and the next one's, and only the network as
// a whole has a boundary, which its overhead entry holds.
func (p *Profiler) measureHere(ctx context.Context, it Item) (Measurement, error) {
	g, err := it.Graph()
	if err != nil {
		return Measurement{}, err
	}
	if it.IsOverhead() || g.NetworkInput != g.Input {
		// A block that reads the network input runs on another executor
		// (see PlanCompiler), whose boundary is not the empty graph's.
		return p.time(ctx, g)
	}
	m, cold, err := p.timeBoth(ctx, g)
	if err != nil {
		return Measurement{}, err
	}
	out := g.Shapes[g.Output]
	b, ok := p.boundary[out]
	if !ok {
		bm, bcold, err := p.timeBoth(ctx, &blocks.Graph{Shapes: []blocks.Shape{out}})
		if err != nil {
			return Measurement{}, fmt.Errorf("boundary at %v: %w", out, err)
		}
		b = bm.P10Ns
		if p.boundary == nil {
			p.boundary, p.coldBoundary = map[blocks.Shape]float64{}, map[blocks.Shape]float64{}
		}
		p.boundary[out] = b
		if bcold != nil {
			p.coldBoundary[out] = bcold.P10Ns
		}
	}
	m.MedianNs, m.P10Ns, m.P90Ns = max(0, m.MedianNs-b), max(0, m.P10Ns-b), max(0, m.P90Ns-b)
	m.Protocol = fmt.Sprintf("minus boundary %.0fns (empty graph at %v); %s", b, out, m.Protocol)
	if cb, ok := p.coldBoundary[out]; ok && cold != nil {
		m.ColdNs = max(0, cold.P10Ns-cb)
		m.Protocol += fmt.Sprintf("; cold: weights flushed before each run, one run per sample, minus boundary %.0fns (the empty graph timed so), %d samples, stable=%t",
			cb, cold.Samples, cold.Stable)
	}
	return m, nil
}

// time compiles g and times it under the protocol.
//
// A Runner's run has a boundary the blocks inside a network do not pay
// each: the executor's call, and the copy of the output to the caller
// (blocks.Plan.Run). A graph with no operation at a block's output shape is
// that boundary alone: about a hundredth of a network's sum of blocks at
// small28's shapes, always in one direction.
func (p *Profiler) time(ctx context.Context, g *blocks.Graph) (Measurement, error) {
	r, err := p.Compile(g, p.batch(), p.threads())
	if err != nil {
		return Measurement{}, err
	}
	defer closeRunner(r)
	return Measure(ctx, r, p.Protocol.ForThreads(p.threads()))
}

// timeBoth compiles g and times it under the protocol, then, where the
// runner can flush its weights (WeightFlusher) and this architecture can
// flush caches, again with its weights flushed before every run (cold;
// nil otherwise), on the same warm runner, under coldProtocol.
func (p *Profiler) timeBoth(ctx context.Context, g *blocks.Graph) (warm Measurement, cold *Measurement, err error) {
	r, err := p.Compile(g, p.batch(), p.threads())
	if err != nil {
		return warm, nil, err
	}
	defer closeRunner(r)
	pr := p.Protocol.ForThreads(p.threads())
	if warm, err = Measure(ctx, r, pr); err != nil {
		return warm, nil, err
	}
	if _, ok := r.(WeightFlusher); !ok || !cacheflush.Supported {
		return warm, nil, nil
	}
	c, err := Measure(ctx, r, coldProtocol(pr))
	if err != nil {
		return warm, nil, fmt.Errorf("with weights flushed: %w", err)
	}
	return warm, &c, nil
}

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

// Item is one thing a table entry times: a block at its input shape (and
// batch), or the overhead of a whole network at its input shape.
type Item struct {
	Key  string
	Spec blocks.Spec  // nil for the overhead item
	In   blocks.Shape // the block's input, or the network's for the overhead
	// Net is the network's input shape, set only for a block that reads it
	// (ESPNetv2's input reinforcement): its time depends on it.
	Net blocks.Shape
}

// overheadType starts the key of the overhead item.
const overheadType = "overhead"

// IsOverhead reports whether the item is a network's overhead rather than
// a block.
func (it Item) IsOverhead() bool { return it.Spec == nil }

// Graph lowers the item for timing alone: the block alone at its input
// (with the network input as a second input if it reads it), or, for the
// overhead, a graph with no operation, whose run is the executor's own
// input and output handling.
func (it Item) Graph() (*blocks.Graph, error) {
	if it.IsOverhead() {
		return &blocks.Graph{Shapes: []blocks.Shape{it.In}}, nil
	}
	return blocks.LowerBlock(it.Net, it.In, it.Spec)
}

// BlockKey is the table key of a block at input shape in and a batch size:
// its canonical arch-string token (space.BlockString), the input shape and
// the batch, "TOKEN|CxHxW|bN", e.g. "ir_e4_o24|16x14x14|b1"; a block that
// reads the network input (of shape net) has "|netCxHxW" added.
func BlockKey(s blocks.Spec, in blocks.Shape, batch int, net *blocks.Shape) string {
	k := fmt.Sprintf("%s|%v|b%d", space.BlockString(s), in, batch)
	if net != nil {
		k += fmt.Sprintf("|net%v", *net)
	}
	return k
}

// OverheadKey is the table key of the overhead of a network with input
// shape in: "overhead|CxHxW|bN".
func OverheadKey(in blocks.Shape, batch int) string {
	return fmt.Sprintf("%s|%v|b%d", overheadType, in, batch)
}

// ArchItems lists the items whose entries sum to the latency of a: one per
// layer, in order, then the network's overhead.
func ArchItems(a *space.Arch, batch int) ([]Item, error) {
	if batch < 1 {
		return nil, fmt.Errorf("batch %d: want at least 1", batch)
	}
	g, err := a.Graph()
	if err != nil {
		return nil, fmt.Errorf("network %s: %w", archName(a), err)
	}
	items := make([]Item, 0, len(g.Blocks)+1)
	for _, span := range g.Blocks {
		it := Item{Spec: span.Spec, In: g.Shapes[span.In]}
		var net *blocks.Shape
		if span.NetworkInput {
			it.Net = a.Input
			net = &it.Net
		}
		it.Key = BlockKey(span.Spec, it.In, batch, net)
		items = append(items, it)
	}
	items = append(items, Item{Key: OverheadKey(a.Input, batch), In: a.Input})
	return items, nil
}

// DistinctItems lists, without repeats and in order of first appearance,
// the items of all the networks.
func DistinctItems(archs []*space.Arch, batch int) ([]Item, error) {
	var out []Item
	seen := map[string]bool{}
	for _, a := range archs {
		items, err := ArchItems(a, batch)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			if !seen[it.Key] {
				seen[it.Key] = true
				out = append(out, it)
			}
		}
	}
	return out, nil
}

// LayerItems turns layers of networks whose input has shape net (as
// space.Space.Layers lists them) into items, the overhead of that input
// last.
func LayerItems(layers []space.LayerAt, net blocks.Shape, batch int) ([]Item, error) {
	if batch < 1 {
		return nil, fmt.Errorf("batch %d: want at least 1", batch)
	}
	items := make([]Item, 0, len(layers)+1)
	for _, l := range layers {
		g, err := blocks.LowerBlock(net, l.In, l.Spec)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", l.Key(), err)
		}
		it := Item{Spec: l.Spec, In: l.In}
		var reads *blocks.Shape
		if g.NetworkInput != g.Input {
			it.Net = net
			reads = &it.Net
		}
		it.Key = BlockKey(l.Spec, l.In, batch, reads)
		items = append(items, it)
	}
	return append(items, Item{Key: OverheadKey(net, batch), In: net}), nil
}

func archName(a *space.Arch) string {
	if a.Name != "" {
		return a.Name
	}
	return "(unnamed)"
}

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
	// blocks' entries (latencies are 10th percentiles, LatencyQuantile). Without a network of that input, the overhead is
	// the executor's own cost of a graph with no operation. Their blocks
	// are profiled too.
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
	// calibration networks' measurements (about 40 s for imagenet224's
	// 8) instead of a whole profile. The old overhead entry stays until
	// the new one replaces it.
	Recalibrate bool
	// Progress, when set, is called once before the first measurement and
	// after each stored one, with the measurements present and the total
	// (entries times Rounds).
	Progress func(done, total int)

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
	switch {
	case !p.Table.local:
		return st, fmt.Errorf("latency table %s: %w: its device is %s (%s); profile on that device, or into a table of this machine (omit --device)",
			p.Table.Path(), ErrForeignDevice, p.Table.Device().ID(), p.Table.Device())
	case p.Table.readOnly:
		return st, fmt.Errorf("latency table %s: %w: open it writable to profile", p.Table.Path(), ErrReadOnly)
	}
	if p.Compile == nil {
		return st, fmt.Errorf("latency: Profiler.Compile is not set")
	}
	calib, err := DistinctItems(p.Calibration, p.batch())
	if err != nil {
		return st, fmt.Errorf("calibration networks: %w", err)
	}
	byKey := make(map[string]Item, len(items))
	var blockKeys, overheadKeys []string
	for _, it := range append(slices.Clip(items), calib...) {
		if _, dup := byKey[it.Key]; dup {
			continue
		}
		byKey[it.Key] = it
		if it.IsOverhead() {
			overheadKeys = append(overheadKeys, it.Key)
		} else {
			blockKeys = append(blockKeys, it.Key)
		}
	}
	rounds := p.rounds()
	have, err := p.roundsDone(append(slices.Clip(blockKeys), overheadKeys...))
	if err != nil {
		return st, err
	}
	// A calibration network's block that is not asked for is measured
	// only if it is missing, not refined to more rounds.
	asked := make(map[string]bool, len(items))
	for _, it := range items {
		asked[it.Key] = true
	}
	for k, n := range have {
		if !asked[k] && n > 0 {
			have[k] = max(n, rounds)
		}
	}
	if p.Recalibrate {
		for k, n := range have {
			if n > 0 {
				have[k] = max(n, rounds)
			}
		}
		for _, k := range overheadKeys {
			have[k] = 0
		}
	}
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
	cal := &calibration{best: make([]Measurement, len(p.Calibration)), n: make([]int, len(p.Calibration)),
		blocks: make([][]float64, len(p.Calibration))}
	for _, k := range overheadKeys {
		if have[k] < rounds {
			cal.add(p.Calibration, byKey[k].In)
		}
	}
	for round := 1; round <= rounds; round++ {
		if err := p.measureCalibration(ctx, cal, round-1); err != nil {
			return st, err
		}
		for _, k := range roundOrder(blockKeys, round) {
			if have[k] >= round {
				continue
			}
			m, err := p.measure(ctx, byKey[k])
			if err != nil {
				return st, fmt.Errorf("profiling %s: %w", k, err)
			}
			e, err := p.best(k, m.Entry, have[k])
			if err != nil {
				return st, err
			}
			if err := put(k, e, have[k]+1); err != nil {
				return st, err
			}
		}
	}
	// After an interrupted run, the calibration networks may lack rounds.
	if err := p.measureCalibration(ctx, cal, rounds); err != nil {
		return st, err
	}
	for _, k := range overheadKeys {
		if have[k] >= rounds {
			continue
		}
		e, err := p.overhead(ctx, byKey[k], cal)
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

// roundOrder is the order of the blocks in pass round: a permutation of
// keys seeded by the round. What a block's measurement shares with the
// ones before it (the heap's layout, what the collector left, the
// machine's state a few seconds in) then changes from pass to pass, and
// the best of a block's measurements is one such effect did not slow.
// In one pass over small28's blocks in the same order every time, 49 of
// 207 entries came out more than 15% above a profile of those blocks
// alone, and 6 still did as the best of three such passes.
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

// calibration holds the best end-to-end measurement so far of each of the
// Profiler's calibration networks that an overhead entry needs.
type calibration struct {
	nets []int // indices into Profiler.Calibration
	best []Measurement
	n    []int // measurements taken
	// blocks holds, per network, the lowest over its measurements of each
	// block's time inside it (MeasureBlocks), nil where the runner cannot
	// time its steps.
	blocks [][]float64
}

// add marks the calibration networks with input in as needed.
func (c *calibration) add(nets []*space.Arch, in blocks.Shape) {
	for i, a := range nets {
		if a.Input == in && !slices.Contains(c.nets, i) {
			c.nets = append(c.nets, i)
		}
	}
}

// measureCalibration measures each needed calibration network that has
// fewer than upTo measurements, once per call, until none has.
func (p *Profiler) measureCalibration(ctx context.Context, c *calibration, upTo int) error {
	for {
		more := false
		for _, i := range c.nets {
			if c.n[i] >= upTo {
				continue
			}
			a := p.Calibration[i]
			m, inside, err := p.measureCalibrationNetwork(ctx, a)
			if err != nil {
				return fmt.Errorf("calibration network %s: %w", archName(a), err)
			}
			if c.n[i] == 0 || m.P10Ns < c.best[i].P10Ns {
				c.best[i] = m
			}
			switch {
			case inside == nil:
			case c.blocks[i] == nil:
				c.blocks[i] = inside
			default:
				for j, v := range inside {
					c.blocks[i][j] = min(c.blocks[i][j], v)
				}
			}
			c.n[i]++
			more = more || c.n[i] < upTo
		}
		if !more {
			return nil
		}
	}
}

// overhead makes the overhead entry of networks with input it.In: by
// calibration on the networks of that input (measured into c), else as the
// cost of a graph with no operation.
func (p *Profiler) overhead(ctx context.Context, it Item, c *calibration) (Entry, error) {
	var nets []int
	for _, i := range c.nets {
		if p.Calibration[i].Input == it.In {
			nets = append(nets, i)
		}
	}
	if len(nets) == 0 {
		var best Measurement
		for r := range p.rounds() {
			m, err := p.measure(ctx, it)
			if err != nil {
				return Entry{}, err
			}
			if r == 0 || m.P10Ns < best.P10Ns {
				best = m
			}
		}
		best.Protocol = "empty graph; " + best.Protocol
		return best.Entry, nil
	}
	// Each calibration network's block entries, in layer order.
	entries := make([][]Entry, len(nets))
	for n, i := range nets {
		a := p.Calibration[i]
		items, err := ArchItems(a, p.batch())
		if err != nil {
			return Entry{}, err
		}
		for _, bi := range items {
			if bi.IsOverhead() {
				continue
			}
			e, ok, err := p.Table.Get(bi.Key)
			if err != nil {
				return Entry{}, err
			}
			if !ok {
				return Entry{}, fmt.Errorf("calibration network %s: entry %s is missing", archName(a), bi.Key)
			}
			entries[n] = append(entries[n], e)
		}
	}
	// Beta: over every block of the networks, how much of its cold entry's
	// excess over its warm one it shows inside the network.
	var xs, ys []float64
	for n, i := range nets {
		inside := c.blocks[i]
		if len(inside) != len(entries[n]) {
			continue
		}
		for j, e := range entries[n] {
			if e.ColdNs > 0 {
				xs = append(xs, e.ColdNs-e.P10Ns)
				ys = append(ys, inside[j]-e.P10Ns)
			}
		}
	}
	beta := fitBeta(xs, ys)
	measured := make([]float64, 0, len(nets))
	sums := make([]float64, 0, len(nets))
	for n, i := range nets {
		sum := 0.0
		for _, e := range entries[n] {
			sum += e.BlockNs(beta)
		}
		measured = append(measured, c.best[i].P10Ns)
		sums = append(sums, sum)
	}
	e := calibratedOverhead(measured, sums)
	e.Beta = beta
	for _, i := range nets {
		e.CalibrationArchs = append(e.CalibrationArchs, p.Calibration[i].String())
		e.CalibrationNs = append(e.CalibrationNs, c.best[i].P10Ns)
	}
	e.Protocol = fmt.Sprintf("calibrated on %d networks: end-to-end latency (p10, best of %d measurements, one after each pass over the blocks) minus the sum of their blocks' latencies, median, p10 and p90 over the networks, at least 0; beta %.3f: least squares over %d blocks of (time inside the network - latency) on (cold latency - latency), with an intercept, within [0, %g]; scale: the median over the networks of the end-to-end latency divided by the sum of latency + beta*(cold - latency); end to end %s",
		len(measured), c.n[nets[0]], beta, len(xs), maxBeta, c.best[nets[0]].Protocol)
	return e, nil
}

// ReproduceTolerance is how close (relative) a second measurement of a
// network must come to its best for MeasureNetworks to take the best as
// reproduced. On the development VM, in a noisy minute, a 224x224
// network's second-best of 3 rounds was a median 20.5% above its best
// (`nas latency validate`'s median_round_gap_pct), against 0.8% for
// small28's in the same minute.
const ReproduceTolerance = 0.02

// reproduceTolerance is ReproduceTolerance; tests that count measurements
// raise it, since no two real timings agree for certain.
var reproduceTolerance = ReproduceTolerance

// maxBeta bounds Entry.Beta. Inside 224x224 networks on the development
// VM blocks showed about twice their cold excess (docs/latency.md); a fit
// far above that is noise.
const maxBeta = 4.0

// fitBeta fits ys = beta*xs + c by least squares and returns beta within
// [0, maxBeta]: 0 without at least 3 points or with xs all equal.
//
// xs are blocks' cold-minus-warm latencies, ys their time inside a
// calibration network minus their warm latency. The intercept takes what
// every block pays inside a network whatever its weights (and the sum of
// per-step percentiles against the percentile of a whole run); beta is
// what the weights cost. Fitted per block, it has the calibration
// networks' 150 or so blocks to go on, where a fit per network has 8
// points.
func fitBeta(xs, ys []float64) float64 {
	n := float64(len(xs))
	if len(xs) < 3 {
		return 0
	}
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx, my = mx/n, my/n
	var sxx, sxy float64
	for i := range xs {
		dx := xs[i] - mx
		sxx += dx * dx
		sxy += dx * (ys[i] - my)
	}
	if sxx <= 0 {
		return 0
	}
	return min(max(sxy/sxx, 0), maxBeta)
}

// calibratedOverhead is the overhead entry of networks whose end-to-end
// latencies are measured and whose blocks' latencies sum to sums: the
// differences' median, p10 and p90 (at least 0), and the median of the
// ratios as the Scale predictions use.
//
// A scale rather than a constant because the gap grows with the network:
// over 40 sampled imagenet224 networks (docs/latency.md) it correlated
// 0.70 with the sum, and blocks run slower inside a large network by a
// factor of their own. Fitted on 8 networks and scored on the rest
// (bench/overhead_models.py), the scale put 83.9% of imagenet224
// networks within ±5% on average over six validations, the median
// difference 82.7%: better in four of the six, not by more than this
// machine's noise.
func calibratedOverhead(measured, sums []float64) Entry {
	diffs := make([]float64, 0, len(measured))
	ratios := make([]float64, 0, len(measured))
	for i, m := range measured {
		diffs = append(diffs, m-sums[i])
		if sums[i] > 0 {
			ratios = append(ratios, m/sums[i])
		}
	}
	slices.Sort(diffs)
	slices.Sort(ratios)
	e := Entry{
		MedianNs:   max(0, quantile(diffs, 0.5)),
		P10Ns:      max(0, quantile(diffs, 0.1)),
		P90Ns:      max(0, quantile(diffs, 0.9)),
		Samples:    len(diffs),
		MeasuredAt: time.Now().UTC(),
	}
	if len(ratios) > 0 {
		e.Scale = quantile(ratios, 0.5)
	}
	return e
}

func (p *Profiler) threads() int {
	if p.Threads > 0 {
		return p.Threads
	}
	return p.Table.Device().Threads
}

func (p *Profiler) batch() int { return max(p.Batch, 1) }

// measure times one item alone. A block's entry is its run minus the run's
// boundary (see boundaryNs): inside a network the block's steps run
// between the previous block's and the next one's, and only the network as
// a whole has a boundary, which its overhead entry holds.
func (p *Profiler) measure(ctx context.Context, it Item) (Measurement, error) {
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
// that boundary alone: 0.2 to 1.5 µs at small28's shapes, about 1% of a
// network's sum of blocks, always in one direction.
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

// coldProtocol is p for a cold entry, taken right after the warm one on
// the same runner: weights flushed before every run, one warm-up run (the
// runner is warm), an eighth of the time cap and three times the
// tolerance. A cold entry counts through Beta times its excess over the
// warm one: at ±3% on a block whose weights double its time that is ±1.5%
// of the block, and a profile is a sum over many. Single runs seldom meet
// a tight tolerance, so cold measurements mostly end at their cap: at a
// quarter of it small28's profile took 5 min 44 s, against 2 min without
// cold entries.
func coldProtocol(p Protocol) Protocol {
	p = p.withDefaults()
	p.FlushWeights = true
	p.WarmupRuns, p.WarmupTime = 1, time.Nanosecond
	p.MaxTime /= 8
	p.Tolerance *= 3
	return p
}

// measureCalibrationNetwork times calibration network a end to end and,
// where the compiled runner can time its steps (the plan, batch 1), each
// of its blocks inside it (MeasureBlocks); inside is nil otherwise.
func (p *Profiler) measureCalibrationNetwork(ctx context.Context, a *space.Arch) (m Measurement, inside []float64, err error) {
	g, err := a.Graph()
	if err != nil {
		return m, nil, err
	}
	r, err := p.Compile(g, p.batch(), p.threads())
	if err != nil {
		return m, nil, err
	}
	defer closeRunner(r)
	pr := p.Protocol.ForThreads(p.threads()).forNetwork()
	if m, err = Measure(ctx, r, pr); err != nil {
		return m, nil, err
	}
	if st, ok := r.(StepTimer); ok && p.batch() == 1 {
		if inside, err = MeasureBlocks(ctx, st, g, pr); err != nil {
			return m, nil, err
		}
	}
	return m, inside, nil
}

// MeasureNetworks times each network end to end rounds times, in rounds
// over all of them (so that each network's measurements are spread over
// the whole call), each round in an order of its own (roundPerm, as the
// profiler's passes), and returns for each the measurement of lowest latency,
// as the profiler keeps for blocks. A network whose best measurement is
// not reproduced (with rounds above 1, no other measurement within
// ReproduceTolerance of it: Measurement.RoundGap) or is contended
// (Measurement.Contended: the probe found the machine busy throughout) is
// measured again in up to rounds more passes over such networks, until
// it is. progress, when set, is called after each measurement with the
// count done and the total (which grows by the extra measurements).
func MeasureNetworks(ctx context.Context, compile Compiler, archs []*space.Arch, batch, threads int, p Protocol, rounds int, progress func(done, total int)) ([]Measurement, error) {
	rounds = max(rounds, 1)
	best := make([]Measurement, len(archs))
	second := make([]float64, len(archs)) // the second-lowest latency so far
	clean := make([]bool, len(archs))     // some measurement was not contended
	done, total := 0, rounds*len(archs)
	measure := func(i, r int) error {
		a := archs[i]
		m, err := MeasureNetwork(ctx, compile, a, batch, threads, p)
		if err != nil {
			return fmt.Errorf("measuring network %d (%s): %w", i, archName(a), err)
		}
		switch {
		case r == 0:
			best[i] = m
		case m.P10Ns < best[i].P10Ns:
			second[i] = best[i].P10Ns
			best[i] = m
		case second[i] == 0 || m.P10Ns < second[i]:
			second[i] = m.P10Ns
		}
		clean[i] = clean[i] || !m.Contended
		best[i].Contended = !clean[i]
		if second[i] > 0 && best[i].P10Ns > 0 {
			best[i].RoundGap = second[i]/best[i].P10Ns - 1
		}
		done++
		if progress != nil {
			progress(done, total)
		}
		return nil
	}
	for r := range rounds {
		// Each pass in an order of its own, as the profiler's.
		for _, i := range roundPerm(len(archs), r+1) {
			if err := measure(i, r); err != nil {
				return nil, err
			}
		}
	}
	for r := rounds; r < 2*rounds; r++ {
		var again []int
		for _, i := range roundPerm(len(archs), r+1) {
			if !clean[i] || (rounds > 1 && best[i].RoundGap > reproduceTolerance) {
				again = append(again, i)
			}
		}
		if len(again) == 0 {
			break
		}
		total += len(again)
		for _, i := range again {
			if err := measure(i, r); err != nil {
				return nil, err
			}
		}
	}
	return best, nil
}

// MeasureNetwork times the whole network a end to end, compiled as the
// profiler compiles blocks and under the same protocol.
func MeasureNetwork(ctx context.Context, compile Compiler, a *space.Arch, batch, threads int, p Protocol) (Measurement, error) {
	g, err := a.Graph()
	if err != nil {
		return Measurement{}, fmt.Errorf("network %s: %w", archName(a), err)
	}
	r, err := compile(g, max(batch, 1), threads)
	if err != nil {
		return Measurement{}, fmt.Errorf("network %s: %w", archName(a), err)
	}
	defer closeRunner(r)
	return Measure(ctx, r, p.ForThreads(threads).forNetwork())
}

package latency

import (
	"context"
	"fmt"
	"slices"

	"gonum.org/v1/gonum/stat"

	"nas/blocks"
	"nas/space"
)

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

// newCalibration holds the calibration networks that the overhead
// entries of w still to make need, none measured yet.
func (p *Profiler) newCalibration(w *profileWork) *calibration {
	c := &calibration{best: make([]Measurement, len(p.Calibration)), n: make([]int, len(p.Calibration)),
		blocks: make([][]float64, len(p.Calibration))}
	for _, k := range w.overheadKeys {
		if w.have[k] < p.rounds() {
			c.add(p.Calibration, w.byKey[k].In)
		}
	}
	return c
}

// recalibration turns w into a recalibration (Profiler.Recalibrate): every
// entry the table has counts as done, but the overhead entries, which are
// made anew.
func (p *Profiler) recalibration(w *profileWork) {
	for k, n := range w.have {
		if n > 0 {
			w.have[k] = max(n, p.rounds())
		}
	}
	for _, k := range w.overheadKeys {
		w.have[k] = 0
	}
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
		return p.emptyGraphOverhead(ctx, it)
	}
	entries := make([][]Entry, len(nets))
	for n, i := range nets {
		var err error
		if entries[n], err = p.blockEntries(p.Calibration[i]); err != nil {
			return Entry{}, err
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

// emptyGraphOverhead is the overhead entry of networks with input it.In
// without a calibration network: the cost of a graph with no operation,
// the best of Rounds measurements.
func (p *Profiler) emptyGraphOverhead(ctx context.Context, it Item) (Entry, error) {
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

// blockEntries returns the table's entries of calibration network a's
// blocks, in layer order.
func (p *Profiler) blockEntries(a *space.Arch) ([]Entry, error) {
	items, err := ArchItems(a, p.batch())
	if err != nil {
		return nil, err
	}
	var entries []Entry
	for _, bi := range items {
		if bi.IsOverhead() {
			continue
		}
		e, ok, err := p.Table.Get(bi.Key)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("calibration network %s: entry %s is missing", archName(a), bi.Key)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// maxBeta bounds Entry.Beta. Inside 224x224 networks blocks show about
// twice their cold excess (docs/latency.md); a fit far above that is
// noise.
const maxBeta = 4.0

// fitBeta fits ys = c + beta*xs by ordinary least squares
// (stat.LinearRegression, with an intercept) and returns beta within
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
	if len(xs) < 3 || slices.Min(xs) == slices.Max(xs) {
		return 0
	}
	_, beta := stat.LinearRegression(xs, ys, nil, false)
	return min(max(beta, 0), maxBeta)
}

// calibratedOverhead is the overhead entry of networks whose end-to-end
// latencies are measured and whose blocks' latencies sum to sums: the
// differences' median, p10 and p90 (at least 0), and the median of the
// ratios as the Scale predictions use.
//
// A scale rather than a constant because the gap grows with the network:
// over 40 sampled imagenet224 networks (docs/latency.md) it correlates
// 0.70 with the sum, and blocks run slower inside a large network by a
// factor of their own. Fitted on 8 networks and scored on the rest
// (bench/overhead_models.py), the scale puts 83.9% of imagenet224
// networks within ±5% on average over six validations, the median
// difference 82.7%: better in four of the six, by no more than the
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
	e := percentiles(diffs)
	e.MedianNs, e.P10Ns, e.P90Ns = max(0, e.MedianNs), max(0, e.P10Ns), max(0, e.P90Ns)
	if len(ratios) > 0 {
		e.Scale = quantile(ratios, 0.5)
	}
	return e
}

// measureCalibrationNetwork times calibration network a end to end and,
// where the compiled runner can time its steps (the plan, batch 1), each
// of its blocks inside it (MeasureBlocks); inside is nil otherwise.
func (p *Profiler) measureCalibrationNetwork(ctx context.Context, a *space.Arch) (m Measurement, inside []float64, err error) {
	if p.Measurer != nil {
		// overhead skips a network whose inside times do not match its
		// blocks.
		return p.Measurer.MeasureNetwork(ctx, a, p.batch(), p.Protocol, true)
	}
	return p.measureNetworkHere(ctx, a, true)
}

// measureNetworkHere is measureCalibrationNetwork in this process; inside
// false leaves the blocks inside it untimed.
func (p *Profiler) measureNetworkHere(ctx context.Context, a *space.Arch, wantInside bool) (m Measurement, inside []float64, err error) {
	g, r, err := compileNetwork(p.Compile, a, p.batch(), p.threads())
	if err != nil {
		return m, nil, err
	}
	defer closeRunner(r)
	pr := p.Protocol.ForThreads(p.threads()).forNetwork()
	if m, err = Measure(ctx, r, pr); err != nil {
		return m, nil, err
	}
	if st, ok := r.(StepTimer); ok && p.batch() == 1 && wantInside {
		if inside, err = MeasureBlocks(ctx, st, g, pr); err != nil {
			return m, nil, err
		}
	}
	return m, inside, nil
}

package latency

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"time"

	"nas/blocks"
)

// Measurement is the result of timing one Runner: the entry to store and
// how sampling ended.
type Measurement struct {
	Entry
	RunsPerSample int
	Stable        bool // the latency statistic's confidence interval met the tolerance
	// ProbeDropped counts the samples dropped for a slow probe (see
	// Protocol.NoProbe): how busy the machine was.
	ProbeDropped int
	// Contended says that most samples were taken after the probe had
	// found the machine busy for the whole of Protocol.ProbeWait, without
	// it: the measurement is probably slow. MeasureNetworks measures such
	// networks again.
	Contended bool
	// Waited is the time the measurement spent on dropped samples and
	// their probes (see Protocol.ProbeWait).
	Waited time.Duration
	// RoundGap, set by MeasureNetworks, is the second-lowest latency of
	// the network's measurements over the lowest, minus 1 (0 for one):
	// how closely another measurement reproduced the one that counts.
	RoundGap float64
}

// Measure times r under the protocol and returns the median, 10th and 90th
// percentiles of the time of one run; the 10th is the latency
// (LatencyQuantile). It stops early, with ctx's error,
// when ctx is done. It changes process-wide settings while it runs (the
// collector's percentage) and restores them before it returns; measure one
// Runner at a time.
func Measure(ctx context.Context, r Runner, p Protocol) (Measurement, error) {
	p = p.withDefaults()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	// Warm-up: caches, branch predictors, lazily allocated buffers.
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	alloc0 := ms.TotalAlloc
	start := time.Now()
	warm := 0
	for warm < p.WarmupRuns || time.Since(start) < p.WarmupTime {
		r.Run()
		warm++
		if err := ctx.Err(); err != nil {
			return Measurement{}, err
		}
	}
	perRun := time.Since(start) / time.Duration(warm)
	runtime.ReadMemStats(&ms)
	allocPerRun := int64(ms.TotalAlloc-alloc0) / int64(warm)

	k := 1
	if perRun > 0 && perRun < p.MinSampleTime {
		k = int((p.MinSampleTime + perRun - 1) / perRun)
	}
	var flusher WeightFlusher
	if p.FlushWeights {
		f, ok := r.(WeightFlusher)
		if !ok {
			return Measurement{}, fmt.Errorf("latency: a %T cannot flush its weights", r)
		}
		flusher, k = f, 1
	}
	gcEvery := 1
	if p.GCBudget > 0 || allocPerRun == 0 {
		gcEvery = math.MaxInt
		if allocPerRun > 0 {
			gcEvery = max(1, int(p.GCBudget/(allocPerRun*int64(k))))
		}
	}

	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	samples := make([]float64, 0, min(p.MaxSamples, 256))
	sorted := make([]float64, 0, cap(samples))
	stable := false
	begin := time.Now()
	sinceGC := 0
	dropped, unprobed := 0, 0
	var lost time.Duration // spent on dropped samples and their probes
	if !p.NoProbe {
		for range 3 { // a floor for this process
			probeFn()
		}
	}
	// commit counts a sample and says whether sampling is done.
	commit := func(d float64) bool {
		samples = append(samples, d)
		sinceGC++
		if n := len(samples); n >= p.MinSamples && (n-p.MinSamples)%4 == 0 {
			sorted = append(sorted[:0], samples...)
			slices.Sort(sorted)
			if quantileCIRelHalfWidth(sorted, LatencyQuantile) <= p.Tolerance {
				stable = true
				return true
			}
		}
		return len(samples) >= p.MaxSamples || (time.Since(begin) >= p.MaxTime && len(samples) >= 3)
	}
	// A probed sample counts only once the probe after it, the next
	// sample's, is fast too: a probe takes microseconds and a sample up
	// to milliseconds, and a load that left the core for the probe's few
	// microseconds can be back for the sample.
	pending, pendingTook := -1.0, time.Duration(0)
	var dropAt time.Time // when the last pass, which dropped, began
	for {
		t0 := time.Now()
		if !dropAt.IsZero() {
			lost += t0.Sub(dropAt)
			dropAt = time.Time{}
		}
		if sinceGC >= gcEvery {
			runtime.GC()
			sinceGC = 0
		}
		drop, probed := probeGate(p, begin)
		if pending >= 0 {
			if drop {
				dropped++
				lost += pendingTook
			} else if commit(pending) {
				break
			}
			pending = -1
		}
		if drop {
			dropped++
			dropAt = t0
			if err := ctx.Err(); err != nil {
				return Measurement{}, err
			}
			continue
		}
		switch {
		case probed:
			// One untimed run between the probe and the sample: the
			// memory probe of sessions 5 and 6 could evict the caches.
			// The multiply-adds do not; the run is kept so that tables
			// stay comparable (dropping it is a change to measure).
			r.Run()
		case !p.NoProbe:
			unprobed++
		}
		if flusher != nil {
			flusher.FlushWeights()
		}
		t, c := time.Now(), cpuNow(p.Clock)
		for range k {
			r.Run()
		}
		d := float64(time.Since(t).Nanoseconds())
		if p.Clock == ClockThreadCPU {
			d = float64(threadCPUNanos() - c)
		}
		if err := ctx.Err(); err != nil {
			return Measurement{}, err
		}
		if probed {
			pending, pendingTook = d/float64(k), time.Since(t0)
			continue
		}
		if commit(d / float64(k)) {
			break
		}
	}
	sorted = append(sorted[:0], samples...)
	slices.Sort(sorted)
	return Measurement{
		Entry: Entry{
			MedianNs:   quantile(sorted, 0.5),
			P10Ns:      quantile(sorted, 0.1),
			P90Ns:      quantile(sorted, 0.9),
			Samples:    len(sorted),
			MeasuredAt: time.Now().UTC(),
			Protocol:   fmt.Sprintf("%s runs/sample=%d stable=%t%s", p, k, stable, probeNote(p, dropped)),
		},
		RunsPerSample: k,
		Stable:        stable,
		ProbeDropped:  dropped,
		Contended:     2*unprobed > len(sorted),
		Waited:        lost,
	}, nil
}

// cpuNow reads the thread's CPU clock when the protocol uses it.
func cpuNow(c Clock) int64 {
	if c == ClockThreadCPU {
		return threadCPUNanos()
	}
	return 0
}

// blockSamples is the number of timed runs MeasureBlocks takes (fewer if
// the protocol's time cap comes first, at least its MinSamples).
const blockSamples = 60

// MeasureBlocks times each block of g inside the whole network that r runs
// (g compiled, at batch 1): every step of the plan timed on its own
// (StepTimer), the 10th percentile of each step over the samples, summed
// per block of g.Blocks (by the op each step comes from). The warm-up, the
// collector held off, the thread lock, the clock and the probe are
// Measure's; each sample is one run. It is how the profiler learns how
// much slower blocks run inside networks than alone (Entry.Beta).
func MeasureBlocks(ctx context.Context, r StepTimer, g *blocks.Graph, p Protocol) ([]float64, error) {
	p = p.withDefaults()
	stepOps := r.StepOps()
	blockOf := make([]int, len(stepOps))
	for i, op := range stepOps {
		blockOf[i] = -1
		for b, span := range g.Blocks {
			if op >= span.First && op < span.Last {
				blockOf[i] = b
				break
			}
		}
		if blockOf[i] < 0 {
			return nil, fmt.Errorf("latency: step %d (op %d) is in no block of the network", i, op)
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := time.Now()
	for warm := 0; warm < p.WarmupRuns || time.Since(start) < p.WarmupTime; warm++ {
		r.Run()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	clock := func() int64 { return time.Since(start).Nanoseconds() }
	if p.Clock == ClockThreadCPU {
		clock = threadCPUNanos
	}
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	ns := make([]int64, len(stepOps))
	per := make([][]float64, len(stepOps))
	n := max(blockSamples, p.MinSamples)
	begin := time.Now()
	for taken := 0; taken < n; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		drop, probed := probeGate(p, begin)
		if drop {
			continue
		}
		if probed {
			// One untimed run between the probe and the sample: the
			// memory probe of sessions 5 and 6 could evict the caches.
			// The multiply-adds do not; the run is kept so that tables
			// stay comparable (dropping it is a change to measure).
			r.Run()
		}
		clear(ns)
		r.RunSteps(ns, clock)
		for i, v := range ns {
			per[i] = append(per[i], float64(v))
		}
		taken++
		if time.Since(begin) >= p.MaxTime && taken >= p.MinSamples {
			break
		}
	}
	out := make([]float64, len(g.Blocks))
	for i, v := range per {
		slices.Sort(v)
		out[blockOf[i]] += quantile(v, LatencyQuantile)
	}
	return out, nil
}

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
// (LatencyQuantile). It stops early, with ctx's error, when ctx is done.
// It changes process-wide settings while it runs (the collector's
// percentage) and restores them before it returns; measure one Runner at
// a time.
//
// It has three steps: a warm-up, which also shows how long a run takes
// and what it allocates (warmUp, planSampling); sampling (sampler.run);
// and the statistics of the samples (sampler.measurement).
func Measure(ctx context.Context, r Runner, p Protocol) (Measurement, error) {
	p = p.withDefaults()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	alloc0 := ms.TotalAlloc
	warm, took, err := warmUp(ctx, r, p)
	if err != nil {
		return Measurement{}, err
	}
	runtime.ReadMemStats(&ms)
	plan, err := planSampling(r, p, took/time.Duration(warm), int64(ms.TotalAlloc-alloc0)/int64(warm))
	if err != nil {
		return Measurement{}, err
	}

	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	s := newSampler(p, plan)
	if err := s.run(ctx, r); err != nil {
		return Measurement{}, err
	}
	return s.measurement(), nil
}

// warmUp runs r until it has run p.WarmupRuns times and for at least
// p.WarmupTime, so that caches, branch predictors and lazily allocated
// buffers are as they are in the runs timed after it. It returns the
// number of runs and the time they took, or ctx's error once ctx is done.
func warmUp(ctx context.Context, r Runner, p Protocol) (runs int, took time.Duration, err error) {
	start := time.Now()
	for runs < p.WarmupRuns || time.Since(start) < p.WarmupTime {
		r.Run()
		runs++
		if err := ctx.Err(); err != nil {
			return runs, 0, err
		}
	}
	return runs, time.Since(start), nil
}

// samplingPlan is how Measure samples a Runner, chosen from its warm-up.
type samplingPlan struct {
	// runsPerSample is the number of consecutive runs a sample times.
	runsPerSample int
	// gcEvery is the number of samples between full collections
	// (math.MaxInt: none after the one before sampling).
	gcEvery int
	// flusher, set under Protocol.FlushWeights, drops r's weights from
	// the caches before every sample.
	flusher WeightFlusher
}

// planSampling chooses how to sample r, whose runs took perRun each and
// allocated allocPerRun bytes in the warm-up: enough runs per sample for
// a sample to last Protocol.MinSampleTime (one under FlushWeights, each
// run after a flush), and a collection before every sample, or once
// Protocol.GCBudget bytes have been allocated, or never for a Runner that
// allocates nothing.
func planSampling(r Runner, p Protocol, perRun time.Duration, allocPerRun int64) (samplingPlan, error) {
	k := 1
	if perRun > 0 && perRun < p.MinSampleTime {
		k = int((p.MinSampleTime + perRun - 1) / perRun)
	}
	var flusher WeightFlusher
	if p.FlushWeights {
		f, ok := r.(WeightFlusher)
		if !ok {
			return samplingPlan{}, fmt.Errorf("latency: a %T cannot flush its weights", r)
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
	return samplingPlan{runsPerSample: k, gcEvery: gcEvery, flusher: flusher}, nil
}

// sampler takes the samples of one measurement under a protocol and a
// plan, and keeps what Measure reports of them.
type sampler struct {
	p    Protocol
	plan samplingPlan
	// begin is when sampling began: Protocol.MaxTime and ProbeWait count
	// from it.
	begin   time.Time
	samples []float64 // per-run times of the counted samples, ns, in order
	sorted  []float64 // scratch: samples, sorted
	stable  bool      // the latency statistic's CI met the tolerance
	sinceGC int       // samples counted since the last collection
	// dropped counts samples dropped for a slow probe, unprobed those
	// taken without a probe once ProbeWait had passed.
	dropped, unprobed int
	lost              time.Duration // spent on dropped samples and their probes
}

func newSampler(p Protocol, plan samplingPlan) *sampler {
	samples := make([]float64, 0, min(p.MaxSamples, 256))
	return &sampler{p: p, plan: plan, samples: samples, sorted: make([]float64, 0, cap(samples))}
}

// run takes samples of r until commit says sampling is done, or returns
// ctx's error once ctx is done.
//
// Under the probe (Protocol.NoProbe), a probed sample counts only once
// the probe after it, the next sample's, is fast too: a probe takes
// microseconds and a sample up to milliseconds, and a load that left the
// core for the probe's few microseconds can be back for the sample.
func (s *sampler) run(ctx context.Context, r Runner) error {
	p := s.p
	s.begin = time.Now()
	if !p.NoProbe {
		for range 3 { // a floor for this process
			probeFn()
		}
	}
	pending, pendingTook := -1.0, time.Duration(0)
	var dropAt time.Time // when the last pass, which dropped, began
	for {
		t0 := time.Now()
		if !dropAt.IsZero() {
			s.lost += t0.Sub(dropAt)
			dropAt = time.Time{}
		}
		if s.sinceGC >= s.plan.gcEvery {
			runtime.GC()
			s.sinceGC = 0
		}
		drop, probed := probeGate(p, s.begin)
		if pending >= 0 {
			if drop {
				s.dropped++
				s.lost += pendingTook
			} else if s.commit(pending) {
				return nil
			}
			pending = -1
		}
		if drop {
			s.dropped++
			dropAt = t0
			if err := ctx.Err(); err != nil {
				return err
			}
			continue
		}
		switch {
		case probed:
			runAfterProbe(r)
		case !p.NoProbe:
			s.unprobed++
		}
		d := s.timeSample(r)
		if err := ctx.Err(); err != nil {
			return err
		}
		if probed {
			pending, pendingTook = d, time.Since(t0)
			continue
		}
		if s.commit(d) {
			return nil
		}
	}
}

// timeSample times one sample of r, after flushing its weights under
// Protocol.FlushWeights, and returns the time of one run in it, ns.
func (s *sampler) timeSample(r Runner) float64 {
	k := s.plan.runsPerSample
	if s.plan.flusher != nil {
		s.plan.flusher.FlushWeights()
	}
	t, c := time.Now(), cpuNow(s.p.Clock)
	for range k {
		r.Run()
	}
	d := float64(time.Since(t).Nanoseconds())
	if s.p.Clock == ClockThreadCPU {
		d = float64(threadCPUNanos() - c)
	}
	return d / float64(k)
}

// commit counts a sample of d ns per run and says whether sampling is
// done: the latency statistic stable within the tolerance (checked every
// 4 samples from MinSamples on), MaxSamples reached, or MaxTime passed
// with at least 3 samples.
func (s *sampler) commit(d float64) bool {
	p := s.p
	s.samples = append(s.samples, d)
	s.sinceGC++
	if n := len(s.samples); n >= p.MinSamples && (n-p.MinSamples)%4 == 0 {
		s.sortSamples()
		if quantileCIRelHalfWidth(s.sorted, LatencyQuantile) <= p.Tolerance {
			s.stable = true
			return true
		}
	}
	return len(s.samples) >= p.MaxSamples || (time.Since(s.begin) >= p.MaxTime && len(s.samples) >= 3)
}

// sortSamples copies the samples into sorted and sorts them.
func (s *sampler) sortSamples() {
	s.sorted = append(s.sorted[:0], s.samples...)
	slices.Sort(s.sorted)
}

// measurement is the statistics of the samples taken: their median, 10th
// and 90th percentiles per run, and how sampling went.
func (s *sampler) measurement() Measurement {
	s.sortSamples()
	e := percentiles(s.sorted)
	e.Protocol = fmt.Sprintf("%s runs/sample=%d stable=%t%s", s.p, s.plan.runsPerSample, s.stable, probeNote(s.p, s.dropped))
	return Measurement{
		Entry:         e,
		RunsPerSample: s.plan.runsPerSample,
		Stable:        s.stable,
		ProbeDropped:  s.dropped,
		Contended:     2*s.unprobed > len(s.sorted),
		Waited:        s.lost,
	}
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
	blockOf, err := stepBlocks(r.StepOps(), g)
	if err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := time.Now()
	if _, _, err := warmUp(ctx, r, p); err != nil {
		return nil, err
	}
	clock := func() int64 { return time.Since(start).Nanoseconds() }
	if p.Clock == ClockThreadCPU {
		clock = threadCPUNanos
	}
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	ns := make([]int64, len(blockOf))
	per := make([][]float64, len(blockOf))
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
			runAfterProbe(r)
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

// stepBlocks maps each step of a plan, given the graph op it comes from
// (StepTimer.StepOps), to the block of g that holds that op.
func stepBlocks(stepOps []int, g *blocks.Graph) ([]int, error) {
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
	return blockOf, nil
}

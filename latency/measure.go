package latency

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"

	"nas/blocks"
	"nas/blocks/nn"
	"nas/internal/cacheflush"
)

// Runner runs one inference pass of a compiled network (or block) on an
// input it owns. It is what the profiler times: everything Run does counts.
type Runner interface {
	Run()
}

// Compiler makes a Runner of a graph for a batch size and a thread count.
// The profiler, the predictor's measure-on-miss and validation all time
// through one Compiler, so that blocks and whole networks run the same way.
type Compiler func(g *blocks.Graph, batch, threads int) (Runner, error)

// NetworkCompiler compiles a graph into a blocks.Network, weights and input
// drawn from a generator seeded with seed, run in inference mode
// (Network.Forward with no tape). The nn engine spreads the samples of a
// batch over up to GOMAXPROCS goroutines; the thread count itself is fixed
// by the caller (nas profile sets GOMAXPROCS to --threads), so threads is
// not used here.
//
// A graph of one block that reads the network input (see
// blocks.LowerBlock) gets a second input of the network's shape.
func NetworkCompiler(seed uint64) Compiler {
	return func(g *blocks.Graph, batch, _ int) (Runner, error) {
		if batch < 1 {
			return nil, fmt.Errorf("batch %d: want at least 1", batch)
		}
		rng := rand.New(rand.NewPCG(seed, 0x6e6173))
		n, err := blocks.NewNetwork(g, rng)
		if err != nil {
			return nil, err
		}
		r := &forwardRunner{net: n, x: randomInput(rng, batch, g.Shapes[g.Input])}
		r.netIn = r.x
		if g.NetworkInput != g.Input {
			r.netIn = randomInput(rng, batch, g.Shapes[g.NetworkInput])
		}
		r.xShape, r.netShape = slices.Clone(r.x.Shape), slices.Clone(r.netIn.Shape)
		return r, nil
	}
}

// PlanCompiler compiles a graph into a blocks.Plan, the inference plan
// (batch norm folded, activations fused, buffers allocated once, threads
// splitting each operator), with weights and input drawn from a generator
// seeded with seed. A graph with a second input, a block that reads the
// network's input lowered alone (ESPNetv2's reinforced units), runs on
// blocks.Network instead, which can feed it. The Runner it returns has a
// Close method that stops the plan's threads.
func PlanCompiler(seed uint64) Compiler {
	network := NetworkCompiler(seed)
	return func(g *blocks.Graph, batch, threads int) (Runner, error) {
		if g.NetworkInput != g.Input {
			return network(g, batch, threads)
		}
		if batch < 1 {
			return nil, fmt.Errorf("batch %d: want at least 1", batch)
		}
		rng := rand.New(rand.NewPCG(seed, 0x6e6173))
		n, err := blocks.NewNetwork(g, rng)
		if err != nil {
			return nil, err
		}
		p, err := blocks.NewPlan(n, batch, threads)
		if err != nil {
			return nil, err
		}
		return &planRunner{plan: p, x: randomInput(rng, batch, g.Shapes[g.Input]).Data}, nil
	}
}

type planRunner struct {
	plan    *blocks.Plan
	x       []float32
	sink    float32
	weights [][]float32 // flattened plan.Weights(), made on first flush
}

// FlushWeights drops the plan's weights from the caches (a no-op where
// cacheflush is not supported).
func (r *planRunner) FlushWeights() {
	if r.weights == nil {
		r.weights = [][]float32{}
		for _, ws := range r.plan.Weights() {
			r.weights = append(r.weights, ws...)
		}
	}
	for _, w := range r.weights {
		cacheflush.Float32s(w)
	}
}

// RunSteps runs the plan once, adding each step's time to ns.
func (r *planRunner) RunSteps(ns []int64, clock func() int64) {
	y, err := r.plan.RunTimed(r.x, ns, clock)
	if err != nil {
		// Batch 1 is checked by MeasureBlocks; an error is a bug.
		panic("latency: plan run: " + err.Error())
	}
	if len(y) > 0 {
		r.sink += y[0]
	}
}

// StepOps is the plan's step-to-op map.
func (r *planRunner) StepOps() []int { return r.plan.StepOps() }

func (r *planRunner) Run() {
	y, err := r.plan.Run(r.x)
	if err != nil {
		// The input is made to the plan's size; an error is a bug.
		panic("latency: plan run: " + err.Error())
	}
	if len(y) > 0 {
		r.sink += y[0]
	}
}

// Close stops the plan's threads.
func (r *planRunner) Close() { r.plan.Close() }

// closeRunner releases what a Runner holds, if it holds anything.
func closeRunner(r Runner) {
	if c, ok := r.(interface{ Close() }); ok {
		c.Close()
	}
}

func randomInput(rng *rand.Rand, batch int, s blocks.Shape) *nn.Tensor {
	x := nn.New(batch, s.C, s.H, s.W)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	return x
}

type forwardRunner struct {
	net              *blocks.Network
	x, netIn         *nn.Tensor
	xShape, netShape []int
	sink             float32
}

func (r *forwardRunner) Run() {
	// Forward reshapes a C x 1 x 1 output to N x C in place, and an op that
	// is the identity in inference (dropout) returns its input: put the
	// inputs' shapes back.
	r.x.Shape, r.netIn.Shape = r.xShape, r.netShape
	y := r.net.ForwardWith(nil, r.x, r.netIn)
	r.sink += y.Data[0] // keep the result alive
}

// Clock is what a measurement reads to time a run.
type Clock string

const (
	// ClockWall is elapsed real time: what a user waits, including time
	// the thread spends preempted by other processes.
	ClockWall Clock = "wall"
	// ClockThreadCPU is the CPU time (user and system) of the measuring
	// OS thread. For a run done entirely on that thread (one thread, the
	// goroutine locked to it) it equals the wall time on an idle machine,
	// and leaves out the time other processes take from it on a busy one.
	// Linux only; elsewhere the wall clock is used.
	ClockThreadCPU Clock = "thread-cpu"
)

// Protocol says how a Runner is timed; see docs/latency.md. The zero value
// of a field means its default.
//
// The protocol: a warm-up of WarmupRuns runs and at least WarmupTime; the
// collector held off (debug.SetGCPercent(-1)) while samples are taken, and
// a full collection, untimed, before every sample of a Runner that
// allocates (see GCBudget), so that every sample starts from the same heap,
// whatever the Runner allocates; the
// goroutine locked to its OS thread; each sample times RunsPerSample
// consecutive runs, chosen so that a sample lasts at least MinSampleTime;
// samples are taken until there are MinSamples and the 95% confidence
// interval of the latency statistic (the LatencyQuantile of the samples) is
// within ±Tolerance of it, or MaxSamples or MaxTime is reached.
type Protocol struct {
	WarmupRuns    int           // default 3
	WarmupTime    time.Duration // default 20 ms
	MinSampleTime time.Duration // default 50 µs
	MinSamples    int           // default 15
	MaxSamples    int           // default 2000
	MaxTime       time.Duration // default 250 ms of sampling, the time cap
	Tolerance     float64       // default 0.01: the statistic's 95% CI within ±1%
	// GCBudget, when positive, collects between samples only once this
	// many bytes have been allocated since the last collection; the
	// default, 0, collects before every sample if a run allocates. A
	// Runner that allocates nothing (the inference plan) gets one
	// collection before sampling and none between samples: there is
	// nothing for them to collect, and a collection from a thread-locked
	// goroutine, with its hand-offs between threads, cost 40% of the CPU
	// time of profiling small28 (CPU profile of `nas profile`).
	GCBudget int64
	// Clock defaults to ClockThreadCPU where it exists; the profiler uses
	// ClockWall for more than one thread (see ForThreads).
	Clock Clock
	// NoProbe turns the probe off. By default each sample is preceded by
	// a probe of the core (a few thousand multiply-adds, about 4 µs; see
	// probe) and one untimed run, and counts only if that probe and the
	// next one, after it, took at most ProbeSlack times the fastest of the
	// process: otherwise it would have been taken while another tenant
	// shared the core, which on the development VM slowed networks by 27%
	// (224x224) to 35% (small28) for spells of under a second to several
	// seconds. A measurement that gets no fast probes within ProbeWait
	// takes its samples without them (Contended).
	NoProbe bool
	// FlushWeights times every run alone (one run per sample), with the
	// Runner's weights dropped from every level of the caches just before
	// it (the Runner must be a WeightFlusher) and its activations warm:
	// a block as it runs inside a network large enough that the rest of
	// the network pushed its weights out since it last ran. The profiler
	// takes a block's cold entry (Entry.ColdNs) this way.
	FlushWeights bool
	// ProbeWait is how long from the start of sampling a measurement
	// keeps dropping samples for slow probes; after it, samples are taken
	// unprobed (Measurement.Contended). The default is MaxTime; whole
	// networks wait networkProbeWait caps. Sampling still ends at MaxTime
	// once it has 3 samples.
	ProbeWait time.Duration
}

// networkProbeWait is how many time caps a whole network's measurement
// waits for a fast probe (Protocol.ProbeWait): 2 s at the default cap. On
// the development VM the slow spells, in which a sibling load made the
// multiply-add probe 1.7 times slower and a 224x224 network 1.27 times,
// lasted from under a second to several seconds, longer than one cap;
// and the end-to-end latencies (the calibration networks', validation's,
// --measure's) are few, and each sets many predictions' errors.
const networkProbeWait = 8

// forNetwork is the protocol of a whole network's measurement: p with
// networkProbeWait time caps of wait unless it sets a wait of its own.
func (p Protocol) forNetwork() Protocol {
	if p.ProbeWait <= 0 {
		p = p.withDefaults()
		p.ProbeWait = networkProbeWait * p.MaxTime
	}
	return p
}

// WeightFlusher is a Runner that can drop its weights (the memory its runs
// read and never write) from the CPU's caches: blocks.Plan's, through
// nas/internal/cacheflush.
type WeightFlusher interface {
	Runner
	FlushWeights()
}

// StepTimer is a Runner that can time its steps and say which graph op
// each comes from (blocks.Plan.RunTimed and StepOps), so that the time of
// each block inside a whole network can be read (MeasureBlocks).
type StepTimer interface {
	Runner
	RunSteps(ns []int64, clock func() int64)
	StepOps() []int
}

// ProbeSlack is how much slower than the process's fastest a sample's
// probe may be for the sample to count.
const ProbeSlack = 1.25

var (
	fmaFloor   atomic.Int64 // the fastest probe of the process, ns
	probeFSink atomic.Uint64
)

// probeFn is the probe Measure calls (tests replace it): how much slower
// than the process's fastest it ran (1 at best).
var probeFn = probe

// probe times 8 independent chains of 1000 fused multiply-adds, about
// 4 µs, and returns their time over the fastest this process has seen.
// They run slow while another tenant runs on the same physical core (its
// other hardware thread) or the core's clock drops: on the development VM
// they took 3.5 to 3.8 µs and, in spells of under a second to several
// seconds, 6 to 7 µs, while a 224x224 network ran 9.1 ms and 11.5 ms
// (`go run ./bench/probecheck NET`: the probe and a timed run alternating
// for 10 s, the runs grouped by whether the probe was fast).
//
// Until session 7 the probe also read one value per 64-byte line of a
// 4 MB buffer, meant to see other tenants' loads on the shared cache and
// memory. The buffer was never written, so it read the kernel's zero page
// from L1 (53 µs, whatever ran before); when the heap gave it pages that
// had been written, it read memory instead (216 to 466 µs after 64 MB of
// other reads, against 56 to 215 µs back to back: `go run
// ./bench/zeropage`), and failed after every run of a 224x224 network. Its speed told the slow spells apart
// less well than the multiply-adds (about 1.2 times slower in them
// against 1.7), and it was nine tenths of the probe's cost.
func probe() float64 {
	return probeRatio(&fmaFloor, ProbeTime())
}

// ProbeTime runs the profiler's probe once and returns how long it took
// (see probe; bench/probecheck uses it to check the probe against a
// network's runs).
func ProbeTime() time.Duration {
	t := time.Now()
	a0, a1, a2, a3, a4, a5, a6, a7 := 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7
	for range 1000 {
		a0 = math.FMA(a0, 0.999, 0.001)
		a1 = math.FMA(a1, 0.999, 0.001)
		a2 = math.FMA(a2, 0.999, 0.001)
		a3 = math.FMA(a3, 0.999, 0.001)
		a4 = math.FMA(a4, 0.999, 0.001)
		a5 = math.FMA(a5, 0.999, 0.001)
		a6 = math.FMA(a6, 0.999, 0.001)
		a7 = math.FMA(a7, 0.999, 0.001)
	}
	d := time.Since(t)
	probeFSink.Store(math.Float64bits(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7))
	return d
}

// probeGate runs the probe between two samples of a measurement that
// began sampling at begin (see Protocol.NoProbe): drop says to skip the
// sample to come and the one just taken, probed whether the probe ran at
// all (not with NoProbe, nor once Protocol.ProbeWait has passed).
func probeGate(p Protocol, begin time.Time) (drop, probed bool) {
	if p.NoProbe || time.Since(begin) >= p.ProbeWait {
		return false, false
	}
	return probeFn() > ProbeSlack, true
}

// probeRatio records d against the fastest so far in floor and returns
// d's ratio to it.
func probeRatio(floor *atomic.Int64, d time.Duration) float64 {
	d = max(d, 1)
	for {
		f := floor.Load()
		if f != 0 && f <= int64(d) {
			return float64(d) / float64(f)
		}
		if floor.CompareAndSwap(f, int64(d)) {
			return 1
		}
	}
}

// ForThreads returns the protocol for runs on n threads: without a clock
// set, the thread's CPU time for one thread and the wall clock for more,
// whose work the measuring thread's CPU time would not see.
func (p Protocol) ForThreads(n int) Protocol {
	if p.Clock == "" && n > 1 {
		p.Clock = ClockWall
	}
	return p
}

func (p Protocol) withDefaults() Protocol {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&p.WarmupRuns, 3)
	defDur(&p.WarmupTime, 20*time.Millisecond)
	defDur(&p.MinSampleTime, 50*time.Microsecond)
	def(&p.MinSamples, 15)
	def(&p.MaxSamples, 2000)
	defDur(&p.MaxTime, 250*time.Millisecond)
	defDur(&p.ProbeWait, p.MaxTime)
	if p.Tolerance <= 0 {
		p.Tolerance = 0.01
	}
	p.MaxSamples = max(p.MaxSamples, p.MinSamples)
	if p.Clock == "" {
		p.Clock = ClockThreadCPU
	}
	if p.Clock == ClockThreadCPU && !threadCPUClock {
		p.Clock = ClockWall
	}
	return p
}

// probeNote is what a measurement's protocol text says of the probe: the
// samples it dropped.
func probeNote(p Protocol, dropped int) string {
	if p.NoProbe {
		return ""
	}
	return fmt.Sprintf(" probe-dropped=%d", dropped)
}

// LatencyQuantile is the statistic a measurement reports as the latency:
// the 10th percentile of the per-run times of its samples (Entry.P10Ns).
// Other processes only ever add time to a run: on a shared machine they
// preempt the thread (which the thread-CPU clock leaves out) and, worse,
// evict its caches and take memory bandwidth (which no clock leaves out),
// in bursts. The median follows how much of the sampling window such a
// burst covered, the 10th percentile follows the runs it missed: measuring
// the same small28 networks again at load 5 on 2 cores moved their median
// by 13% (median over the networks) and their 10th percentile by 2.4%. On
// an idle device the two differ by about the run-to-run jitter, 1%.
const LatencyQuantile = 0.1

// String describes the protocol with its defaults filled in, as recorded
// in each entry.
func (p Protocol) String() string {
	p = p.withDefaults()
	probe := fmt.Sprintf(" probe=fma,slack=%g,before-and-after-each-sample,wait=%v", ProbeSlack, p.ProbeWait)
	if p.NoProbe {
		probe = " probe=off"
	}
	if p.FlushWeights {
		probe += " weights=flushed-before-each-run"
	}
	return fmt.Sprintf("clock=%s warmup=%dx/%v gc=off,collect-before-sample-if-allocating samples=%d..%d stat=p%g ci95=±%g%% cap=%v min-sample=%v%s",
		p.Clock, p.WarmupRuns, p.WarmupTime, p.MinSamples, p.MaxSamples, LatencyQuantile*100, p.Tolerance*100, p.MaxTime, p.MinSampleTime, probe)
}

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

// quantile returns the q-quantile of sorted values, interpolating linearly
// between order statistics (the "type 7" definition of R and NumPy).
func quantile(sorted []float64, q float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	pos := q * float64(n-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, n-1)
	return sorted[lo] + (pos-float64(lo))*(sorted[hi]-sorted[lo])
}

// quantileCIRelHalfWidth returns the half-width of a distribution-free 95%
// confidence interval of the q-quantile, relative to it: the order
// statistics at ranks n·q ± 1.96·√(n·q·(1-q)) bound it. It is infinite
// while there are too few samples for those ranks to exist.
func quantileCIRelHalfWidth(sorted []float64, q float64) float64 {
	n := len(sorted)
	m := quantile(sorted, q)
	if n < 3 || m <= 0 {
		return math.Inf(1)
	}
	nq := float64(n) * q
	h := 1.96 * math.Sqrt(nq*(1-q))
	lo := int(math.Floor(nq - h))
	hi := int(math.Ceil(nq + h))
	if lo < 0 || hi > n-1 {
		return math.Inf(1)
	}
	return (sorted[hi] - sorted[lo]) / 2 / m
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

package latency

import (
	"fmt"
	"time"
)

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
// whatever the Runner allocates; the goroutine locked to its OS thread;
// each sample times RunsPerSample
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
	// goroutine, with its hand-offs between threads, costs 40% of the CPU
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
	// shared the core, which on a shared VM slows networks by 27%
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
// a shared VM the slow spells, in which a sibling load makes the
// multiply-add probe 1.7 times slower and a 224x224 network 1.27 times,
// last from under a second to several seconds, longer than one cap;
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

// coldProtocol is p for a cold entry, taken right after the warm one on
// the same runner: weights flushed before every run, one warm-up run (the
// runner is warm), an eighth of the time cap and three times the
// tolerance. A cold entry counts through Beta times its excess over the
// warm one: at ±3% on a block whose weights double its time that is ±1.5%
// of the block, and a profile is a sum over many. Single runs seldom meet
// a tight tolerance, so cold measurements mostly end at their cap, which
// sets what they cost: with a quarter of the cap instead of an eighth, a
// profile of small28 takes 5 min 44 s on a 2-core VM, against 2 min
// without cold entries.
func coldProtocol(p Protocol) Protocol {
	p = p.withDefaults()
	p.FlushWeights = true
	p.WarmupRuns, p.WarmupTime = 1, time.Nanosecond
	p.MaxTime /= 8
	p.Tolerance *= 3
	return p
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

package latency

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

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
// other hardware thread) or the core's clock drops: on a shared VM they
// run nearly twice as long in spells of under a second to several seconds,
// in which a network runs about a quarter slower too (`go run
// ./bench/probecheck NET` shows it: the probe and a timed run alternating,
// the runs grouped by whether the probe was fast).
//
// The probe reads no memory. A read of a buffer through the caches times
// what the run before it left there as much as other tenants' load, and
// the time of a buffer the process never wrote is the kernel's zero page,
// read from L1 whatever the load; the multiply-adds see only the core.
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

// runAfterProbe runs r once, untimed, between a probe that admits a
// sample and the sample, so that every probed sample follows a run of r
// rather than the probe. The multiply-add probe reads no memory and
// leaves the caches as r's last run left them; the run stays because
// every entry of a table is taken with it, and entries taken without it
// are not known to sum the same way.
func runAfterProbe(r Runner) { r.Run() }

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

// probeNote is what a measurement's protocol text says of the probe: the
// samples it dropped.
func probeNote(p Protocol, dropped int) string {
	if p.NoProbe {
		return ""
	}
	return fmt.Sprintf(" probe-dropped=%d", dropped)
}

// Command probecheck tells whether the profiler's probe (latency.probe:
// chains of multiply-adds) predicts how fast a network runs right after
// it, on this machine, now. For 10 seconds it alternates: the probe, one
// untimed run of the network, one timed run. It prints the percentiles
// of each, then the runs grouped by whether the probe was fast (within
// 1.25x of its fastest, as latency.ProbeSlack): if the runs after fast
// probes are faster, the probe is dropping the right samples.
//
//	go run ./bench/probecheck ARCH
//
// ARCH is anything nas inspect takes; the network runs on the inference
// plan, one thread, batch 1. docs/latency.md, "The probe", explains it.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"time"

	"nas/bench/internal/benchnet"
	"nas/latency"
)

func main() {
	runtime.LockOSThread()
	debug.SetGCPercent(-1)
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: probecheck ARCH")
		os.Exit(2)
	}
	p, err := benchnet.Compile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "probecheck:", err)
		os.Exit(1)
	}
	defer p.Close()
	x := make([]float32, p.InputLen())
	type rec struct{ f, r time.Duration }
	var recs []rec
	end := time.Now().Add(10 * time.Second)
	for time.Now().Before(end) {
		f := latency.ProbeTime()
		_, _ = p.Run(x) // the input is made to the plan's size
		t := time.Now()
		_, _ = p.Run(x)
		recs = append(recs, rec{f, time.Since(t)})
	}
	fs := make([]float64, len(recs))
	rs := make([]float64, len(recs))
	for i, r := range recs {
		fs[i], rs[i] = float64(r.f), float64(r.r)
	}
	q := func(v []float64, p float64) float64 {
		s := slices.Clone(v)
		slices.Sort(s)
		return s[int(p*float64(len(s)-1))]
	}
	fmt.Printf("n=%d probe p10 %.0f p50 %.0f p90 %.0f | run p10 %.0f p50 %.0f p90 %.0f\n", len(recs),
		q(fs, .1), q(fs, .5), q(fs, .9), q(rs, .1), q(rs, .5), q(rs, .9))
	floor := q(fs, 0)
	var fast, slow []float64
	for i := range recs {
		if fs[i] <= latency.ProbeSlack*floor {
			fast = append(fast, rs[i])
		} else {
			slow = append(slow, rs[i])
		}
	}
	for _, g := range []struct {
		n string
		v []float64
	}{{"probe fast", fast}, {"probe slow", slow}} {
		if len(g.v) > 0 {
			fmt.Printf("%-10s n=%5d run p10 %.0f p50 %.0f\n", g.n, len(g.v), q(g.v, .1), q(g.v, .5))
		}
	}
}

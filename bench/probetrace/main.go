//go:build linux

// Command probetrace shows the machine's slow spells as they come and go:
// for SECONDS seconds it times the profiler's probe (latency.ProbeTime)
// and one run of the network alternately, in windows of half a second,
// pinning the thread to each CPU in turn, and prints per window and CPU
// the 10th percentile of the run and the median of the probe. On a
// machine whose cores are shared with other tenants (a VM, a core's other
// hardware thread), the windows fall into a fast and a slow state, and the
// probe and the network are slow in the same windows: that is what lets
// the profiler drop the samples taken in a slow spell (docs/latency.md,
// "The probe").
//
//	go run ./bench/probetrace ARCH [SECONDS]
//
// ARCH is anything nas inspect takes; the network runs on the inference
// plan, one thread, batch 1. SECONDS defaults to 60.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"nas/bench/internal/benchnet"
	"nas/latency"
)

func main() {
	if len(os.Args) < 2 || len(os.Args) > 3 {
		fmt.Fprintln(os.Stderr, "usage: probetrace ARCH [SECONDS]")
		os.Exit(2)
	}
	secs := 60
	if len(os.Args) == 3 {
		var err error
		if secs, err = strconv.Atoi(os.Args[2]); err != nil || secs < 1 {
			fmt.Fprintf(os.Stderr, "probetrace: SECONDS %q: want a positive whole number\n", os.Args[2])
			os.Exit(2)
		}
	}
	runtime.LockOSThread()
	debug.SetGCPercent(-1)
	p, err := benchnet.Compile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "probetrace:", err)
		os.Exit(1)
	}
	defer p.Close()
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		fmt.Fprintln(os.Stderr, "probetrace:", err)
		os.Exit(1)
	}
	var cpus []int
	for c := range 1024 {
		if allowed.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	x := make([]float32, p.InputLen())
	q := func(v []float64, f float64) float64 {
		s := slices.Clone(v)
		slices.Sort(s)
		return s[int(f*float64(len(s)-1))]
	}
	start := time.Now()
	for time.Since(start) < time.Duration(secs)*time.Second {
		var line strings.Builder
		fmt.Fprintf(&line, "%5.1fs", time.Since(start).Seconds())
		for _, c := range cpus {
			var set unix.CPUSet
			set.Set(c)
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				fmt.Fprintln(os.Stderr, "probetrace:", err)
				os.Exit(1)
			}
			var runs, probes []float64
			end := time.Now().Add(500 * time.Millisecond)
			for time.Now().Before(end) {
				probes = append(probes, float64(latency.ProbeTime().Nanoseconds()))
				t := time.Now()
				_, _ = p.Run(x)
				runs = append(runs, float64(time.Since(t).Microseconds()))
			}
			fmt.Fprintf(&line, " | cpu%d run p10 %7.0f µs, probe p50 %5.0f ns", c, q(runs, .1), q(probes, .5))
		}
		fmt.Println(line.String())
	}
}

// Command planrun times batch-1 inference of one zoo network with nas's
// inference plan and prints one line of JSON: the median and fastest run in
// milliseconds, and the process's peak and current resident memory. It is
// the nas side of bench/compare_ort.sh.
//
//	go run ./bench/planrun -net mobilenet_v2 -threads 1 -iters 50
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"nas/bench"
	"nas/blocks"
	"nas/blocks/kernels"
)

type result struct {
	Net      string  `json:"net"`
	Threads  int     `json:"threads"`
	Iters    int     `json:"iters"`
	MedianMs float64 `json:"median_ms"`
	MinMs    float64 `json:"min_ms"`
	CPUMs    float64 `json:"cpu_ms"` // median time on a CPU of the calling thread per run (one thread only)
	// CPUMeanMs is the process's CPU time (all threads) over the timed
	// runs divided by their number, as bench/ort_run.js reports it.
	CPUMeanMs float64 `json:"cpu_mean_ms"`
	PeakRSSKB int     `json:"peak_rss_kb"`
	RSSKB     int     `json:"rss_kb"`
	Kernels   string  `json:"kernels"`
}

func main() {
	net := flag.String("net", "mobilenet_v2", "zoo network")
	threads := flag.Int("threads", 1, "threads of the plan")
	iters := flag.Int("iters", 50, "timed runs (after 10 warm-up runs)")
	size := flag.Int("size", 224, "input height and width")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the timed runs to this file")
	flag.Parse()
	if err := run(*net, *threads, *iters, *size, *profile); err != nil {
		fmt.Fprintln(os.Stderr, "planrun:", err)
		os.Exit(1)
	}
}

func run(name string, threads, iters, size int, profile string) error {
	if iters < 1 {
		return fmt.Errorf("-iters %d: want at least 1", iters)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	n, err := bench.ZooNetwork(name, blocks.Shape{C: 3, H: size, W: size}, rng)
	if err != nil {
		return err
	}
	p, err := blocks.NewPlan(n, 1, threads)
	if err != nil {
		return err
	}
	defer p.Close()
	n = nil // the plan holds its own copy of the weights
	runtime.GC()
	debug.FreeOSMemory()
	x := make([]float32, p.InputLen())
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for range 10 {
		if _, err := p.Run(x); err != nil {
			return err
		}
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	// The run's own thread time is what a busy machine perturbs least:
	// waiting for a core is not counted in it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	times := make([]float64, iters)
	cpu := make([]float64, iters)
	proc0 := processCPU()
	for i := range times {
		c0 := threadCPU()
		start := time.Now()
		if _, err := p.Run(x); err != nil {
			return err
		}
		times[i] = float64(time.Since(start).Nanoseconds()) / 1e6
		cpu[i] = threadCPU() - c0
	}
	procMs := (processCPU() - proc0) / float64(iters)
	slices.Sort(times)
	slices.Sort(cpu)
	cpuMs := cpu[iters/2]
	if threads > 1 {
		cpuMs = 0 // the helpers' time is not in the caller's
	}
	r := result{Net: name, Threads: threads, Iters: iters, MedianMs: times[iters/2], MinMs: times[0], CPUMs: cpuMs, CPUMeanMs: procMs,
		PeakRSSKB: procStatus("VmHWM"), RSSKB: procStatus("VmRSS"),
		Kernels: fmt.Sprintf("%s v%d", kernels.Path(), kernels.Version)}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// procStatus reads a kB field of /proc/self/status, or -1 where there is
// none (not Linux).
func procStatus(field string) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err == nil {
				return kb
			}
		}
	}
	return -1
}

// Command planrun times batch-1 inference of one zoo network with nas's
// inference plan and prints one line of JSON: the median and fastest run in
// milliseconds, and the process's peak and current resident memory. It is
// the nas side of bench/compare_ort.sh.
//
//	go run ./bench/planrun -net mobilenet_v2 -threads 1 -iters 50
package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"nas/bench/internal/benchnet"
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
	steps := flag.Bool("steps", false, "print the time of each plan step instead of the JSON line")
	ortProfile := flag.String("ort-profile", "", "with -steps: set each convolution's time beside its node's in this ONNX Runtime profile of the same network (bench/ort_run.js MODEL 1 ITERS PREFIX writes one)")
	parts := flag.Bool("parts", false, "print how the steps split between the threads (thread CPU time of each part) instead of the JSON line")
	sequential := flag.Bool("sequential", false, "with -parts: run each step's parts one after the other on one thread")
	byStep := flag.Bool("by-step", false, "with -parts: also print each step's one-thread time, parts' sum and work")
	flag.Parse()
	if *parts {
		if err := partsTable(os.Stdout, *net, *threads, *iters, *size, *sequential, *byStep); err != nil {
			fmt.Fprintln(os.Stderr, "planrun:", err)
			os.Exit(1)
		}
		return
	}
	if *ortProfile != "" && !*steps {
		fmt.Fprintln(os.Stderr, "planrun: -ort-profile needs -steps")
		os.Exit(2)
	}
	if err := run(*net, *threads, *iters, *size, *profile, *steps, *ortProfile); err != nil {
		fmt.Fprintln(os.Stderr, "planrun:", err)
		os.Exit(1)
	}
}

func run(name string, threads, iters, size int, profile string, steps bool, ortProfile string) error {
	if iters < 1 {
		return fmt.Errorf("-iters %d: want at least 1", iters)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	n, err := benchnet.ZooNetwork(name, blocks.Shape{C: 3, H: size, W: size}, rng)
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
	if steps && ortProfile != "" {
		nodes, err := readORTProfile(ortProfile)
		if err != nil {
			return err
		}
		infos, us, what, err := stepTimes(p, x, iters)
		if err != nil {
			return err
		}
		return ortTable(os.Stdout, infos, us, what, nodes)
	}
	if steps {
		return stepTable(os.Stdout, p, x, iters)
	}
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

// stepTimes times each step of p over iters runs of x: the steps, their
// mean time in microseconds, and the clock ("thread CPU" at one thread,
// where the waits of a busy machine do not inflate it; "wall" with
// helpers).
func stepTimes(p *blocks.Plan, x []float32, iters int) ([]blocks.StepInfo, []float64, string, error) {
	infos := p.StepInfos()
	var clock func() int64
	what := "wall"
	if p.Threads() == 1 && threadCPU() > 0 {
		clock = func() int64 { return int64(threadCPU() * 1e6) }
		what = "thread CPU"
	}
	ns := make([]int64, len(infos))
	for range iters {
		if _, err := p.RunTimed(x, ns, clock); err != nil {
			return nil, nil, "", err
		}
	}
	us := make([]float64, len(ns))
	for i, t := range ns {
		us[i] = float64(t) / float64(iters) / 1e3
	}
	return infos, us, what, nil
}

// stepTable times each step of p over iters runs of x and prints one row
// per step and a summary per step kind.
func stepTable(w io.Writer, p *blocks.Plan, x []float32, iters int) error {
	infos, stepUs, what, err := stepTimes(p, x, iters)
	if err != nil {
		return err
	}
	ns := make([]int64, len(stepUs))
	for i, u := range stepUs {
		ns[i] = int64(u * 1e3 * float64(iters))
	}
	var total int64
	for _, t := range ns {
		total += t
	}
	us := func(t int64) float64 { return float64(t) / float64(iters) / 1e3 }
	fmt.Fprintf(w, "%4s %-7s %-36s %9s %6s %10s %8s\n", "step", "kind", "what", "us", "share", "MACs", "GMAC/s")
	type sum struct {
		ns   int64
		macs int
		n    int
	}
	kinds := map[string]*sum{}
	var order []string
	for i, in := range infos {
		fmt.Fprintf(w, "%4d %-7s %-36s %9.1f %5.1f%% %10d %8.2f\n", i, in.Kind, in.Desc, us(ns[i]),
			100*float64(ns[i])/float64(total), in.MACs, float64(in.MACs)*float64(iters)/float64(max(ns[i], 1)))
		k := kinds[in.Kind]
		if k == nil {
			k = &sum{}
			kinds[in.Kind] = k
			order = append(order, in.Kind)
		}
		k.ns += ns[i]
		k.macs += in.MACs
		k.n++
	}
	slices.SortFunc(order, func(a, b string) int { return cmp.Compare(kinds[b].ns, kinds[a].ns) })
	fmt.Fprintf(w, "\n%-7s %5s %9s %6s %10s %8s\n", "kind", "steps", "us", "share", "MACs", "GMAC/s")
	for _, name := range order {
		k := kinds[name]
		fmt.Fprintf(w, "%-7s %5d %9.1f %5.1f%% %10d %8.2f\n", name, k.n, us(k.ns), 100*float64(k.ns)/float64(total),
			k.macs, float64(k.macs)*float64(iters)/float64(max(k.ns, 1)))
	}
	fmt.Fprintf(w, "total %.1f us (%s time) per run over %d runs (%s v%d)\n", us(total), what, iters, kernels.Path(), kernels.Version)
	return nil
}

// Command blockctx times every block of a network inside the network and
// alone, step by step, on the inference plan (one thread, batch 1): what
// a latency table's entries (blocks timed alone) miss about the network
// they are summed for. For each block it prints the 10th percentile of
// each of its plan steps, summed, alone and inside the network, and their
// ratio, and the bytes of its weights; then the totals and the network's
// end-to-end time. The network and its blocks are timed in -rounds rounds
// of -runs/-rounds runs each, and each figure is its best round's, so
// that a burst of load elsewhere spoils a round, not the comparison.
//
//	go run ./bench/blockctx [-runs 100] [-rounds 5] [-flush] [-evict 48] [-csv FILE] ARCH
//
// ARCH is anything nas inspect takes. With -flush, each block is also
// timed alone with its weights flushed from the caches before every run
// (the "cold" column, as the profiler's cold entries). With -evict N,
// every run of a block alone is preceded (untimed) by writing N MiB of
// another buffer and reading the block's input. With -csv, one line per
// block (network, index, block, input, alone, inside, cold ns, weight,
// input and output bytes, the block's arena bytes) and one for the
// network (index -1: the sums and the end-to-end time) are appended to
// FILE, for bench/block_models.py. docs/latency.md explains what it shows.
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"time"

	"nas/bench/internal/benchnet"
	"nas/blocks"
	"nas/internal/cacheflush"
	"nas/space"
)

func main() {
	runs := flag.Int("runs", 100, "timed runs of the network and of each block (after 5 untimed)")
	evictMiB := flag.Int("evict", 0, "MiB of another buffer to write before each run of a block alone (0: none)")
	rounds := flag.Int("rounds", 5, "rounds over the network and its blocks; each figure is the best round's")
	flush := flag.Bool("flush", false, "also time each block alone with its weights flushed from the caches before every run")
	csvPath := flag.String("csv", "", "append one line per block to this CSV file")
	flag.Parse()
	if *csvPath != "" {
		f, err := os.OpenFile(*csvPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, "blockctx:", err)
			os.Exit(1)
		}
		defer f.Close()
		csvOut = f
	}
	if flag.NArg() != 1 || *runs < 10 || *evictMiB < 0 {
		fmt.Fprintln(os.Stderr, "usage: blockctx [-runs N>=10] [-evict MiB] ARCH")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *runs, *rounds, *evictMiB, *flush); err != nil {
		fmt.Fprintln(os.Stderr, "blockctx:", err)
		os.Exit(1)
	}
}

func run(ref string, runs, rounds, evictMiB int, flush bool) error {
	runtime.LockOSThread()
	debug.SetGCPercent(-1) // the plan allocates nothing per run
	a, err := space.Resolve(ref, space.ZooOptions{})
	if err != nil {
		return err
	}
	g, err := a.Graph()
	if err != nil {
		return err
	}
	var evict []byte
	if evictMiB > 0 {
		evict = make([]byte, evictMiB<<20)
	}
	np, err := benchnet.CompileGraph(g)
	if err != nil {
		return err
	}
	defer np.Close()
	// Every block alone, compiled up front, so that the rounds below can
	// time the network and its blocks close together in time.
	var bps []*blocks.Plan
	for _, span := range g.Blocks {
		bg, err := blocks.LowerBlock(a.Input, g.Shapes[span.In], span.Spec)
		if err != nil {
			return err
		}
		bp, err := benchnet.CompileGraph(bg)
		if err != nil {
			return err
		}
		defer bp.Close()
		bps = append(bps, bp)
	}
	// rounds: each times the network, then every block alone (and
	// flushed), runs/rounds times each; a step's figure is the lowest of
	// its rounds' 10th percentiles, so that a burst of load elsewhere
	// spoils a round, not the comparison.
	per := max(runs/rounds, 10)
	var netSteps []float64
	netTotal := math.Inf(1)
	bss := make([][]float64, len(bps))
	css := make([][]float64, len(bps))
	for range rounds {
		ns, tot := timeSteps(np, per, nil, false)
		netSteps = minInto(netSteps, ns)
		netTotal = min(netTotal, tot)
		for i, bp := range bps {
			bs, _ := timeSteps(bp, per, evict, false)
			bss[i] = minInto(bss[i], bs)
			if flush {
				cs, _ := timeSteps(bp, per, nil, true)
				css[i] = minInto(css[i], cs)
			}
		}
	}
	infos := np.StepInfos()
	k := 0
	var sumAlone, sumIn, sumCold float64
	fmt.Printf("%-44s %-12s %5s %10s %10s %6s %10s %8s\n", "block", "input", "steps", "alone µs", "in-net µs", "ratio", "cold µs", "weights")
	bi := 0
	for _, span := range g.Blocks {
		bp, bs, cs := bps[bi], bss[bi], css[bi]
		wbytes := 0
		for _, ws := range bp.Weights() {
			for _, w := range ws {
				wbytes += 4 * len(w)
			}
		}
		binfos := bp.StepInfos()
		var cold float64
		for _, c := range cs {
			cold += c
		}
		sumCold += cold
		var alone, in float64
		for j := range bs {
			if k+j >= len(infos) || infos[k+j].Desc != binfos[j].Desc {
				return fmt.Errorf("block %s: step %d (%s) is not the network's step %d", space.BlockString(span.Spec), j, binfos[j].Desc, k+j)
			}
			alone += bs[j]
			in += netSteps[k+j]
		}
		k += len(bs)
		sumAlone += alone
		sumIn += in
		ratio := "-"
		if alone > 0 {
			ratio = fmt.Sprintf("%.3f", in/alone)
		}
		fmt.Printf("%-44s %-12v %5d %10.1f %10.1f %6s %10.1f %7.0fK\n", space.BlockString(span.Spec), g.Shapes[span.In], len(bs), alone/1e3, in/1e3, ratio, cold/1e3, float64(wbytes)/1024)
		if csvOut != nil {
			st := bp.Stats()
			fmt.Fprintf(csvOut, "%q,%d,%s,%v,%.1f,%.1f,%.1f,%d,%d,%d,%d\n", ref, bi, space.BlockString(span.Spec), g.Shapes[span.In], alone, in, cold, wbytes, 4*shapeLen(g.Shapes[span.In]), 4*shapeLen(g.Shapes[span.Out]), st.ArenaBytes)
		}
		bi++
	}
	if csvOut != nil {
		fmt.Fprintf(csvOut, "%q,-1,network,%v,%.1f,%.1f,%.1f,0,0,0,0\n", ref, a.Input, sumAlone, netTotal, sumCold)
	}
	fmt.Printf("sum of steps: alone %.1f µs, in the network %.1f µs (ratio %.3f); network end to end %.1f µs (%d of %d steps matched)\n",
		sumAlone/1e3, sumIn/1e3, sumIn/sumAlone, netTotal/1e3, k, len(infos))
	if flush {
		fmt.Printf("sum of steps with weights flushed: %.1f µs (in the network / flushed %.3f)\n", sumCold/1e3, sumIn/sumCold)
	}
	return nil
}

var sink float32

var csvOut *os.File

// timeSteps runs p runs times (after 5 untimed runs) and returns the 10th
// percentile of each step's time and of the whole run, in nanoseconds.
// With evict, each run is preceded by writing evict and reading the input.
func timeSteps(p *blocks.Plan, runs int, evict []byte, flush bool) ([]float64, float64) {
	weights := p.Weights()
	steps := len(p.StepInfos())
	x := make([]float32, p.InputLen())
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	per := make([][]int64, steps)
	var total []int64
	ns := make([]int64, steps)
	for r := range runs + 5 {
		clear(ns)
		if evict != nil {
			for i := 0; i < len(evict); i += 64 {
				evict[i]++
			}
			for i := 0; i < len(x); i += 16 {
				sink += x[i]
			}
		}
		if flush {
			for _, ws := range weights {
				for _, w := range ws {
					cacheflush.Float32s(w)
				}
			}
		}
		t0 := time.Now()
		if _, err := p.RunTimed(x, ns, nil); err != nil {
			panic(err) // the input is made to the plan's size
		}
		d := time.Since(t0).Nanoseconds()
		if r < 5 {
			continue
		}
		total = append(total, d)
		for i := range ns {
			per[i] = append(per[i], ns[i])
		}
	}
	out := make([]float64, steps)
	for i := range per {
		out[i] = p10(per[i])
	}
	return out, p10(total)
}

func p10(v []int64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return float64(s[len(s)/10])
}

// minInto returns the elementwise minimum of acc (nil: none yet) and v.
func minInto(acc, v []float64) []float64 {
	if acc == nil {
		return slices.Clone(v)
	}
	for i := range acc {
		acc[i] = min(acc[i], v[i])
	}
	return acc
}

func shapeLen(s blocks.Shape) int { return s.C * s.H * s.W }

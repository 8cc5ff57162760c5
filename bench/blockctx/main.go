// Command blockctx times every block of a network inside the network and
// alone, step by step, on the inference plan (one thread, batch 1): what
// a latency table's entries (blocks timed alone) miss about the network
// they are summed for. For each block it prints the 10th percentile of
// each of its plan steps, summed, alone and inside the network, and their
// ratio; then the totals and the network's end-to-end time.
//
//	go run ./bench/blockctx [-runs 100] [-evict 48] ARCH
//
// ARCH is anything nas inspect takes. With -evict N, every run of a block
// alone is preceded (untimed) by writing N MiB of another buffer and
// reading the block's input: the block starts with its weights and
// output buffer out of the caches and its input in them, roughly as it
// does inside a large network. docs/latency.md has the figures.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"time"

	"nas/blocks"
	"nas/space"
)

func main() {
	runs := flag.Int("runs", 100, "timed runs of the network and of each block (after 5 untimed)")
	evictMiB := flag.Int("evict", 0, "MiB of another buffer to write before each run of a block alone (0: none)")
	flag.Parse()
	if flag.NArg() != 1 || *runs < 10 || *evictMiB < 0 {
		fmt.Fprintln(os.Stderr, "usage: blockctx [-runs N>=10] [-evict MiB] ARCH")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *runs, *evictMiB); err != nil {
		fmt.Fprintln(os.Stderr, "blockctx:", err)
		os.Exit(1)
	}
}

func run(ref string, runs, evictMiB int) error {
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
	np, err := compile(g)
	if err != nil {
		return err
	}
	defer np.Close()
	netSteps, netTotal := timeSteps(np, runs, nil)
	infos := np.StepInfos()
	k := 0
	var sumAlone, sumIn float64
	fmt.Printf("%-44s %-12s %5s %10s %10s %6s\n", "block", "input", "steps", "alone µs", "in-net µs", "ratio")
	for _, span := range g.Blocks {
		bg, err := blocks.LowerBlock(a.Input, g.Shapes[span.In], span.Spec)
		if err != nil {
			return err
		}
		bp, err := compile(bg)
		if err != nil {
			return err
		}
		bs, _ := timeSteps(bp, runs, evict)
		binfos := bp.StepInfos()
		bp.Close()
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
		fmt.Printf("%-44s %-12v %5d %10.1f %10.1f %6s\n", space.BlockString(span.Spec), g.Shapes[span.In], len(bs), alone/1e3, in/1e3, ratio)
	}
	fmt.Printf("sum of steps: alone %.1f µs, in the network %.1f µs (ratio %.3f); network end to end %.1f µs (%d of %d steps matched)\n",
		sumAlone/1e3, sumIn/1e3, sumIn/sumAlone, netTotal/1e3, k, len(infos))
	return nil
}

func compile(g *blocks.Graph) (*blocks.Plan, error) {
	n, err := blocks.NewNetwork(g, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		return nil, err
	}
	return blocks.NewPlan(n, 1, 1)
}

var sink float32

// timeSteps runs p runs times (after 5 untimed runs) and returns the 10th
// percentile of each step's time and of the whole run, in nanoseconds.
// With evict, each run is preceded by writing evict and reading the input.
func timeSteps(p *blocks.Plan, runs int, evict []byte) ([]float64, float64) {
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

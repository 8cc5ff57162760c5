package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"

	"nas/bench/internal/benchnet"
	"nas/blocks"
	"nas/blocks/kernels"
)

// partsTable times every step of the network's plan at one thread and,
// part by part, at threads, all in thread CPU time, and prints per step
// kind what limits the split: the work the split adds (the parts' sum
// against the one-thread time), the imbalance (the slowest parts against
// the parts' mean; steps left on one thread count whole) and the steps
// split. The two plans
// alternate run by run, so a drift of the machine's speed hits both.
//
// The bound it prints, one-thread time over the sum of the steps' slowest
// parts, is the speed-up with free hand-offs and two idle cores; the wall
// time of a two-thread run adds the hand-offs and any wait for a core.
// With sequential, the parts run one after the other on one thread: the
// work the split adds without the cores running at once.
func partsTable(w io.Writer, name string, threads, iters, size int, sequential, byStep bool) error {
	if threads < 2 {
		return fmt.Errorf("-parts needs -threads 2 or more")
	}
	if threadCPU() == 0 {
		return fmt.Errorf("-parts needs the thread CPU clock (Linux)")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	n, err := benchnet.ZooNetwork(name, blocks.Shape{C: 3, H: size, W: size}, rng)
	if err != nil {
		return err
	}
	one, err := blocks.NewPlan(n, 1, 1)
	if err != nil {
		return err
	}
	defer one.Close()
	many, err := blocks.NewPlan(n, 1, threads)
	if err != nil {
		return err
	}
	defer many.Close()
	x := make([]float32, one.InputLen())
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	clock := func() int64 { return int64(threadCPU() * 1e6) }
	infos := one.StepInfos()
	infosN := many.StepInfos()
	t1 := make([]int64, len(infos))
	tp := make([]int64, len(infosN)*threads)
	scratch1 := make([]int64, len(t1))
	scratchP := make([]int64, len(tp))
	for range 10 {
		if _, err := one.RunTimed(x, scratch1, clock); err != nil {
			return err
		}
		if _, err := many.RunPartsTimed(x, scratchP, clock, sequential); err != nil {
			return err
		}
	}
	for range iters {
		if _, err := one.RunTimed(x, t1, clock); err != nil {
			return err
		}
		if _, err := many.RunPartsTimed(x, tp, clock, sequential); err != nil {
			return err
		}
	}
	// The plans' steps differ where the split adds one (a GEMM split by
	// input channels adds the reduce step that sums its parts): a step is
	// matched by the op it was compiled from and its kind, and a reduce
	// step counts with its GEMM.
	key := func(op int, kind string) string {
		if kind == "reduce" {
			kind = "gemm"
		}
		return fmt.Sprint(op, kind)
	}
	one1 := map[string]int64{}
	for i, op := range one.StepOps() {
		one1[key(op, infos[i].Kind)] += t1[i]
	}
	type sum struct {
		one, parts, slowest int64
		split, n            int
	}
	us := func(t int64) float64 { return float64(t) / float64(iters) / 1e3 }
	if byStep {
		fmt.Fprintf(w, "%4s %-8s %10s %10s %8s  %s\n", "step", "kind", "1thr_us", "parts_us", "work", "desc")
	}
	kinds := map[string]*sum{}
	var order []string
	var all sum
	seen := map[string]bool{}
	for i, op := range many.StepOps() {
		in := infosN[i]
		kind := in.Kind
		if kind == "reduce" {
			kind = "gemm"
		}
		k := kinds[kind]
		if k == nil {
			k = &sum{}
			kinds[kind] = k
			order = append(order, kind)
		}
		var total, slowest int64
		busy := 0
		for _, t := range tp[i*threads : (i+1)*threads] {
			total += t
			slowest = max(slowest, t)
			if t > 0 {
				busy++
			}
		}
		var base int64 // the one-thread time, counted with the first of its steps
		if kk := key(op, in.Kind); !seen[kk] {
			seen[kk] = true
			base = one1[kk]
		}
		for _, s := range []*sum{k, &all} {
			s.one += base
			s.parts += total
			s.slowest += slowest
			if in.Kind != "reduce" {
				s.n++
				if busy > 1 {
					s.split++
				}
			}
		}
		if byStep {
			work := "-"
			if base > 0 {
				work = fmt.Sprintf("%.2f", float64(total)/float64(base))
			}
			fmt.Fprintf(w, "%4d %-8s %10.1f %10.1f %8s  %s\n", i, in.Kind, us(base), us(total), work, in.Desc)
		}
	}
	fmt.Fprintf(w, "%-8s %5s %5s %10s %10s %10s %8s %8s %8s\n", "kind", "steps", "split", "1thr_us", "parts_us", "slowest_us", "work", "imbal", "bound")
	row := func(kind string, s *sum) {
		fmt.Fprintf(w, "%-8s %5d %5d %10.1f %10.1f %10.1f %8.2f %8.2f %8.2f\n", kind, s.n, s.split, us(s.one), us(s.parts), us(s.slowest),
			float64(s.parts)/float64(max(s.one, 1)), float64(s.slowest)*float64(threads)/float64(max(s.parts, 1)),
			float64(s.one)/float64(max(s.slowest, 1)))
	}
	for _, kind := range order {
		row(kind, kinds[kind])
	}
	row("total", &all)
	how := "parts at once"
	if sequential {
		how = "parts one after the other"
	}
	fmt.Fprintf(w, "%s, %d threads (%s), thread CPU time per run over %d runs (%s v%d): work = parts' sum / one thread, imbal = slowest parts / (parts' sum / threads), bound = one thread / slowest parts\n",
		name, threads, how, iters, kernels.Path(), kernels.Version)
	return nil
}

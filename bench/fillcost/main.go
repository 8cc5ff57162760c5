// Command fillcost measures what filling a latency table costs a search:
// it opens the table at -lut (created when missing) as a search does
// (pipeline.OpenTableLatency, small28's calibration networks), predicts
// the first calibration network (the table's overhead entries), then -n
// networks drawn from small28 with -seed, measuring the blocks the table
// lacks, and prints the wall and CPU time of those predictions and the
// entries they added.
//
//	go run ./bench/fillcost -lut /tmp/fill.db -n 25 -seed 7
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"syscall"
	"time"

	"nas/latency"
	"nas/pipeline"
	"nas/space"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	lut := flag.String("lut", "", "latency table (created when missing)")
	n := flag.Int("n", 25, "networks to predict")
	seed := flag.Uint64("seed", 7, "seed of the networks drawn")
	flag.Parse()
	if err := run(*lut, *n, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "fillcost:", err)
		os.Exit(1)
	}
}

func run(lut string, n int, seed uint64) error {
	if lut == "" {
		return fmt.Errorf("-lut FILE is required")
	}
	sp, err := space.LoadSpace("small28")
	if err != nil {
		return err
	}
	calib, err := pipeline.SpaceCalibration(sp, pipeline.DefaultCalibrate)
	if err != nil {
		return err
	}
	tl, err := pipeline.OpenTableLatency(lut, latency.PredictorOptions{Calibration: calib})
	if err != nil {
		return err
	}
	defer tl.Close()
	ctx := context.Background()
	if _, err := tl.PredictMs(ctx, calib[0]); err != nil {
		return err
	}
	before, err := tl.Predictor.Table.Len()
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	c0, t0 := cpuTime(), time.Now()
	for range n {
		_, a, err := sp.Sample(rng)
		if err != nil {
			return err
		}
		if _, err := tl.PredictMs(ctx, a); err != nil {
			return err
		}
	}
	wall, cpu := time.Since(t0), cpuTime()-c0
	after, err := tl.Predictor.Table.Len()
	if err != nil {
		return err
	}
	fmt.Printf("%d networks: %d entries added, %.1f s wall, %.1f CPU-s (%.0f CPU-ms per entry)\n",
		n, after-before, wall.Seconds(), cpu.Seconds(), 1000*cpu.Seconds()/float64(max(after-before, 1)))
	return nil
}

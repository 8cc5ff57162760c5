// Command evalsizes measures what the sample sizes of supernet evaluation
// cost and what they keep of the ranking: it draws -n networks of the
// supernet's space with -seed, scores each with the reference settings
// (2,000 calibration images, all of the validation split) and with
// cheaper ones (calibration images, validation images), and prints, per
// setting, the CPU seconds per network and Kendall's tau-b between its
// accuracies and the reference's. The "seed 2" line recalibrates the
// default setting on other images: the rank noise of recalibration alone.
//
//	go run ./bench/evalsizes -supernet runs/super -n 20 -seed 1
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"syscall"
	"time"

	"nas/bench/internal/rankcorr"
	"nas/space"
	"nas/supernet"
	"nas/trainer"
)

// setting is one way of scoring: calibration images, validation images
// (0: all of the split) and the calibration seed.
type setting struct {
	calib, val int
	seed       uint64
}

func (s setting) String() string {
	v := "all"
	if s.val > 0 {
		v = fmt.Sprint(s.val)
	}
	return fmt.Sprintf("calibration %4d  validation %4s  seed %d", s.calib, v, s.seed)
}

func main() {
	dir := flag.String("supernet", "", "supernet folder (nas supernet train --out)")
	dataDir := flag.String("data-dir", "", "folder of the supernet's dataset (default: its install folder)")
	n := flag.Int("n", 20, "networks to score")
	seed := flag.Uint64("seed", 1, "seed of the networks drawn")
	flag.Parse()
	if err := run(*dir, *dataDir, *n, *seed, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "evalsizes:", err)
		os.Exit(1)
	}
}

func run(dir, dataDir string, n int, seed uint64, w io.Writer) error {
	if dir == "" {
		return fmt.Errorf("-supernet DIR is required")
	}
	if n < 3 {
		return fmt.Errorf("-n %d: want at least 3 networks", n)
	}
	sn, err := supernet.Open(dir)
	if err != nil {
		return err
	}
	data := sn.Manifest.Data.Name
	sets, err := trainer.OpenDataset(data, dataDir)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 0xe5a1))
	seen := map[string]bool{}
	var archs []*space.Arch
	for len(archs) < n {
		_, a, err := sn.Space.Sample(rng)
		if err != nil {
			return err
		}
		if !seen[a.String()] {
			seen[a.String()] = true
			archs = append(archs, a)
		}
	}
	ref := setting{calib: 2000, val: 0, seed: 1}
	settings := []setting{ref, {500, supernet.DefaultValidationImages, 1}, {500, supernet.DefaultValidationImages, 2},
		{250, supernet.DefaultValidationImages, 1}, {500, 500, 1}, {2000, supernet.DefaultValidationImages, 1}}
	accs := make([][]float64, len(settings))
	fmt.Fprintf(w, "%d networks of %s (seed %d), supernet %s\n", n, sn.Space.Name, seed, dir)
	fmt.Fprintf(w, "%-44s %14s %10s %10s\n", "setting", "CPU s/network", "mean acc", "tau-b")
	for i, s := range settings {
		o := supernet.EvalOptions{CalibrationImages: s.calib, EvalFraction: 1}
		ev, err := supernet.NewEvaluator(sn, data, sets, o)
		if err != nil {
			return err
		}
		if s.val > 0 {
			// The fraction of the split that gives s.val images.
			full, err := ev.Evaluate(context.Background(), archs[0], s.seed)
			if err != nil {
				return err
			}
			o.EvalFraction = float64(s.val) / float64(full.Images)
			if ev, err = supernet.NewEvaluator(sn, data, sets, o); err != nil {
				return err
			}
		}
		cpu0 := cpuTime()
		mean := 0.0
		for _, a := range archs {
			e, err := ev.Evaluate(context.Background(), a, s.seed)
			if err != nil {
				return err
			}
			accs[i] = append(accs[i], e.Acc)
			mean += e.Acc / float64(n)
		}
		per := (cpuTime() - cpu0).Seconds() / float64(n)
		fmt.Fprintf(w, "%-44s %14.2f %10.4f %10.3f\n", s, per, mean, rankcorr.KendallTauB(accs[0], accs[i]))
	}
	return nil
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

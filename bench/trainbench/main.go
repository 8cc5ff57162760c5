// Command trainbench measures training throughput of the trainer's step (forward,
// backward and an SGD step with momentum, batch norm in training mode, the
// batch split into one shard per thread as trainer.Stepper does) on
// random data, and prints one line of JSON with images per second. It is
// the nas side of bench/compare_train.sh; bench/train_torch.py is the
// PyTorch side, on the same architecture exported by nas export.
//
//	go run ./bench/trainbench -threads 2 -batch 64 -steps 30
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"time"

	"nas/blocks"
	"nas/blocks/kernels"
	"nas/blocks/nn"
	"nas/space"
	"nas/trainer"
)

// DefaultArch is a MobileNetV2-style network of 8,301,712 multiply-adds on
// 1x28x28 inputs (nas inspect shows the count).
const DefaultArch = "in1x28x28 cls10 | conv_o16_k3_arelu6 | ir_o16_m16_arelu6 | ir_o24_m96_s2_arelu6 | ir_o24_m96_arelu6 | " +
	"ir_o32_m144_s2_arelu6 | ir_o32_m192_arelu6 | ir_o32_m192_arelu6 | ir_o64_m192_s2_arelu6 | ir_o64_m384_arelu6 | " +
	"ir_o80_m384_arelu6 | conv_o256_k1_arelu6 | gap | linear_o10"

type result struct {
	Arch         string  `json:"arch"`
	Batch        int     `json:"batch"`
	Threads      int     `json:"threads"`
	Steps        int     `json:"steps"`
	ImagesPerSec float64 `json:"images_per_s"`      // over all timed steps
	MedianStepMs float64 `json:"median_step_ms"`    // median step time
	BestPerSec   float64 `json:"best_images_per_s"` // from the fastest step
	// ImagesPerCPUSec is images per second of the process's CPU time (all
	// threads): what a loaded machine perturbs least. On an idle machine
	// ImagesPerSec approaches it times the threads kept busy.
	ImagesPerCPUSec float64 `json:"images_per_cpu_s"`
	Kernels         string  `json:"kernels"`
}

func main() {
	arch := flag.String("arch", DefaultArch, "arch string, JSON file or zoo name")
	batch := flag.Int("batch", 64, "images per step")
	threads := flag.Int("threads", 2, "GOMAXPROCS: the threads training uses")
	steps := flag.Int("steps", 30, "timed steps (after 3 warm-up steps)")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the timed steps to this file")
	flag.Parse()
	if err := run(*arch, *batch, *threads, *steps, *profile); err != nil {
		fmt.Fprintln(os.Stderr, "trainbench:", err)
		os.Exit(1)
	}
}

func run(ref string, batch, threads, steps int, profile string) error {
	if batch < 1 || threads < 1 || steps < 1 {
		return fmt.Errorf("-batch %d, -threads %d, -steps %d: all must be at least 1", batch, threads, steps)
	}
	runtime.GOMAXPROCS(threads)
	a, err := space.Resolve(ref, space.ZooOptions{})
	if err != nil {
		return err
	}
	g, err := a.Graph()
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	n, err := blocks.NewNetwork(g, rng)
	if err != nil {
		return err
	}
	in := g.Shapes[g.Input]
	classes := g.Shapes[g.Output].C
	x := nn.New(batch, in.C, in.H, in.W)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	labels := make([]int, batch)
	for i := range labels {
		labels[i] = rng.IntN(classes)
	}
	// The trainer's own step (trainer.Stepper: the batch split into one
	// shard per thread) and optimizer, with torch.optim.SGD's settings in
	// bench/train_torch.py: momentum 0.9, weight decay 4e-5 off BN and
	// biases, no label smoothing.
	opt, err := trainer.NewSGD(n.Params(), trainer.SGDConfig{Momentum: 0.9, WeightDecay: 4e-5})
	if err != nil {
		return err
	}
	st, err := trainer.NewStepper(n, opt, trainer.ShardsFor(threads, batch), rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		return err
	}
	step := func() error {
		_, _, err := st.Step(x, labels, 0.01, 0, math.Inf(1))
		return err
	}
	for range 3 {
		if err := step(); err != nil {
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
	times := make([]float64, steps)
	cpu0 := processCPU()
	start := time.Now()
	for i := range times {
		t0 := time.Now()
		if err := step(); err != nil {
			return err
		}
		times[i] = time.Since(t0).Seconds()
	}
	total := time.Since(start).Seconds()
	cpu := processCPU() - cpu0
	slices.Sort(times)
	r := result{Arch: a.String(), Batch: batch, Threads: threads, Steps: steps,
		ImagesPerSec: float64(batch*steps) / total,
		MedianStepMs: times[steps/2] * 1e3, BestPerSec: float64(batch) / times[0],
		ImagesPerCPUSec: float64(batch*steps) / cpu,
		Kernels:         fmt.Sprintf("%s v%d", kernels.Path(), kernels.Version)}
	return json.NewEncoder(os.Stdout).Encode(r)
}

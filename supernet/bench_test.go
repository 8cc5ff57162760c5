package supernet

import (
	"context"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"nas/blocks"
	"nas/space"
	"nas/trainer"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fashionShaped is n seeded random images of Fashion-MNIST's shape and
// classes: evaluation time does not depend on the pixels or the weights.
func fashionShaped(b *testing.B, n int) *trainer.Dataset {
	rng := rand.New(rand.NewPCG(1, 1))
	pix := make([]uint8, n*784)
	for i := range pix {
		pix[i] = uint8(rng.IntN(256))
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = i % 10
	}
	d, err := trainer.NewDataset("fashion-shaped", blocks.Shape{C: 1, H: 28, W: 28}, []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}, pix, labels, trainer.FashionMNISTNorm())
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// BenchmarkEvaluateSmall28 scores networks drawn from small28 the way
// Evaluator does (bind the shared weights, recalibrate batch norm on
// 2,000 or 500 images, score the validation split of 60,000 images' 10%,
// a third, a sixth or a twelfth of it, in batches of 250 or 100: the
// last case is the Evaluator's default),
// and reports wall and CPU milliseconds per network:
//
//	go test ./supernet -run '^$' -bench EvaluateSmall28 -benchtime 20x
func BenchmarkEvaluateSmall28(b *testing.B) {
	sp, err := space.LoadSpace("small28")
	if err != nil {
		b.Fatal(err)
	}
	w, err := NewWeights(sp, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		b.Fatal(err)
	}
	rc := DefaultConfig().Recipe
	train := fashionShaped(b, 60000)
	for _, bc := range []struct {
		name     string
		calib    int
		fraction float64
		batch    int
	}{{"calib2000-val6000", 2000, 0, 250}, {"calib2000-val2000", 2000, 1.0 / 3, 250}, {"calib500-val2000", 500, 1.0 / 3, 250},
		{"calib500-val1000-batch250", 500, 1.0 / 6, 250}, {"calib500-val1000", 500, 1.0 / 6, DefaultEvalBatch}, {"calib500-val500", 500, 1.0 / 12, DefaultEvalBatch}} {
		b.Run(bc.name, func(b *testing.B) {
			rc.EvalFraction = bc.fraction
			fit, val, err := rc.Split(train)
			if err != nil {
				b.Fatal(err)
			}
			ev := &Evaluator{w: w, fit: fit, val: val, calibImages: bc.calib, batch: bc.batch}
			rng := rand.New(rand.NewPCG(5, 5))
			cpu0 := cpuTime()
			for b.Loop() {
				_, a, err := sp.Sample(rng)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := ev.Evaluate(context.Background(), a, 1); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/1e6/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(val.Len()), "val-images")
		})
	}
}

// BenchmarkTrainStepSmall28 runs supernet training steps of small28 on
// batches of 64 Fashion-MNIST-shaped images split over two shards (the
// largest, the smallest and two random networks per step) and reports
// images per second of wall time, CPU milliseconds per step, and the
// megabytes the shards' storages hold after the last step's trim:
//
//	go test ./supernet -run '^$' -bench TrainStepSmall28 -benchtime 10x
func BenchmarkTrainStepSmall28(b *testing.B) {
	sp, err := space.LoadSpace("small28")
	if err != nil {
		b.Fatal(err)
	}
	w, err := NewWeights(sp, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Recipe.Threads = 2
	cfg.Recipe.Augment = trainer.DefaultAugmentation("fashion-mnist")
	r, err := newRun(cfg, w, &trainer.Sets{Train: fashionShaped(b, 4000)})
	if err != nil {
		b.Fatal(err)
	}
	cpu0 := cpuTime()
	images := 0
	for b.Loop() {
		if err := r.seek(r.st.Step/r.perEpoch, r.st.Step%r.perEpoch); err != nil {
			b.Fatal(err)
		}
		r.batches.Next()
		if _, _, err := r.step(r.batches.Images(), r.batches.Labels()); err != nil {
			b.Fatal(err)
		}
		r.opt.Step(0.01)
		r.st.Step++
		images += len(r.batches.Labels())
	}
	b.ReportMetric(float64(images)/b.Elapsed().Seconds(), "images/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/1e6/float64(b.N), "cpu-ms/op")
	var held int64
	for _, s := range r.storages {
		held += s.Bytes()
	}
	b.ReportMetric(float64(held)/1e6, "storage-MB")
}

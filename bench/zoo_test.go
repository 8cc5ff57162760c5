package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"nas/bench/internal/benchnet"
	"nas/blocks"
	"nas/blocks/nn"
	"nas/space"
)

// checkPlan compares the plan's output with Network.Forward within 1e-4 of
// the output's largest magnitude (BN folding changes the rounding).
func checkPlan(t *testing.T, n *blocks.Network, in blocks.Shape, batch int, rng *rand.Rand) {
	t.Helper()
	x := nn.New(batch, in.C, in.H, in.W)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	want := n.Forward(nil, x).Data
	scale := 1e-6
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	for _, threads := range []int{1, 2} {
		p, err := blocks.NewPlan(n, batch, threads)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Run(x.Data)
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if d := math.Abs(float64(got[i] - want[i])); !(d <= 1e-4*scale) {
				t.Fatalf("threads %d: output %d = %v, Network.Forward gives %v (scale %.3g)", threads, i, got[i], want[i], scale)
			}
		}
	}
}

// Every zoo network at 3x64x64, batch 1 and 2, threads 1 and 2; under
// -short the target networks at batch 1.
func TestZooPlansMatchForward(t *testing.T) {
	in := blocks.Shape{C: 3, H: 64, W: 64}
	for _, e := range space.Zoo() {
		if testing.Short() && !slices.Contains(benchnet.Targets(), e.Name) {
			continue
		}
		t.Run(e.Name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, 12))
			n, err := benchnet.ZooNetwork(e.Name, in, rng)
			if err != nil {
				t.Fatal(err)
			}
			for _, batch := range []int{1, 2} {
				if batch > 1 && testing.Short() {
					break
				}
				checkPlan(t, n, in, batch, rng)
			}
		})
	}
}

// Two networks at the full 224x224 size.
func TestZooPlansMatchForward224(t *testing.T) {
	if testing.Short() {
		t.Skip("full-size networks: a few seconds each")
	}
	in := blocks.Shape{C: 3, H: 224, W: 224}
	for _, name := range []string{"mobilenet_v2", "shufflenet_v2_x1_0"} {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(13, 14))
			n, err := benchnet.ZooNetwork(name, in, rng)
			if err != nil {
				t.Fatal(err)
			}
			checkPlan(t, n, in, 1, rng)
		})
	}
}

func TestZooPlansAllocateNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes Sgemm's sync.Pool drop buffers")
	}
	in := blocks.Shape{C: 3, H: 64, W: 64}
	for _, name := range benchnet.Targets() {
		n, err := benchnet.ZooNetwork(name, in, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			t.Fatal(err)
		}
		for _, threads := range []int{1, 2} {
			runs := 5
			if threads > 1 {
				if name != "mobilenet_v3_small" && name != "squeezenet1_1" {
					continue // the two quickest are enough for the threaded path
				}
				// AllocsPerRun truncates the mean: over 100 runs this
				// tolerates the rare allocation of Sgemm's sync.Pool when a
				// worker goroutine moves to another P (a pooled item in a
				// P's private slot cannot be taken from another P), and
				// nothing more.
				runs = 100
			}
			p, err := blocks.NewPlan(n, 1, threads)
			if err != nil {
				t.Fatal(err)
			}
			x := make([]float32, p.InputLen())
			// Warm up: Sgemm's packing buffers come from a sync.Pool and
			// grow to their largest size over the first runs.
			for range 5 {
				_, _ = p.Run(x)
			}
			a := testing.AllocsPerRun(runs, func() { _, _ = p.Run(x) })
			p.Close()
			if a != 0 {
				t.Errorf("%s threads %d: Run allocates %v times", name, threads, a)
			}
		}
	}
}

// BenchmarkPlan times batch-1 inference at 224x224 of the target networks
// on one thread and two.
func BenchmarkPlan(b *testing.B) {
	in := blocks.Shape{C: 3, H: 224, W: 224}
	for _, name := range benchnet.Targets() {
		n, err := benchnet.ZooNetwork(name, in, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			b.Fatal(err)
		}
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", name, threads), func(b *testing.B) {
				p, err := blocks.NewPlan(n, 1, threads)
				if err != nil {
					b.Fatal(err)
				}
				defer p.Close()
				x := make([]float32, p.InputLen())
				rng := rand.New(rand.NewPCG(3, 4))
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				for b.Loop() {
					if _, err := p.Run(x); err != nil {
						b.Fatal(err)
					}
				}
				ms := b.Elapsed().Seconds() * 1e3 / float64(b.N)
				b.ReportMetric(ms, "ms/op")
				b.ReportMetric(1e3/ms, "images/s")
			})
		}
	}
}

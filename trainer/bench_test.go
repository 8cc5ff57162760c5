package trainer

import (
	"math/rand/v2"
	"testing"

	"nas/blocks"
	"nas/space"
)

// BenchmarkTrainStep times one SGD step (forward, backward, update) of zoo
// networks at the small-input rule on a 1x28x28 batch of 64, in one shard
// per GOMAXPROCS (-cpu sets it), as training runs:
//
//	go test ./trainer -run '^$' -bench TrainStep -cpu 2
func BenchmarkTrainStep(b *testing.B) {
	cases := []struct {
		name  string
		width float64
	}{
		{"mobilenet_v2", 0.5},
		{"shufflenet_v2_x0_5", 0},
		{"ghostnet", 0.5},
		{"squeezenet1_1", 0},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			a, err := space.ZooArch(c.name, space.ZooOptions{Input: blocks.Shape{C: 1, H: 28, W: 28}, Classes: 10, Width: c.width})
			if err != nil {
				b.Fatal(err)
			}
			g, err := a.Graph()
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			net, err := blocks.NewNetwork(g, rng)
			if err != nil {
				b.Fatal(err)
			}
			opt, err := NewSGD(net.Params(), SGDConfig{Momentum: 0.9, Nesterov: true, WeightDecay: 4e-5})
			if err != nil {
				b.Fatal(err)
			}
			const batch = 64
			x, labels := randomBatch(rng, batch, 10, 1, 28, 28)
			st, err := NewStepper(net, opt, ShardsFor(0, batch), rng)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, _, err := st.Step(x, labels, 0.01, 0.1, 1e9); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

package trainer

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
	"nas/blocks/nn"
)

// TestEvaluate compares Evaluate with a direct computation over the whole
// set in one batch, for several batch sizes (which must not change it).
func TestEvaluate(t *testing.T) {
	d := stripes(t, 37, 5)
	g, err := tinyArch().Graph()
	require.NoError(t, err)
	net, err := blocks.NewNetwork(g, rand.New(rand.NewPCG(3, 3)))
	require.NoError(t, err)

	it, err := NewBatches(d, BatchOptions{Size: d.Len()}, nil)
	require.NoError(t, err)
	require.True(t, it.Next())
	logits := net.Forward(nil, it.Images())
	var wantLoss float64
	correct := 0
	for i, y := range it.Labels() {
		row := logits.Data[i*3 : i*3+3]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, float64(v))
		}
		var sum float64
		for _, v := range row {
			sum += math.Exp(float64(v) - mx)
		}
		wantLoss += mx + math.Log(sum) - float64(row[y])
		if nn.Predictions(logits)[i] == y {
			correct++
		}
	}
	wantLoss /= float64(d.Len())
	for _, batch := range []int{1, 5, 37, 100} {
		m, err := Evaluate(context.Background(), net, d, batch)
		require.NoError(t, err)
		require.Equal(t, 37, m.N)
		require.InDelta(t, float64(correct)/37, m.Acc, 1e-12, "batch %d", batch)
		require.InDelta(t, wantLoss, m.Loss, 1e-5, "batch %d", batch)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Evaluate(ctx, net, d, 5)
	require.ErrorIs(t, err, context.Canceled)

	other := synthDataset(t, 4, 3, func(i int) int { return i % 3 })
	_, err = Evaluate(context.Background(), net, other, 5)
	require.ErrorContains(t, err, "network takes 1x8x8")
}

package trainer

import (
	"context"
	"fmt"
	"runtime"

	"nas/blocks"
	"nas/blocks/nn"
)

// Metrics is a network's accuracy and mean cross-entropy loss (without
// label smoothing) over N images.
type Metrics struct {
	Acc  float64 `json:"acc"`
	Loss float64 `json:"loss"`
	N    int     `json:"n"`
}

// Evaluate runs net in eval mode (batch norm on running statistics, no
// dropout) over every image of d, in order and without augmentation, in
// batches of batchSize (which changes memory use, not the result). A
// cancelled ctx stops it between batches with ctx.Err().
//
// It runs the network's inference plan (blocks.Plan: batch norm folded
// into the convolutions, activations in their epilogues, each image on one
// of GOMAXPROCS threads), made for this call from net's current weights;
// the figures are those of net.Forward(nil, ...) up to float32 rounding.
func Evaluate(ctx context.Context, net *blocks.Network, d *Dataset, batchSize int) (Metrics, error) {
	if d == nil {
		return Metrics{}, fmt.Errorf("evaluate: no dataset")
	}
	shape := net.Graph.Shapes[net.Graph.Input]
	if d.Shape != shape {
		return Metrics{}, fmt.Errorf("dataset %s has %v images but the network takes %v", d.Name, d.Shape, shape)
	}
	k := net.Graph.Shapes[net.Graph.Output].C
	if k != d.Classes() {
		return Metrics{}, fmt.Errorf("dataset %s has %d classes but the network has %d outputs", d.Name, d.Classes(), k)
	}
	it, err := NewBatches(d, BatchOptions{Size: batchSize}, nil)
	if err != nil {
		return Metrics{}, err
	}
	batch := min(batchSize, d.Len())
	plan, err := blocks.NewPlan(net, batch, runtime.GOMAXPROCS(0))
	if err != nil {
		return Metrics{}, fmt.Errorf("evaluate: %w", err)
	}
	defer plan.Close()
	if plan.OutputLen() != batch*k {
		return Metrics{}, fmt.Errorf("evaluate: the network's output has %d values per image, want %d classes", plan.OutputLen()/batch, k)
	}
	var padded []float32 // the last, partial batch, padded with zeros
	var lossSum float64
	var correct, n int
	for it.Next() {
		if err := ctx.Err(); err != nil {
			return Metrics{}, err
		}
		x, y := it.Images(), it.Labels()
		in := x.Data
		if len(y) < batch {
			if padded == nil {
				padded = make([]float32, plan.InputLen())
			}
			clear(padded[copy(padded, in):])
			in = padded
		}
		out, err := plan.Run(in)
		if err != nil {
			return Metrics{}, fmt.Errorf("evaluate on %s: %w", d.Name, err)
		}
		logits := nn.FromData(out[:len(y)*k], len(y), k)
		loss, err := nn.SoftmaxCrossEntropy(nil, logits, y, 0)
		if err != nil {
			return Metrics{}, fmt.Errorf("evaluate on %s: %w", d.Name, err)
		}
		lossSum += float64(loss.Data[0]) * float64(len(y))
		correct += nn.CountCorrect(logits, y)
		n += len(y)
	}
	return Metrics{Acc: float64(correct) / float64(n), Loss: lossSum / float64(n), N: n}, nil
}

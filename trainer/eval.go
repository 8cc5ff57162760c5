package trainer

import (
	"context"
	"fmt"

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
func Evaluate(ctx context.Context, net *blocks.Network, d *Dataset, batchSize int) (Metrics, error) {
	if d == nil {
		return Metrics{}, fmt.Errorf("evaluate: no dataset")
	}
	shape := net.Graph.Shapes[net.Graph.Input]
	if d.Shape != shape {
		return Metrics{}, fmt.Errorf("dataset %s has %v images but the network takes %v", d.Name, d.Shape, shape)
	}
	if k := net.Graph.Shapes[net.Graph.Output].C; k != d.Classes() {
		return Metrics{}, fmt.Errorf("dataset %s has %d classes but the network has %d outputs", d.Name, d.Classes(), k)
	}
	it, err := NewBatches(d, BatchOptions{Size: batchSize}, nil)
	if err != nil {
		return Metrics{}, err
	}
	var lossSum float64
	var correct, n int
	for it.Next() {
		if err := ctx.Err(); err != nil {
			return Metrics{}, err
		}
		x, y := it.Images(), it.Labels()
		logits := net.Forward(nil, x)
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

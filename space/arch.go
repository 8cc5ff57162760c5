package space

import (
	"fmt"

	"nas/blocks"
)

// Arch is one network: the input shape of a sample, the number of classes,
// and the ordered list of layers and blocks, each with explicit channel
// counts. Layers run in sequence; residual connections, branches and
// concatenations live inside blocks.
type Arch struct {
	Name    string        // optional label ("mobilenet_v2", "trial-17")
	Input   blocks.Shape  // C x H x W of one sample
	Classes int           // outputs of the last layer
	Layers  []blocks.Spec // in order
	// BNEps is the eps of every batch normalization; 0 means PyTorch's
	// 1e-5. MobileNetV3 and EfficientNet use 1e-3 (torchvision), which
	// matters for matching their outputs, not their cost.
	BNEps float64
}

// LayerError is an Arch whose layer i does not fit its input.
type LayerError struct {
	Index int
	Type  string
	In    blocks.Shape
	Err   error
}

func (e *LayerError) Error() string {
	return fmt.Sprintf("layer %d (%s, input %v): %v", e.Index, e.Type, e.In, e.Err)
}

func (e *LayerError) Unwrap() error { return e.Err }

// Shapes checks every layer against its input and returns the input shape
// of each layer followed by the network's output shape (len(Layers)+1
// entries). The output must be Classes x 1 x 1.
func (a *Arch) Shapes() ([]blocks.Shape, error) {
	if a.Input.C < 1 || a.Input.H < 1 || a.Input.W < 1 {
		return nil, fmt.Errorf("input shape %v: every dimension must be at least 1", a.Input)
	}
	if a.BNEps < 0 || a.BNEps >= 1 || a.BNEps != a.BNEps {
		return nil, fmt.Errorf("bn_eps %v must be in [0, 1) (0 means 1e-5)", a.BNEps)
	}
	if len(a.Layers) == 0 {
		return nil, fmt.Errorf("arch has no layers")
	}
	shapes := make([]blocks.Shape, 0, len(a.Layers)+1)
	in := a.Input
	shapes = append(shapes, in)
	for i, l := range a.Layers {
		out, err := l.OutShape(in)
		if err != nil {
			return nil, &LayerError{Index: i, Type: l.Type(), In: in, Err: err}
		}
		in = out
		shapes = append(shapes, in)
	}
	if in != (blocks.Shape{C: a.Classes, H: 1, W: 1}) {
		return nil, fmt.Errorf("network output is %v, want %dx1x1 for %d classes (end with global pooling and a linear or 1x1 conv layer of %d outputs)", in, a.Classes, a.Classes, a.Classes)
	}
	return shapes, nil
}

// Cost sums params and MACs over the layers.
func (a *Arch) Cost() (blocks.Cost, error) {
	shapes, err := a.Shapes()
	if err != nil {
		return blocks.Cost{}, err
	}
	var c blocks.Cost
	for i, l := range a.Layers {
		c = c.Add(l.Cost(shapes[i]))
	}
	return c, nil
}

// Graph lowers the network to primitive ops (see blocks.Graph).
func (a *Arch) Graph() (*blocks.Graph, error) {
	if _, err := a.Shapes(); err != nil {
		return nil, err
	}
	return blocks.LowerWithEps(a.Input, a.Layers, a.BNEps)
}

package nn

// Param is a named learnable tensor. Names are dotted paths
// ("layers.3.expand.bn.weight") that match the PyTorch module nas exports,
// so checkpoints map one to one.
type Param struct {
	Name string
	*Tensor
	// NoDecay excludes the parameter from weight decay (BN scale and shift,
	// biases), as is usual for these networks.
	NoDecay bool
}

// NewParam returns a zero parameter that requires a gradient.
func NewParam(name string, noDecay bool, shape ...int) *Param {
	t := New(shape...)
	t.requiresGrad = true
	return &Param{Name: name, Tensor: t, NoDecay: noDecay}
}

// Buffer is named non-learnable state saved with the weights (BN running
// statistics).
type Buffer struct {
	Name string
	*Tensor
}

// Module is a layer or a composition of layers with parameters.
// Forward panics on an input of the wrong shape: a built network checks its
// input once, and modules trust their neighbours.
type Module interface {
	Forward(tp *Tape, x *Tensor) *Tensor
	Params() []*Param
	Buffers() []*Buffer
}

// ZeroGrads clears the gradients of params.
func ZeroGrads(params []*Param) {
	for _, p := range params {
		p.ZeroGrad()
	}
}

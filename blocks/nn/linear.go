package nn

import (
	"fmt"
	"math/rand/v2"

	"nas/blocks/kernels"
)

// LinearConfig describes a fully connected layer (PyTorch's nn.Linear):
// In input features, Out outputs, and an optional bias. The weight is
// [Out, In].
type LinearConfig struct {
	In, Out int
	Bias    bool
}

// Validate checks the settings.
func (c LinearConfig) Validate() error {
	if c.In < 1 || c.Out < 1 {
		return fmt.Errorf("features %d -> %d: both must be at least 1", c.In, c.Out)
	}
	return nil
}

// MACs is the number of multiply-accumulates per sample.
func (c LinearConfig) MACs() int64 { return int64(c.In) * int64(c.Out) }

// Dense computes y = x w^T + b for x [N, In] or [N, C, H, W] with
// C*H*W = In (flattened on the fly), w [Out, In] and b [Out] or nil, giving
// [N, Out]. The input gradient has the shape of x.
func Dense(tp *Tape, x, w, b *Tensor) *Tensor {
	if w.Dims() != 2 {
		panic(fmt.Sprintf("nn.Dense: weight %s, want Out x In", ShapeString(w.Shape)))
	}
	out, in := w.Shape[0], w.Shape[1]
	if x.Dims() < 2 || x.Len() != x.Shape[0]*in {
		panic(fmt.Sprintf("nn.Dense: input %s, want N x %d (or N x C x H x W with C*H*W = %d)", ShapeString(x.Shape), in, in))
	}
	if b != nil && (b.Dims() != 1 || b.Shape[0] != out) {
		panic(fmt.Sprintf("nn.Dense: bias %s, want %d", ShapeString(b.Shape), out))
	}
	n := x.Shape[0]
	y := tp.alloc(n, out)
	kernels.Sgemm(false, true, n, out, in, 1, x.Data, in, w.Data, in, 0, y.Data, out)
	if b != nil {
		for s := 0; s < n; s++ {
			ys := y.Data[s*out : (s+1)*out]
			for j, bv := range b.Data {
				ys[j] += bv
			}
		}
	}
	tp.record(y, func() {
		gy := y.Grad
		if gy == nil {
			return
		}
		if x.requiresGrad {
			kernels.Sgemm(false, false, n, in, out, 1, gy, out, w.Data, in, 1, x.grad(), in)
		}
		if w.requiresGrad {
			kernels.Sgemm(true, false, out, in, n, 1, gy, out, x.Data, in, 1, w.grad(), in)
		}
		if b != nil && b.requiresGrad {
			gb := b.grad()
			for s := 0; s < n; s++ {
				for j, g := range gy[s*out : (s+1)*out] {
					gb[j] += g
				}
			}
		}
	}, x, w, b)
	return y
}

// Linear is a fully connected layer with its weight (and bias) as
// parameters, named Name+".weight" and Name+".bias" as in a PyTorch state
// dict.
type Linear struct {
	Name   string
	Config LinearConfig
	Weight *Param
	Bias   *Param // nil unless Config.Bias
}

// NewLinear checks cfg and returns the layer initialised as torchvision's
// classifiers are: weight normal(0, 0.01) from rng, bias zero. Errors name
// the layer and the numbers.
func NewLinear(name string, cfg LinearConfig, rng *rand.Rand) (*Linear, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("nn.Linear %q: %w", name, err)
	}
	if rng == nil {
		return nil, fmt.Errorf("nn.Linear %q: nil random source: pass a seeded *rand.Rand to initialise the weight", name)
	}
	l := &Linear{Name: name, Config: cfg, Weight: NewParam(name+".weight", false, cfg.Out, cfg.In)}
	for i := range l.Weight.Data {
		l.Weight.Data[i] = float32(rng.NormFloat64() * 0.01)
	}
	if cfg.Bias {
		l.Bias = NewParam(name+".bias", true, cfg.Out)
	}
	return l, nil
}

// OutShape checks an input shape ([N, In], or [N, C, H, W] with
// C*H*W = In) and returns [N, Out].
func (l *Linear) OutShape(in []int) ([]int, error) {
	if len(in) < 2 {
		return nil, fmt.Errorf("nn.Linear %q: input %s, want N x %d", l.Name, ShapeString(in), l.Config.In)
	}
	if f := numel(in[1:]); f != l.Config.In {
		return nil, fmt.Errorf("nn.Linear %q: input %s has %d features per sample, want %d", l.Name, ShapeString(in), f, l.Config.In)
	}
	return []int{in[0], l.Config.Out}, nil
}

// Forward applies the layer to x.
func (l *Linear) Forward(tp *Tape, x *Tensor) *Tensor {
	var b *Tensor
	if l.Bias != nil {
		b = l.Bias.Tensor
	}
	return Dense(tp, x, l.Weight.Tensor, b)
}

// Params returns the weight and, if present, the bias.
func (l *Linear) Params() []*Param {
	if l.Bias != nil {
		return []*Param{l.Weight, l.Bias}
	}
	return []*Param{l.Weight}
}

// Buffers returns nil.
func (l *Linear) Buffers() []*Buffer { return nil }

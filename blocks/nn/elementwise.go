package nn

import (
	"fmt"

	"nas/blocks/kernels"
)

// Add returns a + b for tensors of the same shape (residual connections).
// It panics when the shapes differ.
func Add(tp *Tape, a, b *Tensor) *Tensor {
	if !SameShape(a.Shape, b.Shape) {
		panic(fmt.Sprintf("nn.Add: shapes %s and %s differ", ShapeString(a.Shape), ShapeString(b.Shape)))
	}
	out := tp.allocOutput(a.Shape...)
	threads := tp.threads()
	kernels.AddParallel(threads, out.Data, a.Data, b.Data)
	tp.record(out, func() {
		if out.Grad == nil {
			return
		}
		for _, t := range []*Tensor{a, b} {
			if !t.requiresGrad {
				continue
			}
			if g, fresh := t.gradToSet(); fresh {
				copy(g, out.Grad)
			} else {
				kernels.AddToParallel(threads, g, out.Grad)
			}
		}
	}, a, b)
	return out
}

// MulChannels returns x * s with x of shape N x C x H x W and s holding one
// factor per sample and channel (shape N x C x 1 x 1 or N x C), broadcast
// over H x W: the gate of squeeze-and-excitation. It panics when the shapes
// do not fit.
func MulChannels(tp *Tape, x, s *Tensor) *Tensor {
	if x.Dims() < 2 || s.Dims() < 2 || s.Shape[0] != x.Shape[0] || s.Shape[1] != x.Shape[1] || s.Len() != x.Shape[0]*x.Shape[1] {
		panic(fmt.Sprintf("nn.MulChannels: input %s and factors %s, want N x C x H x W and N x C x 1 x 1", ShapeString(x.Shape), ShapeString(s.Shape)))
	}
	rows := s.Len()
	hw := 0
	if rows > 0 {
		hw = x.Len() / rows
	}
	out := tp.alloc(x.Shape...)
	kernels.MulChannels(out.Data, x.Data, s.Data, rows, hw)
	tp.record(out, func() {
		if out.Grad == nil {
			return
		}
		var gx, gs []float32
		if x.requiresGrad {
			gx = x.grad()
		}
		if s.requiresGrad {
			gs = s.grad()
		}
		kernels.MulChannelsGrad(gx, gs, out.Grad, x.Data, s.Data, rows, hw)
	}, x, s)
	return out
}

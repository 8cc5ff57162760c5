package nn

import (
	"fmt"

	"nas/blocks/kernels"
)

// Pool2DConfig describes a max or average pooling window as PyTorch's
// MaxPool2d and AvgPool2d do: a KernelH x KernelW window, per-axis stride
// (zero means the kernel size, PyTorch's default), padding of at most half
// the kernel on each side, and Ceil (ceil_mode) to round the output size up
// so that a last partial window is kept when it starts inside the input or
// its left padding. Average pooling counts padding in the divisor
// (count_include_pad=True) but not the part of a ceil-mode window beyond it.
type Pool2DConfig struct {
	KernelH, KernelW int
	StrideH, StrideW int
	PadH, PadW       int
	Ceil             bool
}

func (c Pool2DConfig) withDefaults() Pool2DConfig {
	if c.StrideH == 0 {
		c.StrideH = c.KernelH
	}
	if c.StrideW == 0 {
		c.StrideW = c.KernelW
	}
	return c
}

// Validate checks the settings that do not depend on the input size.
func (c Pool2DConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.KernelH < 1 || c.KernelW < 1:
		return fmt.Errorf("kernel %dx%d: both sides must be at least 1", c.KernelH, c.KernelW)
	case c.StrideH < 1 || c.StrideW < 1:
		return fmt.Errorf("stride %dx%d: both must be at least 1 (0 means the kernel size)", c.StrideH, c.StrideW)
	case c.PadH < 0 || c.PadW < 0 || 2*c.PadH > c.KernelH || 2*c.PadW > c.KernelW:
		return fmt.Errorf("padding %dx%d must be between 0 and half the kernel %dx%d", c.PadH, c.PadW, c.KernelH, c.KernelW)
	}
	return nil
}

// PoolOutSize is the output size of a pooling window along one axis, as
// PyTorch computes it: with ceil the size is rounded up, except that the
// last window must start inside the input or its left padding. The error
// says when the window does not fit the padded input.
func PoolOutSize(in, kernel, stride, pad int, ceil bool) (int, error) {
	out, err := Conv2DOutSize(in, kernel, stride, pad, 1)
	if err != nil || !ceil {
		return out, err
	}
	out = (in+2*pad-kernel+stride-1)/stride + 1
	if (out-1)*stride >= in+pad {
		out--
	}
	return out, nil
}

// OutSize is the output height and width for an h x w input.
func (c Pool2DConfig) OutSize(h, w int) (oh, ow int, err error) {
	c = c.withDefaults()
	if oh, err = PoolOutSize(h, c.KernelH, c.StrideH, c.PadH, c.Ceil); err != nil {
		return 0, 0, fmt.Errorf("height: %w", err)
	}
	if ow, err = PoolOutSize(w, c.KernelW, c.StrideW, c.PadW, c.Ceil); err != nil {
		return 0, 0, fmt.Errorf("width: %w", err)
	}
	return oh, ow, nil
}

// window is the kernel geometry for an h x w input; op names the caller in
// the panic for a shape that does not fit.
func (c Pool2DConfig) window(op string, x *Tensor) kernels.Window {
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		panic(op + ": " + err.Error())
	}
	if x.Dims() != 4 {
		panic(fmt.Sprintf("%s: input %s, want N x C x H x W", op, ShapeString(x.Shape)))
	}
	oh, ow, err := c.OutSize(x.Shape[2], x.Shape[3])
	if err != nil {
		panic(op + ": " + err.Error())
	}
	return kernels.Window{InH: x.Shape[2], InW: x.Shape[3], KH: c.KernelH, KW: c.KernelW, StrideH: c.StrideH, StrideW: c.StrideW,
		PadH: c.PadH, PadW: c.PadW, DilH: 1, DilW: 1, OutH: oh, OutW: ow}
}

// MaxPool takes the maximum of each window of x [N, C, H, W]. The gradient
// goes to the element that won (the first of equal maxima).
func MaxPool(tp *Tape, x *Tensor, cfg Pool2DConfig) *Tensor {
	win := cfg.window("nn.MaxPool", x)
	planes := x.Shape[0] * x.Shape[1]
	y := tp.alloc(x.Shape[0], x.Shape[1], win.OutH, win.OutW)
	var argmax []int32
	if tp.recording() && x.requiresGrad {
		argmax = make([]int32, y.Len())
	}
	kernels.MaxPool2D(win, planes, x.Data, y.Data, argmax)
	tp.record(y, func() {
		if y.Grad != nil {
			kernels.MaxPool2DBackward(win, planes, y.Grad, argmax, x.grad())
		}
	}, x)
	return y
}

// AvgPool averages each window of x [N, C, H, W] (see Pool2DConfig for the
// divisor).
func AvgPool(tp *Tape, x *Tensor, cfg Pool2DConfig) *Tensor {
	win := cfg.window("nn.AvgPool", x)
	planes := x.Shape[0] * x.Shape[1]
	y := tp.alloc(x.Shape[0], x.Shape[1], win.OutH, win.OutW)
	kernels.AvgPool2D(win, planes, x.Data, y.Data)
	tp.record(y, func() {
		if y.Grad != nil {
			kernels.AvgPool2DBackward(win, planes, y.Grad, x.grad())
		}
	}, x)
	return y
}

// GlobalAvgPool averages each channel of x [N, C, H, W] into [N, C, 1, 1].
func GlobalAvgPool(tp *Tape, x *Tensor) *Tensor {
	if x.Dims() != 4 {
		panic(fmt.Sprintf("nn.GlobalAvgPool: input %s, want N x C x H x W", ShapeString(x.Shape)))
	}
	planes, hw := x.Shape[0]*x.Shape[1], x.Shape[2]*x.Shape[3]
	y := tp.alloc(x.Shape[0], x.Shape[1], 1, 1)
	kernels.GlobalAvgPool(planes, hw, x.Data, y.Data)
	tp.record(y, func() {
		if y.Grad != nil {
			kernels.GlobalAvgPoolBackward(planes, hw, y.Grad, x.grad())
		}
	}, x)
	return y
}

// poolOutShape is the shared OutShape of the pooling layers.
func poolOutShape(kind, name string, cfg Pool2DConfig, in []int) ([]int, error) {
	if len(in) != 4 {
		return nil, fmt.Errorf("nn.%s %q: input %s, want N x C x H x W", kind, name, ShapeString(in))
	}
	oh, ow, err := cfg.OutSize(in[2], in[3])
	if err != nil {
		return nil, fmt.Errorf("nn.%s %q: %w", kind, name, err)
	}
	return []int{in[0], in[1], oh, ow}, nil
}

// MaxPool2D is a max pooling layer.
type MaxPool2D struct {
	Name   string
	Config Pool2DConfig
}

// NewMaxPool2D checks cfg; the error names the layer and the numbers.
func NewMaxPool2D(name string, cfg Pool2DConfig) (*MaxPool2D, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("nn.MaxPool2D %q: %w", name, err)
	}
	return &MaxPool2D{Name: name, Config: cfg.withDefaults()}, nil
}

// OutShape checks an input shape [N, C, H, W] and returns the output shape.
func (p *MaxPool2D) OutShape(in []int) ([]int, error) {
	return poolOutShape("MaxPool2D", p.Name, p.Config, in)
}

// Forward pools x.
func (p *MaxPool2D) Forward(tp *Tape, x *Tensor) *Tensor { return MaxPool(tp, x, p.Config) }

// Params returns nil.
func (p *MaxPool2D) Params() []*Param { return nil }

// Buffers returns nil.
func (p *MaxPool2D) Buffers() []*Buffer { return nil }

// AvgPool2D is an average pooling layer.
type AvgPool2D struct {
	Name   string
	Config Pool2DConfig
}

// NewAvgPool2D checks cfg; the error names the layer and the numbers.
func NewAvgPool2D(name string, cfg Pool2DConfig) (*AvgPool2D, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("nn.AvgPool2D %q: %w", name, err)
	}
	return &AvgPool2D{Name: name, Config: cfg.withDefaults()}, nil
}

// OutShape checks an input shape [N, C, H, W] and returns the output shape.
func (p *AvgPool2D) OutShape(in []int) ([]int, error) {
	return poolOutShape("AvgPool2D", p.Name, p.Config, in)
}

// Forward pools x.
func (p *AvgPool2D) Forward(tp *Tape, x *Tensor) *Tensor { return AvgPool(tp, x, p.Config) }

// Params returns nil.
func (p *AvgPool2D) Params() []*Param { return nil }

// Buffers returns nil.
func (p *AvgPool2D) Buffers() []*Buffer { return nil }

// GlobalAvgPool2D is global average pooling ([N, C, H, W] -> [N, C, 1, 1]).
type GlobalAvgPool2D struct{ Name string }

// OutShape checks an input shape [N, C, H, W] and returns [N, C, 1, 1].
func (p *GlobalAvgPool2D) OutShape(in []int) ([]int, error) {
	if len(in) != 4 || in[2] < 1 || in[3] < 1 {
		return nil, fmt.Errorf("nn.GlobalAvgPool2D %q: input %s, want N x C x H x W with H, W at least 1", p.Name, ShapeString(in))
	}
	return []int{in[0], in[1], 1, 1}, nil
}

// Forward pools x.
func (p *GlobalAvgPool2D) Forward(tp *Tape, x *Tensor) *Tensor { return GlobalAvgPool(tp, x) }

// Params returns nil.
func (p *GlobalAvgPool2D) Params() []*Param { return nil }

// Buffers returns nil.
func (p *GlobalAvgPool2D) Buffers() []*Buffer { return nil }

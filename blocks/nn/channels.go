package nn

import (
	"fmt"

	"nas/blocks/kernels"
)

// Channel operators act on dimension 1 of a tensor of two or more
// dimensions (NCHW or NC): each sample's channel ch is the contiguous run of
// "inner" = H*W values at (i*C + ch)*inner. They panic on shapes that do not
// fit, which are programmer errors (block constructors check channel
// counts).

// channelOpDims returns N, C and the size of one channel of x.
func channelOpDims(op string, x *Tensor) (n, c, inner int) {
	if x.Dims() < 2 {
		panic(fmt.Sprintf("nn.%s: input %s has no channel dimension", op, ShapeString(x.Shape)))
	}
	n, c = x.Shape[0], x.Shape[1]
	inner = 1
	for _, d := range x.Shape[2:] {
		inner *= d
	}
	return n, c, inner
}

// channelOpReshape returns shape with dimension 1 set to c.
func channelOpReshape(shape []int, c int) []int {
	s := append([]int(nil), shape...)
	s[1] = c
	return s
}

// ChannelShuffle permutes the channels of x as ShuffleNet does (Zhang et
// al., 2018): viewing the C channels as groups x (C/groups), it transposes
// to (C/groups) x groups, so output channel j*groups+g is input channel
// g*(C/groups)+j. It panics when groups does not divide C.
func ChannelShuffle(tp *Tape, x *Tensor, groups int) *Tensor {
	n, c, inner := channelOpDims("ChannelShuffle", x)
	if groups < 1 || c%groups != 0 {
		panic(fmt.Sprintf("nn.ChannelShuffle: %d groups do not divide %d channels", groups, c))
	}
	per := c / groups
	// src[o] is the input channel of output channel o.
	src := make([]int, c)
	for g := 0; g < groups; g++ {
		for j := 0; j < per; j++ {
			src[j*groups+g] = g*per + j
		}
	}
	out := tp.alloc(x.Shape...)
	for i := 0; i < n; i++ {
		for o, s := range src {
			copy(out.Data[(i*c+o)*inner:(i*c+o+1)*inner], x.Data[(i*c+s)*inner:(i*c+s+1)*inner])
		}
	}
	tp.record(out, func() {
		if out.Grad == nil {
			return
		}
		gx := x.grad()
		for i := 0; i < n; i++ {
			for o, s := range src {
				kernels.AddTo(gx[(i*c+s)*inner:(i*c+s+1)*inner], out.Grad[(i*c+o)*inner:(i*c+o+1)*inner])
			}
		}
	}, x)
	return out
}

// SliceChannels returns channels [start, end) of x (GhostNet keeps the first
// C channels of its concatenation). It panics unless 0 <= start < end <= C.
func SliceChannels(tp *Tape, x *Tensor, start, end int) *Tensor {
	n, c, inner := channelOpDims("SliceChannels", x)
	if start < 0 || end <= start || end > c {
		panic(fmt.Sprintf("nn.SliceChannels: channels [%d, %d) of %d", start, end, c))
	}
	w := end - start
	out := tp.alloc(channelOpReshape(x.Shape, w)...)
	for i := 0; i < n; i++ {
		copy(out.Data[i*w*inner:(i+1)*w*inner], x.Data[(i*c+start)*inner:(i*c+end)*inner])
	}
	tp.record(out, func() {
		if out.Grad == nil {
			return
		}
		gx := x.grad()
		for i := 0; i < n; i++ {
			kernels.AddTo(gx[(i*c+start)*inner:(i*c+end)*inner], out.Grad[i*w*inner:(i+1)*w*inner])
		}
	}, x)
	return out
}

// SplitChannels splits x along the channels into consecutive parts of the
// given sizes (ShuffleNet V2's channel split), which must sum to C. Each part
// has its own backward step.
func SplitChannels(tp *Tape, x *Tensor, sizes ...int) []*Tensor {
	_, c, _ := channelOpDims("SplitChannels", x)
	total := 0
	for _, s := range sizes {
		if s < 1 {
			panic(fmt.Sprintf("nn.SplitChannels: sizes %v of %d channels: each must be positive", sizes, c))
		}
		total += s
	}
	if total != c {
		panic(fmt.Sprintf("nn.SplitChannels: sizes %v sum to %d, input has %d channels", sizes, total, c))
	}
	parts := make([]*Tensor, len(sizes))
	start := 0
	for k, s := range sizes {
		parts[k] = SliceChannels(tp, x, start, start+s)
		start += s
	}
	return parts
}

// ConcatChannels concatenates xs along the channels. All must agree in
// every other dimension.
func ConcatChannels(tp *Tape, xs ...*Tensor) *Tensor {
	if len(xs) == 0 {
		panic("nn.ConcatChannels: no inputs")
	}
	// The backward step keeps the inputs: copy the slice, which the caller
	// may reuse.
	xs = append([]*Tensor(nil), xs...)
	n, _, inner := channelOpDims("ConcatChannels", xs[0])
	total := 0
	for _, x := range xs {
		_, c, _ := channelOpDims("ConcatChannels", x)
		if !SameShape(channelOpReshape(x.Shape, 0), channelOpReshape(xs[0].Shape, 0)) {
			panic(fmt.Sprintf("nn.ConcatChannels: inputs %s and %s differ outside the channels", ShapeString(xs[0].Shape), ShapeString(x.Shape)))
		}
		total += c
	}
	out := tp.alloc(channelOpReshape(xs[0].Shape, total)...)
	start := 0
	for _, x := range xs {
		c := x.Shape[1]
		for i := 0; i < n; i++ {
			copy(out.Data[(i*total+start)*inner:(i*total+start+c)*inner], x.Data[i*c*inner:(i+1)*c*inner])
		}
		start += c
	}
	tp.record(out, func() {
		if out.Grad == nil {
			return
		}
		start := 0
		for _, x := range xs {
			c := x.Shape[1]
			if x.requiresGrad {
				gx := x.grad()
				for i := 0; i < n; i++ {
					kernels.AddTo(gx[i*c*inner:(i+1)*c*inner], out.Grad[(i*total+start)*inner:(i*total+start+c)*inner])
				}
			}
			start += c
		}
	}, xs...)
	return out
}

// ChannelShuffleLayer is ChannelShuffle as a Module.
type ChannelShuffleLayer struct {
	Name     string
	Channels int
	Groups   int
}

// NewChannelShuffleLayer returns a channel shuffle of channels channels in
// groups groups, or an error naming the layer when groups does not divide
// channels.
func NewChannelShuffleLayer(name string, channels, groups int) (*ChannelShuffleLayer, error) {
	if channels < 1 || groups < 1 || channels%groups != 0 {
		return nil, fmt.Errorf("channel shuffle %q: %d groups must be positive and divide %d channels", name, groups, channels)
	}
	return &ChannelShuffleLayer{Name: name, Channels: channels, Groups: groups}, nil
}

// Forward shuffles the channels of x, which must have l.Channels channels.
func (l *ChannelShuffleLayer) Forward(tp *Tape, x *Tensor) *Tensor {
	if x.Dims() < 2 || x.Shape[1] != l.Channels {
		panic(fmt.Sprintf("nn.ChannelShuffleLayer %q: input %s, want N x %d x H x W", l.Name, ShapeString(x.Shape), l.Channels))
	}
	return ChannelShuffle(tp, x, l.Groups)
}

// Params returns nil: a shuffle has no parameters.
func (l *ChannelShuffleLayer) Params() []*Param { return nil }

// Buffers returns nil.
func (l *ChannelShuffleLayer) Buffers() []*Buffer { return nil }

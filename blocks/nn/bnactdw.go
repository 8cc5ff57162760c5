package nn

import (
	"fmt"

	"nas/blocks/kernels"
)

// ForwardActDepthwise is Convolve(tp, bn.ForwardAct(tp, x, act), w, nil,
// cfg) for a depthwise convolution cfg without bias (an inverted
// residual's middle: batch norm, ReLU or ReLU6, depthwise conv), with the
// same results. The forward pass is those operators'; in training the
// backward step is one operator that works image by image: the
// convolution's input gradient goes to a buffer that stays in cache, and
// the activation's mask, batch normalization's gradient sums and the
// convolution's weight gradient are taken from it, and from the image's
// activation and input, while they are in cache. The unfused operators
// write that gradient out and read it back twice, and read the
// activation and the input again, for the expanded tensor, the largest
// of such a block.
//
// The results are bit for bit the unfused operators'. (Without AVX-512 or
// AVX2, where kernels.ClampGradSetPartials does not run, but for batch
// normalization's gradient sums on planes of at most 512 values, which
// add each image's sums in float64 where the unfused kernel first adds a
// few images' rows in float32: see kernels.BatchNormGradPartials.)
// On a shard's tape waiting shards take images as in Convolve; on another
// training tape the backward step runs on one goroutine (the trainer's
// tapes are shards). blocks.Network uses it wherever a batch norm feeds
// only such an activation that feeds only such a convolution.
func (bn *BatchNorm) ForwardActDepthwise(tp *Tape, x *Tensor, act Act, w *Tensor, cfg Conv2DConfig) *Tensor {
	cfg = cfg.withDefaults()
	if !tp.training() || (act != ActReLU && act != ActReLU6) || cfg.Groups != cfg.In || cfg.Out != cfg.In || x.Dims() != 4 {
		return freeAfter(tp, bn.ForwardAct(tp, x, act), func(a *Tensor) *Tensor { return Convolve(tp, a, w, nil, cfg) })
	}
	if x.Shape[1] != bn.Channels || bn.Channels != cfg.In {
		panic(fmt.Sprintf("nn.BatchNorm %q: input %s, want N x %d x H x W", bn.Name, ShapeString(x.Shape), bn.Channels))
	}
	if err := cfg.Validate(); err != nil {
		panic("nn.ForwardActDepthwise: " + err.Error())
	}
	if !SameShape(w.Shape, cfg.WeightShape()) {
		panic(fmt.Sprintf("nn.ForwardActDepthwise: weight %s, want %s", ShapeString(w.Shape), ShapeString(cfg.WeightShape())))
	}
	n, c, h, wd := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	hw := h * wd
	oh, ow, err := cfg.OutSize(h, wd)
	if err != nil {
		panic("nn.ForwardActDepthwise: " + err.Error())
	}
	a, st := bn.forwardActTrain(tp, x, act) // the activation, kept for the backward step
	gradSet := clampGradSet(act)
	d := cfg.dims(h, wd, oh, ow)
	dw := kernels.NewDepthwiseConv(d.Window, d.In, 1)
	inLen, outLen := c*hw, cfg.Out*oh*ow
	y := tp.allocOutput(n, cfg.Out, oh, ow)
	var epi kernels.Epilogue
	forEachImage(tp, n, func() []float32 { return tp.scratch(dw.ScratchLen(), true) }, func(i int, scratch []float32) {
		dw.Run(a.Data[i*inLen:(i+1)*inLen], w.Data, y.Data[i*outLen:(i+1)*outLen], 0, cfg.Out, &epi, scratch)
	})
	if !tp.recording() {
		tp.Free(a) // no backward step keeps it
		return y
	}

	tp.record(y, func() {
		if y.Grad == nil {
			return
		}
		// g: the batch norm's output gradient, then (in place) its input
		// gradient; x's own gradient storage when that is new.
		g, inPlace := actGradStorage(tp, x)
		data := newConvDataGrad(tp, d, w.Data, true)
		needW := w.requiresGrad
		var gw []float32
		if needW {
			gw = w.grad()
		}
		// Per image, the batch norm's gradient sums (s1, then s2).
		parts := tp.scratch64(n * 2 * c)
		both := needW && data.dw.CanBoth()
		type bwdBuffers struct {
			conv *convDataBuffers
			ga   []float32 // the image's activation gradient
			both []float32 // DepthwiseBackward.Both's scratch
		}
		newBwd := func() bwdBuffers {
			b := bwdBuffers{conv: data.buffers(), ga: tp.scratch(inLen, false)}
			if both {
				b.both = tp.scratch(data.dw.BothScratchLen(), true)
			}
			return b
		}
		// maskAndSums takes the activation's mask and batch
		// normalization's gradient sums of image i from b.ga.
		maskAndSums := func(i int, b bwdBuffers) {
			gi := g[i*inLen : (i+1)*inLen]
			ai, xi := a.Data[i*inLen:(i+1)*inLen], x.Data[i*inLen:(i+1)*inLen]
			p := parts[i*2*c : (i+1)*2*c]
			if kernels.ClampGradSetPartials(gi, b.ga, ai, xi, c, hw, clampHi(act), st.mean, p) {
				return
			}
			gradSet(gi, b.ga, ai)
			kernels.BatchNormGradPartials(gi, xi, c, hw, st.mean, p[:c], p[c:])
		}
		// inputSide is everything of image i but the weight gradient.
		inputSide := func(i int, b bwdBuffers) {
			data.run(y.Grad[i*outLen:(i+1)*outLen], b.ga, true, b.conv)
			maskAndSums(i, b)
		}
		shareImages(tp, n, newBwd, func(i int, b bwdBuffers, mine bool) {
			gy, ai := y.Grad[i*outLen:(i+1)*outLen], a.Data[i*inLen:(i+1)*inLen]
			if mine && both {
				// The input and weight gradients channel by channel,
				// each channel's output gradient laid out once.
				data.dw.Both(gy, w.Data, data.flipped, ai, b.ga, gw, b.both)
				maskAndSums(i, b)
				return
			}
			if mine {
				inputSide(i, b)
			}
			if needW {
				data.dw.Filter(ai, gy, gw, b.conv.dwGrad)
			}
		}, inputSide)
		sumGy, sumGyXhat := sumParts(parts, n, c, st.invStd)
		bn.backwardWithSums(tp, g, inPlace, x, n, c, hw, st.m, st.mean, st.invStd, st.scale, true, sumGy, sumGyXhat)
	}, x, w, bn.Weight.Tensor, bn.Bias.Tensor)
	return y
}

package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"nas/blocks/kernels"
)

// Conv2DConfig describes a 2-D convolution (PyTorch's nn.Conv2d): In and Out
// channels, a KernelH x KernelW kernel, per-axis stride, zero padding (PadH
// rows above and below, PadW columns left and right) and dilation, and
// Groups (In and Out must be multiples of it; Groups == In is a depthwise
// convolution). The weight is [Out, In/Groups, KernelH, KernelW].
// Zero Stride, Dilation and Groups mean 1.
type Conv2DConfig struct {
	In, Out              int
	KernelH, KernelW     int
	StrideH, StrideW     int
	PadH, PadW           int
	DilationH, DilationW int
	Groups               int
	Bias                 bool
}

// SquareConv2D is the convolution every family in nas uses: a square kernel
// with (kernel-1)/2 zero padding on each side (the output is the input
// divided by the stride, rounded up), no bias (batch norm follows).
func SquareConv2D(in, out, kernel, stride, groups int) Conv2DConfig {
	return Conv2DConfig{In: in, Out: out, KernelH: kernel, KernelW: kernel, StrideH: stride, StrideW: stride,
		PadH: (kernel - 1) / 2, PadW: (kernel - 1) / 2, Groups: groups}
}

// withDefaults replaces the zero values that mean 1.
func (c Conv2DConfig) withDefaults() Conv2DConfig {
	for _, f := range []*int{&c.StrideH, &c.StrideW, &c.DilationH, &c.DilationW, &c.Groups} {
		if *f == 0 {
			*f = 1
		}
	}
	return c
}

// Validate checks the settings that do not depend on the input size. The
// error says which setting is wrong and why.
func (c Conv2DConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.In < 1 || c.Out < 1:
		return fmt.Errorf("channels %d -> %d: both must be at least 1", c.In, c.Out)
	case c.KernelH < 1 || c.KernelW < 1:
		return fmt.Errorf("kernel %dx%d: both sides must be at least 1", c.KernelH, c.KernelW)
	case c.StrideH < 1 || c.StrideW < 1:
		return fmt.Errorf("stride %dx%d: both must be at least 1 (0 means 1)", c.StrideH, c.StrideW)
	case c.PadH < 0 || c.PadW < 0:
		return fmt.Errorf("padding %dx%d must not be negative", c.PadH, c.PadW)
	case c.DilationH < 1 || c.DilationW < 1:
		return fmt.Errorf("dilation %dx%d: both must be at least 1 (0 means 1)", c.DilationH, c.DilationW)
	case c.Groups < 1:
		return fmt.Errorf("groups %d must be at least 1 (0 means 1)", c.Groups)
	case c.In%c.Groups != 0 || c.Out%c.Groups != 0:
		return fmt.Errorf("groups %d must divide input channels %d and output channels %d", c.Groups, c.In, c.Out)
	}
	return nil
}

// Conv2DOutSize is the output size along one axis of a convolution (or
// pooling window without ceil mode) over in positions, or an error when
// the dilated kernel does not fit the padded input.
func Conv2DOutSize(in, kernel, stride, pad, dilation int) (int, error) {
	if stride < 1 || dilation < 1 || kernel < 1 || pad < 0 {
		return 0, fmt.Errorf("kernel %d, stride %d, padding %d, dilation %d: need kernel, stride and dilation at least 1 and padding at least 0", kernel, stride, pad, dilation)
	}
	eff := dilation*(kernel-1) + 1
	if in+2*pad < eff {
		return 0, fmt.Errorf("kernel %d (dilation %d, span %d) is larger than input %d padded by %d on each side", kernel, dilation, eff, in, pad)
	}
	return (in+2*pad-eff)/stride + 1, nil
}

// OutSize is the output height and width for an h x w input.
func (c Conv2DConfig) OutSize(h, w int) (oh, ow int, err error) {
	c = c.withDefaults()
	if oh, err = Conv2DOutSize(h, c.KernelH, c.StrideH, c.PadH, c.DilationH); err != nil {
		return 0, 0, fmt.Errorf("height: %w", err)
	}
	if ow, err = Conv2DOutSize(w, c.KernelW, c.StrideW, c.PadW, c.DilationW); err != nil {
		return 0, 0, fmt.Errorf("width: %w", err)
	}
	return oh, ow, nil
}

// WeightShape is [Out, In/Groups, KernelH, KernelW].
func (c Conv2DConfig) WeightShape() []int {
	c = c.withDefaults()
	return []int{c.Out, c.In / c.Groups, c.KernelH, c.KernelW}
}

// MACs is the number of multiply-accumulates for one h x w image (the
// torchvision count: bias additions excluded). The config must be valid
// for that size.
func (c Conv2DConfig) MACs(h, w int) int64 {
	c = c.withDefaults()
	oh, ow, err := c.OutSize(h, w)
	if err != nil {
		return 0
	}
	return int64(c.Out) * int64(c.In/c.Groups) * int64(c.KernelH*c.KernelW) * int64(oh*ow)
}

// dims is the kernel geometry for one h x w image (c has its defaults).
func (c Conv2DConfig) dims(h, w, oh, ow int) kernels.ConvDims {
	return kernels.ConvDims{
		Window: kernels.Window{InH: h, InW: w, KH: c.KernelH, KW: c.KernelW, StrideH: c.StrideH, StrideW: c.StrideW,
			PadH: c.PadH, PadW: c.PadW, DilH: c.DilationH, DilW: c.DilationW, OutH: oh, OutW: ow},
		In: c.In, Out: c.Out, Groups: c.Groups,
	}
}

// Convolve applies the convolution cfg with weight w and optional bias b
// (nil for none; cfg.Bias only tells NewConv2D whether to make one) to
// x [N, In, H, W], giving [N, Out, OH, OW]. Samples are spread over
// up to tp.Threads goroutines (GOMAXPROCS when 0) in contiguous ranges;
// the weight gradient is summed per goroutine and then in goroutine
// order, so results are deterministic for a given thread count. On a
// shard's tape the samples run in order on its goroutine, and shards
// waiting in an exchange take images (and their input gradients) from the
// back (see ShardGroup); the weight gradient stays on the shard, summed
// in image order.
//
// The weights are prepared once per call for all samples: packed for the
// GEMM (and transposed for the input gradient), or, for a depthwise
// convolution, run through kernels.DepthwiseConv (SIMD rows; stride-1
// input gradients are the same kernel on the flipped weights).
//
// It panics on shapes that disagree with cfg: layers check them when a
// network is built (see Conv2D.OutShape).
func Convolve(tp *Tape, x, w, b *Tensor, cfg Conv2DConfig) *Tensor {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		panic("nn.Convolve: " + err.Error())
	}
	if x.Dims() != 4 || x.Shape[1] != cfg.In {
		panic(fmt.Sprintf("nn.Convolve: input %s, want N x %d x H x W", ShapeString(x.Shape), cfg.In))
	}
	if !SameShape(w.Shape, cfg.WeightShape()) {
		panic(fmt.Sprintf("nn.Convolve: weight %s, want %s", ShapeString(w.Shape), ShapeString(cfg.WeightShape())))
	}
	if b != nil && (b.Dims() != 1 || b.Shape[0] != cfg.Out) {
		panic(fmt.Sprintf("nn.Convolve: bias %s, want %d", ShapeString(b.Shape), cfg.Out))
	}
	n, h, wd := x.Shape[0], x.Shape[2], x.Shape[3]
	oh, ow, err := cfg.OutSize(h, wd)
	if err != nil {
		panic("nn.Convolve: " + err.Error())
	}
	d := cfg.dims(h, wd, oh, ow)
	inLen, outLen := cfg.In*h*wd, cfg.Out*oh*ow
	var bias []float32
	if b != nil {
		bias = b.Data
	}
	y := tp.allocOutput(n, cfg.Out, oh, ow)
	if d.Depthwise() {
		dw := kernels.NewDepthwiseConv(d.Window, d.In, d.Out/d.In)
		epi := kernels.Epilogue{Bias: bias}
		forEachImage(tp, n, func() []float32 { return tp.scratch(dw.ScratchLen(), true) }, func(s int, scratch []float32) {
			dw.Run(x.Data[s*inLen:(s+1)*inLen], w.Data, y.Data[s*outLen:(s+1)*outLen], 0, d.Out, &epi, scratch)
		})
	} else {
		packed := packConvWeights(d, w.Data, false)
		pos := oh * ow
		type buffers struct{ cols, ws []float32 }
		newBuffers := func() buffers {
			return buffers{tp.scratch(d.ScratchLen(), true), tp.scratch(packed[0].WorkspaceLen(pos), true)}
		}
		forEachImage(tp, n, newBuffers, func(s int, b buffers) {
			gemmConvForward(d, packed, x.Data[s*inLen:(s+1)*inLen], bias, y.Data[s*outLen:(s+1)*outLen], b.cols, b.ws)
		})
	}
	tp.record(y, func() { conv2dBackward(tp, d, n, x, w, b, y) }, x, w, b)
	return y
}

// forEachImage runs image(i, s) for the n images of an operator: on a
// shard's tape in order on its goroutine, with waiting shards taking
// images from the back (shareImages); otherwise in contiguous ranges on up
// to tp.Threads goroutines (conv2dSplit). Each goroutine gets its own
// scratch s from newScratch.
func forEachImage[S any](tp *Tape, n int, newScratch func() S, image func(i int, s S)) {
	if tp.sharded() {
		shareImages(tp, n, newScratch, func(i int, s S, mine bool) {
			if mine {
				image(i, s)
			}
		}, image)
		return
	}
	conv2dSplit(tp.threads(), n, func(_, lo, hi int) {
		s := newScratch()
		for i := lo; i < hi; i++ {
			image(i, s)
		}
	})
}

// packConvWeights packs the weight of each group of a dense or grouped
// convolution for kernels.SgemmPacked: [Out/Groups, K] as it lies, or its
// transpose (for the input gradient) when trans is set.
func packConvWeights(d kernels.ConvDims, w []float32, trans bool) []*kernels.PackedA {
	outG := d.Out / d.Groups
	k := d.In / d.Groups * d.KH * d.KW
	packed := make([]*kernels.PackedA, d.Groups)
	for g := range packed {
		if trans {
			packed[g] = kernels.PackA(true, k, outG, 1, w[g*outG*k:], k)
		} else {
			packed[g] = kernels.PackA(false, outG, k, 1, w[g*outG*k:], k)
		}
	}
	return packed
}

// gemmConvForward is one image of a dense or grouped convolution: im2col
// into cols (skipped when pointwise), then a GEMM per group on the packed
// weights, then the bias.
func gemmConvForward(d kernels.ConvDims, packed []*kernels.PackedA, x, bias, y, cols, ws []float32) {
	inG, outG := d.In/d.Groups, d.Out/d.Groups
	k := inG * d.KH * d.KW
	n := d.OutH * d.OutW
	inPlane := d.InH * d.InW
	for g := 0; g < d.Groups; g++ {
		xg := x[g*inG*inPlane : (g+1)*inG*inPlane]
		b := xg
		if !d.Pointwise() {
			b = cols[:k*n]
			kernels.Im2col(d.Window, inG, xg, b)
		}
		kernels.SgemmPacked(packed[g], false, n, b, n, 0, y[g*outG*n:], n, ws)
	}
	if bias != nil {
		for o, bv := range bias[:d.Out] {
			yo := y[o*n : (o+1)*n]
			for i := range yo {
				yo[i] += bv
			}
		}
	}
}

// conv2dBackward accumulates the gradients of x, w and b from y.Grad.
func conv2dBackward(tp *Tape, d kernels.ConvDims, n int, x, w, b, y *Tensor) {
	if y.Grad == nil {
		return
	}
	inLen, outLen := len(x.Data)/max(n, 1), len(y.Data)/max(n, 1)
	var gx []float32
	var setGx bool // gx is new: each image's gradient is written, not added
	if x.requiresGrad {
		gx, setGx = x.gradToSet()
	}
	needW := w.requiresGrad
	needB := b != nil && b.requiresGrad
	data := newConvDataGrad(tp, d, w.Data, gx != nil)
	// The weight and bias gradients of image s, added to gw and gb.
	paramGrads := func(s int, gw, gb []float32, buf *convDataBuffers) {
		if !needW && !needB {
			return
		}
		gy := y.Grad[s*outLen : (s+1)*outLen]
		xs := x.Data[s*inLen : (s+1)*inLen]
		if data.dw != nil {
			// The bias gradient, then the weight's prepared kernel.
			kernels.Conv2DBackwardFilter(d, xs, gy, nil, gb, nil)
			if needW {
				data.dw.Filter(xs, gy, gw, buf.dwGrad)
			}
			return
		}
		if buf.filter == nil {
			buf.filter = tp.scratch(d.ScratchLen(), true)
		}
		kernels.Conv2DBackwardFilter(d, xs, gy, gw, gb, buf.filter)
	}
	inputGrad := func(s int, buf *convDataBuffers) {
		if gx != nil {
			data.run(y.Grad[s*outLen:(s+1)*outLen], gx[s*inLen:(s+1)*inLen], setGx, buf)
		}
	}
	if tp.sharded() {
		// Waiting shards may take input gradients; the parameters'
		// stay here, summed in image order whoever took the image.
		var gw, gb []float32
		if needW {
			gw = w.grad()
		}
		if needB {
			gb = b.grad()
		}
		shareImages(tp, n, data.buffers, func(s int, buf *convDataBuffers, mine bool) {
			if mine {
				inputGrad(s, buf)
			}
			paramGrads(s, gw, gb, buf)
		}, inputGrad)
		return
	}
	threads := tp.threads()
	workers := conv2dWorkers(threads, n)
	gws := make([][]float32, workers)
	gbs := make([][]float32, workers)
	for i := range workers {
		switch {
		case workers == 1:
			if needW {
				gws[i] = w.grad()
			}
			if needB {
				gbs[i] = b.grad()
			}
		default:
			if needW {
				gws[i] = make([]float32, len(w.Data))
			}
			if needB {
				gbs[i] = make([]float32, len(b.Data))
			}
		}
	}
	conv2dSplit(threads, n, func(worker, lo, hi int) {
		buf := data.buffers()
		for s := lo; s < hi; s++ {
			inputGrad(s, buf)
			paramGrads(s, gws[worker], gbs[worker], buf)
		}
	})
	if workers > 1 {
		for i := range workers {
			if needW {
				conv2dAddInto(w.grad(), gws[i])
			}
			if needB {
				conv2dAddInto(b.grad(), gbs[i])
			}
		}
	}
}

func conv2dAddInto(dst, src []float32) {
	for i, v := range src {
		dst[i] += v
	}
}

// conv2dWorkers is the number of goroutines conv2dSplit uses for n
// samples: up to threads (GOMAXPROCS when 0).
func conv2dWorkers(threads, n int) int {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	return max(1, min(n, threads))
}

// conv2dSplit calls fn(worker, lo, hi) for conv2dWorkers(threads, n) contiguous
// ranges of samples [lo, hi), concurrently, and waits for them.
func conv2dSplit(threads, n int, fn func(worker, lo, hi int)) {
	workers := conv2dWorkers(threads, n)
	if workers == 1 {
		fn(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() { fn(i, i*n/workers, (i+1)*n/workers) })
	}
	wg.Wait()
}

// convDataGrad computes input gradients of one convolution, image by
// image, with the weights prepared once: packed and transposed for the
// GEMM, or, for a stride-1 depthwise convolution with one output per
// channel, flipped, so that the gradient is the forward depthwise kernel
// run on the output gradient. Other depthwise convolutions, and the
// weight gradients of all depthwise ones, use kernels.DepthwiseBackward.
type convDataGrad struct {
	d       kernels.ConvDims
	packedT []*kernels.PackedA // dense: W^T per group
	dwT     *kernels.DepthwiseConv
	flipped []float32 // dwT's weights
	dw      *kernels.DepthwiseBackward
	w       []float32
	tp      *Tape // the buffers' storage
}

// convDataBuffers is one goroutine's scratch for convDataGrad.run and
// DepthwiseBackward; filter, the weight gradient's im2col scratch, and
// plane, the stride-1 depthwise input gradient before it is added, are
// made on first use (a shard that only takes input gradients, or only sets
// them, never needs them).
type convDataBuffers struct{ cols, ws, dwScratch, plane, dwGrad, filter []float32 }

func newConvDataGrad(tp *Tape, d kernels.ConvDims, w []float32, need bool) *convDataGrad {
	c := &convDataGrad{d: d, w: w, tp: tp}
	if d.Depthwise() {
		c.dw = kernels.NewDepthwiseBackward(d.Window, d.In, d.Out/d.In)
	}
	if !need {
		return c
	}
	if !d.Depthwise() {
		c.packedT = packConvWeights(d, w, true)
		return c
	}
	padH := (d.KH-1)*d.DilH - d.PadH
	padW := (d.KW-1)*d.DilW - d.PadW
	if d.Out != d.In || d.StrideH != 1 || d.StrideW != 1 || padH < 0 || padW < 0 {
		return c
	}
	c.dwT = kernels.NewDepthwiseConv(kernels.Window{InH: d.OutH, InW: d.OutW, KH: d.KH, KW: d.KW,
		StrideH: 1, StrideW: 1, PadH: padH, PadW: padW, DilH: d.DilH, DilW: d.DilW, OutH: d.InH, OutW: d.InW}, d.In, 1)
	taps := d.KH * d.KW
	c.flipped = make([]float32, len(w))
	for o := 0; o < d.Out; o++ {
		for t := 0; t < taps; t++ {
			c.flipped[o*taps+t] = w[o*taps+taps-1-t]
		}
	}
	return c
}

func (c *convDataGrad) buffers() *convDataBuffers {
	b := &convDataBuffers{}
	if c.dw != nil {
		b.dwGrad = c.tp.scratch(c.dw.ScratchLen(), true)
	}
	switch {
	case c.packedT != nil:
		n := c.d.OutH * c.d.OutW
		b.cols = c.tp.scratch(c.d.ScratchLen(), true)
		b.ws = c.tp.scratch(c.packedT[0].WorkspaceLen(n), true)
	case c.dwT != nil:
		b.dwScratch = c.tp.scratch(c.dwT.ScratchLen(), true)
	}
	return b
}

// run adds the input gradient of one image, given its output gradient gy,
// to gx, or with set writes it there (gx holds garbage).
func (c *convDataGrad) run(gy, gx []float32, set bool, b *convDataBuffers) {
	d := c.d
	if c.dwT != nil {
		if set {
			c.dwT.Run(gy, c.flipped, gx, 0, d.In, &kernels.Epilogue{}, b.dwScratch)
			return
		}
		if b.plane == nil { // only a gradient added to, not set, needs it
			b.plane = c.tp.scratch(len(gx), false)
		}
		c.dwT.Run(gy, c.flipped, b.plane, 0, d.In, &kernels.Epilogue{}, b.dwScratch)
		kernels.AddTo(gx, b.plane)
		return
	}
	if c.dw != nil { // a depthwise convolution that is not dwT's
		if set {
			c.dw.DataSet(gy, c.w, gx, b.dwGrad)
		} else {
			c.dw.Data(gy, c.w, gx, b.dwGrad)
		}
		return
	}
	if c.packedT == nil || !d.Pointwise() {
		// These paths add: a new gradient is cleared first.
		if set {
			clear(gx)
		}
		set = false
	}
	switch {
	case c.packedT != nil:
		inG, outG := d.In/d.Groups, d.Out/d.Groups
		k := inG * d.KH * d.KW
		n := d.OutH * d.OutW
		inPlane := d.InH * d.InW
		for g := 0; g < d.Groups; g++ {
			gxg := gx[g*inG*inPlane : (g+1)*inG*inPlane]
			if d.Pointwise() {
				var beta float32 = 1
				if set {
					beta = 0
				}
				kernels.SgemmPacked(c.packedT[g], false, n, gy[g*outG*n:], n, beta, gxg, n, b.ws)
				continue
			}
			cols := b.cols[:k*n]
			kernels.SgemmPacked(c.packedT[g], false, n, gy[g*outG*n:], n, 0, cols, n, b.ws)
			kernels.Col2im(d.Window, inG, cols, gxg)
		}
	default:
		kernels.Conv2DBackwardData(d, gy, c.w, gx, nil)
	}
}

// Conv2D is a convolution layer with its weight (and bias) as parameters,
// named Name+".weight" and Name+".bias" as in a PyTorch state dict.
type Conv2D struct {
	Name   string
	Config Conv2DConfig
	Weight *Param
	Bias   *Param // nil unless Config.Bias
}

// NewConv2D checks cfg and returns the layer with its weight drawn as
// torchvision does for these networks (Kaiming normal, fan-out mode:
// standard deviation sqrt(2 / (Out*KernelH*KernelW))) from rng, and a zero
// bias. Errors name the layer and the numbers that do not fit.
func NewConv2D(name string, cfg Conv2DConfig, rng *rand.Rand) (*Conv2D, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("nn.Conv2D %q: %w", name, err)
	}
	if rng == nil {
		return nil, fmt.Errorf("nn.Conv2D %q: nil random source: pass a seeded *rand.Rand to initialise the weight", name)
	}
	cfg = cfg.withDefaults()
	c := &Conv2D{Name: name, Config: cfg, Weight: NewParam(name+".weight", false, cfg.WeightShape()...)}
	std := math.Sqrt(2 / float64(cfg.Out*cfg.KernelH*cfg.KernelW))
	for i := range c.Weight.Data {
		c.Weight.Data[i] = float32(rng.NormFloat64() * std)
	}
	if cfg.Bias {
		c.Bias = NewParam(name+".bias", true, cfg.Out)
	}
	return c, nil
}

// OutShape checks an input shape [N, In, H, W] and returns the output shape,
// or an error naming the layer when the input does not fit.
func (c *Conv2D) OutShape(in []int) ([]int, error) {
	if len(in) != 4 || in[1] != c.Config.In {
		return nil, fmt.Errorf("nn.Conv2D %q: input %s, want N x %d x H x W", c.Name, ShapeString(in), c.Config.In)
	}
	oh, ow, err := c.Config.OutSize(in[2], in[3])
	if err != nil {
		return nil, fmt.Errorf("nn.Conv2D %q: %w", c.Name, err)
	}
	return []int{in[0], c.Config.Out, oh, ow}, nil
}

// Forward convolves x [N, In, H, W].
func (c *Conv2D) Forward(tp *Tape, x *Tensor) *Tensor {
	var b *Tensor
	if c.Bias != nil {
		b = c.Bias.Tensor
	}
	return Convolve(tp, x, c.Weight.Tensor, b, c.Config)
}

// Params returns the weight and, if present, the bias.
func (c *Conv2D) Params() []*Param {
	if c.Bias != nil {
		return []*Param{c.Weight, c.Bias}
	}
	return []*Param{c.Weight}
}

// Buffers returns nil: a convolution has no running state.
func (c *Conv2D) Buffers() []*Buffer { return nil }

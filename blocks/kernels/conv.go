package kernels

// Window is the geometry of a 2-D sliding window (convolution or pooling)
// over one H x W plane. Output position (oh, ow) with kernel tap (kh, kw)
// reads input row oh*StrideH - PadH + kh*DilH and column
// ow*StrideW - PadW + kw*DilW; reads outside the plane are padding (zero for
// convolution, ignored by max pooling). OutH and OutW are given, not derived,
// so that pooling's ceil mode is the caller's choice.
type Window struct {
	InH, InW         int
	KH, KW           int
	StrideH, StrideW int
	PadH, PadW       int // padding before the first row and column
	DilH, DilW       int
	OutH, OutW       int
}

// ConvDims is one 2-D convolution over one image: In input channels of
// InH x InW, Out output channels of OutH x OutW, and Groups groups (each of
// In/Groups inputs and Out/Groups outputs). The weight is laid out
// [Out, In/Groups, KH, KW], as in PyTorch.
type ConvDims struct {
	Window
	In, Out, Groups int
}

// Pointwise reports whether the convolution is a plain matrix product per
// group: a 1x1 kernel with stride 1 and no padding needs no im2col.
func (d ConvDims) Pointwise() bool {
	return d.KH == 1 && d.KW == 1 && d.StrideH == 1 && d.StrideW == 1 && d.PadH == 0 && d.PadW == 0
}

// Depthwise reports whether every group has one input channel (groups equal
// to input channels, more than one), which the direct depthwise kernel
// handles; each input channel then feeds Out/In outputs.
func (d ConvDims) Depthwise() bool { return d.Groups == d.In && d.Groups > 1 }

// ScratchLen is the length of the scratch buffer Conv2D and its backward
// passes need (the im2col matrix of one group); zero for pointwise and
// depthwise convolutions.
func (d ConvDims) ScratchLen() int {
	if d.Pointwise() || d.Depthwise() {
		return 0
	}
	return d.In / d.Groups * d.KH * d.KW * d.OutH * d.OutW
}

// Conv2D computes y = conv(x, w) + bias for one image: x is In x InH x InW,
// y is Out x OutH x OutW (overwritten), w is [Out, In/Groups, KH, KW], bias
// is nil or of length Out, scratch has at least d.ScratchLen() elements.
// Depthwise convolutions use the direct kernel, the others im2col (skipped
// for pointwise ones) and Sgemm per group.
func Conv2D(d ConvDims, x, w, bias, y, scratch []float32) {
	if d.Depthwise() {
		DepthwiseConv2D(d.Window, d.In, d.Out/d.In, x, w, bias, y)
		return
	}
	inG, outG := d.In/d.Groups, d.Out/d.Groups
	k := inG * d.KH * d.KW
	n := d.OutH * d.OutW
	inPlane := d.InH * d.InW
	for g := 0; g < d.Groups; g++ {
		xg := x[g*inG*inPlane : (g+1)*inG*inPlane]
		cols := xg
		if !d.Pointwise() {
			cols = scratch[:k*n]
			Im2col(d.Window, inG, xg, cols)
		}
		Sgemm(false, false, outG, n, k, 1, w[g*outG*k:], k, cols, n, 0, y[g*outG*n:], n)
	}
	if bias != nil {
		for o, b := range bias[:d.Out] {
			yo := y[o*n : (o+1)*n]
			for i := range yo {
				yo[i] += b
			}
		}
	}
}

// Conv2DBackwardData adds the gradient with respect to the input of one
// image to gx, given the output gradient gy (Out x OutH x OutW).
func Conv2DBackwardData(d ConvDims, gy, w, gx, scratch []float32) {
	if d.Depthwise() {
		DepthwiseConv2DBackwardData(d.Window, d.In, d.Out/d.In, gy, w, gx)
		return
	}
	inG, outG := d.In/d.Groups, d.Out/d.Groups
	k := inG * d.KH * d.KW
	n := d.OutH * d.OutW
	inPlane := d.InH * d.InW
	for g := 0; g < d.Groups; g++ {
		gxg := gx[g*inG*inPlane : (g+1)*inG*inPlane]
		if d.Pointwise() {
			Sgemm(true, false, k, n, outG, 1, w[g*outG*k:], k, gy[g*outG*n:], n, 1, gxg, n)
			continue
		}
		cols := scratch[:k*n]
		Sgemm(true, false, k, n, outG, 1, w[g*outG*k:], k, gy[g*outG*n:], n, 0, cols, n)
		Col2im(d.Window, inG, cols, gxg)
	}
}

// Conv2DBackwardFilter adds the gradients with respect to the weight (to gw)
// and the bias (to gbias, unless it is nil) of one image.
func Conv2DBackwardFilter(d ConvDims, x, gy, gw, gbias, scratch []float32) {
	n := d.OutH * d.OutW
	if gbias != nil {
		for o := range gbias[:d.Out] {
			var s float32
			for _, v := range gy[o*n : (o+1)*n] {
				s += v
			}
			gbias[o] += s
		}
	}
	if gw == nil {
		return
	}
	if d.Depthwise() {
		DepthwiseConv2DBackwardFilter(d.Window, d.In, d.Out/d.In, x, gy, gw)
		return
	}
	inG, outG := d.In/d.Groups, d.Out/d.Groups
	k := inG * d.KH * d.KW
	inPlane := d.InH * d.InW
	for g := 0; g < d.Groups; g++ {
		xg := x[g*inG*inPlane : (g+1)*inG*inPlane]
		cols := xg
		if !d.Pointwise() {
			cols = scratch[:k*n]
			Im2col(d.Window, inG, xg, cols)
		}
		Sgemm(false, true, outG, k, n, 1, gy[g*outG*n:], n, cols, n, 1, gw[g*outG*k:], k)
	}
}

// convValidRange returns the range [lo, hi) of output positions along one
// axis whose input position o*stride - pad + off lies in [0, in).
func convValidRange(out, in, stride, pad, off int) (lo, hi int) {
	// o*stride >= pad - off
	if a := pad - off; a > 0 {
		lo = (a + stride - 1) / stride
	}
	// o*stride <= in - 1 + pad - off
	if b := in - 1 + pad - off; b >= 0 {
		hi = b/stride + 1
	}
	hi = min(hi, out)
	lo = min(lo, hi)
	return lo, hi
}

package kernels

import "math"

// MaxPool2D takes the maximum of each window of c planes (x is
// c x InH x InW, y is c x OutH x OutW); padding never wins. Dilation in win
// is honoured. When argmax is not nil it receives, per output, the index of
// the winning element within its plane (the first of equal maxima; a NaN
// wins, the last one if several, as in PyTorch), or -1 for a window that covers only padding.
func MaxPool2D(win Window, c int, x, y []float32, argmax []int32) {
	plane := win.InH * win.InW
	ohw := win.OutH * win.OutW
	negInf := float32(math.Inf(-1))
	for ci := 0; ci < c; ci++ {
		xc := x[ci*plane : (ci+1)*plane]
		for oh := 0; oh < win.OutH; oh++ {
			for ow := 0; ow < win.OutW; ow++ {
				best, at := negInf, int32(-1)
				for kh := 0; kh < win.KH; kh++ {
					ih := oh*win.StrideH - win.PadH + kh*win.DilH
					if ih < 0 || ih >= win.InH {
						continue
					}
					for kw := 0; kw < win.KW; kw++ {
						iw := ow*win.StrideW - win.PadW + kw*win.DilW
						if iw < 0 || iw >= win.InW {
							continue
						}
						i := ih*win.InW + iw
						if v := xc[i]; v > best || at < 0 || v != v {
							best, at = v, int32(i)
						}
					}
				}
				o := ci*ohw + oh*win.OutW + ow
				y[o] = best
				if argmax != nil {
					argmax[o] = at
				}
			}
		}
	}
}

// MaxPool2DBackward adds each output gradient to the input element that won
// its window (argmax from MaxPool2D) in gx (c x InH x InW).
func MaxPool2DBackward(win Window, c int, gy []float32, argmax []int32, gx []float32) {
	plane := win.InH * win.InW
	ohw := win.OutH * win.OutW
	for ci := 0; ci < c; ci++ {
		gxc := gx[ci*plane : (ci+1)*plane]
		for j, at := range argmax[ci*ohw : (ci+1)*ohw] {
			if at >= 0 {
				gxc[at] += gy[ci*ohw+j]
			}
		}
	}
}

// avgPoolBounds returns the window of output position o along one axis,
// clipped to the input, and the number of positions it spans counting
// padding but not the overhang of ceil mode (PyTorch's divisor with
// count_include_pad=True).
func avgPoolBounds(o, in, k, stride, pad int) (lo, hi, span int) {
	lo = o*stride - pad
	hi = min(lo+k, in+pad)
	span = hi - lo
	return max(lo, 0), min(hi, in), span
}

// AvgPool2D averages each window of c planes, counting padding as zeros
// (PyTorch's default count_include_pad=True); with ceil mode the part of the
// last window beyond the padding is not counted. Dilation is ignored.
func AvgPool2D(win Window, c int, x, y []float32) {
	plane := win.InH * win.InW
	ohw := win.OutH * win.OutW
	for ci := 0; ci < c; ci++ {
		xc := x[ci*plane : (ci+1)*plane]
		for oh := 0; oh < win.OutH; oh++ {
			h0, h1, hs := avgPoolBounds(oh, win.InH, win.KH, win.StrideH, win.PadH)
			for ow := 0; ow < win.OutW; ow++ {
				w0, w1, ws := avgPoolBounds(ow, win.InW, win.KW, win.StrideW, win.PadW)
				var s float32
				for ih := h0; ih < h1; ih++ {
					for _, v := range xc[ih*win.InW+w0 : ih*win.InW+w1] {
						s += v
					}
				}
				y[ci*ohw+oh*win.OutW+ow] = s / float32(hs*ws)
			}
		}
	}
}

// AvgPool2DBackward adds the input gradient of AvgPool2D to gx.
func AvgPool2DBackward(win Window, c int, gy, gx []float32) {
	plane := win.InH * win.InW
	ohw := win.OutH * win.OutW
	for ci := 0; ci < c; ci++ {
		gxc := gx[ci*plane : (ci+1)*plane]
		for oh := 0; oh < win.OutH; oh++ {
			h0, h1, hs := avgPoolBounds(oh, win.InH, win.KH, win.StrideH, win.PadH)
			for ow := 0; ow < win.OutW; ow++ {
				w0, w1, ws := avgPoolBounds(ow, win.InW, win.KW, win.StrideW, win.PadW)
				g := gy[ci*ohw+oh*win.OutW+ow] / float32(hs*ws)
				for ih := h0; ih < h1; ih++ {
					r := gxc[ih*win.InW+w0 : ih*win.InW+w1]
					for i := range r {
						r[i] += g
					}
				}
			}
		}
	}
}

// GlobalAvgPool averages each of c planes of hw elements (x) into y[c].
// Sums are accumulated in float64, in interleaved partial sums (one serial
// chain of float64 adds costs its latency per element): SIMD lanes where
// there are, else four.
func GlobalAvgPool(c, hw int, x, y []float32) {
	for ci := 0; ci < c; ci++ {
		p := x[ci*hw : (ci+1)*hw]
		s0, i := sumF64SIMD(p)
		var s1, s2, s3 float64
		for ; i+4 <= len(p); i += 4 {
			q := p[i : i+4 : i+4]
			s0 += float64(q[0])
			s1 += float64(q[1])
			s2 += float64(q[2])
			s3 += float64(q[3])
		}
		for ; i < len(p); i++ {
			s0 += float64(p[i])
		}
		y[ci] = float32(((s0 + s1) + (s2 + s3)) / float64(hw))
	}
}

// GlobalAvgPoolBackward adds gy[ci]/hw to every element of plane ci of gx.
func GlobalAvgPoolBackward(c, hw int, gy, gx []float32) {
	for ci := 0; ci < c; ci++ {
		g := gy[ci] / float32(hw)
		r := gx[ci*hw : (ci+1)*hw]
		for i := range r {
			r[i] += g
		}
	}
}

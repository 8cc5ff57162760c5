package kernels

// DepthwiseConv2D is the direct convolution of one image whose groups each
// hold one input channel: output channel o (of c*mult) filters input channel
// o/mult with its own KH x KW kernel. x is c x InH x InW, w is
// [c*mult, 1, KH, KW], bias is nil or of length c*mult, y (overwritten) is
// c*mult x OutH x OutW.
//
// Each output row accumulates its KH*KW taps while it is in cache; the
// valid column range of each tap is computed once, so the inner loops have
// no bounds tests beyond Go's.
func DepthwiseConv2D(win Window, c, mult int, x, w, bias, y []float32) {
	plane := win.InH * win.InW
	ohw := win.OutH * win.OutW
	taps := win.KH * win.KW
	wLo, wHi := depthwiseColumnRanges(win)
	for o := 0; o < c*mult; o++ {
		xc := x[(o/mult)*plane : (o/mult+1)*plane]
		yo := y[o*ohw : (o+1)*ohw]
		wo := w[o*taps : (o+1)*taps]
		var b float32
		if bias != nil {
			b = bias[o]
		}
		for i := range yo {
			yo[i] = b
		}
		for oh := 0; oh < win.OutH; oh++ {
			yr := yo[oh*win.OutW : (oh+1)*win.OutW]
			for kh := 0; kh < win.KH; kh++ {
				ih := oh*win.StrideH - win.PadH + kh*win.DilH
				if ih < 0 || ih >= win.InH {
					continue
				}
				xr := xc[ih*win.InW : (ih+1)*win.InW]
				for kw := 0; kw < win.KW; kw++ {
					wv := wo[kh*win.KW+kw]
					lo, hi := wLo[kw], wHi[kw]
					off := kw*win.DilW - win.PadW
					if win.StrideW == 1 {
						ys := yr[lo:hi]
						xs := xr[lo+off : hi+off]
						xs = xs[:len(ys)] // lets the compiler drop bounds checks
						for i, xv := range xs {
							ys[i] += wv * xv
						}
						continue
					}
					for ow := lo; ow < hi; ow++ {
						yr[ow] += wv * xr[ow*win.StrideW+off]
					}
				}
			}
		}
	}
}

// DepthwiseConv2DBackwardData adds the input gradient of DepthwiseConv2D to
// gx (c x InH x InW), given the output gradient gy.
func DepthwiseConv2DBackwardData(win Window, c, mult int, gy, w, gx []float32) {
	plane := win.InH * win.InW
	ohw := win.OutH * win.OutW
	taps := win.KH * win.KW
	wLo, wHi := depthwiseColumnRanges(win)
	for o := 0; o < c*mult; o++ {
		gxc := gx[(o/mult)*plane : (o/mult+1)*plane]
		gyo := gy[o*ohw : (o+1)*ohw]
		wo := w[o*taps : (o+1)*taps]
		for oh := 0; oh < win.OutH; oh++ {
			gyr := gyo[oh*win.OutW : (oh+1)*win.OutW]
			for kh := 0; kh < win.KH; kh++ {
				ih := oh*win.StrideH - win.PadH + kh*win.DilH
				if ih < 0 || ih >= win.InH {
					continue
				}
				gxr := gxc[ih*win.InW : (ih+1)*win.InW]
				for kw := 0; kw < win.KW; kw++ {
					wv := wo[kh*win.KW+kw]
					lo, hi := wLo[kw], wHi[kw]
					off := kw*win.DilW - win.PadW
					if win.StrideW == 1 {
						gys := gyr[lo:hi]
						gxs := gxr[lo+off : hi+off]
						gxs = gxs[:len(gys)]
						for i, g := range gys {
							gxs[i] += wv * g
						}
						continue
					}
					for ow := lo; ow < hi; ow++ {
						gxr[ow*win.StrideW+off] += wv * gyr[ow]
					}
				}
			}
		}
	}
}

// DepthwiseConv2DBackwardFilter adds the weight gradient of DepthwiseConv2D
// to gw ([c*mult, 1, KH, KW]). Each tap's sum is accumulated row by row in
// float64, so large planes lose no precision.
func DepthwiseConv2DBackwardFilter(win Window, c, mult int, x, gy, gw []float32) {
	plane := win.InH * win.InW
	ohw := win.OutH * win.OutW
	taps := win.KH * win.KW
	wLo, wHi := depthwiseColumnRanges(win)
	acc := make([]float64, taps)
	for o := 0; o < c*mult; o++ {
		xc := x[(o/mult)*plane : (o/mult+1)*plane]
		gyo := gy[o*ohw : (o+1)*ohw]
		clear(acc)
		for oh := 0; oh < win.OutH; oh++ {
			gyr := gyo[oh*win.OutW : (oh+1)*win.OutW]
			for kh := 0; kh < win.KH; kh++ {
				ih := oh*win.StrideH - win.PadH + kh*win.DilH
				if ih < 0 || ih >= win.InH {
					continue
				}
				xr := xc[ih*win.InW : (ih+1)*win.InW]
				for kw := 0; kw < win.KW; kw++ {
					lo, hi := wLo[kw], wHi[kw]
					off := kw*win.DilW - win.PadW
					var s float32
					if win.StrideW == 1 {
						gys := gyr[lo:hi]
						xs := xr[lo+off : hi+off]
						xs = xs[:len(gys)]
						for i, g := range gys {
							s += g * xs[i]
						}
					} else {
						for ow := lo; ow < hi; ow++ {
							s += gyr[ow] * xr[ow*win.StrideW+off]
						}
					}
					acc[kh*win.KW+kw] += float64(s)
				}
			}
		}
		for t, s := range acc {
			gw[o*taps+t] += float32(s)
		}
	}
}

// depthwiseColumnRanges returns, per kernel column kw, the output columns
// whose input column is inside the plane.
func depthwiseColumnRanges(win Window) (lo, hi []int) {
	lo = make([]int, win.KW)
	hi = make([]int, win.KW)
	for kw := range win.KW {
		lo[kw], hi[kw] = convValidRange(win.OutW, win.InW, win.StrideW, win.PadW, kw*win.DilW)
	}
	return lo, hi
}

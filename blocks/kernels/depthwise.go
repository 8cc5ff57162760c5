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
					if lo >= hi {
						continue // the tap never reaches the input
					}
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
					if lo >= hi {
						continue // the tap never reaches the input
					}
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
	if win.KH == 3 && win.KW == 3 && win.DilH == 1 && win.DilW == 1 {
		depthwise3x3BackwardFilter(win, c, mult, x, gy, gw)
		return
	}
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
					if lo >= hi {
						continue // the tap never reaches the input
					}
					off := kw*win.DilW - win.PadW
					var s float32
					if win.StrideW == 1 {
						s = dot32(gyr[lo:hi], xr[lo+off:hi+off])
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

// dot32 returns the dot product of a and b (as long as a) with eight
// independent partial sums, so that consecutive multiply-adds do not wait
// on each other.
func dot32(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		a8, b8 := a[i:i+8:i+8], b[i:i+8:i+8]
		s0 += a8[0] * b8[0]
		s1 += a8[1] * b8[1]
		s2 += a8[2] * b8[2]
		s3 += a8[3] * b8[3]
		s4 += a8[4] * b8[4]
		s5 += a8[5] * b8[5]
		s6 += a8[6] * b8[6]
		s7 += a8[7] * b8[7]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

// depthwise3x3BackwardFilter is DepthwiseConv2DBackwardFilter for 3x3
// kernels without dilation: each input channel is copied once into a
// zero-padded plane, and every output position adds its nine products to
// nine independent sums (float32 over a row, float64 across rows).
func depthwise3x3BackwardFilter(win Window, c, mult int, x, gy, gw []float32) {
	plane := win.InH * win.InW
	ohw := win.OutH * win.OutW
	sh, sw := win.StrideH, win.StrideW
	padH := (win.OutH-1)*sh + 3
	padW := (win.OutW-1)*sw + 3
	xp := make([]float32, padH*padW)
	for ci := 0; ci < c; ci++ {
		xc := x[ci*plane : (ci+1)*plane]
		for r := 0; r < padH; r++ {
			row := xp[r*padW : (r+1)*padW]
			clear(row)
			ih := r - win.PadH
			if ih < 0 || ih >= win.InH {
				continue
			}
			lo := min(win.PadW, padW)
			hi := min(win.PadW+win.InW, padW)
			copy(row[lo:hi], xc[ih*win.InW:ih*win.InW+hi-lo])
		}
		for m := 0; m < mult; m++ {
			o := ci*mult + m
			gyo := gy[o*ohw : (o+1)*ohw]
			var acc [9]float64
			for oh := 0; oh < win.OutH; oh++ {
				gyr := gyo[oh*win.OutW : (oh+1)*win.OutW]
				span := (win.OutW-1)*sw + 3
				r0 := xp[oh*sh*padW:][:span]
				r1 := xp[(oh*sh+1)*padW:][:span]
				r2 := xp[(oh*sh+2)*padW:][:span]
				var s0, s1, s2, s3, s4, s5, s6, s7, s8 float32
				for ow, g := range gyr {
					j := ow * sw
					a, b, e := r0[j:j+3:j+3], r1[j:j+3:j+3], r2[j:j+3:j+3]
					s0 += g * a[0]
					s1 += g * a[1]
					s2 += g * a[2]
					s3 += g * b[0]
					s4 += g * b[1]
					s5 += g * b[2]
					s6 += g * e[0]
					s7 += g * e[1]
					s8 += g * e[2]
				}
				acc[0] += float64(s0)
				acc[1] += float64(s1)
				acc[2] += float64(s2)
				acc[3] += float64(s3)
				acc[4] += float64(s4)
				acc[5] += float64(s5)
				acc[6] += float64(s6)
				acc[7] += float64(s7)
				acc[8] += float64(s8)
			}
			for t, v := range acc {
				gw[o*9+t] += float32(v)
			}
		}
	}
}

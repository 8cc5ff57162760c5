package kernels

// Im2col unfolds c channels of one image (c x InH x InW in src) into cols, a
// row-major (c*KH*KW) x (OutH*OutW) matrix: row (ci*KH+kh)*KW+kw holds, for
// every output position, the input value under kernel tap (kh, kw) of
// channel ci, or zero where the tap falls on padding. A convolution is then
// weight [Cout, c*KH*KW] times cols.
func Im2col(win Window, c int, src, cols []float32) {
	ohw := win.OutH * win.OutW
	plane := win.InH * win.InW
	row := 0
	for ci := 0; ci < c; ci++ {
		xc := src[ci*plane : (ci+1)*plane]
		for kh := 0; kh < win.KH; kh++ {
			offH := kh * win.DilH
			hLo, hHi := convValidRange(win.OutH, win.InH, win.StrideH, win.PadH, offH)
			for kw := 0; kw < win.KW; kw++ {
				offW := kw*win.DilW - win.PadW
				wLo, wHi := convValidRange(win.OutW, win.InW, win.StrideW, win.PadW, kw*win.DilW)
				dst := cols[row*ohw : (row+1)*ohw]
				row++
				// At stride 1 the tap's rows are one SIMD call, whole
				// vectors (up to 7 values past each row, written again
				// below or by the next row of cols), then the borders.
				if win.StrideW == 1 && hLo < hHi && wLo < wHi {
					ih := hLo*win.StrideH - win.PadH + offH
					if copyRowsSpill(cols[(row-1)*ohw+hLo*win.OutW+wLo:], win.OutW,
						src[ci*plane+ih*win.InW+wLo+offW:], win.StrideH*win.InW, wHi-wLo, hHi-hLo) {
						clear(dst[:hLo*win.OutW])
						clear(dst[hHi*win.OutW:])
						if wLo > 0 || wHi < win.OutW {
							// A value or two a row: a loop, not calls.
							for oh := hLo; oh < hHi; oh++ {
								dr := dst[oh*win.OutW : (oh+1)*win.OutW]
								for j := range wLo {
									dr[j] = 0
								}
								for j := wHi; j < len(dr); j++ {
									dr[j] = 0
								}
							}
						}
						continue
					}
				}
				clear(dst[:hLo*win.OutW])
				clear(dst[hHi*win.OutW:])
				for oh := hLo; oh < hHi; oh++ {
					ih := oh*win.StrideH - win.PadH + offH
					xr := xc[ih*win.InW : (ih+1)*win.InW]
					dr := dst[oh*win.OutW : (oh+1)*win.OutW]
					clear(dr[:wLo])
					clear(dr[wHi:])
					if win.StrideW == 1 {
						// An empty range (a tap that never reaches the
						// input: a kernel wider than the padded row) may
						// lie outside the row, so it is not sliced.
						if wLo < wHi {
							copy(dr[wLo:wHi], xr[wLo+offW:wHi+offW])
						}
						continue
					}
					for ow := wLo; ow < wHi; ow++ {
						dr[ow] = xr[ow*win.StrideW+offW]
					}
				}
			}
		}
	}
}

// Col2im is the adjoint of Im2col: it adds every entry of cols back into the
// input position it was read from (dst is c x InH x InW; padding entries are
// dropped). It turns the gradient of the columns into that of the image.
func Col2im(win Window, c int, cols, dst []float32) {
	ohw := win.OutH * win.OutW
	plane := win.InH * win.InW
	row := 0
	for ci := 0; ci < c; ci++ {
		xc := dst[ci*plane : (ci+1)*plane]
		for kh := 0; kh < win.KH; kh++ {
			offH := kh * win.DilH
			hLo, hHi := convValidRange(win.OutH, win.InH, win.StrideH, win.PadH, offH)
			for kw := 0; kw < win.KW; kw++ {
				offW := kw*win.DilW - win.PadW
				wLo, wHi := convValidRange(win.OutW, win.InW, win.StrideW, win.PadW, kw*win.DilW)
				src := cols[row*ohw : (row+1)*ohw]
				row++
				for oh := hLo; oh < hHi; oh++ {
					ih := oh*win.StrideH - win.PadH + offH
					xr := xc[ih*win.InW : (ih+1)*win.InW]
					sr := src[oh*win.OutW : (oh+1)*win.OutW]
					if win.StrideW == 1 {
						if wLo >= wHi {
							continue // the tap never reaches the input (see Im2col)
						}
						ss := sr[wLo:wHi]
						xs := xr[wLo+offW : wHi+offW]
						xs = xs[:len(ss)]
						for i, v := range ss {
							xs[i] += v
						}
						continue
					}
					for ow := wLo; ow < wHi; ow++ {
						xr[ow*win.StrideW+offW] += sr[ow]
					}
				}
			}
		}
	}
}

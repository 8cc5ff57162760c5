package kernels

// MaxPoolRows is max pooling for inference: like MaxPool2D without argmax,
// it takes the maximum of each window of c planes (padding never wins),
// but separably: the rows of a window are first reduced column by column
// into tmp (SIMD where available), then each output takes the maximum of
// its columns there. tmp has at least win.InW elements. Dilation must be 1.
//
// Unlike MaxPool2D it does not propagate NaN: a window's NaN may or may not
// win. Inference inputs hold none.
func MaxPoolRows(win Window, c int, x, y, tmp []float32) {
	plane := win.InH * win.InW
	ohw := win.OutH * win.OutW
	tmp = tmp[:win.InW]
	for ci := 0; ci < c; ci++ {
		xc := x[ci*plane : (ci+1)*plane]
		yc := y[ci*ohw : (ci+1)*ohw]
		for oh := 0; oh < win.OutH; oh++ {
			h0 := oh*win.StrideH - win.PadH
			h1 := min(h0+win.KH, win.InH)
			h0 = max(h0, 0)
			copy(tmp, xc[h0*win.InW:(h0+1)*win.InW])
			for ih := h0 + 1; ih < h1; ih++ {
				xr := xc[ih*win.InW : (ih+1)*win.InW]
				if maxIntoSIMD(tmp, xr) {
					continue
				}
				for i, v := range xr {
					if v > tmp[i] {
						tmp[i] = v
					}
				}
			}
			yr := yc[oh*win.OutW : (oh+1)*win.OutW]
			ow := 0
			if win.KW == 3 && win.PadW == 0 && win.InW >= 3 {
				// Windows inside the row: three values each, no clipping.
				inner := min(len(yr), (win.InW-3)/win.StrideW+1)
				s := win.StrideW
				for ; ow < inner; ow++ {
					t := tmp[ow*s : ow*s+3]
					m := t[0]
					if t[1] > m {
						m = t[1]
					}
					if t[2] > m {
						m = t[2]
					}
					yr[ow] = m
				}
			}
			for ; ow < len(yr); ow++ {
				w0 := ow*win.StrideW - win.PadW
				w1 := min(w0+win.KW, win.InW)
				w0 = max(w0, 0)
				t := tmp[w0:w1]
				m := t[0]
				for _, v := range t[1:] {
					if v > m {
						m = v
					}
				}
				yr[ow] = m
			}
		}
	}
}

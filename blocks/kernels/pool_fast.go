package kernels

// MaxPoolRows is max pooling for inference: like MaxPool2D without argmax,
// it takes the maximum of each window of c planes (padding never wins),
// but separably: the rows of a window are first reduced column by column
// into tmp (SIMD where available), then each output takes the maximum of
// its columns there. tmp has at least MaxPoolRowsScratchLen(win) elements.
// Dilation must be 1. 3-wide windows at stride 2 (the lightweight
// families' pooling) take the maximum across columns with SIMD too, on the
// even and odd columns of the reduced row.
//
// Unlike MaxPool2D it does not propagate NaN: a window's NaN may or may not
// win. Inference inputs hold none.
func MaxPoolRows(win Window, c int, x, y, tmp []float32) {
	if win.KH == 3 && win.KW == 3 && win.StrideH == 2 && win.StrideW == 2 && maxPool3S2SIMD() {
		maxPool3S2(win, c, x, y)
		return
	}
	plane := win.InH * win.InW
	ohw := win.OutH * win.OutW
	half := win.InW/2 + 1
	even, odd := tmp[win.InW:win.InW+half], tmp[win.InW+half:win.InW+2*half]
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
			// clipped computes output ow from the columns of its window
			// that lie inside the row.
			clipped := func(ow int) {
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
			if win.KW == 3 && (win.PadW == 0 || win.PadW == 1 && win.StrideW == 2) && win.InW >= 3+win.PadW {
				// Windows inside the row, from output PadW on (its window
				// starts at column base): three values each, no clipping.
				s := win.StrideW
				for ; ow < win.PadW; ow++ {
					clipped(ow)
				}
				base := ow*s - win.PadW
				inner := min(len(yr)-ow, (win.InW-base-3)/s+1)
				if s == 2 && maxOf3Stride2SIMD(yr[ow:ow+inner], tmp[base:], even, odd) {
					ow += inner
				}
				for end := win.PadW + inner; ow < end; ow++ {
					t := tmp[ow*s-win.PadW : ow*s-win.PadW+3]
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
				clipped(ow)
			}
		}
	}
}

// MaxPoolRowsScratchLen is the length of the tmp buffer MaxPoolRows needs
// for win.
func MaxPoolRowsScratchLen(win Window) int { return win.InW + 2*(win.InW/2+1) }

// maxOf3Stride2SIMD sets y[i] = max(t[2i], t[2i+1], t[2i+2]) with SIMD, by
// splitting t into its even and odd columns (buffers of len(t)/2+1), or
// returns false where there is no SIMD. 2*len(y) < len(t).
func maxOf3Stride2SIMD(y, t, even, odd []float32) bool {
	n := len(t) / 2
	if !deinterleaveSIMD(even[:n], odd[:n], t) {
		return false
	}
	for j := n &^ 7; j < n; j++ {
		even[j], odd[j] = t[2*j], t[2*j+1]
	}
	if len(t)%2 == 1 {
		even[n] = t[len(t)-1]
	}
	m := len(y)
	copy(y, even[:m])
	maxIntoSIMD(y, odd[:m])
	maxIntoSIMD(y, even[1:m+1])
	return true
}

// maxPool3S2 is MaxPoolRows for 3x3 windows at stride 2 with the SIMD row
// kernel: on rows whose windows lie inside the plane, the outputs whose
// windows (and one more column, which the kernel reads) lie inside the row,
// in vectors of 8 (the last one overlapping the one before); every other
// output takes the maximum of its clipped window.
func maxPool3S2(win Window, c int, x, y []float32) {
	plane := win.InH * win.InW
	ohw := win.OutH * win.OutW
	if win.PadH == 0 && win.PadW == 0 && win.InW == 2*win.OutW+1 && win.InH == 2*win.OutH+1 {
		// Every window inside the plane (SqueezeNet's pools): a call per
		// plane, which reads one value past it, so not the last plane.
		for c > 1 && maxPool3S2Plane(y[:ohw], win.OutW, win.OutH, x) {
			x, y, c = x[plane:], y[ohw:], c-1
		}
	}
	// First output whose window starts inside the row, and the outputs
	// from there whose window and one more column end inside it.
	ow0 := (win.PadW + 1) / 2
	inner := 0
	if last := (win.InW - 4 + win.PadW) / 2; last >= ow0 && win.InW >= 4 {
		inner = min(last+1, win.OutW) - ow0
	}
	for ci := 0; ci < c; ci++ {
		xc := x[ci*plane : (ci+1)*plane]
		yc := y[ci*ohw : (ci+1)*ohw]
		for oh := 0; oh < win.OutH; oh++ {
			yr := yc[oh*win.OutW : (oh+1)*win.OutW]
			h0 := oh*2 - win.PadH
			lo, hi := 0, 0 // outputs [lo, hi) done by the kernel
			if h0 >= 0 && h0+3 <= win.InH && inner >= 8 {
				lo, hi = ow0, ow0+inner
				whole := lo + inner&^7
				maxPool3S2AVX2(yr[lo:whole], xc[h0*win.InW+2*lo-win.PadW:], win.InW)
				if whole < hi {
					// The last vector again, ending on the last output
					// (some outputs twice, the same values).
					maxPool3S2AVX2(yr[hi-8:hi], xc[h0*win.InW+2*(hi-8)-win.PadW:], win.InW)
				}
			}
			for ow := 0; ow < lo; ow++ {
				yr[ow] = maxWindow(xc, win, h0, ow*2-win.PadW)
			}
			for ow := hi; ow < len(yr); ow++ {
				yr[ow] = maxWindow(xc, win, h0, ow*2-win.PadW)
			}
		}
	}
}

// maxWindow is the maximum of the KH x KW window of plane xc at row h0 and
// column w0, clipped to the plane.
func maxWindow(xc []float32, win Window, h0, w0 int) float32 {
	h1, w1 := min(h0+win.KH, win.InH), min(w0+win.KW, win.InW)
	h0, w0 = max(h0, 0), max(w0, 0)
	m := xc[h0*win.InW+w0]
	for ih := h0; ih < h1; ih++ {
		for _, v := range xc[ih*win.InW+w0 : ih*win.InW+w1] {
			if v > m {
				m = v
			}
		}
	}
	return m
}

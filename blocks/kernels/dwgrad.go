package kernels

// DepthwiseBackward computes the gradients of a depthwise convolution (see
// DepthwiseConv2D) one image at a time, prepared once per geometry as
// DepthwiseConv is for the forward pass. Both methods add to their
// outputs and allocate nothing; the reference kernels
// DepthwiseConv2DBackwardFilter and DepthwiseConv2DBackwardData are the
// oracle and the path for the other cases.
//
// Both fast paths read or write the padded planes as flat arrays: output
// (oh, ow) of a k x k window at stride s touches padded position
// (s*oh+kh, s*ow+kw), which in a plane of row stride ld is flat index
// i + kh*ld + kw with i = oh*ld + ow at stride 1; at stride 2, in the
// even or odd columns (row stride ld, padded column p at p/2), it is
// i + kh*ld + kw/2 with i = oh*2*ld + ow. Laying the output gradient out
// the same way (row stride ld or 2*ld, zeros between rows) turns every tap
// into one long vector operation over the whole plane, whatever its width;
// the zeros make the positions between rows contribute nothing. (For the
// weight gradient they multiply input values: an infinite input can turn
// a tap's sum into NaN where the reference kernel would not.)
//
//   - Weight gradient of 3x3 kernels at stride 1 or 2, on amd64: each input
//     channel is copied into the forward pass's padded plane (its even and
//     odd columns at stride 2) and a SIMD kernel adds the products of every
//     tap to nine vectors of lane sums, which are added into float64 every
//     dwFlushLanes products per lane, so large planes lose no precision.
//   - Input gradient at stride 2 without dilation: each tap adds w*gy
//     (axpy, SIMD where available) into the even or odd columns of a zeroed
//     gradient plane, and each row is then interleaved back into gx.
type DepthwiseBackward struct {
	Win     Window
	C, Mult int

	fwd *DepthwiseConv // weight gradient: padded planes and SIMD rows; nil for the reference
	// Stride-2 input gradient: row stride and length of the even and odd
	// gradient planes; dataLd 0 for the reference.
	dataLd, dataPlane int
	// Both: the forward kernel over the output gradient (flipped
	// weights), whose padded plane is the weight gradient's flat layout.
	dataT *DepthwiseConv
	both  bool
}

// dwFlushLanes is the number of products a lane of the weight gradient's
// SIMD sums takes before they are added into float64.
const dwFlushLanes = 64

// NewDepthwiseBackward prepares the gradients of the depthwise convolution
// of c channels (each feeding mult outputs) over win.
func NewDepthwiseBackward(win Window, c, mult int) *DepthwiseBackward {
	win.DilH, win.DilW = max(win.DilH, 1), max(win.DilW, 1)
	win.StrideH, win.StrideW = max(win.StrideH, 1), max(win.StrideW, 1)
	b := &DepthwiseBackward{Win: win, C: c, Mult: mult}
	s := win.StrideW
	noDil := win.DilH == 1 && win.DilW == 1
	if win.KH == 3 && win.KW == 3 && noDil && win.StrideH == s && dwGradSIMD(s) {
		b.fwd = NewDepthwiseConv(win, c, mult)
		if !b.fwd.simd {
			b.fwd = nil
		}
	}
	if win.StrideH == 2 && s == 2 && noDil {
		b.dataLd = max(win.OutW+win.KW/2, (win.InW+win.PadW)/2+1)
		// Rows 2*oh+kh < 2*OutH+KH, and the flat taps of the last row
		// reach up to one row and KW/2 values further.
		b.dataPlane = (2*win.OutH+win.KH)*b.dataLd + win.KW
	}
	if b.fwd != nil && mult == 1 && s == 1 {
		t := NewDepthwiseConv(Window{InH: win.OutH, InW: win.OutW, KH: win.KH, KW: win.KW, StrideH: 1, StrideW: 1,
			PadH: win.KH - 1 - win.PadH, PadW: win.KW - 1 - win.PadW, DilH: 1, DilW: 1, OutH: win.InH, OutW: win.InW}, c, 1)
		if t.simd && t.Win.PadH >= 0 && t.Win.PadW >= 0 && t.padW == b.fwd.padW {
			b.dataT, b.both = t, true
		}
	}
	return b
}

// filterLd is the row stride of the weight gradient's flat output
// gradient: the padded plane's at stride 1, twice its column planes' at
// stride 2.
func (b *DepthwiseBackward) filterLd() int {
	if b.Win.StrideW == 1 {
		return b.fwd.padW
	}
	return 2 * b.fwd.ldHalf
}

// ScratchLen is the scratch one concurrent Filter or Data call needs.
func (b *DepthwiseBackward) ScratchLen() int {
	n := 0
	if b.dataLd > 0 {
		n = 2*b.dataPlane + b.Win.OutH*2*b.dataLd
	}
	if b.fwd != nil {
		// The forward pass's scratch: the padded planes, then buffers
		// (finite values) at least as long as the flat taps of the last
		// row read past the planes, multiplied by zeros; then the flat
		// output gradient.
		n = max(n, b.fwd.ScratchLen()+roundUp8(b.Win.OutH*b.filterLd()))
	}
	return n
}

// CanBoth reports whether Both applies to this geometry.
func (b *DepthwiseBackward) CanBoth() bool { return b.both }

// BothScratchLen is the scratch one concurrent Both call needs.
func (b *DepthwiseBackward) BothScratchLen() int {
	if !b.both {
		return 0
	}
	return b.dataT.ScratchLen() + b.fwd.ScratchLen()
}

// Both sets gx (C x InH x InW) to the input gradient of one image and adds
// its weight gradient to gw, at stride 1: what nn computes as the forward
// kernel on the flipped weights over the output gradient (the input
// gradient) and Filter, bit for bit, channel by channel, with each
// channel's output gradient padded once for both and used while it is in
// cache. flipped is w with each channel's taps in reverse order. The
// output gradient padded by KH-1-PadH rows and KW-1-PadW columns, that
// many rows and values in, is the weight gradient's flat layout (the
// output gradient at the forward pass's row stride, zeros between rows)
// when the two padded planes have the same row stride. It applies when
// CanBoth does (3x3 taps on the SIMD paths, one output per channel, stride
// 1, those row strides equal), and panics otherwise. At stride 2 the same
// sharing (Data's flat layout is Filter's) measured slower on 96 channels
// of 28x28 (1.08x the two calls) and is not done.
func (b *DepthwiseBackward) Both(gy, w, flipped, x, gx, gw, scratch []float32) {
	if !b.both {
		panic("kernels.DepthwiseBackward.Both: not for this geometry (see CanBoth)")
	}
	win, d, t := b.Win, b.fwd, b.dataT
	plane, ohw, taps := win.InH*win.InW, win.OutH*win.OutW, win.KH*win.KW
	p := scratch[:t.ScratchLen()]
	planes := scratch[t.ScratchLen():][:d.ScratchLen()]
	off := t.Win.PadH*t.padW + t.Win.PadW
	flat := p[off : off+roundUp8(win.OutH*b.filterLd())]
	for ci := 0; ci < b.C; ci++ {
		t.pad(gy[ci*ohw:(ci+1)*ohw], p, ci > 0)
		// Up to 7 values past this channel's plane may be written too,
		// before the next channel's are: not past the last.
		t.plane(p, flipped[ci*taps:(ci+1)*taps], 0, gx[ci*plane:(ci+1)*plane], ci < b.C-1)
		d.pad(x[ci*plane:(ci+1)*plane], planes, ci > 0)
		b.filterTaps(planes, flat, gw[ci*taps:(ci+1)*taps])
	}
}

// Filter adds the weight gradient of one image (x: C x InH x InW, gy:
// C*Mult x OutH x OutW) to gw ([C*Mult, KH*KW]).
func (b *DepthwiseBackward) Filter(x, gy, gw, scratch []float32) {
	if b.fwd == nil {
		DepthwiseConv2DBackwardFilter(b.Win, b.C, b.Mult, x, gy, gw)
		return
	}
	win, d := b.Win, b.fwd
	plane, ohw := win.InH*win.InW, win.OutH*win.OutW
	planes := scratch[:d.ScratchLen()]
	flat := scratch[d.ScratchLen():][:roundUp8(win.OutH*b.filterLd())]
	clear(flat) // the gaps between rows stay zero
	for ci := 0; ci < b.C; ci++ {
		d.pad(x[ci*plane:(ci+1)*plane], planes, ci > 0)
		for m := 0; m < b.Mult; m++ {
			o := ci*b.Mult + m
			fillFlat(flat, gy[o*ohw:(o+1)*ohw], b.filterLd(), win.OutW)
			b.filterTaps(planes, flat, gw[o*9:(o+1)*9])
		}
	}
}

// fillFlat copies the rows of gy (ow values each) into flat at row stride
// ld; the values between them are left as they are (zero).
func fillFlat(flat, gy []float32, ld, ow int) {
	for oh := 0; oh < len(gy)/ow; oh++ {
		copy(flat[oh*ld:oh*ld+ow], gy[oh*ow:(oh+1)*ow])
	}
}

// filterTaps adds to gw9 the nine weight gradients of one channel: the
// products of the flat output gradient (row stride filterLd, zeros between
// rows) with the padded input planes (the forward pass's layout).
func (b *DepthwiseBackward) filterTaps(planes, flat, gw9 []float32) {
	d := b.fwd
	half := d.padH * d.ldHalf
	var sum [9]float64 // on the stack: the kernels' stubs are go:noescape
	ran := false
	if b.Win.StrideW == 1 {
		ran = dwGradPlaneSIMD(1, flat, planes, nil, nil, d.padW, &sum)
	} else {
		ran = dwGradPlaneSIMD(2, flat, nil, planes, planes[half:], d.ldHalf, &sum)
	}
	if ran {
		for t, v := range sum {
			gw9[t] += float32(v)
		}
		return
	}
	const chunk = dwFlushLanes * 8
	var acc [72]float32
	for i0 := 0; i0 < len(flat); i0 += chunk {
		g := flat[i0:min(i0+chunk, len(flat))]
		if b.Win.StrideW == 1 {
			dwGradRowSIMD(1, g, planes[i0:], nil, nil, d.padW, &acc)
		} else {
			dwGradRowSIMD(2, g, nil, planes[i0:], planes[half+i0:], d.ldHalf, &acc)
		}
		for t := range sum {
			l := acc[t*8 : t*8+8]
			sum[t] += float64(((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7])))
		}
		clear(acc[:])
	}
	for t, v := range sum {
		gw9[t] += float32(v)
	}
}

// Data adds the input gradient of one image, given its output gradient gy
// (C*Mult x OutH x OutW) and the weights w, to gx (C x InH x InW).
func (b *DepthwiseBackward) Data(gy, w, gx, scratch []float32) { b.data(gy, w, gx, scratch, false) }

// DataSet is Data for a gradient gx that has no value yet: it sets gx
// instead of adding to it (gx needs no zeroing first).
func (b *DepthwiseBackward) DataSet(gy, w, gx, scratch []float32) { b.data(gy, w, gx, scratch, true) }

func (b *DepthwiseBackward) data(gy, w, gx, scratch []float32, set bool) {
	if b.dataLd == 0 {
		if set {
			clear(gx[:b.C*b.Win.InH*b.Win.InW])
		}
		DepthwiseConv2DBackwardData(b.Win, b.C, b.Mult, gy, w, gx)
		return
	}
	win := b.Win
	ld := b.dataLd
	plane, ohw, taps := win.InH*win.InW, win.OutH*win.OutW, win.KH*win.KW
	even, odd := scratch[:b.dataPlane], scratch[b.dataPlane:2*b.dataPlane]
	flat := scratch[2*b.dataPlane:][:win.OutH*2*ld]
	clear(flat) // the gaps between rows stay zero
	for ci := 0; ci < b.C; ci++ {
		clear(even)
		clear(odd)
		for m := 0; m < b.Mult; m++ {
			o := ci*b.Mult + m
			fillFlat(flat, gy[o*ohw:(o+1)*ohw], 2*ld, win.OutW)
			b.dataTaps(flat, w[o*taps:(o+1)*taps], even, odd)
		}
		b.interleaveInto(gx[ci*plane:(ci+1)*plane], even, odd, set)
	}
}

// dataTaps adds, for each tap, w*gy into the even or odd columns of the
// stride-2 input gradient planes (flat: the output gradient at row stride
// 2*dataLd, zeros between rows).
func (b *DepthwiseBackward) dataTaps(flat, wo, even, odd []float32) {
	win, ld := b.Win, b.dataLd
	for kh := 0; kh < win.KH; kh++ {
		for kw := 0; kw < win.KW; kw++ {
			p := even
			if kw%2 == 1 {
				p = odd
			}
			dst := p[kh*ld+kw/2:][:len(flat)]
			if wv := wo[kh*win.KW+kw]; !axpySIMD(dst, flat, wv) {
				for j, g := range flat {
					dst[j] += wv * g
				}
			}
		}
	}
}

// interleaveInto adds (or, with set, writes) the even and odd column
// planes of one channel's input gradient to its rows in gxc.
func (b *DepthwiseBackward) interleaveInto(gxc, even, odd []float32, set bool) {
	win, ld := b.Win, b.dataLd
	pairs := win.InW / 2
	// Input column iw is padded column iw+PadW: pairs (2i, 2i+1) come
	// from (even, odd) columns when PadW is even, else (odd, even).
	q := win.PadW
	// Input row ih is padded row ih+PadH; rows no tap reaches are zero.
	rows := max(min(win.InH, len(even)/ld-win.PadH), 0)
	base := win.PadH * ld
	a, c := even[base+q/2:], odd[base+q/2:]
	if q%2 == 1 {
		a, c = odd[base+(q-1)/2:], even[base+(q+1)/2:]
	}
	if set {
		clear(gxc[rows*win.InW : win.InH*win.InW])
	}
	if interleaveRowsSIMD(gxc, a, c, rows, win.InW, win.InW, ld, set) {
		return
	}
	for ih := range rows {
		ar, cr := a[ih*ld:], c[ih*ld:]
		gxr := gxc[ih*win.InW : (ih+1)*win.InW]
		if set {
			for i := range pairs {
				gxr[2*i], gxr[2*i+1] = ar[i], cr[i]
			}
			if win.InW%2 == 1 {
				gxr[win.InW-1] = ar[pairs]
			}
			continue
		}
		done := interleaveAddSIMD(gxr, ar[:pairs], cr[:pairs])
		for i := done; i < pairs; i++ {
			gxr[2*i] += ar[i]
			gxr[2*i+1] += cr[i]
		}
		if win.InW%2 == 1 {
			gxr[win.InW-1] += ar[pairs]
		}
	}
}

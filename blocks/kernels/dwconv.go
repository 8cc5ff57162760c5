package kernels

import "math"

// negInf32 is the lower bound of an activation that does not clamp.
var negInf32 = float32(math.Inf(-1))

// DepthwiseConv is a depthwise convolution prepared for inference: the
// geometry is checked and sized once, and Run computes any range of output
// channels with the bias and activation fused, allocating nothing.
//
// Each input channel is first copied into a zero-padded plane (scratch), so
// the inner loops never test for borders. Square 3x3, 5x5 and 7x7 kernels
// at stride 1 and 2 without dilation, the cases of the lightweight
// families, run SIMD row kernels on amd64 (dwconv_amd64.s; at stride 2 the
// padded plane is split into its even and odd columns so that every tap
// reads contiguous values); elsewhere 3x3 kernels have Go loops that sum the
// nine taps of an output in registers.
type DepthwiseConv struct {
	Win     Window
	C, Mult int // input channels; outputs per input channel
	// padded plane: rows x cols the windows read
	padH, padW int
	needPad    bool
	simd       bool // SIMD row kernels
	ldHalf     int  // stride 2 SIMD: row stride of the even and odd planes
	// Channels last: eight channels at a time (see runNHWC8), in bands
	// of bandRows output rows. offs[j] is the position in a band's padded
	// rows of input position j counted from the band's first input row
	// (bandIn rows of nhPadW positions; bandIn*nhPadW: a column no window
	// reads).
	nhwc           bool
	nhPadH, nhPadW int
	bandRows       int
	bandIn         int
	offs           []int32
	// Whole planes in their own layout, an output row a register
	// (AVX-512, see preparePlanes). At stride 1 planeMasks[dx+k/2] are
	// the lanes of a row shifted by dx that fall inside it; at stride 2
	// planeMasks holds the masks of the input row's two registers, then
	// the lanes of the output row whose input at 2j+dx falls inside the
	// row, and planeIdx[16*(dx+k/2)+j] is 2j+dx. zeroBias stands in for a
	// nil bias.
	planes     bool
	planeMasks []uint16
	planeIdx   []int32
	zeroBias   []float32
	// planeBlocks is the output row's registers on rows of more than 16
	// values at stride 1 (dwPlaneS1Wide) or 32 at stride 2 (dwPlaneS2Wide),
	// else 0. At stride 1 planeMasks then holds, per output register b
	// and dx, the lanes of the input row from column 16b+dx that fall in
	// the row, then the output row's; at stride 2 the masks of the input
	// row's 2*planeBlocks registers and of the output row's, and planeIdx
	// the even lanes, 2j.
	planeBlocks int
	// planeAVX2 marks the AVX2 plane kernels (dwPlaneAVX2): output rows
	// of planeBlocks YMM registers, planeMasks32[8*(b*k+dx+k/2):] the
	// lanes of register b's values from column 8b+dx that fall in the row.
	planeAVX2    bool
	planeMasks32 []int32
}

// NewDepthwiseConv prepares the depthwise convolution of c channels (each
// feeding mult outputs) over win.
func NewDepthwiseConv(win Window, c, mult int) *DepthwiseConv {
	win.DilH, win.DilW = max(win.DilH, 1), max(win.DilW, 1)
	win.StrideH, win.StrideW = max(win.StrideH, 1), max(win.StrideW, 1)
	d := &DepthwiseConv{Win: win, C: c, Mult: mult}
	d.padH = (win.OutH-1)*win.StrideH + (win.KH-1)*win.DilH + 1
	d.padW = (win.OutW-1)*win.StrideW + (win.KW-1)*win.DilW + 1
	// Without padding, and with the windows inside the plane, the input
	// rows are read in place.
	d.needPad = win.PadH != 0 || win.PadW != 0 || d.padH > win.InH || d.padW > win.InW
	d.simd = win.KH == win.KW && win.StrideH == win.StrideW && win.DilH == 1 && win.DilW == 1 && dwSIMD(win.KH, win.StrideW)
	if d.simd {
		// The row kernels compute whole vectors of 8 outputs and may read
		// up to 7 values past a row: always work from the padded copy,
		// which has that slack, and finish short rows in rowBuf.
		d.needPad = true
		if win.StrideW == 2 {
			d.ldHalf = (d.padW + 1) / 2
		}
	}
	if !d.needPad {
		d.padW = win.InW
	}
	d.prepareNHWC8()
	d.preparePlanes()
	return d
}

// preparePlanes sets up the plane kernels (dwPlane, dwPlaneS2) where they
// run: square windows with padding k/2, one output per channel, planes of
// at least k rows; at stride 1 3x3, 5x5 and 7x7 windows over rows of at
// most 16 values and 3x3 and 5x5 ones over wider rows (up to 112 and 64
// values), at stride 2 3x3 and 5x5 windows over rows of up to 128 and
// 64: every depthwise step of the zoo's networks, where moving eight
// channels into channels-last form and back costs more than the
// arithmetic (BenchmarkDepthwisePlanes).
func (d *DepthwiseConv) preparePlanes() {
	win := d.Win
	k, s := win.KH, win.StrideW
	if d.Mult != 1 || win.KW != k || win.StrideH != s || win.DilH != 1 || win.DilW != 1 ||
		win.PadH != k/2 || win.PadW != k/2 || win.InH < k || !dwPlaneSIMD(k, s) && !(s == 1 && dwPlaneAVX2SIMD(k, win.InW)) ||
		win.OutH != (win.InH-1)/s+1 || win.OutW != (win.InW-1)/s+1 {
		return
	}
	lanes := func(n int) uint16 { return uint16(1<<max(min(n, 16), 0) - 1) }
	if s == 1 && dwPlaneAVX2SIMD(k, win.InW) {
		nb := (win.InW + 7) / 8
		if 8*nb-win.InW > win.InH*win.InW {
			return // a row's whole registers would run past the next plane
		}
		d.planes, d.planeAVX2, d.planeBlocks = true, true, nb
		d.zeroBias = make([]float32, d.C)
		for b := range nb {
			for i := range k {
				for l := range 8 {
					var m int32
					if c := 8*b + i - k/2 + l; c >= 0 && c < win.InW {
						m = -1
					}
					d.planeMasks32 = append(d.planeMasks32, m)
				}
			}
		}
		return
	}
	if win.InW > 16 && s == 1 {
		nb := (win.InW + 15) / 16
		if !dwPlaneS1WideSIMD(k, nb) {
			return
		}
		d.planes, d.planeBlocks = true, nb
		d.zeroBias = make([]float32, d.C)
		for b := range nb {
			for i := range k {
				// Lanes l of register b shifted by dx: columns 16b+dx+l.
				c0 := 16*b + i - k/2
				var m uint16
				for l := range 16 {
					if c := c0 + l; c >= 0 && c < win.InW {
						m |= 1 << l
					}
				}
				d.planeMasks = append(d.planeMasks, m)
			}
		}
		for b := range nb {
			d.planeMasks = append(d.planeMasks, lanes(win.OutW-16*b))
		}
		return
	}
	if win.InW > 16*s {
		nb := (win.OutW + 15) / 16
		if !dwPlaneS2WideSIMD(k, nb) {
			return
		}
		d.planes, d.planeBlocks = true, nb
		d.zeroBias = make([]float32, d.C)
		for r := range 2 * nb {
			d.planeMasks = append(d.planeMasks, lanes(win.InW-16*r))
		}
		for b := range nb {
			d.planeMasks = append(d.planeMasks, lanes(win.OutW-16*b))
		}
		d.planeIdx = make([]int32, 16)
		for j := range d.planeIdx {
			d.planeIdx[j] = int32(2 * j & 31)
		}
		return
	}
	d.planes = true
	d.zeroBias = make([]float32, d.C)
	if s == 1 {
		full := int(lanes(win.InW))
		d.planeMasks = make([]uint16, k)
		for i := range d.planeMasks {
			if dx := i - k/2; dx < 0 {
				d.planeMasks[i] = uint16(full >> -dx << -dx)
			} else {
				d.planeMasks[i] = uint16(full >> dx)
			}
		}
		return
	}
	d.planeMasks = []uint16{lanes(win.InW), lanes(win.InW - 16)}
	d.planeIdx = make([]int32, 16*k)
	for i := range k {
		dx := i - k/2
		var m uint16
		for j := range win.OutW {
			if c := 2*j + dx; c >= 0 && c < win.InW {
				m |= 1 << j
			}
		}
		for j := range 16 {
			d.planeIdx[16*i+j] = int32((2*j + dx) & 31)
		}
		d.planeMasks = append(d.planeMasks, m)
	}
}

// runPlanes computes the output channels [o0, o1) with the plane kernels,
// the bias and a clamping activation in them, other activations after.
func (d *DepthwiseConv) runPlanes(x, w, y []float32, o0, o1 int, e *Epilogue, scratch []float32) {
	win := d.Win
	plane, taps := win.InH*win.InW, win.KH*win.KW
	b := d.zeroBias
	if e.Bias != nil {
		b = e.Bias
	}
	lo, hi, act := clampOf(e.Act)
	// The AVX-512 kernels apply hard swish in their stores.
	hs := act == ActHardSwish && !d.planeAVX2
	if hs {
		act = ActIdentity
	}
	ohw := win.OutH * win.OutW
	yc := y[o0*ohw : o1*ohw]
	xc, wc := x[o0*plane:o1*plane], w[o0*taps:o1*taps]
	switch {
	case d.planeAVX2:
		dwPlaneAVX2(win.KH, d.planeBlocks, yc, xc, o1-o0, win.InH, win.InW, wc, b[o0:o1], d.planeMasks32, lo, hi, scratch)
	case win.StrideW == 1 && d.planeBlocks > 0:
		dwPlaneS1Wide(win.KH, d.planeBlocks, yc, xc, o1-o0, win.InH, win.InW, wc, b[o0:o1], d.planeMasks, lo, hi, hs)
	case win.StrideW == 1:
		dwPlane(win.KH, yc, xc, o1-o0, win.InH, win.InW, wc, b[o0:o1], d.planeMasks, lo, hi, hs)
	case d.planeBlocks > 0:
		dwPlaneS2Wide(win.KH, d.planeBlocks, yc, xc, o1-o0, win.InH, win.InW, win.OutH, win.OutW, wc, b[o0:o1], d.planeIdx, d.planeMasks, lo, hi, hs)
	default:
		dwPlaneS2(win.KH, yc, xc, o1-o0, win.InH, win.InW, win.OutH, win.OutW, wc, b[o0:o1], d.planeIdx, d.planeMasks, lo, hi, hs)
	}
	activatePlanes(act, e, yc, o0, o1-o0, ohw)
}

// dwNHWCMaxW is the widest output plane the channels-last kernels take.
// BenchmarkDepthwiseConv finds them faster than the row kernels on every
// plane of the ImageNet networks, 112x112 included, where the padded
// positions and the output no longer fit in L2; wider planes keep the row
// kernels.
const dwNHWCMaxW = 112

// The channels-last path works on a whole plane where the plane's padded
// positions and outputs of eight channels take at most dwPlaneBytes (half
// a Zen 3 L2: 56x56 planes and smaller), and otherwise in bands of output
// rows of at most dwBandBytes each, which stay in L1 and L2 from the move
// into channels-last form to the move back, where a whole 112x112 plane
// (406 KiB of padded positions and 392 KiB of outputs) does not
// (BenchmarkDepthwiseBands).
const (
	dwBandBytes  = 48 << 10
	dwPlaneBytes = 256 << 10
)

// prepareNHWC8 sets up the channels-last path where it runs: square 3x3,
// 5x5 and 7x7 windows at stride 1 or 2, one output per channel, input and
// output planes of at least eight values (the last block of eight
// positions overlaps the one before it).
func (d *DepthwiseConv) prepareNHWC8() {
	win := d.Win
	k, s := win.KH, win.StrideW
	if d.Mult != 1 || win.KW != k || win.StrideH != s || win.DilH != 1 || win.DilW != 1 || !dwNHWC8SIMD(k, s) ||
		win.InH*win.InW < 8 || win.OutH*win.OutW < 8 || win.OutW > dwNHWCMaxW || d.C < 8 {
		return
	}
	d.nhwc = true
	d.nhPadH = (win.OutH-1)*s + k
	d.nhPadW = (win.OutW-1)*s + k
	// The whole plane where it fits in L2 with room to spare; else the
	// fewest bands of at most dwBandBytes, their rows spread evenly.
	rows := win.OutH
	if d.bandScratch(rows)*4 > dwPlaneBytes {
		for rows > 1 && d.bandScratch(rows)*4 > dwBandBytes {
			rows--
		}
		bands := (win.OutH + rows - 1) / rows
		rows = (win.OutH + bands - 1) / bands
	}
	d.setBands(rows)
}

// setBands makes the channels-last path compute rows output rows a band,
// or the whole plane where a band would not hold eight input and eight
// output positions (the moves' last blocks of eight overlap the ones
// before them), or where a window can lie in the padding whole.
func (d *DepthwiseConv) setBands(rows int) {
	win := d.Win
	if rows < 1 || rows*min(win.InW, win.OutW) < 8 || win.PadH >= win.KH || win.PadW >= win.KW {
		rows = win.OutH
	}
	d.bandRows = min(rows, win.OutH)
	d.bandIn = (d.bandRows-1)*win.StrideW + win.KH
	trash := int32(d.bandIn * d.nhPadW)
	d.offs = make([]int32, min(d.bandIn, win.InH)*win.InW)
	for j := range d.offs {
		r, c := j/win.InW, j%win.InW+win.PadW
		o := trash
		if c < d.nhPadW {
			o = int32(r*d.nhPadW + c)
		}
		d.offs[j] = o
	}
}

// bandScratch is the scratch of a band of rows output rows: its padded
// input rows, the rows of top padding the first band adds (its input
// starts below them), the unread column, and its outputs, eight channels
// each.
func (d *DepthwiseConv) bandScratch(rows int) int {
	in := (rows-1)*d.Win.StrideW + d.Win.KH
	return 8 * ((in+d.Win.PadH)*d.nhPadW + 1 + rows*d.Win.OutW)
}

// nhwcLen is the scratch of the channels-last path: a band's padded
// positions and outputs (bandScratch), the weights and the bias of eight
// channels.
func (d *DepthwiseConv) nhwcLen() int {
	if !d.nhwc {
		return 0
	}
	return d.bandScratch(d.bandRows) + 8*(d.Win.KH*d.Win.KW+1)
}

// newEvenOddPlanes returns a DepthwiseConv over win (stride 2) whose pad
// writes the even and odd column planes of the stride-2 row kernels,
// with their slack, whatever the CPU: StemConv reads the same layout.
func newEvenOddPlanes(win Window) *DepthwiseConv {
	d := NewDepthwiseConv(win, 1, 1)
	d.needPad, d.simd = true, false
	d.padW = (win.OutW-1)*win.StrideW + (win.KW-1)*win.DilW + 1
	d.ldHalf = (d.padW + 1) / 2
	return d
}

// withoutSIMD returns a copy of d that takes the pure-Go loops (tests).
func (d *DepthwiseConv) withoutSIMD() *DepthwiseConv {
	g := NewDepthwiseConv(d.Win, d.C, d.Mult)
	if g.simd && g.Win.StrideW == 2 {
		g.ldHalf = 0
	}
	g.simd = false
	g.nhwc = false
	return g
}

// ScratchLen is the scratch one concurrent Run needs: a padded plane.
func (d *DepthwiseConv) ScratchLen() int {
	n := max(d.rowsScratchLen(), d.nhwcLen())
	if d.planeAVX2 {
		// dwPlaneAVX2's last plane, and its last row's whole registers.
		n = max(n, d.Win.InH*d.Win.InW+8*d.planeBlocks)
	}
	return n
}

// rowsScratchLen is the scratch of the per-channel paths.
func (d *DepthwiseConv) rowsScratchLen() int {
	if !d.needPad {
		return 0
	}
	n := d.padH * d.padW
	if d.ldHalf > 0 {
		n = 2 * d.padH * d.ldHalf
	}
	if d.simd || d.ldHalf > 0 {
		n += dwSlack + dwRowBufLen(d.Win.OutW)
	}
	switch {
	case d.flatSplit():
		n += 2 * d.padH * d.ldHalf // the padded plane before the split
	case d.ldHalf > 0:
		n += 2 * d.ldHalf // one padded row
	}
	return n
}

// planesLen is the length of the padded plane(s) at the start of scratch;
// the SIMD path keeps dwSlack values after them, then the output row
// buffer, then (stride 2) the padded plane before its split, or one padded
// row (see flatSplit).
func (d *DepthwiseConv) planesLen() int {
	if d.ldHalf > 0 {
		return 2 * d.padH * d.ldHalf
	}
	return d.padH * d.padW
}

// dwSlack is the padding after the planes that the SIMD row kernels may
// read (never use) when they compute a row's last, partial vector.
const dwSlack = 8

func roundUp8(n int) int { return (n + 7) &^ 7 }

// dwRowsAtOnce is the number of output rows the SIMD path computes in one
// call on planes of at most dwNarrow columns, where a row is one to three
// vectors: one vector of each row at a time, so that the rows' sums are
// independent chains of multiply-adds.
const (
	dwRowsAtOnce = 4
	dwNarrow     = 24
)

// dwRowBufLen is the length of the SIMD path's output row buffer: rows
// whose width is not a multiple of 8 are computed there whole vectors wide.
func dwRowBufLen(ow int) int { return dwRowsAtOnce * roundUp8(ow) }

// Run computes output channels [o0, o1) into y (all C*Mult x OutH x OutW
// channels' storage) from x (C x InH x InW) and w ([C*Mult, KH*KW]), then
// applies e's activation; e.Bias, when set, is the initial value of each
// channel. scratch has ScratchLen elements and is owned by this call.
func (d *DepthwiseConv) Run(x, w, y []float32, o0, o1 int, e *Epilogue, scratch []float32) {
	win := d.Win
	plane := win.InH * win.InW
	ohw := win.OutH * win.OutW
	taps := win.KH * win.KW
	if d.planes && dwPlaneWide && !e.noSIMD && o0 < o1 {
		d.runPlanes(x, w, y, o0, o1, e, scratch)
		return
	}
	if d.nhwc {
		for first := true; o0+8 <= o1; o0, first = o0+8, false {
			d.runNHWC8(x, w, y, o0, e, scratch, first)
		}
	}
	last := -1
	var xp []float32
	for o := o0; o < o1; o++ {
		ci := o / d.Mult
		if ci != last {
			xc := x[ci*plane : (ci+1)*plane]
			if d.needPad {
				// The zero borders of the padded plane stay in place from
				// one channel to the next: only the first of this call
				// writes them.
				d.pad(xc, scratch, last >= 0)
				xp = scratch
			} else {
				xp = xc
			}
			last = ci
		}
		var b float32
		if e.Bias != nil {
			b = e.Bias[o]
		}
		yo := y[o*ohw : (o+1)*ohw]
		// The SIMD rows may run past a plane into the next channel's,
		// which this call computes afterwards: not past its last.
		d.plane(xp, w[o*taps:(o+1)*taps], b, yo, o < o1-1)
		if e.Act == ActIdentity || (!e.noSIMD && biasActRowSIMD(e.Act, yo, 0)) {
			continue
		}
		var slope float32
		if e.Act == ActPReLU {
			slope = e.Slope[o]
		}
		ActivateRow(e.Act, yo, slope)
	}
}

// runNHWC8 computes the eight output channels [c, c+8) channels last,
// bandRows output rows at a time: the band's input rows are moved into
// padded positions of eight channels, computed with the bias and a
// clamping activation, and moved back; other activations are applied to
// the output planes after. The padded rows' zero columns are written when
// first is set and kept from one call to the next of a Run; the rows of
// top and bottom padding are cleared where a band reaches them.
func (d *DepthwiseConv) runNHWC8(x, w, y []float32, c int, e *Epilogue, scratch []float32, first bool) {
	win := d.Win
	k, s := win.KH, win.StrideW
	plane, ohw, taps := win.InH*win.InW, win.OutH*win.OutW, win.KH*win.KW
	ld := d.nhPadW
	np := 8 * ((d.bandIn+win.PadH)*ld + 1)
	p := scratch[:np]
	o := scratch[np : np+8*d.bandRows*win.OutW]
	w8 := scratch[np+8*d.bandRows*win.OutW : np+8*d.bandRows*win.OutW+8*taps]
	b8 := scratch[np+8*d.bandRows*win.OutW+8*taps : np+8*d.bandRows*win.OutW+8*taps+8]
	if first {
		clear(p)
	}
	for l := range 8 {
		wl := w[(c+l)*taps : (c+l+1)*taps]
		for t, v := range wl {
			w8[t*8+l] = v
		}
		b8[l] = 0
		if e.Bias != nil {
			b8[l] = e.Bias[c+l]
		}
	}
	lo, hi, act := clampOf(e.Act)
	xc := x[c*plane : (c+8)*plane]
	yc := y[c*ohw : (c+8)*ohw]
	for oh0 := 0; oh0 < win.OutH; oh0 += d.bandRows {
		rows := min(d.bandRows, win.OutH-oh0)
		if rows*min(win.InW, win.OutW) < 8 {
			// Too few positions for the moves' blocks of eight: the
			// last band ends on the last row, computing again rows of
			// the band before it.
			rows = d.bandRows
			oh0 = win.OutH - rows
		}
		// The band reads padded rows [r0, r0+in), p's rows from 0: rows
		// of top padding first where r0 is above the input (they stay
		// zero), then the input's rows from ih0, then rows of bottom
		// padding (cleared, as other bands left input rows there).
		in := (rows-1)*s + k
		r0 := oh0 * s
		top := max(win.PadH-r0, 0)
		ih0 := r0 + top - win.PadH
		ih1 := min(win.InH, r0+in-win.PadH)
		if top > 0 {
			clear(p[:8*top*ld])
		}
		if below := win.PadH + win.InH - r0; below < in {
			clear(p[8*below*ld : 8*in*ld])
		}
		n := (ih1 - ih0) * win.InW
		pb, xb := p[8*top*ld:], xc[ih0*win.InW:]
		dwPack8(pb, xb, plane, d.offs[:n])
		if n%8 != 0 {
			dwPack8(pb, xb[n-8:], plane, d.offs[n-8:n])
		}
		ob := o[:8*rows*win.OutW]
		dwNHWC8(k, s, ob, p, ld, rows, win.OutW, w8, b8, lo, hi)
		m := rows * win.OutW
		yb := yc[oh0*win.OutW:]
		dwUnpack8(yb, ohw, ob)
		if m%8 != 0 {
			dwUnpack8(yb[m-8:], ohw, ob[8*(m-8):])
		}
	}
	activatePlanes(act, e, yc, c, 8, ohw)
}

// clampOf splits an activation into the clamp [lo, hi] the depthwise
// kernels apply with the bias and what is left to apply after them (the
// identity for ReLU and ReLU6).
func clampOf(act ActKind) (lo, hi float32, rest ActKind) {
	switch act {
	case ActReLU:
		return 0, posInf32, ActIdentity
	case ActReLU6:
		return 0, 6, ActIdentity
	}
	return negInf32, posInf32, act
}

// activatePlanes applies act to the n output planes of ohw values in y,
// the first of them channel c (e's slopes), after the kernels.
func activatePlanes(act ActKind, e *Epilogue, y []float32, c, n, ohw int) {
	if act == ActIdentity {
		return
	}
	for l := range n {
		yo := y[l*ohw : (l+1)*ohw]
		if !e.noSIMD && biasActRowSIMD(act, yo, 0) {
			continue
		}
		var slope float32
		if act == ActPReLU {
			slope = e.Slope[c+l]
		}
		ActivateRow(act, yo, slope)
	}
}

// pad copies one input plane into the padded plane dst (padH x padW), or,
// for the stride-2 SIMD kernels, into its even and odd columns. With
// bordersReady, dst already holds this geometry's zero borders (an earlier
// pad of the same Run) and only the input's rows are written.
func (d *DepthwiseConv) pad(xc, dst []float32, bordersReady bool) {
	if d.ldHalf == 0 {
		d.padRows(xc, dst, d.padW, bordersReady)
		return
	}
	half := d.padH * d.ldHalf
	off := d.planesLen() + dwSlack + dwRowBufLen(d.Win.OutW)
	if !d.flatSplit() {
		d.padSplitRows(xc, dst[:half], dst[half:2*half], dst[off:off+2*d.ldHalf], bordersReady)
		return
	}
	// Stride 2 on a small plane: the padded plane, 2*ldHalf wide, after
	// the row buffer, then its even and odd columns at the start, each in
	// one pass over the whole plane (no call per row).
	p := dst[off : off+2*half]
	d.padRows(xc, p, 2*d.ldHalf, bordersReady)
	even, odd := dst[:half], dst[half:2*half]
	j := 0
	if deinterleaveSIMD(even, odd, p) {
		j = half &^ 7
	}
	for ; j < half; j++ {
		even[j], odd[j] = p[2*j], p[2*j+1]
	}
}

// flatSplit reports whether the stride-2 pad writes the whole padded plane
// and then splits it (small planes: the calls of a row-by-row split cost
// more than its bytes), or copies and splits row by row through one
// padded row (planes whose two copies would not stay in L2).
func (d *DepthwiseConv) flatSplit() bool { return d.ldHalf > 0 && d.Win.InW < dwFlatSplitMaxW }

// dwFlatSplitMaxW is the input width from which the stride-2 pad goes row
// by row.
const dwFlatSplitMaxW = 128

// padSplitRows is the stride-2 pad row by row: each input row is copied
// into the padded row prow (2*ldHalf), then split into even and odd.
func (d *DepthwiseConv) padSplitRows(xc, even, odd, prow []float32, bordersReady bool) {
	win := d.Win
	lo := min(win.PadW, len(prow))
	hi := min(win.PadW+win.InW, len(prow))
	if !bordersReady {
		clear(prow[:lo])
		clear(prow[hi:])
	}
	for r := 0; r < d.padH; r++ {
		er := even[r*d.ldHalf : (r+1)*d.ldHalf]
		or := odd[r*d.ldHalf : (r+1)*d.ldHalf]
		ih := r - win.PadH
		if ih < 0 || ih >= win.InH {
			if !bordersReady {
				clear(er)
				clear(or)
			}
			continue
		}
		copy(prow[lo:hi], xc[ih*win.InW:ih*win.InW+hi-lo])
		full := 0
		if deinterleaveSIMD(er, or, prow) {
			full = len(er) &^ 7
		}
		for j := full; j < len(er); j++ {
			er[j], or[j] = prow[2*j], prow[2*j+1]
		}
	}
}

// padRows writes the input plane xc into the zero-padded plane dst of
// padH rows of ld values (the zero borders only when not bordersReady).
func (d *DepthwiseConv) padRows(xc, dst []float32, ld int, bordersReady bool) {
	win := d.Win
	lo := min(win.PadW, ld)
	hi := min(win.PadW+win.InW, ld)
	if !bordersReady {
		for r := 0; r < d.padH; r++ {
			row := dst[r*ld : (r+1)*ld]
			if ih := r - win.PadH; ih < 0 || ih >= win.InH {
				clear(row)
				continue
			}
			clear(row[:lo])
			clear(row[hi:])
		}
	}
	// The input rows inside the padded plane: padded rows [r0, r1).
	r0 := min(win.PadH, d.padH)
	r1 := min(win.PadH+win.InH, d.padH)
	if r1 <= r0 || hi <= lo {
		return
	}
	if copyRowsSIMD(dst[r0*ld+lo:], ld, xc, win.InW, hi-lo, r1-r0) {
		return
	}
	for r := r0; r < r1; r++ {
		ih := r - win.PadH
		copy(dst[r*ld+lo:r*ld+hi], xc[ih*win.InW:ih*win.InW+hi-lo])
	}
}

// plane computes one output plane from the padded plane xp (row stride
// d.padW): y = b + sum of taps. With spill, the SIMD path may write up to
// 7 values past the plane (within y's capacity), garbage for the caller to
// overwrite.
func (d *DepthwiseConv) plane(xp, w []float32, b float32, y []float32, spill bool) {
	win := d.Win
	ld := d.padW
	ow := win.OutW
	if d.simd {
		d.planeSIMD(xp, w, b, y, spill)
		return
	}
	if win.KH == 3 && win.KW == 3 && win.DilH == 1 && win.DilW == 1 {
		switch {
		case win.StrideH == 1 && win.StrideW == 1:
			for oh := 0; oh < win.OutH; oh++ {
				dw3x3s1Row(y[oh*ow:(oh+1)*ow], xp[oh*ld:], ld, w, b)
			}
			return
		case win.StrideH == 2 && win.StrideW == 2:
			for oh := 0; oh < win.OutH; oh++ {
				dw3x3s2Row(y[oh*ow:(oh+1)*ow], xp[2*oh*ld:], ld, w, b)
			}
			return
		}
	}
	for oh := 0; oh < win.OutH; oh++ {
		yr := y[oh*ow : (oh+1)*ow]
		for i := range yr {
			yr[i] = b
		}
		for kh := 0; kh < win.KH; kh++ {
			xr := xp[(oh*win.StrideH+kh*win.DilH)*ld:]
			for kw := 0; kw < win.KW; kw++ {
				wv := w[kh*win.KW+kw]
				off := kw * win.DilW
				if win.StrideW == 1 {
					xs := xr[off : off+ow]
					for i, v := range xs {
						yr[i] += wv * v
					}
					continue
				}
				s := win.StrideW
				xs := xr[off : off+(ow-1)*s+1]
				for i := range yr {
					yr[i] += wv * xs[i*s]
				}
			}
		}
	}
}

// dw3x3s1Row computes one output row of a 3x3 stride-1 depthwise
// convolution: x holds the first of three input rows, ld apart.
func dw3x3s1Row(y, x []float32, ld int, w []float32, b float32) {
	n := len(y)
	r0 := x[: n+2 : n+2]
	r1 := x[ld : ld+n+2 : ld+n+2]
	r2 := x[2*ld : 2*ld+n+2 : 2*ld+n+2]
	w = w[:9]
	w0, w1, w2, w3, w4, w5, w6, w7, w8 := w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8]
	for i := range y {
		r0 := r0[i : i+3]
		r1 := r1[i : i+3]
		r2 := r2[i : i+3]
		s := b + w0*r0[0] + w1*r0[1] + w2*r0[2]
		s += w3*r1[0] + w4*r1[1] + w5*r1[2]
		s += w6*r2[0] + w7*r2[1] + w8*r2[2]
		y[i] = s
	}
}

// dw3x3s2Row is dw3x3s1Row at stride 2.
func dw3x3s2Row(y, x []float32, ld int, w []float32, b float32) {
	n := len(y)
	m := 2*n + 1
	r0 := x[:m:m]
	r1 := x[ld : ld+m : ld+m]
	r2 := x[2*ld : 2*ld+m : 2*ld+m]
	w = w[:9]
	w0, w1, w2, w3, w4, w5, w6, w7, w8 := w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8]
	for i := range y {
		j := 2 * i
		r0 := r0[j : j+3]
		r1 := r1[j : j+3]
		r2 := r2[j : j+3]
		s := b + w0*r0[0] + w1*r0[1] + w2*r0[2]
		s += w3*r1[0] + w4*r1[1] + w5*r1[2]
		s += w6*r2[0] + w7*r2[1] + w8*r2[2]
		y[i] = s
	}
}

// planeSIMD computes one output plane with the SIMD row kernels. A row
// whose width is not a multiple of 8 is computed whole vectors wide: into
// the row buffer at the end of the scratch, then copied; or, for planes of
// at most dwNarrow columns, four rows at a time in place, each row's last
// vector running into the next row, which is written after it, except on
// the plane's last row when spill is not set.
func (d *DepthwiseConv) planeSIMD(xp, w []float32, b float32, y []float32, spill bool) {
	win := d.Win
	k, s, ow := win.KH, win.StrideW, win.OutW
	planes := d.planesLen()
	half := d.padH * d.ldHalf
	rowBuf := xp[planes+dwSlack : planes+dwSlack+dwRowBufLen(ow)]
	if ow <= dwNarrow && win.OutH >= dwRowsAtOnce {
		// Groups of four rows; the last group ends on the last row and
		// may compute some rows again (the same values).
		n := roundUp8(ow)
		for g := 0; ; g += dwRowsAtOnce {
			oh := min(g, win.OutH-dwRowsAtOnce)
			last := oh+dwRowsAtOnce == win.OutH
			// The last row's whole vectors may run past y's capacity
			// where rows are narrower than a vector (planes of one to
			// seven columns), and past the plane in the last group
			// unless the caller allows the spill.
			end := (oh+dwRowsAtOnce-1)*ow + n
			viaBuf := ow%8 != 0 && (last && !spill || end > cap(y))
			out, ldo := rowBuf, n
			if !viaBuf {
				out, ldo = y[oh*ow:end], ow
			}
			if s == 1 {
				dwRowsSIMD(k, 1, out, ldo, n, xp[oh*d.padW:], nil, nil, d.padW, w, b)
			} else {
				dwRowsSIMD(k, 2, out, ldo, n, nil, xp[2*oh*d.ldHalf:], xp[half+2*oh*d.ldHalf:], d.ldHalf, w, b)
			}
			if viaBuf {
				for r := range dwRowsAtOnce {
					copy(y[(oh+r)*ow:(oh+r+1)*ow], rowBuf[r*n:])
				}
			}
			if last {
				return
			}
		}
	}
	oh := 0
	for ; oh < win.OutH; oh++ {
		yr := y[oh*ow : (oh+1)*ow]
		out := yr
		if ow%8 != 0 {
			out = rowBuf[:roundUp8(ow)]
		}
		if s == 1 {
			dwRowSIMD(k, 1, out, xp[oh*d.padW:], nil, nil, d.padW, w, b)
		} else {
			dwRowSIMD(k, 2, out, nil, xp[2*oh*d.ldHalf:], xp[half+2*oh*d.ldHalf:], d.ldHalf, w, b)
		}
		if ow%8 != 0 {
			copy(yr, rowBuf)
		}
	}
}

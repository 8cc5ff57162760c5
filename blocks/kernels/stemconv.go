package kernels

// StemConv is a dense 3x3 stride-2 convolution over a few input channels,
// the stem of the lightweight families (3 x 224 x 224 in, 16 to 64
// channels out), prepared for inference. It computes four output channels
// at a time directly from the input, without the im2col matrix a GEMM
// would need (27 rows of the output's size, written and read again) and
// without the GEMM's short depth (27).
//
// Pad writes each input channel's zero-padded plane, split into its even
// and odd columns as for the stride-2 depthwise kernels, into a buffer;
// Run then computes any range of output rows from it, the bias added and
// the epilogue's activation applied.
type StemConv struct {
	Win    Window
	C, Out int
	planes *DepthwiseConv // the even and odd padded layout of one channel
	region int            // buffer floats per input channel
	w      []float32      // per block of four outputs: 4 biases, then [C][3][3][4]
	simd   bool           // the AVX2 kernel (tests clear it)
	wide   bool           // the AVX-512 kernel, for rows of 16 outputs or more (tests clear it)
}

// stemOuts is the number of output channels the kernel computes at once.
const stemOuts = 4

// NewStemConv prepares the convolution of c input channels into out
// output channels over win with the weight w ([out, c, 3, 3]) and bias
// (nil for none). It returns nil where StemConv does not apply: other than
// 3x3 at stride 2 without dilation, or out not a multiple of four.
func NewStemConv(win Window, c, out int, w, bias []float32) *StemConv {
	win.DilH, win.DilW = max(win.DilH, 1), max(win.DilW, 1)
	if win.KH != 3 || win.KW != 3 || win.StrideH != 2 || win.StrideW != 2 || win.DilH != 1 || win.DilW != 1 ||
		out%stemOuts != 0 || c < 1 {
		return nil
	}
	s := &StemConv{Win: win, C: c, Out: out, simd: stemSIMD()}
	s.wide = s.simd && stemWideSIMD()
	s.planes = newEvenOddPlanes(win)
	s.region = s.planes.ScratchLen()
	const taps = 9
	s.w = make([]float32, out*(1+c*taps))
	for b := 0; b < out/stemOuts; b++ {
		blk := s.w[b*stemOuts*(1+c*taps):]
		for j := range stemOuts {
			o := b*stemOuts + j
			if bias != nil {
				blk[j] = bias[o]
			}
			for ci := range c {
				for t := range taps {
					blk[stemOuts+(ci*taps+t)*stemOuts+j] = w[(o*c+ci)*taps+t]
				}
			}
		}
	}
	return s
}

// BufferLen is the length of the buffer Pad fills and Run reads: each
// input channel's padded planes.
func (s *StemConv) BufferLen() int { return s.C * s.region }

// Weights is the laid-out weights and biases Run reads (for cache
// control; not to be written).
func (s *StemConv) Weights() []float32 { return s.w }

// StemTileLen is the length of the tile Run finishes a row in when OutW is
// not a multiple of 8.
const StemTileLen = stemOuts * 8

// Pad writes input channels [c0, c1) of x (C x InH x InW) into buf. Parts
// of one buffer may be written concurrently for disjoint channel ranges.
func (s *StemConv) Pad(x, buf []float32, c0, c1 int) {
	plane := s.Win.InH * s.Win.InW
	for ci := c0; ci < c1; ci++ {
		s.planes.pad(x[ci*plane:(ci+1)*plane], buf[ci*s.region:(ci+1)*s.region], false)
	}
}

// Run computes output rows [oh0, oh1) of every output channel into y
// (Out x OutH x OutW) from buf, which Pad has filled for all channels, then
// applies e's activation (e.Bias is ignored: the bias was given to
// NewStemConv). tile has StemTileLen elements and is owned by the call;
// calls may run concurrently on disjoint row ranges of one buffer.
func (s *StemConv) Run(buf, tile, y []float32, oh0, oh1 int, e *Epilogue) {
	win := s.Win
	ow, ohw := win.OutW, win.OutH*win.OutW
	ld := s.planes.ldHalf
	half := s.planes.padH * ld
	per := stemOuts * (1 + s.C*9)
	act := Epilogue{Act: e.Act, Slope: e.Slope, noSIMD: e.noSIMD}
	// ReLU and ReLU6 clamp in the kernel as it stores; the last, partial
	// vector of a row is computed again over the row's last 8 outputs (the
	// same values) rather than in the tile.
	lo, hi, clamp := negInf32, posInf32, s.simd && ow >= 8 && !e.noSIMD && stemClampSIMD()
	// In vectors of 16, every activation goes through the clamping
	// kernel (a clamp to [-Inf, +Inf] for those it does not fuse), and
	// a row's last, partial vector is computed again in the same way.
	wide := s.wide && ow >= 16 && !e.noSIMD
	if clamp || wide {
		switch act.Act {
		case ActReLU:
			lo, act.Act = 0, ActIdentity
		case ActReLU6:
			lo, hi, act.Act = 0, 6, ActIdentity
		}
	}
	full := ow / 8
	tail := tile[:StemTileLen]
	for oh := oh0; oh < oh1; oh++ {
		for b := 0; b < s.Out/stemOuts; b++ {
			w := s.w[b*per : (b+1)*per]
			yb := y[b*stemOuts*ohw+oh*ow:]
			e0 := buf[2*oh*ld:]
			o0 := buf[half+2*oh*ld:]
			switch {
			case !s.simd:
				stemBlockGo(yb, ohw, ow, e0, o0, s.region, ld, w, s.C)
			case wide:
				stemConvWideSIMD(yb, ohw, ow/16, e0, o0, s.region, ld, w, s.C, lo, hi)
				if ow%16 != 0 {
					stemConvWideSIMD(yb[ow-16:], ohw, 1, e0[ow-16:], o0[ow-16:], s.region, ld, w, s.C, lo, hi)
				}
			case clamp:
				stemConvClampSIMD(yb, ohw, full, e0, o0, s.region, ld, w, s.C, lo, hi)
				if ow%8 != 0 {
					stemConvClampSIMD(yb[ow-8:], ohw, 1, e0[ow-8:], o0[ow-8:], s.region, ld, w, s.C, lo, hi)
				}
			default:
				if full > 0 {
					stemConvSIMD(yb, ohw, full, e0, o0, s.region, ld, w, s.C)
				}
				if r := ow - 8*full; r > 0 {
					stemConvSIMD(tail, 8, 1, e0[8*full:], o0[8*full:], s.region, ld, w, s.C)
					for j := range stemOuts {
						copy(yb[j*ohw+8*full:j*ohw+ow], tail[j*8:j*8+r])
					}
				}
			}
			if act.Act != ActIdentity {
				act.Apply(yb, ohw, b*stemOuts, stemOuts, ow, nil, 0)
			}
		}
	}
}

// stemBlockGo is the kernel in Go: n outputs of one row of four output
// channels (see stemConvSIMD).
func stemBlockGo(y []float32, ldy, n int, e, o []float32, ldc, ld int, w []float32, c int) {
	for j := range stemOuts {
		yr := y[j*ldy : j*ldy+n]
		for i := range yr {
			yr[i] = w[j]
		}
	}
	for ci := range c {
		for kh := range 3 {
			er := e[ci*ldc+kh*ld:]
			or := o[ci*ldc+kh*ld:]
			for kw := range 3 {
				p := er[kw/2 : kw/2+n]
				if kw%2 == 1 {
					p = or[:n]
				}
				for j := range stemOuts {
					wv := w[stemOuts+((ci*3+kh)*3+kw)*stemOuts+j]
					yr := y[j*ldy : j*ldy+n]
					for i, v := range p {
						yr[i] += wv * v
					}
				}
			}
		}
	}
}

package blocks

import "nas/blocks/kernels"

// The steps of a Plan. Each splits its work into parts by output channels
// (or by output tiles, for GEMMs) so that parts never write the same memory.

// span returns the part-th of parts contiguous ranges of [0, n).
func span(n, part, parts int) (lo, hi int) {
	return n * part / parts, n * (part + 1) / parts
}

// gemmStep is a convolution as a GEMM per group: weights [Out, K] times the
// input (pointwise) or the arena's im2col matrix, with the epilogue applied
// to each output tile. Tiles are column chunks of colChunk positions, and
// row blocks when there are fewer chunks than threads or when a split by
// columns would put the two sides of a boundary in one cache line.
type gemmStep struct {
	groups, m, k, n int                // per group: m outputs, k = In/groups*KH*KW, n positions
	packed          []*kernels.PackedA // per group and row block: the weights, packed once
	// packedT, per group and row block, holds the weights packed for the
	// transposed form instead (packed is nil there) where the block's rows
	// and the step's positions, in one chunk, take fewer tiles that way
	// (kernels.PreferT: few positions, many channels).
	packedT []*kernels.PackedT
	epi     kernels.Epilogue

	src, dst loc
	res      *loc // residual, or nil
	fromCols bool // B is the arena's im2col matrix, or with implicit its padded planes
	// implicit, when not nil, is B as the padded planes of the input in
	// the arena's column buffer (a convPadStep writes them), packed panel
	// by panel (kernels.SgemmPackedImplicit).
	implicit *kernels.ImplicitB

	colChunk, rowBlocks, tiles int
	rowAt                      []int // row block rb is rows rowAt[rb] to rowAt[rb+1]
	nparts                     int
}

// gemmColChunk is the width of the column chunks a GEMM step computes and
// finishes (epilogue) one at a time: the micro-kernels pack B in blocks of
// 512 columns, and a chunk of output this wide stays in L2 for the epilogue.
const gemmColChunk = 512

func newGemmStep(d kernels.ConvDims, w []float32, epi kernels.Epilogue, implicit *kernels.ImplicitB, threads, minWork int) *gemmStep {
	s := &gemmStep{groups: d.Groups, m: d.Out / d.Groups, k: d.In / d.Groups * d.KH * d.KW,
		n: d.OutH * d.OutW, epi: epi, implicit: implicit}
	s.colChunk = min(gemmColChunk, s.n)
	chunks := (s.n + s.colChunk - 1) / s.colChunk
	s.rowBlocks = 1
	work := s.groups * s.m * s.k * s.n
	unit := lineRows(s.n)
	if threads > 1 && work >= minWork {
		if s.groups == 1 && unit > 1 && s.m >= threads*max(4*unit, 16) {
			// The output's rows do not start on cache lines (14x14,
			// 55x55 planes): a split by columns would share a line
			// between the parts in every row, which both cores then
			// write at once. Split the rows instead, at multiples of
			// unit rows, where the lines part.
			s.rowBlocks = threads
		}
		for s.groups*chunks*s.rowBlocks < threads && s.m/(s.rowBlocks+1) >= 16 {
			s.rowBlocks++
		}
		if s.groups*chunks*s.rowBlocks < threads && s.colChunk > 64 {
			// Few rows: split the columns finer instead.
			s.colChunk = max(64, (s.n+threads-1)/threads)
			chunks = (s.n + s.colChunk - 1) / s.colChunk
		}
		if s.groups == 1 && s.rowBlocks == 1 && chunks > threads && chunks%threads != 0 {
			// As many chunks for each thread (3136 positions: 8 chunks
			// of 400, not 7 of 512, four of them on one thread), in
			// whole panels of 16 columns.
			even := (chunks + threads - 1) / threads * threads
			s.colChunk = ((s.n+even-1)/even + 15) &^ 15
			chunks = (s.n + s.colChunk - 1) / s.colChunk
		}
	}
	s.rowAt = alignedSpans(s.m, s.rowBlocks, unit)
	s.tiles = s.groups * chunks * s.rowBlocks
	for g := 0; g < s.groups; g++ {
		for rb := 0; rb < s.rowBlocks; rb++ {
			r0, r1 := s.rowAt[rb], s.rowAt[rb+1]
			row := g*s.m + r0
			if chunks == 1 && implicit == nil && kernels.PreferT(r1-r0, s.n) {
				s.packed = append(s.packed, nil)
				s.packedT = append(s.packedT, kernels.PackT(r1-r0, s.k, 1, w[row*s.k:], s.k))
				continue
			}
			s.packed = append(s.packed, kernels.PackA(false, r1-r0, s.k, 1, w[row*s.k:], s.k))
			s.packedT = append(s.packedT, nil)
		}
	}
	s.nparts = 1
	if threads > 1 && work >= minWork {
		s.nparts = min(threads, s.tiles)
	}
	return s
}

func (s *gemmStep) parts() int { return s.nparts }

// lineRows is the smallest number of rows of n float32s that fill whole
// 64-byte cache lines: a boundary between row blocks at a multiple of it
// falls between lines (the output's storage starts on a line).
func lineRows(n int) int {
	g := 16
	for n%g != 0 {
		g /= 2
	}
	return 16 / g
}

// alignedSpans splits [0, m) into parts contiguous ranges, as equal as
// whole multiples of unit allow: range i is [at[i], at[i+1]). Where the
// ranges would have fewer than 4*unit rows, rounding to unit would leave
// them more than an eighth apart, and they are equal instead: one cache
// line shared costs less than that imbalance.
func alignedSpans(m, parts, unit int) []int {
	at := make([]int, parts+1)
	for i := range at {
		at[i], _ = span(m, i, parts)
		if m >= 4*parts*unit {
			at[i] = min((at[i]+unit/2)/unit*unit, m)
		}
	}
	at[parts] = m
	return at
}

// workspaceLen is the GEMM workspace one part of the step needs.
func (s *gemmStep) workspaceLen() int {
	n := 0
	for i, p := range s.packed {
		if p == nil {
			n = max(n, s.packedT[i].WorkspaceLen(s.n))
			continue
		}
		n = max(n, p.WorkspaceLen(min(s.colChunk, s.n)))
	}
	return n
}

func (s *gemmStep) run(a *arena, part, parts int) {
	var x []float32
	if s.fromCols {
		x = a.cols
	} else {
		x = a.at(s.src)
	}
	y := a.at(s.dst)
	var res []float32
	inPlace := false
	if s.res != nil {
		res = a.at(*s.res)
		inPlace = s.res.slot == s.dst.slot && s.res.off == s.dst.off && s.res.slot >= 0
	}
	chunks := (s.n + s.colChunk - 1) / s.colChunk
	t0, t1 := span(s.tiles, part, parts)
	for t := t0; t < t1; t++ {
		g := t / (chunks * s.rowBlocks)
		rb := t / chunks % s.rowBlocks
		cb := t % chunks
		r0 := s.rowAt[rb]
		j0 := cb * s.colChunk
		j1 := min(j0+s.colChunk, s.n)
		row := g*s.m + r0
		yo := y[row*s.n+j0:]
		beta := float32(0)
		var rt []float32
		if inPlace {
			beta = 1 // y already holds the residual
		} else if res != nil {
			rt = res[row*s.n+j0:]
		}
		// The epilogue runs on each strip of rows as the product
		// finishes it, while it is in L1.
		epi := kernels.RowEpilogue{E: &s.epi, Row0: row, Res: rt, LdRes: s.n}
		if s.implicit != nil {
			kernels.SgemmPackedImplicit(s.packed[rb], s.implicit, x, j0, j1-j0, beta, yo, s.n, a.gemmWS[part], &epi)
			continue
		}
		if pt := s.packedT[g*s.rowBlocks+rb]; pt != nil {
			kernels.SgemmPackedT(pt, j1-j0, x[g*s.k*s.n+j0:], s.n, beta, yo, s.n, a.gemmWS[part], &epi)
			continue
		}
		kernels.SgemmPackedEpilogue(s.packed[g*s.rowBlocks+rb], false, j1-j0, x[g*s.k*s.n+j0:], s.n, beta, yo, s.n, a.gemmWS[part], &epi)
	}
}

// convPadStep writes the input's padded planes for an implicit B into the
// arena's column buffer, split by input channels.
type convPadStep struct {
	b      *kernels.ImplicitB
	src    loc
	nparts int
}

func (s *convPadStep) parts() int { return s.nparts }

func (s *convPadStep) run(a *arena, part, parts int) {
	c0, c1 := span(s.b.C, part, parts)
	s.b.Pad(a.at(s.src), c0, c1, a.cols)
}

// im2colStep unfolds the input into the arena's column matrix, split by
// input channels.
type im2colStep struct {
	win    kernels.Window
	c      int
	src    loc
	nparts int
}

func (s *im2colStep) parts() int { return s.nparts }

func (s *im2colStep) run(a *arena, part, parts int) {
	x := a.at(s.src)
	c0, c1 := span(s.c, part, parts)
	plane := s.win.InH * s.win.InW
	rows := s.win.KH * s.win.KW * s.win.OutH * s.win.OutW
	kernels.Im2col(s.win, c1-c0, x[c0*plane:c1*plane], a.cols[c0*rows:c1*rows])
}

// stemPadStep writes the padded planes of a stem convolution's input into
// the arena's column buffer, split by input channels.
type stemPadStep struct {
	conv   *kernels.StemConv
	src    loc
	nparts int
}

func (s *stemPadStep) parts() int { return s.nparts }

func (s *stemPadStep) run(a *arena, part, parts int) {
	c0, c1 := span(s.conv.C, part, parts)
	s.conv.Pad(a.at(s.src), a.cols, c0, c1)
}

// stemStep computes a stem convolution from the planes stemPadStep wrote,
// split by output rows.
type stemStep struct {
	conv   *kernels.StemConv
	epi    kernels.Epilogue
	dst    loc
	nparts int
}

func (s *stemStep) parts() int { return s.nparts }

func (s *stemStep) run(a *arena, part, parts int) {
	r0, r1 := span(s.conv.Win.OutH, part, parts)
	s.conv.Run(a.cols, a.scratch[part], a.at(s.dst), r0, r1, &s.epi)
}

// dwStep is a depthwise convolution with its epilogue, split by output
// channels; each part pads into its own scratch plane.
type dwStep struct {
	conv     *kernels.DepthwiseConv
	w        []float32
	epi      kernels.Epilogue
	out      int
	src, dst loc
	nparts   int
}

func (s *dwStep) parts() int { return s.nparts }

func (s *dwStep) run(a *arena, part, parts int) {
	// Whole groups of eight channels per part where there are enough: the
	// channels-last kernels compute eight at a time.
	o0, o1 := span(s.out, part, parts)
	if g := s.out / 8; g >= parts {
		o0, o1 = 8*(g*part/parts), 8*(g*(part+1)/parts)
		if part == parts-1 {
			o1 = s.out
		}
	}
	s.conv.Run(a.at(s.src), s.w, a.at(s.dst), o0, o1, &s.epi, a.scratch[part])
}

// affineStep is y = act(x*scale + shift) per channel (a batch norm that
// could not be folded), or y = act(x) when scale is nil.
type affineStep struct {
	scale, shift []float32
	c, hw        int
	epi          kernels.Epilogue
	src, dst     loc
	nparts       int
}

func (s *affineStep) parts() int { return s.nparts }

func (s *affineStep) run(a *arena, part, parts int) {
	x, y := a.at(s.src), a.at(s.dst)
	c0, c1 := span(s.c, part, parts)
	for ch := c0; ch < c1; ch++ {
		xr := x[ch*s.hw : (ch+1)*s.hw]
		yr := y[ch*s.hw : (ch+1)*s.hw]
		if s.scale != nil {
			k, b := s.scale[ch], s.shift[ch]
			for i, v := range xr {
				yr[i] = v*k + b
			}
		} else if &xr[0] != &yr[0] {
			copy(yr, xr)
		}
		var slope float32
		if s.epi.Act == kernels.ActPReLU {
			slope = s.epi.Slope[ch]
		}
		kernels.ActivateRow(s.epi.Act, yr, slope)
	}
}

// poolStep is max or average pooling, split by channels; max pooling
// reduces rows in the part's scratch.
type poolStep struct {
	win      kernels.Window
	c        int
	max      bool
	src, dst loc
	nparts   int
}

func (s *poolStep) parts() int { return s.nparts }

func (s *poolStep) run(a *arena, part, parts int) {
	x, y := a.at(s.src), a.at(s.dst)
	c0, c1 := span(s.c, part, parts)
	in, out := s.win.InH*s.win.InW, s.win.OutH*s.win.OutW
	if s.max {
		kernels.MaxPoolRows(s.win, c1-c0, x[c0*in:c1*in], y[c0*out:c1*out], a.scratch[part])
		return
	}
	kernels.AvgPool2D(s.win, c1-c0, x[c0*in:c1*in], y[c0*out:c1*out])
}

// gapStep is global average pooling, split by channels.
type gapStep struct {
	c, hw    int
	src, dst loc
	nparts   int
}

func (s *gapStep) parts() int { return s.nparts }

func (s *gapStep) run(a *arena, part, parts int) {
	x, y := a.at(s.src), a.at(s.dst)
	c0, c1 := span(s.c, part, parts)
	kernels.GlobalAvgPool(c1-c0, s.hw, x[c0*s.hw:c1*s.hw], y[c0:c1])
}

// linearStep is y = act(x Wt + bias) for one image: a row vector times the
// transposed weight, split by output units.
type linearStep struct {
	wt, bias []float32
	k, units int
	act      kernels.ActKind
	src, dst loc
	nparts   int
}

func (s *linearStep) parts() int { return s.nparts }

func (s *linearStep) run(a *arena, part, parts int) {
	x, y := a.at(s.src), a.at(s.dst)
	u0, u1 := span(s.units, part, parts)
	if u0 == u1 {
		return
	}
	kernels.MatVecT(y[u0:u1], x, s.wt[u0:], s.units)
	yr := y[u0:u1]
	if s.bias != nil {
		kernels.AddTo(yr, s.bias[u0:u1])
	}
	kernels.ActivateRow(s.act, yr, 0)
}

// addStep is y = act(a + b), split by channels.
type addStep struct {
	c, hw     int
	epi       kernels.Epilogue
	a, b, dst loc
	nparts    int
}

func (s *addStep) parts() int { return s.nparts }

func (s *addStep) run(ar *arena, part, parts int) {
	x, z, y := ar.at(s.a), ar.at(s.b), ar.at(s.dst)
	c0, c1 := span(s.c, part, parts)
	kernels.Add(y[c0*s.hw:c1*s.hw], x[c0*s.hw:c1*s.hw], z[c0*s.hw:c1*s.hw])
	if s.epi.Act == kernels.ActIdentity {
		return
	}
	for ch := c0; ch < c1; ch++ {
		var slope float32
		if s.epi.Act == kernels.ActPReLU {
			slope = s.epi.Slope[ch]
		}
		kernels.ActivateRow(s.epi.Act, y[ch*s.hw:(ch+1)*s.hw], slope)
	}
}

// mulStep scales each channel of x by one factor (squeeze-and-excitation).
type mulStep struct {
	c, hw     int
	x, s, dst loc
	nparts    int
}

func (s *mulStep) parts() int { return s.nparts }

func (s *mulStep) run(a *arena, part, parts int) {
	x, f, y := a.at(s.x), a.at(s.s), a.at(s.dst)
	c0, c1 := span(s.c, part, parts)
	kernels.MulChannels(y[c0*s.hw:c1*s.hw], x[c0*s.hw:c1*s.hw], f[c0:c1], c1-c0, s.hw)
}

// concatStep copies its inputs' channels into the output: input channel
// i (counting through all inputs in order) goes to output channel dst[i]
// (in order when dst is nil). A channel shuffle is one input with a
// permutation; a concat followed by a shuffle is one step.
type concatStep struct {
	srcs   []loc
	hw     int
	to     []int
	out    loc
	nparts int
}

func (s *concatStep) parts() int { return max(s.nparts, 1) }

// run copies the output channels [c0, c1) of this part (in the order of
// the inputs' channels, before the shuffle) to their places.
func (s *concatStep) run(a *arena, part, parts int) {
	y := a.at(s.out)
	c0, c1 := span(len(y)/s.hw, part, parts)
	i := 0 // the first channel of the current input
	for _, l := range s.srcs {
		x := a.at(l)
		n := len(x) / s.hw
		lo, hi := max(c0-i, 0), min(c1-i, n)
		switch {
		case lo >= hi:
		case s.to == nil:
			copy(y[(i+lo)*s.hw:(i+hi)*s.hw], x[lo*s.hw:hi*s.hw])
		default:
			for c := lo; c < hi; c++ {
				o := s.to[i+c]
				copy(y[o*s.hw:(o+1)*s.hw], x[c*s.hw:(c+1)*s.hw])
			}
		}
		i += n
	}
}

// shuffleTargets returns the output channel of each input channel of a
// channel shuffle: input channel g*(c/groups)+j goes to j*groups+g.
func shuffleTargets(c, groups int) []int {
	per := c / groups
	to := make([]int, c)
	for g := 0; g < groups; g++ {
		for j := 0; j < per; j++ {
			to[g*per+j] = j*groups + g
		}
	}
	return to
}

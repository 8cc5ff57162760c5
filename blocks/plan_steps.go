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

// newGemmStep compiles a convolution as a GEMM step. With toDepthwise set,
// a depthwise step split into threads parts reads the output alone: the
// rows are split where that step splits its channels (dwChannelSpan), so
// that each thread's depthwise part reads what the same thread wrote.
func newGemmStep(d kernels.ConvDims, w []float32, epi kernels.Epilogue, implicit *kernels.ImplicitB, threads, minWork int, toDepthwise bool) *gemmStep {
	s := &gemmStep{groups: d.Groups, m: d.Out / d.Groups, k: d.In / d.Groups * d.KH * d.KW,
		n: d.OutH * d.OutW, epi: epi, implicit: implicit}
	s.colChunk = min(gemmColChunk, s.n)
	chunks := (s.n + s.colChunk - 1) / s.colChunk
	s.rowBlocks = 1
	work := s.groups * s.m * s.k * s.n
	unit := lineRows(s.n)
	alignDW := threads > 1 && work >= minWork && toDepthwise && s.groups == 1 && s.m >= threads
	if alignDW {
		s.rowBlocks = threads
		s.rowAt = make([]int, threads+1)
		for p := range threads {
			s.rowAt[p], s.rowAt[p+1] = dwChannelSpan(s.m, p, threads)
		}
	}
	if threads > 1 && work >= minWork && !alignDW {
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
	if !alignDW {
		s.rowAt = alignedSpans(s.m, s.rowBlocks, unit)
	}
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
	o0, o1 := dwChannelSpan(s.out, part, parts)
	s.conv.Run(a.at(s.src), s.w, a.at(s.dst), o0, o1, &s.epi, a.scratch[part])
}

// dwChannelSpan is the part-th of parts ranges of a depthwise step's out
// channels: whole groups of eight channels per part where there are
// enough, since the channels-last kernels compute eight at a time. The
// GEMMs on either side of a depthwise step split at the same channels.
func dwChannelSpan(out, part, parts int) (lo, hi int) {
	lo, hi = span(out, part, parts)
	if g := out / 8; g >= parts {
		lo, hi = 8*(g*part/parts), 8*(g*(part+1)/parts)
		if part == parts-1 {
			hi = out
		}
	}
	return lo, hi
}

// gemmKStep is a pointwise convolution that reads a depthwise step's
// output alone, split by input channels where the depthwise step split
// its output: each thread multiplies the channels it has just written,
// so the depthwise output, the widest tensor of an inverted residual,
// stays in the cache of the core that wrote it. Part 0 writes its product
// into the output (onto the residual where they share storage, else with
// the residual added in its stores), part p > 0 into its scratch; a
// reduceKStep then adds the products and applies the epilogue. Run as one
// part (a batch's images, each on its own thread), it accumulates the
// ranges one after the other into the output and applies the epilogue
// with the last; reduceKStep then does nothing.
type gemmKStep struct {
	m, k, n  int
	kAt      []int              // part p multiplies input channels kAt[p] to kAt[p+1]
	packed   []*kernels.PackedA // per part, or nil where packedT holds it
	packedT  []*kernels.PackedT // per part: the transposed form (kernels.PreferT)
	colChunk int
	epi      kernels.Epilogue
	addRes   kernels.Epilogue // the identity: part 0 adds the residual in its stores
	src, dst loc
	res      *loc
	inPlace  bool // the residual shares the output's storage
	nparts   int
}

func newGemmKStep(d kernels.ConvDims, w []float32, epi kernels.Epilogue, parts int) *gemmKStep {
	s := &gemmKStep{m: d.Out, k: d.In, n: d.OutH * d.OutW, epi: epi, nparts: parts}
	s.colChunk = min(gemmColChunk, s.n)
	t := s.n <= gemmColChunk && kernels.PreferT(s.m, s.n)
	s.kAt = make([]int, parts+1)
	for p := range parts {
		s.kAt[p], s.kAt[p+1] = dwChannelSpan(s.k, p, parts)
		k0, k1 := s.kAt[p], s.kAt[p+1]
		if t {
			s.packed = append(s.packed, nil)
			s.packedT = append(s.packedT, kernels.PackT(s.m, k1-k0, 1, w[k0:], s.k))
			continue
		}
		s.packed = append(s.packed, kernels.PackA(false, s.m, k1-k0, 1, w[k0:], s.k))
		s.packedT = append(s.packedT, nil)
	}
	return s
}

func (s *gemmKStep) parts() int { return s.nparts }

// workspaceLen is the GEMM workspace one part of the step needs.
func (s *gemmKStep) workspaceLen() int {
	n := 0
	for i, p := range s.packed {
		if p == nil {
			n = max(n, s.packedT[i].WorkspaceLen(s.n))
			continue
		}
		n = max(n, p.WorkspaceLen(s.colChunk))
	}
	return n
}

func (s *gemmKStep) run(a *arena, part, parts int) {
	x, y := a.at(s.src), a.at(s.dst)
	var res []float32
	if s.res != nil && !s.inPlace {
		res = a.at(*s.res)
	}
	if parts == 1 {
		for p := range s.nparts {
			beta := float32(1)
			if p == 0 && !s.inPlace {
				beta = 0
			}
			var epi *kernels.RowEpilogue
			if p == s.nparts-1 {
				epi = &kernels.RowEpilogue{E: &s.epi, Res: res, LdRes: s.n}
			}
			s.product(a, x, p, beta, y, epi, a.gemmWS[0])
		}
		return
	}
	if part == 0 {
		beta := float32(0)
		var epi *kernels.RowEpilogue
		if s.inPlace {
			beta = 1 // y already holds the residual
		} else if res != nil {
			epi = &kernels.RowEpilogue{E: &s.addRes, Res: res, LdRes: s.n}
		}
		s.product(a, x, 0, beta, y, epi, a.gemmWS[0])
		return
	}
	s.product(a, x, part, 0, a.scratch[part][:s.m*s.n], nil, a.gemmWS[part])
}

// product computes input channels kAt[p] to kAt[p+1]'s share of the
// output into c (beta times c added), column chunk by column chunk, with
// the epilogue epi (nil for none) on each chunk as it finishes.
func (s *gemmKStep) product(a *arena, x []float32, p int, beta float32, c []float32, epi *kernels.RowEpilogue, ws []float32) {
	xp := x[s.kAt[p]*s.n:]
	if pt := s.packedT[p]; pt != nil {
		kernels.SgemmPackedT(pt, s.n, xp, s.n, beta, c, s.n, ws, epi)
		return
	}
	for j0 := 0; j0 < s.n; j0 += s.colChunk {
		j1 := min(j0+s.colChunk, s.n)
		e := epi
		if e != nil && e.Res != nil {
			ec := *e
			ec.Res = e.Res[j0:]
			e = &ec
		}
		kernels.SgemmPackedEpilogue(s.packed[p], false, j1-j0, xp[j0:], s.n, beta, c[j0:], s.n, ws, e)
	}
}

// reduceKStep finishes a gemmKStep run in parts: it adds the parts'
// products to part 0's and applies the epilogue, split by output rows at
// cache-line boundaries.
type reduceKStep struct {
	g     *gemmKStep
	rowAt []int // part p finishes rows rowAt[p] to rowAt[p+1]
}

func (s *reduceKStep) parts() int { return s.g.nparts }

func (s *reduceKStep) run(a *arena, part, parts int) {
	if parts == 1 {
		return // the product ran as one part and applied the epilogue
	}
	g := s.g
	y := a.at(g.dst)
	r0, r1 := s.rowAt[part], s.rowAt[part+1]
	if r0 == r1 {
		return
	}
	rows := y[r0*g.n : r1*g.n]
	for p := 2; p < parts; p++ {
		kernels.AddTo(rows, a.scratch[p][r0*g.n:r1*g.n])
	}
	g.epi.Apply(rows, g.n, r0, r1-r0, g.n, a.scratch[1][r0*g.n:r1*g.n], g.n)
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

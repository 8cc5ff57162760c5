package kernels

import (
	"fmt"
	"slices"
)

// PackedA is the left operand of a matrix product, alpha*op(A), packed once
// in the layout the micro-kernels of this CPU read: for every kc-deep block
// of columns, the mr-row panels one after the other (the last, shorter
// one, as wide as the edge kernel that computes it, padded with zeros).
//
// Weights of a convolution or a linear layer are constant: packing them
// when a plan is made, instead of on every product, saves the packing (8%
// of a MobileNetV2 inference) and lets the kernels always read A packed,
// even where Sgemm would read it unpacked.
type PackedA struct {
	kern, rowsKernel *microKernel
	m, k             int
	rows             int // m rounded up to whole panels (the last one rowsKernel.mr high)
	data             []float32
}

// PackA packs alpha*op(A), where op(A) is m x k (A as stored has row
// stride lda, and is k x m when transA is set), for SgemmPacked.
func PackA(transA bool, m, k int, alpha float32, a []float32, lda int) *PackedA {
	return packAWith(defaultKernel, transA, m, k, alpha, a, lda)
}

// packAWith is PackA for the micro-kernel family kern.
func packAWith(kern *microKernel, transA bool, m, k int, alpha float32, a []float32, lda int) *PackedA {
	p := &PackedA{kern: kern, rowsKernel: rowsKernelFor(kern, m), m: max(m, 0), k: max(k, 0)}
	if p.m == 0 || p.k == 0 {
		return p
	}
	mr := kern.mr
	p.rows = m / mr * mr
	if m%mr != 0 {
		p.rows += p.rowsKernel.mr
	}
	p.data = make([]float32, p.rows*p.k)
	kc := min(kern.kc, k)
	for pc := 0; pc < k; pc += kc {
		kb := min(kc, k-pc)
		block := p.data[pc*p.rows:]
		for ir := 0; ir < m; ir += mr {
			pmr := mr
			if m-ir < mr {
				pmr = p.rowsKernel.mr
			}
			packA(transA, a, lda, ir, min(mr, m-ir), pc, kb, pmr, alpha, block[ir*kb:ir*kb+pmr*kb])
		}
	}
	return p
}

// rowsKernelFor returns the kernel of family kern for the last rows of an
// m-row product: the narrowest edge kernel that covers them, or kern.
func rowsKernelFor(kern *microKernel, m int) *microKernel {
	if rest := m % kern.mr; rest > 0 {
		for _, e := range kern.edges {
			if e.mr >= rest {
				return e
			}
		}
	}
	return kern
}

// rowSplit says how the rows of an m-row product split into panels for
// the kernels of family kern: rows below at are panels of kern.mr rows,
// and the rows from at on panels of tail.mr rows (the last one possibly
// not full). Without a fill kernel, the rows past the last whole panel of
// mr take one edge panel (rowsKernelFor). With one, unless an edge
// kernel of full rate fits the rest exactly, m splits into as many panels
// of mr rows and as few of mr-1 as add up to m, when any do.
func rowSplit(kern *microKernel, m int) (at int, tail *microKernel) {
	rest := m % kern.mr
	edge := rowsKernelFor(kern, m)
	if f := kern.fill; f != nil && rest != 0 && !(edge.fullRate && edge.mr == rest) {
		for b := 1; b < kern.mr && b*f.mr <= m; b++ {
			if (m-b*f.mr)%kern.mr == 0 {
				return m - b*f.mr, f
			}
		}
	}
	return m - rest, edge
}

// Rows is the number of rows of op(A).
func (p *PackedA) Rows() int { return p.m }

// Depth is the number of columns of op(A), the k of the product.
func (p *PackedA) Depth() int { return p.k }

// Data is the packed matrix as SgemmPacked reads it (for cache control;
// not to be written).
func (p *PackedA) Data() []float32 { return p.data }

// WorkspaceLen is the length of the workspace SgemmPacked needs for a
// product with n columns.
func (p *PackedA) WorkspaceLen(n int) int {
	kern := p.kern
	kc, nc := min(kern.kc, p.k), min(kern.nc, roundUp(max(n, 1), kern.nr))
	return kc*nc + kern.mr*kern.nr
}

// SgemmPacked computes C = A*op(B) + beta*C, where A is the packed m x k
// operand (alpha already in it), op(B) is k x n (B is n x k when transB is
// set; ldb is its row stride as stored) and C is m x n with row stride ldc.
// When beta is 0, C is not read. ws is the caller's workspace, at least
// a.WorkspaceLen(n) long: SgemmPacked allocates nothing and shares nothing,
// so calls on different workspaces may run at once.
//
// It panics if ws is too short (a programmer error).
func SgemmPacked(a *PackedA, transB bool, n int, b []float32, ldb int, beta float32, c []float32, ldc int, ws []float32) {
	SgemmPackedEpilogue(a, transB, n, b, ldb, beta, c, ldc, ws, nil)
}

// RowEpilogue is an epilogue SgemmPackedEpilogue applies to each strip of
// rows of C as soon as the strip is final, while it is in L1: E.Apply over
// the strip's rows, whose first is channel Row0 + the strip's row, with the
// residual Res (row stride LdRes) from the strip's first row, if not nil.
type RowEpilogue struct {
	E     *Epilogue
	Row0  int
	Res   []float32
	LdRes int
}

// apply applies the epilogue to rows [ir, ir+mb) and columns [j0, j0+nb)
// of C.
func (r *RowEpilogue) apply(c []float32, ldc, ir, mb, j0, nb int) {
	var res []float32
	if r.Res != nil {
		res = r.Res[ir*r.LdRes+j0:]
	}
	r.E.Apply(c[ir*ldc+j0:], ldc, r.Row0+ir, mb, nb, res, r.LdRes)
}

// SgemmPackedEpilogue is SgemmPacked followed by epi (nil for none) over
// C, applied strip by strip of the packed panels' rows as each is final,
// rather than in a pass over C after the product; the values are those of
// the pass.
func SgemmPackedEpilogue(a *PackedA, transB bool, n int, b []float32, ldb int, beta float32, c []float32, ldc int, ws []float32, epi *RowEpilogue) {
	m, k := a.m, a.k
	if emptyProduct(m, n, k, beta, c, ldc, epi) {
		return
	}
	if len(ws) < a.WorkspaceLen(n) {
		panic(fmt.Sprintf("kernels.SgemmPacked: workspace of %d values, need %d", len(ws), a.WorkspaceLen(n)))
	}
	kern := a.kern
	mr, nr := kern.mr, kern.nr
	kc, nc := min(kern.kc, k), min(kern.nc, roundUp(n, nr))
	bbuf, tile := ws[:kc*nc], ws[kc*nc:kc*nc+mr*nr]
	var fused fusedEpilogue
	fe := fused.from(kern, epi, m)
	if !transB && kern.runBStrided != nil && m <= unpackedBMaxRows*mr {
		sgemmPackedUnpackedB(a, n, b, ldb, beta, c, ldc, bbuf, tile, epi, fe)
		return
	}
	sgemmPackedPackB(a, transB, n, b, ldb, beta, c, ldc, bbuf, tile, epi, fe)
}

// fusedMinDepth is the shallowest last k block over which the products
// that pack B fuse the epilogue into the kernels' stores: over fewer steps
// of k the tiles are short, and fusing gains nothing measurable there
// (BenchmarkSgemmPackedFusedEpilogue at k = 16 to 96 on Zen 3: from 2%
// faster to 4% slower, depending on the process; mobilenet_v2 and
// mnasnet1_0 whole, within half a percent either way). The products that
// read B where it lies (few rows) fuse it at any depth.
const fusedMinDepth = 128

// kBlock returns, for the k block [pc, pc+kb) of a depth-k product, the
// beta its tiles take (beta for the first block, 1 after it, as C then
// holds the earlier blocks' sums), whether it is the last (epi then
// follows it), and the fused epilogue its stores apply (fe, over a last
// block of fusedMinDepth or more), or nil.
func kBlock(pc, kb, k int, beta float32, epi *RowEpilogue, fe *fusedEpilogue) (float32, bool, *fusedEpilogue) {
	if pc > 0 {
		beta = 1
	}
	last := epi != nil && pc+kb == k
	if !last || kb < fusedMinDepth {
		fe = nil
	}
	return beta, last, fe
}

// fusedEpilogue is an epilogue the micro-kernels apply as they store a
// tile of C (microKernel.runEpi): a bias per row, then a clamp.
type fusedEpilogue struct {
	bias   []float32 // from the product's first row
	lo, hi float32
}

// from sets f to epi's fused form for an m-row product with the kernel
// family kern and returns it, or returns nil where the strips' pass
// applies epi instead: kernels without the fused store, a residual not
// already in C, no bias, an activation other than ReLU, ReLU6 or none, or
// none with a zero bias (the pass leaves such a row, and its -0s, as they
// are, where the kernels would add the zero).
func (f *fusedEpilogue) from(kern *microKernel, epi *RowEpilogue, m int) *fusedEpilogue {
	if epi == nil || kern.runEpi == nil || epi.Res != nil || epi.E.Bias == nil || epi.E.noSIMD {
		return nil
	}
	switch epi.E.Act {
	case ActReLU:
		f.lo, f.hi = 0, posInf32
	case ActReLU6:
		f.lo, f.hi = 0, 6
	case ActIdentity:
		if slices.Contains(epi.E.Bias[epi.Row0:epi.Row0+m], 0) {
			return nil
		}
		f.lo, f.hi = -posInf32, posInf32
	default:
		return nil
	}
	f.bias = epi.E.Bias[epi.Row0 : epi.Row0+m]
	return f
}

// emptyProduct does an m x n product of depth k that has nothing to
// multiply, C = beta*C and the epilogue when k is 0, and reports whether
// it was one.
func emptyProduct(m, n, k int, beta float32, c []float32, ldc int, epi *RowEpilogue) bool {
	if m == 0 || n <= 0 {
		return true
	}
	if k > 0 {
		return false
	}
	scaleMatrix(m, n, beta, c, ldc)
	if epi != nil {
		epi.apply(c, ldc, 0, m, 0, n)
	}
	return true
}

// The blocking of SgemmPacked. A packed kc x nc block of B that fits in
// L2 (bBlockBytes, half of the 512 KiB L2 of a Zen 3 or a recent Intel
// core, the rest for A and C) is swept by every panel of A in turn, as
// the block stays in L2 for all of them. A larger one is not: the loop
// order becomes BLIS's, where the rows of A go in blocks of at most
// aBlockBytes (they stay in L2) and each nr-wide panel of B, once in L1,
// meets every panel of the block before the next panel of B is read.
// When all of A fits in one such block, each panel of B is packed just
// before its use, while it is in L1, rather than the whole block first.
const (
	bBlockBytes = 256 << 10
	aBlockBytes = 192 << 10
	// epilogueStrip is about the width of the strips of C that an
	// epilogue follows when the panels of B are the outer loop: every
	// strip is final, and still in L1 or L2, once all rows have passed
	// over it.
	epilogueStrip = 128
)

// stripWidth is epilogueStrip in whole nr-wide panels of kern.
func stripWidth(kern *microKernel) int { return max(epilogueStrip/kern.nr, 1) * kern.nr }

// blockRows is the most rows of packed A, in whole mr-row panels, that
// make one block of at most aBlockBytes at depth kb (one panel at least).
func blockRows(kern *microKernel, kb int) int {
	return max(aBlockBytes/(4*kb)/kern.mr, 1) * kern.mr
}

// sgemmPackedPackB is SgemmPacked packing B a kc x nc block at a time.
//
// With fe (not nil) the epilogue epi is fused into the kernels' stores of
// the last k block's tiles.
func sgemmPackedPackB(a *PackedA, transB bool, n int, b []float32, ldb int, beta float32, c []float32, ldc int, bbuf, tile []float32, epi *RowEpilogue, fe *fusedEpilogue) {
	kern := a.kern
	m, k := a.m, a.k
	mr := kern.mr
	kc, nc := min(kern.kc, k), min(kern.nc, roundUp(n, kern.nr))
	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			blockBeta, last, lastFE := kBlock(pc, kb, k, beta, epi, fe)
			block := a.data[pc*a.rows:]
			if 4*kb*roundUp(nb, kern.nr) > bBlockBytes {
				mc := blockRows(kern, kb)
				if m <= mc {
					packBPanels(a, kb, block, 0, m, transB, b, ldb, pc, jc, nb, blockBeta, c, ldc, bbuf, tile, last, epi, lastFE)
					continue
				}
				packB(kern, transB, b, ldb, pc, kb, jc, nb, bbuf)
				for ic := 0; ic < m; ic += mc {
					packBPanels(a, kb, block, ic, min(mc, m-ic), false, nil, 0, 0, jc, nb, blockBeta, c, ldc, bbuf, tile, last, epi, lastFE)
				}
				continue
			}
			packB(kern, transB, b, ldb, pc, kb, jc, nb, bbuf)
			for ir := 0; ir < m; ir += mr {
				pk := kern
				if m-ir < mr {
					pk = a.rowsKernel
				}
				ap := block[ir*kb : ir*kb+pk.mr*kb]
				if lastFE != nil {
					panelPackedEpi(pk, ap, bbuf, tile, min(mr, m-ir), nb, kb, blockBeta, c, ldc, epi, lastFE, ir, jc)
					continue
				}
				panelPacked(pk, ap, bbuf, tile, min(mr, m-ir), nb, kb, blockBeta, c[ir*ldc+jc:], ldc)
				if last {
					epi.apply(c, ldc, ir, min(mr, m-ir), jc, nb)
				}
			}
		}
	}
}

// packBPanels computes rows [ic, ic+mb) of columns [jc, jc+nb) of C over
// one kb-deep block (block is that block of packed A) with the panels of
// B as the outer loop: each nr-wide panel of B meets every panel of those
// rows while it is in L1. When b is not nil, each panel is packed from b
// just before its use (else bbuf holds the packed block already). With
// last, epi follows strip by strip, or with fe (not nil) tile by tile in
// the kernels' stores.
func packBPanels(a *PackedA, kb int, block []float32, ic, mb int, transB bool, b []float32, ldb, pc, jc, nb int, beta float32, c []float32, ldc int, bbuf, tile []float32, last bool, epi *RowEpilogue, fe *fusedEpilogue) {
	kern := a.kern
	strip := stripWidth(kern)
	for j0 := 0; j0 < nb; j0 += strip {
		j1 := min(j0+strip, nb)
		for jr := j0; jr < j1; jr += kern.nr {
			w := min(kern.nr, nb-jr)
			bp := bbuf[jr*kb : jr*kb+panelKernel(kern, w).nr*kb]
			if b != nil {
				packB(kern, transB, b, ldb, pc, kb, jc+jr, w, bp)
			}
			for ir := ic; ir < ic+mb; ir += kern.mr {
				rk := kern
				if a.m-ir < kern.mr {
					rk = a.rowsKernel
				}
				pk, ap, rows := panelKernel(rk, w), block[ir*kb:ir*kb+rk.mr*kb], min(kern.mr, a.m-ir)
				if fe != nil {
					runPanelEpi(pk, kb, ap, bp, rows, w, beta, c, ldc, tile, epi, fe, ir, jc+jr)
					continue
				}
				runPanel(pk, kb, ap, bp, rows, w, beta, c[ir*ldc+jc+jr:], ldc, tile)
			}
		}
		if last && fe == nil {
			epi.apply(c, ldc, ic, mb, jc+j0, j1-j0)
		}
	}
}

// runPanel sets the mb x nb tile of C at c (mb <= pk.mr, nb <= pk.nr) to
// the product of the packed panels ap and bp, kb deep, plus beta*C,
// through tile when the tile is not whole.
func runPanel(pk *microKernel, kb int, ap, bp []float32, mb, nb int, beta float32, c []float32, ldc int, tile []float32) {
	if mb == pk.mr && nb == pk.nr {
		pk.run(kb, ap, bp, c[:(mb-1)*ldc+nb], ldc, beta)
		return
	}
	pk.run(kb, ap, bp, tile, pk.nr, 0)
	mergeTile(mb, nb, tile, pk.nr, beta, c, ldc)
}

// runPanelEpi is runPanel with the epilogue epi, in its fused form fe, for
// the tile at row ir and column j of C (c is all of C): fused into the
// kernel's store where the tile is whole, applied after it where not.
func runPanelEpi(pk *microKernel, kb int, ap, bp []float32, mb, nb int, beta float32, c []float32, ldc int, tile []float32, epi *RowEpilogue, fe *fusedEpilogue, ir, j int) {
	if mb == pk.mr && nb == pk.nr {
		pk.runEpi(kb, ap, bp, c[ir*ldc+j:ir*ldc+j+(mb-1)*ldc+nb], ldc, beta, fe.bias[ir:ir+mb], fe.lo, fe.hi)
		return
	}
	if mb == pk.mr && beta == 0 {
		// A last, narrower panel of whole rows: the kernel finishes the
		// tile in the scratch tile, which then only needs copying (with
		// beta 0 no term of C comes after the epilogue's).
		pk.runEpi(kb, ap, bp, tile, pk.nr, 0, fe.bias[ir:ir+mb], fe.lo, fe.hi)
		for i := 0; i < mb; i++ {
			copy(c[(ir+i)*ldc+j:(ir+i)*ldc+j+nb], tile[i*pk.nr:i*pk.nr+nb])
		}
		return
	}
	runPanel(pk, kb, ap, bp, mb, nb, beta, c[ir*ldc+j:], ldc, tile)
	epi.apply(c, ldc, ir, mb, j, nb)
}

// panelPacked runs kern over every nr-wide panel of the packed block of B
// with the packed panel ap of A, for an mb x nb block of C; tiles at the
// edges of C go through tile.
func panelPacked(kern *microKernel, ap, bbuf, tile []float32, mb, nb, kb int, beta float32, c []float32, ldc int) {
	mr := kern.mr
	for jr := 0; jr < nb; jr += kern.nr {
		pk := panelKernel(kern, nb-jr)
		bp := bbuf[jr*kb : jr*kb+pk.nr*kb]
		if mb == mr && jr+pk.nr <= nb {
			pk.run(kb, ap, bp, c[jr:jr+(mr-1)*ldc+pk.nr], ldc, beta)
			continue
		}
		pk.run(kb, ap, bp, tile, pk.nr, 0)
		mergeTile(mb, min(pk.nr, nb-jr), tile, pk.nr, beta, c[jr:], ldc)
	}
}

// panelPackedEpi is panelPacked with the epilogue epi in its fused form
// fe, for the rows from ir and the columns from j of C (c is all of C).
func panelPackedEpi(kern *microKernel, ap, bbuf, tile []float32, mb, nb, kb int, beta float32, c []float32, ldc int, epi *RowEpilogue, fe *fusedEpilogue, ir, j int) {
	for jr := 0; jr < nb; jr += kern.nr {
		pk := panelKernel(kern, nb-jr)
		runPanelEpi(pk, kb, ap, bbuf[jr*kb:jr*kb+pk.nr*kb], mb, min(pk.nr, nb-jr), beta, c, ldc, tile, epi, fe, ir, j+jr)
	}
}

// unpackedBMaxRows is the most panels of A (mr rows each) for which
// SgemmPacked reads B where it lies instead of packing it: packing pays
// only when many panels of A reuse the packed B. BenchmarkSgemmPackedB
// (loaded machine, AVX-512): m = 16, 24, 36, 48 ran 10-40% faster
// unpacked; m = 96 and 144 were within the noise.
const unpackedBMaxRows = 4

// unpackedBGroupBytes bounds the panels of B, read where B is stored,
// that the rows of A pass over together (sgemmPackedUnpackedB): a
// quarter of a 32 KiB L1, so that they stay there from one row panel to
// the next beside the panels of A and C. Twice that made the 16x128
// squeeze of SqueezeNet (two panels a group) 5 to 15% slower on Zen 3.
const unpackedBGroupBytes = 8 << 10

// sgemmPackedUnpackedB is SgemmPacked reading B (not transposed) where it
// is stored: only the last, partial nr-wide panel of each block is packed
// (into bbuf), since the kernels read whole panels. Groups of panels of
// B of up to unpackedBGroupBytes are the outer loop, so each
// is read from memory once and meets the (at most unpackedBMaxRows)
// panels of A while it is in L1; each panel of A passes over a group in
// one call where the family has runBStridedPanels. With fe (not nil) the
// epilogue epi is fused into the kernels' stores of the last k block.
func sgemmPackedUnpackedB(a *PackedA, n int, b []float32, ldb int, beta float32, c []float32, ldc int, bbuf, tile []float32, epi *RowEpilogue, fe *fusedEpilogue) {
	kern := a.kern
	m, k := a.m, a.k
	mr, nr := kern.mr, kern.nr
	kc := min(kern.kc, k)
	whole := n / nr * nr // columns in whole nr-wide panels
	for pc := 0; pc < k; pc += kc {
		kb := min(kc, k-pc)
		blockBeta := beta
		if pc > 0 {
			blockBeta = 1
		}
		if whole < n {
			packB(kern, false, b, ldb, pc, kb, whole, n-whole, bbuf)
		}
		block := a.data[pc*a.rows:]
		strip := stripWidth(kern)
		var lastFE *fusedEpilogue
		if pc+kb == k {
			lastFE = fe
		}
		// Columns in groups whose panels of B fit in L1 together: every
		// row panel passes over a group (one Panels call) while it is there.
		group := max(unpackedBGroupBytes/(4*kb*nr), 1) * nr
		for j0 := 0; j0 < n; j0 += strip {
			j1 := min(j0+strip, n)
			for g0 := j0; g0 < j1; g0 += group {
				g1 := min(g0+group, j1)
				for ir := 0; ir < m; ir += mr {
					pk := kern
					if m-ir < mr {
						pk = a.rowsKernel
					}
					mb := min(mr, m-ir)
					ap := block[ir*kb : ir*kb+pk.mr*kb]
					jr := g0
					if np := (min(g1, whole) - g0) / nr; np > 1 && mb == pk.mr && pk.runBStridedPanels != nil {
						off, at := pc*ldb+g0, ir*ldc+g0
						bp, cr := b[off:off+(kb-1)*ldb+np*nr], c[at:at+(mb-1)*ldc+np*nr]
						if lastFE != nil {
							pk.runBStridedEpiPanels(kb, ap, bp, ldb, cr, ldc, blockBeta, lastFE.bias[ir:ir+mb], lastFE.lo, lastFE.hi, np)
						} else {
							pk.runBStridedPanels(kb, ap, bp, ldb, cr, ldc, blockBeta, np)
						}
						jr += np * nr
					}
					for ; jr < g1; jr += nr {
						cr := c[ir*ldc+jr:]
						if jr >= whole {
							if lastFE != nil {
								panelPackedEpi(pk, ap, bbuf, tile, mb, n-whole, kb, blockBeta, c, ldc, epi, lastFE, ir, jr)
								continue
							}
							panelPacked(pk, ap, bbuf, tile, mb, n-whole, kb, blockBeta, cr, ldc)
							continue
						}
						off := pc*ldb + jr
						bp := b[off : off+(kb-1)*ldb+nr]
						if lastFE != nil && mb == pk.mr {
							pk.runBStridedEpi(kb, ap, bp, ldb, cr[:(mb-1)*ldc+nr], ldc, blockBeta, lastFE.bias[ir:ir+mb], lastFE.lo, lastFE.hi)
							continue
						}
						if mb == pk.mr {
							pk.runBStrided(kb, ap, bp, ldb, cr[:(mb-1)*ldc+nr], ldc, blockBeta)
							continue
						}
						pk.runBStrided(kb, ap, bp, ldb, tile, nr, 0)
						mergeTile(mb, nr, tile, nr, blockBeta, cr, ldc)
						if lastFE != nil {
							epi.apply(c, ldc, ir, mb, jr, nr)
						}
					}
				}
			}
			if epi != nil && pc+kb == k && lastFE == nil {
				epi.apply(c, ldc, 0, m, j0, j1-j0)
			}
		}
	}
}

package kernels

import "fmt"

// ImplicitB is the right operand of a convolution as a GEMM, B =
// im2col(x), at stride 1 without dilation, never formed: the input's
// zero-padded planes (Pad writes them) hold every value of B, and the
// GEMM packs each panel of B from them (SgemmPackedImplicit). Row
// (ci*KH+kh)*KW+kw of B at output position oh*OutW+ow is padded value
// (oh+kh, ow+kw) of plane ci, so a panel's row is one segment of a
// padded row, or two to four where the panel's columns run over the ends
// of output rows.
//
// im2col writes KH*KW copies of the input, which the GEMM then reads in
// as many strided streams, from L3 once the input is larger than a few
// dozen kilobytes; the padded planes are about the input's size.
type ImplicitB struct {
	Win    Window
	C      int
	ld     int     // a padded row
	plane  int     // a padded plane: (OutH+KH-1) rows of ld
	offs   []int32 // per row of B: where its segment starts in the padded planes, from position 0
	packer *microKernel
}

// NewImplicitB returns the implicit B of a stride-1 convolution of c
// channels over win, or nil where this CPU's GEMM has no packer for it
// (the amd64 packer fills 16 columns at a time: panels of 16 on the AVX2
// path, of 32 in two halves on the AVX-512 one) or the geometry does not
// suit: stride or dilation not 1, or output rows of fewer than 5
// positions (16 columns would cover more than four of them).
func NewImplicitB(win Window, c int) *ImplicitB {
	kern := defaultKernel
	if kern.nr%16 != 0 || !implicitPackSIMD || c < 1 || win.StrideH != 1 || win.StrideW != 1 || max(win.DilH, 1) != 1 || max(win.DilW, 1) != 1 ||
		win.OutW < minImplicitW || win.OutH < 1 || win.KH < 1 || win.KW < 1 {
		return nil
	}
	b := &ImplicitB{Win: win, C: c, packer: kern}
	b.ld = win.OutW + win.KW - 1
	b.plane = (win.OutH + win.KH - 1) * b.ld
	b.offs = make([]int32, c*win.KH*win.KW)
	for ci := range c {
		for kh := range win.KH {
			for kw := range win.KW {
				b.offs[(ci*win.KH+kh)*win.KW+kw] = int32(ci*b.plane + kh*b.ld + kw)
			}
		}
	}
	return b
}

// minImplicitW is the narrowest output row an implicit B takes: 16
// positions then lie in at most four rows.
const minImplicitW = 5

// PaddedLen is the length of the padded planes Pad writes: C planes and
// the slack that the last panel of B reads past the last output position
// (those columns are not kept): the rows a panel's last lane can lie
// beyond the last output row, with the row of each window's last kernel
// row below it, and a panel.
func (b *ImplicitB) PaddedLen() int {
	nr := b.packer.nr
	return b.C*b.plane + ((nr-1)/minImplicitW+2)*b.ld + nr
}

// Pad writes channels [c0, c1) of x (C x InH x InW) into their padded
// planes in dst (PaddedLen values): the input where the windows read it,
// zeros around it.
func (b *ImplicitB) Pad(x []float32, c0, c1 int, dst []float32) {
	win := b.Win
	rows := win.OutH + win.KH - 1
	w := min(win.InW, b.ld-win.PadW) // input columns the windows reach
	for ci := c0; ci < c1; ci++ {
		p := dst[ci*b.plane : (ci+1)*b.plane]
		xc := x[ci*win.InH*win.InW : (ci+1)*win.InH*win.InW]
		for r := range rows {
			pr := p[r*b.ld : (r+1)*b.ld]
			ih := r - win.PadH
			if ih < 0 || ih >= win.InH || w <= 0 {
				clear(pr)
				continue
			}
			clear(pr[:win.PadW])
			copy(pr[win.PadW:win.PadW+w], xc[ih*win.InW:ih*win.InW+w])
			clear(pr[win.PadW+w:])
		}
	}
	if c1 == b.C {
		clear(dst[b.C*b.plane : b.PaddedLen()])
	}
}

// packPanel packs the panel of B at output positions [j, j+nr) (those
// from the last position on hold whatever the slack holds) and rows [pc,
// pc+kb) into dst, kb steps of nr values, 16 columns at a time.
func (b *ImplicitB) packPanel(padded []float32, pc, kb, j, nr int, dst []float32) {
	for h := 0; h < nr; h += 16 {
		b.pack16(padded, pc, kb, j+h, dst[h:], nr)
	}
}

// pack16 packs output positions [j, j+16) of rows [pc, pc+kb) of B into
// dst, row p at dst[ldd*p:][:16]. Lane l is output position j+l; the
// lanes from one output row are one segment of each padded row, read from
// where lane 0 would be.
func (b *ImplicitB) pack16(padded []float32, pc, kb, j int, dst []float32, ldd int) {
	ow := b.Win.OutW
	oh, col := j/ow, j%ow
	var bases [4]int
	var masks [3 * 16]uint32
	bases[0] = oh*b.ld + col
	seg := 1
	for start := ow - col; start < 16; start += ow {
		// Lanes from start on are output row oh+seg's, from its column 0.
		bases[seg] = (oh+seg)*b.ld - start
		for l := start; l < 16; l++ {
			masks[16*(seg-1)+l] = ^uint32(0)
		}
		seg++
	}
	offs := b.offs[pc : pc+kb]
	_ = padded[bases[seg-1]+int(offs[kb-1])+15] // the last segment reads furthest
	packOffsets16(kb, padded, bases[:seg], offs, masks[:], dst[:ldd*(kb-1)+16], ldd)
}

// SgemmPackedImplicit is SgemmPackedEpilogue for columns [j0, j0+n) of
// C = A*B + beta*C with B implicit (padded holds its padded planes, as
// Pad wrote them): each nr-wide panel of B is packed from the planes
// just before the panels of A meet it, in blocks of rows of A that stay
// in L2. c holds the n columns from its start, ldc apart.
func SgemmPackedImplicit(a *PackedA, b *ImplicitB, padded []float32, j0, n int, beta float32, c []float32, ldc int, ws []float32, epi *RowEpilogue) {
	m, k := a.m, a.k
	if emptyProduct(m, n, k, beta, c, ldc, epi) {
		return
	}
	kern := a.kern
	if kern != b.packer || k != len(b.offs) || j0 < 0 || j0+n > b.Win.OutH*b.Win.OutW {
		panic(fmt.Sprintf("kernels.SgemmPackedImplicit: %d x %d product with kernels %s for an implicit B of %d rows (%s), columns %d to %d of %d",
			m, k, kern.name, len(b.offs), b.packer.name, j0, j0+n, b.Win.OutH*b.Win.OutW))
	}
	if len(ws) < a.WorkspaceLen(n) {
		panic(fmt.Sprintf("kernels.SgemmPackedImplicit: workspace of %d values, need %d", len(ws), a.WorkspaceLen(n)))
	}
	mr, nr := kern.mr, kern.nr
	kc := min(kern.kc, k)
	bp, tile := ws[:kc*nr], ws[kc*nr:kc*nr+mr*nr]
	var fused fusedEpilogue
	fe := fused.from(kern, epi, m)
	strip := stripWidth(kern)
	for pc := 0; pc < k; pc += kc {
		kb := min(kc, k-pc)
		blockBeta, last, lastFE := kBlock(pc, kb, k, beta, epi, fe)
		block := a.data[pc*a.rows:]
		mc := blockRows(kern, kb)
		for ic := 0; ic < m; ic += mc {
			mb := min(mc, m-ic)
			for s0 := 0; s0 < n; s0 += strip {
				s1 := min(s0+strip, n)
				for jr := s0; jr < s1; jr += nr {
					w := min(nr, n-jr)
					// A last panel of 16 columns or fewer of a family 32
					// wide is packed 16 wide, for its narrow kernels.
					pw := nr
					if nk := panelKernel(kern, w); nk.nr%16 == 0 {
						pw = nk.nr
					}
					b.packPanel(padded, pc, kb, j0+jr, pw, bp)
					for ir := ic; ir < ic+mb; ir += mr {
						rk := kern
						if m-ir < mr {
							rk = a.rowsKernel
						}
						if pw < nr {
							rk = rk.narrow
						}
						ap, rows := block[ir*kb:ir*kb+rk.mr*kb], min(mr, m-ir)
						if lastFE != nil {
							runPanelEpi(rk, kb, ap, bp, rows, w, blockBeta, c, ldc, tile, epi, lastFE, ir, jr)
							continue
						}
						runPanel(rk, kb, ap, bp, rows, w, blockBeta, c[ir*ldc+jr:], ldc, tile)
					}
				}
				if last && lastFE == nil {
					epi.apply(c, ldc, ic, mb, s0, s1-s0)
				}
			}
		}
	}
}

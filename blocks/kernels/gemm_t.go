package kernels

import "fmt"

// The transposed form of a product with few columns. A 1x1 convolution
// of many channels over few positions (m = 1280, n = 49 at the end of
// MobileNetV2) wastes the micro-kernel's last, partly empty panel of
// columns on every panel of rows: 49 columns cost 56 (16 + 16 + 16 + 8)
// with the AVX2 6x16 kernel. Computing C' = X'A' instead (C' is n x m)
// puts the few positions in rows, mr at a time, and the many channels in
// columns, nr at a time: 49 rows cost 49 and 1280 columns 1280. The AVX2
// family splits the 49 rows into 4 panels of 6 and 5 of 5 (rowSplit), not
// 8 of 6 and a last one of 1 row, whose kernel would wait on the FMA
// latency with its few accumulators for most of a full panel's time. The
// tiles of C' land in a scratch strip of nr
// channels, which is transposed into C eight by eight (an AVX2 kernel)
// and given the epilogue while it is in L1. The weights, A, are packed
// once as the panels of B of that product (PackT); the positions, X, are
// packed on each call as the panels of A, as B is in the direct form.
//
// Every sum runs in the order of the direct form (the same products, the
// same kc blocks, beta applied to C in the first block), so for beta 0
// and 1, the plan's, the results are those of SgemmPackedEpilogue bit for
// bit. Other betas may differ in the last bit: the direct form applies
// them to its edge tiles with a multiply and an add, the kernels with
// one fused multiply-add.

// PackedT is the left operand of a matrix product, alpha*A (m x k),
// packed for SgemmPackedT: A' as nr-wide panels of B for every kc-deep
// block, as packB lays them out.
type PackedT struct {
	kern    *microKernel
	m, k    int
	colsPad int // m in whole panels (the last one as wide as its kernel)
	data    []float32
}

// PackT packs alpha*A, where A is m x k with row stride lda, for
// SgemmPackedT.
func PackT(m, k int, alpha float32, a []float32, lda int) *PackedT {
	return packTWith(defaultKernel, m, k, alpha, a, lda)
}

// packTWith is PackT for the micro-kernel family kern.
func packTWith(kern *microKernel, m, k int, alpha float32, a []float32, lda int) *PackedT {
	p := &PackedT{kern: kern, m: max(m, 0), k: max(k, 0)}
	if p.m == 0 || p.k == 0 {
		return p
	}
	p.colsPad = panelCols(kern, m)
	if alpha != 1 {
		scaled := make([]float32, m*k)
		for i := 0; i < m; i++ {
			for q, v := range a[i*lda : i*lda+k] {
				scaled[i*k+q] = alpha * v
			}
		}
		a, lda = scaled, k
	}
	p.data = make([]float32, p.colsPad*k)
	kc := min(kern.kc, k)
	for pc := 0; pc < k; pc += kc {
		kb := min(kc, k-pc)
		// op(B) = A': op(B)[q][i] = a[i*lda+q], B transposed as stored.
		packB(kern, true, a, lda, pc, kb, 0, m, p.data[pc*p.colsPad:])
	}
	return p
}

// panelCols is n in whole nr-wide panels of kern, the last one as wide as
// the kernel that computes it (packB's layout).
func panelCols(kern *microKernel, n int) int {
	rest := n % kern.nr
	if rest == 0 {
		return n
	}
	return n - rest + panelKernel(kern, rest).nr
}

// panelRows is m in whole mr-row panels of kern, the last one as high as
// the edge kernel that computes it (PackA's layout).
func panelRows(kern *microKernel, m int) int {
	rest := m % kern.mr
	if rest == 0 {
		return m
	}
	return m - rest + rowsKernelFor(kern, m).mr
}

// splitRows is m in whole panels of kern as rowSplit lays them out (the
// transposed form's layout of X'): the last one as high as its kernel.
func splitRows(kern *microKernel, m int) int {
	at, tail := rowSplit(kern, m)
	return at + (m-at+tail.mr-1)/tail.mr*tail.mr
}

// Rows is the number of rows of A.
func (p *PackedT) Rows() int { return p.m }

// Depth is the number of columns of A, the k of the product.
func (p *PackedT) Depth() int { return p.k }

// Data is the packed matrix as SgemmPackedT reads it (for cache control;
// not to be written).
func (p *PackedT) Data() []float32 { return p.data }

// WorkspaceLen is the length of the workspace SgemmPackedT needs for a
// product with n columns: X' packed whole, and one strip of C'.
func (p *PackedT) WorkspaceLen(n int) int {
	rows := splitRows(p.kern, max(n, 1))
	return rows*max(p.k, 1) + rows*p.kern.nr
}

// PreferT reports whether SgemmPackedT computes an m x n product (k deep)
// on fewer tile elements than SgemmPacked, by at least a twentieth, on
// this CPU: the scratch strip and its transpose cost about that much. It
// is false where the transpose has no SIMD kernel.
func PreferT(m, n int) bool {
	if !transposeFast || m <= 0 || n <= 0 {
		return false
	}
	kern := defaultKernel
	direct := panelRows(kern, m) * panelCols(kern, n)
	transposed := splitRows(kern, n) * panelCols(kern, m)
	return 20*transposed <= 19*direct
}

// SgemmPackedT computes C = A*X + beta*C and then epi (nil for none),
// where A is the packed m x k operand (alpha already in it), X is k x n
// with row stride ldx and C is m x n with row stride ldc, in the
// transposed form: the values are SgemmPackedEpilogue's with A packed by
// PackA (see above for betas other than 0 and 1). When beta is 0, C is
// not read. ws is the caller's workspace, at
// least p.WorkspaceLen(n) long; SgemmPackedT allocates nothing.
//
// It panics if ws is too short (a programmer error).
func SgemmPackedT(p *PackedT, n int, x []float32, ldx int, beta float32, c []float32, ldc int, ws []float32, epi *RowEpilogue) {
	m, k := p.m, p.k
	if emptyProduct(m, n, k, beta, c, ldc, epi) {
		return
	}
	if len(ws) < p.WorkspaceLen(n) {
		panic(fmt.Sprintf("kernels.SgemmPackedT: workspace of %d values, need %d", len(ws), p.WorkspaceLen(n)))
	}
	kern := p.kern
	nr := kern.nr
	var fused fusedEpilogue
	var fe *fusedEpilogue
	if transposeFusesEpilogue {
		fe = fused.from(kern, epi, m)
	}
	rows := splitRows(kern, n)
	at, tail := rowSplit(kern, n)
	xp, strip := ws[:rows*k], ws[rows*k:rows*k+rows*nr]
	kc := min(kern.kc, k)
	// X' (n x k), X as stored being k x n: every kc block, mr rows a panel.
	for pc := 0; pc < k; pc += kc {
		kb := min(kc, k-pc)
		block := xp[pc*rows:]
		for ir, rk := 0, kern; ir < n; ir += rk.mr {
			if ir >= at {
				rk = tail
			}
			dst := block[ir*kb : ir*kb+rk.mr*kb]
			if n-ir >= rk.mr && rk.packTrans != nil {
				off := pc*ldx + ir
				rk.packTrans(kb, x[off:off+(kb-1)*ldx+rk.mr], ldx, 1, dst)
				continue
			}
			packA(true, x, ldx, ir, min(rk.mr, n-ir), pc, kb, rk.mr, 1, dst)
		}
	}
	for jr := 0; jr < m; jr += nr {
		w := min(nr, m-jr)
		bk := panelKernel(kern, w)
		ldS := bk.nr
		cr := c[jr*ldc:]
		sBeta := float32(0)
		if beta != 0 {
			// C' starts as C, and the first block adds beta times it,
			// as the direct form's does.
			transposeRows(strip, ldS, cr, ldc, n, w)
			sBeta = beta
		}
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			bp := p.data[pc*p.colsPad+jr*kb : pc*p.colsPad+jr*kb+bk.nr*kb]
			block := xp[pc*rows:]
			for ir, rk := 0, kern; ir < n; ir += rk.mr {
				if ir >= at {
					rk = tail
				}
				pk := panelKernel(rk, w)
				pk.run(kb, block[ir*kb:ir*kb+rk.mr*kb], bp, strip[ir*ldS:ir*ldS+(rk.mr-1)*ldS+bk.nr], ldS, sBeta)
			}
			sBeta = 1
		}
		if fe != nil {
			transposeRowsEpi(cr, ldc, strip, ldS, w, n, fe, jr)
			if r := w &^ 7; r < w {
				epi.apply(c, ldc, jr+r, w-r, 0, n)
			}
			continue
		}
		transposeRows(cr, ldc, strip, ldS, w, n)
		if epi != nil {
			epi.apply(c, ldc, jr, w, 0, n)
		}
	}
}

// transposeFusesEpilogue makes SgemmPackedT finish the epilogue in the
// transpose where it can (transposeRowsEpi); BenchmarkSgemmPackedTEpilogue
// clears it to time the pass instead.
var transposeFusesEpilogue = true

// transposeRowsEpi is transposeRows whose whole groups of eight rows of
// dst (rows&^7) are finished with the fused epilogue fe (the rows from row
// jr of the product on) as they are written: their whole vectors as the
// epilogue pass's SIMD kernel finishes a row, their last cols%8 values as
// the pass finishes a row's tail. The values are then the bits that
// transposeRows and the pass give. The rows after the last whole group
// are only transposed: the caller applies the epilogue to them.
func transposeRowsEpi(dst []float32, ldd int, src []float32, lds, rows, cols int, fe *fusedEpilogue, jr int) {
	clamp := fe.lo != -posInf32 || fe.hi != posInf32 // not for no activation, as the pass
	for i := 0; i+8 <= rows; i += 8 {
		bias := fe.bias[jr+i : jr+i+8]
		j := transposeRows8Epi(dst[i*ldd:], ldd, src[i:], lds, cols, bias, fe.lo, fe.hi)
		for ; j < cols; j++ {
			s := src[j*lds+i:]
			for r := 0; r < 8; r++ {
				v := s[r] + bias[r]
				if clamp {
					v = min(max(v, fe.lo), fe.hi)
				}
				dst[(i+r)*ldd+j] = v
			}
		}
	}
	for i := rows &^ 7; i < rows; i++ {
		d := dst[i*ldd : i*ldd+cols]
		for j := range d {
			d[j] = src[j*lds+i]
		}
	}
}

// transposeRows sets dst[i*ldd+j] = src[j*lds+i] for i < rows and j <
// cols: eight rows at a time with the SIMD kernel where there is one.
func transposeRows(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	i := 0
	for ; i+8 <= rows; i += 8 {
		j := transposeRows8(dst[i*ldd:], ldd, src[i:], lds, cols)
		for ; j < cols; j++ {
			s := src[j*lds+i:]
			for r := 0; r < 8; r++ {
				dst[(i+r)*ldd+j] = s[r]
			}
		}
	}
	for ; i < rows; i++ {
		d := dst[i*ldd : i*ldd+cols]
		for j := range d {
			d[j] = src[j*lds+i]
		}
	}
}

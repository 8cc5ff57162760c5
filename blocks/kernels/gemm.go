package kernels

import "sync"

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices,
// where op(X) is X or its transpose: op(A) is m x k, op(B) is k x n, C is
// m x n. lda, ldb and ldc are the row strides of A, B and C as stored.
// When beta is 0, C is not read (it may hold NaN).
//
// Sgemm runs on the calling goroutine with the fastest micro-kernel this CPU
// has (see Path), and allocates nothing once its packing buffers are warm.
// Unlike the reference loop it multiplies zeros of A with B as well, so an
// Inf or NaN in B reaches C even where A is zero.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmWith(&defaultKernel, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// parallelMinFlops is the size below which SgemmParallel stays on one
// goroutine: starting workers costs microseconds, a product this small takes
// about as long.
const parallelMinFlops = 1 << 21

// SgemmParallel computes the same as Sgemm, splitting C into up to threads
// blocks of columns (or of rows, when C has more row tiles than column tiles)
// that as many goroutines compute at once. threads < 2, and products too small
// to gain from it, run on the calling goroutine alone. Each call starts
// threads-1 goroutines, computes one block itself and waits for them;
// nothing is shared between calls. Unlike Sgemm it allocates a few small
// objects per call (the goroutines and their closures).
func SgemmParallel(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmParallelWith(&defaultKernel, threads, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// microKernel is one register-blocked inner kernel and the cache blocking
// that suits it.
type microKernel struct {
	name   string // "avx512", "avx2", "generic", with its tile shape
	mr, nr int    // tile of C computed per call
	kc, nc int    // depth and width of the packed block of B
	// run sets the mr x nr tile c (row stride ldc) to a*b + beta*c, where a
	// holds k steps of mr values and b k steps of nr values; when beta is 0
	// it does not read c.
	run func(k int, a, b, c []float32, ldc int, beta float32)
	// packNoTrans and packTrans, when not nil, pack one full panel of mr
	// rows of op(A), k deep, times alpha (see packA); a starts at the
	// panel's first element as stored.
	packNoTrans, packTrans func(k int, a []float32, lda int, alpha float32, dst []float32)
	// runStrided, when not nil, is run reading A where it is stored:
	// element (i, p) of the tile's rows at a[i*rsa+p*csa]. It sets c to
	// alpha*a*b + beta*c.
	runStrided func(k int, a []float32, rsa, csa int, b, c []float32, ldc int, alpha, beta float32)
	// packBNoTrans and packBTrans, when not nil, pack one full nr-wide
	// panel of op(B), k deep (see packB); b starts at the panel's first
	// element as stored.
	packBNoTrans, packBTrans func(k int, b []float32, ldb int, dst []float32)
	// edges are kernels with the same nr and fewer rows, narrowest first,
	// for the last rows of C when m is not a multiple of mr.
	edges []*microKernel
	// narrow, when not nil, is the same kernel half as wide (same mr and
	// blocking), for the last panel of a block of B when it is at most that
	// wide. Every kernel of a family (main and edges) has one, or none does.
	narrow *microKernel
}

// stridedMaxPanels is the most nr-wide panels of B for which the kernels
// read A unpacked: packing a panel of A costs about as much as running the
// kernel over two panels of B with it.
const stridedMaxPanels = 2

// gemmWorkspace holds the packing buffers of one running product.
type gemmWorkspace struct {
	a    []float32 // one packed mr x kc panel of A
	b    []float32 // one packed kc x nc block of B, in nr-wide panels
	tile []float32 // an mr x nr tile for the edges of C
}

// workspaces recycles packing buffers between calls so that a warm Sgemm
// allocates nothing. It holds no state visible to callers.
var workspaces = sync.Pool{New: func() any { return new(gemmWorkspace) }}

// grow returns buf resliced to n elements, reallocated if it is too short.
func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

func sgemmWith(kern *microKernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m <= 0 || n <= 0 {
		return
	}
	if k <= 0 || alpha == 0 {
		scaleMatrix(m, n, beta, c, ldc)
		return
	}
	ws := workspaces.Get().(*gemmWorkspace)
	sgemmBlocked(kern, ws, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	workspaces.Put(ws)
}

// scaleMatrix sets C = beta*C, without reading C when beta is 0.
func scaleMatrix(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		ci := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(ci)
			continue
		}
		for j := range ci {
			ci[j] *= beta
		}
	}
}

// sgemmBlocked is the Goto/BLIS-style loop nest around a micro-kernel: B is
// packed a kc x nc block at a time (sized for L2), A one mr x kc panel at a
// time (sized for L1), and the kernel runs over every nr-wide panel of the B
// block for each A panel (see panel). The last rows of C, fewer than mr, go
// to the narrowest edge kernel that covers them.
func sgemmBlocked(kern *microKernel, ws *gemmWorkspace, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	mr, nr := kern.mr, kern.nr
	kc, nc := min(kern.kc, k), min(kern.nc, roundUp(n, nr))
	ws.a = grow(ws.a, mr*kc)
	ws.b = grow(ws.b, kc*nc)
	ws.tile = grow(ws.tile, mr*nr)
	rowsKernel := kern
	if rest := m % mr; rest > 0 {
		for _, e := range kern.edges {
			if e.mr >= rest {
				rowsKernel = e
				break
			}
		}
	}
	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			blockBeta := beta
			if pc > 0 {
				blockBeta = 1
			}
			packB(kern, transB, b, ldb, pc, kb, jc, nb, ws.b)
			for ir := 0; ir < m; ir += mr {
				pk := kern
				if m-ir < mr {
					pk = rowsKernel
				}
				panel(pk, ws, transA, min(mr, m-ir), nb, kb, alpha, a, lda, ir, pc, blockBeta, c[ir*ldc+jc:], ldc)
			}
		}
	}
}

// panel computes rows ir..ir+mb-1 of the block of C at c (nb columns wide)
// from the same rows of op(A), columns pc..pc+kb-1, and the packed block of
// B in ws.b, running kern once for every nr-wide panel of B. kern reads A
// unpacked when B is narrow, and edge tiles go through ws.tile.
func panel(kern *microKernel, ws *gemmWorkspace, transA bool, mb, nb, kb int, alpha float32, a []float32, lda, ir, pc int, beta float32, c []float32, ldc int) {
	mr, nr := kern.mr, kern.nr
	// tile returns the kernel for the panel of B at column jr (see
	// panelKernel), that panel, and whether the C tile is whole.
	tile := func(jr int) (pk *microKernel, bp []float32, whole bool) {
		pk = panelKernel(kern, nb-jr)
		return pk, ws.b[jr*kb : jr*kb+pk.nr*kb], mb == mr && jr+pk.nr <= nb
	}
	if kern.runStrided != nil && mb == mr && nb <= stridedMaxPanels*nr {
		off, span, rsa, csa := ir*lda+pc, (mr-1)*lda+kb, lda, 1
		if transA {
			off, span, rsa, csa = pc*lda+ir, (kb-1)*lda+mr, 1, lda
		}
		ap := a[off : off+span]
		for jr := 0; jr < nb; jr += nr {
			pk, bp, whole := tile(jr)
			if whole {
				pk.runStrided(kb, ap, rsa, csa, bp, c[jr:jr+(mr-1)*ldc+pk.nr], ldc, alpha, beta)
				continue
			}
			pk.runStrided(kb, ap, rsa, csa, bp, ws.tile, pk.nr, alpha, 0)
			mergeTile(mb, min(pk.nr, nb-jr), ws.tile, pk.nr, beta, c[jr:], ldc)
		}
		return
	}
	ap := ws.a[:mr*kb]
	switch {
	case mb == mr && !transA && kern.packNoTrans != nil:
		off := ir*lda + pc
		kern.packNoTrans(kb, a[off:off+(mr-1)*lda+kb], lda, alpha, ap)
	case mb == mr && transA && kern.packTrans != nil:
		off := pc*lda + ir
		kern.packTrans(kb, a[off:off+(kb-1)*lda+mr], lda, alpha, ap)
	default:
		packA(transA, a, lda, ir, mb, pc, kb, mr, alpha, ap)
	}
	for jr := 0; jr < nb; jr += nr {
		pk, bp, whole := tile(jr)
		if whole {
			pk.run(kb, ap, bp, c[jr:jr+(mr-1)*ldc+pk.nr], ldc, beta)
			continue
		}
		pk.run(kb, ap, bp, ws.tile, pk.nr, 0)
		mergeTile(mb, min(pk.nr, nb-jr), ws.tile, pk.nr, beta, c[jr:], ldc)
	}
}

// panelKernel returns the kernel for a panel of B with w columns left in
// the block: kern, or its half-width variant when that covers them.
func panelKernel(kern *microKernel, w int) *microKernel {
	if kern.narrow != nil && w <= kern.narrow.nr {
		return kern.narrow
	}
	return kern
}

// mergeTile sets the mb x nb corner of C to t + beta*C.
func mergeTile(mb, nb int, t []float32, ldt int, beta float32, c []float32, ldc int) {
	for i := 0; i < mb; i++ {
		ti := t[i*ldt : i*ldt+nb]
		ci := c[i*ldc : i*ldc+nb]
		if beta == 0 {
			copy(ci, ti)
			continue
		}
		for j, v := range ti {
			ci[j] = v + beta*ci[j]
		}
	}
}

func roundUp(x, to int) int { return (x + to - 1) / to * to }

// packA copies rows ir..ir+mb-1, columns pc..pc+kb-1 of op(A), times alpha,
// into dst as kb steps of mr values, padding rows past mb with zeros.
func packA(trans bool, a []float32, lda, ir, mb, pc, kb, mr int, alpha float32, dst []float32) {
	if trans { // op(A)[i][p] = a[p*lda+i]
		for p := 0; p < kb; p++ {
			src := a[(pc+p)*lda+ir : (pc+p)*lda+ir+mb]
			d := dst[p*mr : p*mr+mr]
			for r, v := range src {
				d[r] = alpha * v
			}
			clear(d[mb:])
		}
		return
	}
	for r := 0; r < mb; r++ {
		src := a[(ir+r)*lda+pc : (ir+r)*lda+pc+kb]
		d := dst[r:]
		for p, v := range src {
			d[p*mr] = alpha * v
		}
	}
	if mb < mr {
		for p := 0; p < kb; p++ {
			clear(dst[p*mr+mb : p*mr+mr])
		}
	}
}

// packB copies rows pc..pc+kb-1, columns jc..jc+nb-1 of op(B) into dst as
// kern.nr-wide panels, each kb steps of nr values, padding columns past nb
// with zeros; the last panel is half as wide when panelKernel says so. It
// packs full panels with the kernels' assembly where they have it.
func packB(kern *microKernel, trans bool, b []float32, ldb, pc, kb, jc, nb int, dst []float32) {
	for jr := 0; jr < nb; jr += kern.nr {
		pk := panelKernel(kern, nb-jr)
		nr, w := pk.nr, min(pk.nr, nb-jr)
		panel := dst[jr*kb : jr*kb+nr*kb]
		if !trans { // op(B)[p][j] = b[p*ldb+j]
			if w == nr && pk.packBNoTrans != nil {
				off := pc*ldb + jc + jr
				pk.packBNoTrans(kb, b[off:off+(kb-1)*ldb+nr], ldb, panel)
				continue
			}
			for p := 0; p < kb; p++ {
				row := (pc+p)*ldb + jc + jr
				d := panel[p*nr : p*nr+nr]
				copy(d, b[row:row+w])
				clear(d[w:])
			}
			continue
		}
		// op(B)[p][j] = b[j*ldb+p]
		if w == nr && pk.packBTrans != nil {
			off := (jc+jr)*ldb + pc
			pk.packBTrans(kb, b[off:off+(nr-1)*ldb+kb], ldb, panel)
			continue
		}
		for j := 0; j < w; j++ {
			col := (jc+jr+j)*ldb + pc
			d := panel[j:]
			for p, v := range b[col : col+kb] {
				d[p*nr] = v
			}
		}
		if w < nr {
			for p := 0; p < kb; p++ {
				clear(panel[p*nr+w : p*nr+nr])
			}
		}
	}
}

func sgemmParallelWith(kern *microKernel, threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	tilesM, tilesN := (m+kern.mr-1)/kern.mr, (n+kern.nr-1)/kern.nr
	byRows := tilesM > tilesN
	tiles := tilesN
	if byRows {
		tiles = tilesM
	}
	threads = min(threads, tiles)
	if threads < 2 || 2*float64(m)*float64(n)*float64(k) < parallelMinFlops {
		sgemmWith(kern, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	// chunk computes the share of C of worker t out of threads.
	chunk := func(t int) {
		lo, hi := tiles*t/threads, tiles*(t+1)/threads
		if byRows {
			i0, i1 := lo*kern.mr, min(hi*kern.mr, m)
			ai := i0 * lda
			if transA {
				ai = i0
			}
			sgemmWith(kern, transA, transB, i1-i0, n, k, alpha, a[ai:], lda, b, ldb, beta, c[i0*ldc:], ldc)
			return
		}
		j0, j1 := lo*kern.nr, min(hi*kern.nr, n)
		bj := j0
		if transB {
			bj = j0 * ldb
		}
		sgemmWith(kern, transA, transB, m, j1-j0, k, alpha, a, lda, b[bj:], ldb, beta, c[j0:], ldc)
	}
	var wg sync.WaitGroup
	for t := 1; t < threads; t++ {
		wg.Go(func() { chunk(t) })
	}
	chunk(0)
	wg.Wait()
}

// sgemmRef is the pure-Go reference GEMM, the oracle for the fast paths.
func sgemmRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		ci := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(ci)
		} else if beta != 1 {
			for j := range ci {
				ci[j] *= beta
			}
		}
		for p := 0; p < k; p++ {
			var av float32
			if transA {
				av = a[p*lda+i]
			} else {
				av = a[i*lda+p]
			}
			av *= alpha
			if av == 0 {
				continue
			}
			if !transB {
				bp := b[p*ldb : p*ldb+n]
				for j, bv := range bp {
					ci[j] += av * bv
				}
			} else {
				for j := range ci {
					ci[j] += av * b[j*ldb+p]
				}
			}
		}
	}
}

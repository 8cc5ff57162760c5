//go:build !noasm

package kernels

// dwNHWC8SIMD reports whether the channels-last depthwise kernels run here
// for a k x k window at stride s: wherever there is AVX2, AVX-512 machines
// included, where they beat the per-channel row kernels too
// (BenchmarkDepthwiseConv; docs/benchmarks.md has the figures).
func dwNHWC8SIMD(k, s int) bool {
	return hasAVX2 && (k == 3 || k == 5 || k == 7) && (s == 1 || s == 2)
}

// dwPack8 sets p[8*offs[j]+c] = x[c*plane+j] for c < 8 and j < len(offs)&^7.
func dwPack8(p, x []float32, plane int, offs []int32) {
	n := len(offs) &^ 7
	if n == 0 {
		return
	}
	_ = x[7*plane+n-1]
	dwPack8AVX2(p, x, plane, offs[:n])
}

// dwUnpack8 sets y[c*plane+j] = o[8*j+c] for c < 8 and j < len(o)/64*8.
func dwUnpack8(y []float32, plane int, o []float32) {
	n := len(o) / 64 * 8
	if n == 0 {
		return
	}
	_ = y[7*plane+n-1]
	dwUnpack8AVX2(y, plane, o[:8*n])
}

// dwNHWC8Wide makes dwNHWC8 run the AVX-512 kernels at stride 1, two
// positions a vector (tests and benchmarks clear it to compare).
var dwNHWC8Wide = hasAVX512

// dwNHWC8 computes oh x ow positions of eight channels into o from the
// padded positions p (ldp a row), see gen/plan.
func dwNHWC8(k, s int, o, p []float32, ldp, oh, ow int, w, b []float32, lo, hi float32) {
	_ = o[8*oh*ow-1]
	_ = p[8*(((oh-1)*s+k-1)*ldp+(ow-1)*s+k)-1]
	_ = w[8*k*k-1]
	_ = b[7]
	switch {
	case k == 3 && s == 1 && dwNHWC8Wide:
		dwNHWC8K3S1AVX512(o, p, ldp, oh, ow, w, b, lo, hi)
	case k == 5 && s == 1 && dwNHWC8Wide:
		dwNHWC8K5S1AVX512(o, p, ldp, oh, ow, w, b, lo, hi)
	case k == 7 && s == 1 && dwNHWC8Wide:
		dwNHWC8K7S1AVX512(o, p, ldp, oh, ow, w, b, lo, hi)
	case k == 3 && s == 1:
		dwNHWC8K3S1AVX2(o, p, ldp, oh, ow, w, b, lo, hi)
	case k == 3 && s == 2:
		dwNHWC8K3S2AVX2(o, p, ldp, oh, ow, w, b, lo, hi)
	case k == 5 && s == 1:
		dwNHWC8K5S1AVX2(o, p, ldp, oh, ow, w, b, lo, hi)
	case k == 5 && s == 2:
		dwNHWC8K5S2AVX2(o, p, ldp, oh, ow, w, b, lo, hi)
	case k == 7 && s == 1:
		dwNHWC8K7S1AVX2(o, p, ldp, oh, ow, w, b, lo, hi)
	case k == 7 && s == 2:
		dwNHWC8K7S2AVX2(o, p, ldp, oh, ow, w, b, lo, hi)
	default:
		panic("kernels: no channels-last depthwise kernel")
	}
}

// copyRowsSpill copies h rows of w values from x (rows lds apart) to y
// (rows ldd apart) in whole vectors, reading and writing up to 7 values
// past each row, and reports whether it did (not without AVX2, nor where
// the last row's vectors would run past x or y).
func copyRowsSpill(y []float32, ldd int, x []float32, lds, w, h int) bool {
	n := (w + 7) &^ 7
	if !hasAVX2 || w <= 0 || h <= 0 || (h-1)*ldd+n > len(y) || (h-1)*lds+n > len(x) {
		return false
	}
	copyRowsSpillAVX2(y, ldd, x, lds, w, h)
	return true
}

// stemClampSIMD reports whether stemConvClampSIMD runs here.
func stemClampSIMD() bool { return hasAVX2 }

// stemWideSIMD reports whether stemConvWideSIMD runs here (AVX-512).
func stemWideSIMD() bool { return hasAVX512 }

// stemConvWideSIMD is stemConvClampSIMD in vectors of 16.
func stemConvWideSIMD(y []float32, ldy, nvec int, e, o []float32, ldc, ld int, w []float32, c int, lo, hi float32) {
	stemConvK3S2AVX512(y, ldy, nvec, e, o, ldc, ld, w, c, lo, hi)
}

// stemConvClampSIMD is stemConvSIMD with the outputs clamped to [lo, hi]
// as they are stored.
func stemConvClampSIMD(y []float32, ldy, nvec int, e, o []float32, ldc, ld int, w []float32, c int, lo, hi float32) {
	stemConvK3S2AVX2(y, ldy, nvec, e, o, ldc, ld, w, c, lo, hi)
}

// maxPool3S2Plane sets the oh x ow outputs y of a 3x3 stride-2 max
// pooling without padding whose windows all lie in x (rows ld = 2*ow+1
// apart), reading one value past the windows' last row (the caller's
// next plane), and reports whether it did (not without AVX2, nor for rows
// under eight outputs).
func maxPool3S2Plane(y []float32, ow, oh int, x []float32) bool {
	ld := 2*ow + 1
	if !hasAVX2 || ow < 8 || oh < 1 || len(y) < oh*ow || len(x) <= (2*oh+1)*ld {
		return false
	}
	maxPool3S2PlaneAVX2(y, ow, oh, x, ld)
	return true
}

// dwPlaneWide makes DepthwiseConv run the plane kernels
// (dwPlaneK*S1AVX512) where they apply (tests and benchmarks clear it to
// compare).
var dwPlaneWide = hasAVX2

// dwPlaneSIMD reports whether a k x k depthwise convolution at stride s
// has a plane kernel on this CPU.
func dwPlaneSIMD(k, s int) bool {
	return hasAVX512 && (s == 1 && (k == 3 || k == 5 || k == 7) || s == 2 && (k == 3 || k == 5))
}

// dwPlane computes c planes of h x w (w <= 16, h >= k) of a k x k
// depthwise convolution at stride 1 and padding k/2 into y, with a bias
// per plane and the outputs clamped to [lo, hi], see gen/plan. masks are
// dwPlaneMasks(k, w).
func dwPlane(k int, y, x []float32, c, h, w int, wt, b []float32, masks []uint16, lo, hi float32, hswish bool) {
	hs := boolInt(hswish)
	_ = y[c*h*w-1]
	_ = x[c*h*w-1]
	_ = wt[c*k*k-1]
	_ = b[c-1]
	_ = masks[k-1]
	switch k {
	case 3:
		dwPlaneK3S1AVX512(y, x, c, h, w, wt, b, masks, lo, hi, hs)
	case 5:
		dwPlaneK5S1AVX512(y, x, c, h, w, wt, b, masks, lo, hi, hs)
	case 7:
		dwPlaneK7S1AVX512(y, x, c, h, w, wt, b, masks, lo, hi, hs)
	default:
		panic("kernels: no depthwise plane kernel")
	}
}

// dwPlaneS2 computes c planes of h x w (w <= 32, h >= k) of a k x k
// depthwise convolution at stride 2 and padding k/2 into oh x ow planes of
// y, as dwPlane; idx and masks are DepthwiseConv's planeIdx and
// planeMasks.
func dwPlaneS2(k int, y, x []float32, c, h, w, oh, ow int, wt, b []float32, idx []int32, masks []uint16, lo, hi float32, hswish bool) {
	hs := boolInt(hswish)
	_ = y[c*oh*ow-1]
	_ = x[c*h*w-1]
	_ = wt[c*k*k-1]
	_ = b[c-1]
	_ = idx[16*k-1]
	_ = masks[k+1]
	switch k {
	case 3:
		dwPlaneK3S2AVX512(y, x, c, h, w, oh, ow, wt, b, idx, masks, lo, hi, hs)
	case 5:
		dwPlaneK5S2AVX512(y, x, c, h, w, oh, ow, wt, b, idx, masks, lo, hi, hs)
	default:
		panic("kernels: no depthwise plane kernel")
	}
}

// dwPlaneS2WideSIMD reports whether dwPlaneS2Wide has a kernel for a
// k x k window and output rows of nb registers.
func dwPlaneS2WideSIMD(k, nb int) bool {
	return hasAVX512 && (k == 3 && nb >= 2 && nb <= 4 || k == 5 && nb == 2)
}

// dwPlaneS2Wide is dwPlaneS2 for input rows of more than 32 values, in
// output rows of nb registers; idx and masks are DepthwiseConv's planeIdx
// and planeMasks.
func dwPlaneS2Wide(k, nb int, y, x []float32, c, h, w, oh, ow int, wt, b []float32, idx []int32, masks []uint16, lo, hi float32, hswish bool) {
	hs := boolInt(hswish)
	_ = y[c*oh*ow-1]
	_ = x[c*h*w-1]
	_ = wt[c*k*k-1]
	_ = b[c-1]
	_ = idx[15]
	_ = masks[3*nb-1]
	switch {
	case k == 3 && nb == 2:
		dwPlaneK3S2N2AVX512(y, x, c, h, w, oh, ow, wt, b, idx, masks, lo, hi, hs)
	case k == 3 && nb == 3:
		dwPlaneK3S2N3AVX512(y, x, c, h, w, oh, ow, wt, b, idx, masks, lo, hi, hs)
	case k == 3 && nb == 4:
		dwPlaneK3S2N4AVX512(y, x, c, h, w, oh, ow, wt, b, idx, masks, lo, hi, hs)
	case k == 5 && nb == 2:
		dwPlaneK5S2N2AVX512(y, x, c, h, w, oh, ow, wt, b, idx, masks, lo, hi, hs)
	default:
		panic("kernels: no depthwise plane kernel")
	}
}

// dwPlaneS1WideSIMD reports whether dwPlaneS1Wide has a kernel for a k x k
// window and rows of nb registers.
func dwPlaneS1WideSIMD(k, nb int) bool {
	return hasAVX512 && (k == 3 && nb >= 2 && nb <= 7 || k == 5 && nb >= 2 && nb <= 4)
}

// dwPlaneS1Wide is dwPlane for rows of more than 16 values, nb registers a
// row; masks are DepthwiseConv's planeMasks.
func dwPlaneS1Wide(k, nb int, y, x []float32, c, h, w int, wt, b []float32, masks []uint16, lo, hi float32, hswish bool) {
	hs := boolInt(hswish)
	_ = y[c*h*w-1]
	_ = x[c*h*w-1]
	_ = wt[c*k*k-1]
	_ = b[c-1]
	_ = masks[nb*(k+1)-1]
	switch {
	case k == 3 && nb == 2:
		dwPlaneK3S1N2AVX512(y, x, c, h, w, wt, b, masks, lo, hi, hs)
	case k == 3 && nb == 3:
		dwPlaneK3S1N3AVX512(y, x, c, h, w, wt, b, masks, lo, hi, hs)
	case k == 3 && nb == 4:
		dwPlaneK3S1N4AVX512(y, x, c, h, w, wt, b, masks, lo, hi, hs)
	case k == 3 && nb == 5:
		dwPlaneK3S1N5AVX512(y, x, c, h, w, wt, b, masks, lo, hi, hs)
	case k == 3 && nb == 6:
		dwPlaneK3S1N6AVX512(y, x, c, h, w, wt, b, masks, lo, hi, hs)
	case k == 3 && nb == 7:
		dwPlaneK3S1N7AVX512(y, x, c, h, w, wt, b, masks, lo, hi, hs)
	case k == 5 && nb == 2:
		dwPlaneK5S1N2AVX512(y, x, c, h, w, wt, b, masks, lo, hi, hs)
	case k == 5 && nb == 3:
		dwPlaneK5S1N3AVX512(y, x, c, h, w, wt, b, masks, lo, hi, hs)
	case k == 5 && nb == 4:
		dwPlaneK5S1N4AVX512(y, x, c, h, w, wt, b, masks, lo, hi, hs)
	default:
		panic("kernels: no depthwise plane kernel")
	}
}

// dwPlaneAVX2SIMD reports whether dwPlaneAVX2 has a kernel for a k x k
// window at stride 1 on rows of w values: AVX2 without AVX-512, 3x3 and
// 5x5 windows on rows of up to 8 (the planes of 7x7; on 14x14 planes the
// channels-last kernels are as fast).
func dwPlaneAVX2SIMD(k, w int) bool {
	return hasAVX2 && !hasAVX512 && (k == 3 || k == 5) && w <= 8
}

// dwPlaneAVX2 is dwPlane's AVX2 form for rows of w <= 8*nb values, nb
// registers a row (see gen/plan); masks are DepthwiseConv's planeMasks32.
// The kernel writes each row's last register whole, so the last plane,
// whose last row would run past the c planes, goes through buf (at least
// h*w+8*nb long).
func dwPlaneAVX2(k, nb int, y, x []float32, c, h, w int, wt, b []float32, masks []int32, lo, hi float32, buf []float32) {
	plane := h * w
	_ = y[c*plane-1]
	_ = x[c*plane-1]
	_ = wt[c*k*k-1]
	_ = b[c-1]
	_ = masks[8*nb*k-1]
	_ = buf[plane+8*nb-1]
	kern := dwPlaneK3S1N1AVX2
	switch {
	case k == 5 && nb == 1:
		kern = dwPlaneK5S1N1AVX2
	case k != 3 || nb != 1:
		panic("kernels: no depthwise plane kernel")
	}
	if c > 1 {
		kern(y, x, c-1, h, w, wt, b, masks, lo, hi)
	}
	last := c - 1
	kern(buf, x[last*plane:], 1, h, w, wt[last*k*k:], b[last:], masks, lo, hi)
	copy(y[last*plane:c*plane], buf[:plane])
}

// boolInt is 1 for true, 0 for false.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

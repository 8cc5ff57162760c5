package kernels

// Batch normalization kernels on NCHW data (training; each splits its
// channels over up to GOMAXPROCS goroutines when the tensor is large, with
// the same result whatever the split): x has n*c*hw elements, channel
// ch of sample i is the contiguous run x[(i*c+ch)*hw : (i*c+ch+1)*hw], and
// the per-channel slices (mean, scale, ...) have c elements. Statistics are
// accumulated in float64.

// BatchNormStats computes the per-channel mean and biased variance (divided
// by n*hw) of x. It shifts each channel by its first value before summing,
// so a large mean does not cancel the variance away.
func BatchNormStats(threads int, x []float32, n, c, hw int, mean, variance []float32) {
	ParallelRanges(threads, c, n*c*hw, func(c0, c1 int) { batchNormStats(x, n, c, hw, c0, c1, mean, variance) })
}

// batchNormStats is BatchNormStats for channels [c0, c1).
func batchNormStats(x []float32, n, c, hw, c0, c1 int, mean, variance []float32) {
	m := float64(n * hw)
	if k := c1 - c0; rowsSIMD() && k > 0 {
		// A call per sample over all its channels, in float64 lanes.
		shift, sums := make([]float64, k), make([]float64, 2*k)
		for j := range shift {
			shift[j] = float64(x[(c0+j)*hw])
		}
		for i := range n {
			off := (i*c + c0) * hw
			shiftedSumsChannelRowsSIMD(x[off:], k, hw, shift, sums)
		}
		for j := range k {
			mu := sums[j] / m
			mean[c0+j] = float32(shift[j] + mu)
			variance[c0+j] = float32(max(sums[k+j]/m-mu*mu, 0))
		}
		return
	}
	step := bnRowsPerCall(hw)
	for ch := c0; ch < c1; ch++ {
		shift := float64(x[ch*hw])
		var s1, s2 float64
		for i := 0; i < n; i += step {
			rows := min(step, n-i)
			base := x[(i*c+ch)*hw:]
			a, b, done := shiftedSumsRowsSIMD(base, rows, hw, c*hw, shift)
			s1 += a
			s2 += b
			for r := 0; r < rows && done < hw; r++ {
				a, b := shiftedSumsGo(base[r*c*hw+done:r*c*hw+hw], shift)
				s1 += a
				s2 += b
			}
		}
		mu := s1 / m
		mean[ch] = float32(shift + mu)
		variance[ch] = float32(max(s2/m-mu*mu, 0))
	}
}

// ChannelAffine sets y = x*scale[ch] + shift[ch] per channel (y may alias
// x). With scale = weight/sqrt(var+eps) and shift = bias - mean*scale it is
// batch normalization with fixed statistics.
func ChannelAffine(threads int, y, x []float32, n, c, hw int, scale, shift []float32) {
	ParallelRanges(threads, c, n*c*hw, func(c0, c1 int) {
		for i := 0; i < n; i++ {
			channelAffine(y, x, i, c, hw, c0, c1, scale, shift)
		}
	})
}

// channelAffine is ChannelAffine for channels [c0, c1) of sample i.
func channelAffine(y, x []float32, i, c, hw, c0, c1 int, scale, shift []float32) {
	if off := (i*c + c0) * hw; channelAffineRowsSIMD(y[off:], x[off:], c1-c0, hw, scale[c0:c1], shift[c0:c1], false, 0) {
		return
	}
	for ch := c0; ch < c1; ch++ {
		off := (i*c + ch) * hw
		xr := x[off : off+hw]
		yr := y[off : off+hw]
		a, b := scale[ch], shift[ch]
		done := channelAffineSIMD(yr, xr, a, b)
		for j := done; j < len(yr); j++ {
			yr[j] = xr[j]*a + b
		}
	}
}

// ChannelAffineClamp sets y = min(max(x*scale[ch] + shift[ch], 0), hi) per
// channel (y may alias x): batch normalization followed by ReLU (hi = +Inf)
// or ReLU6 (hi = 6) in one pass over memory, each row clamped while it is
// in L1.
func ChannelAffineClamp(threads int, y, x []float32, n, c, hw int, scale, shift []float32, hi float32) {
	act := ActReLU6
	if hi != 6 {
		act = ActReLU
	}
	ParallelRanges(threads, c, n*c*hw, func(c0, c1 int) {
		for i := 0; i < n; i++ {
			if off := (i*c + c0) * hw; channelAffineRowsSIMD(y[off:], x[off:], c1-c0, hw, scale[c0:c1], shift[c0:c1], true, hi) {
				continue
			}
			for ch := c0; ch < c1; ch++ {
				channelAffine(y, x, i, c, hw, ch, ch+1, scale, shift)
				row := y[(i*c+ch)*hw : (i*c+ch+1)*hw]
				clampForward(act, row, row, 0, hi)
			}
		}
	})
}

// ChannelScaleGrad accumulates gx += gy*scale[ch], the input gradient of
// ChannelAffine.
func ChannelScaleGrad(threads int, gx, gy []float32, n, c, hw int, scale []float32) {
	ParallelRanges(threads, c, 2*n*c*hw, func(c0, c1 int) {
		for i := 0; i < n; i++ {
			for ch := c0; ch < c1; ch++ {
				off := (i*c + ch) * hw
				gyr := gy[off : off+hw]
				gxr := gx[off : off+hw]
				a := scale[ch]
				if axpySIMD(gxr, gyr, a) {
					continue
				}
				for j, g := range gyr {
					gxr[j] += g * a
				}
			}
		}
	})
}

// BatchNormGradSums computes, per channel, sumGy = sum(gy) and
// sumGyXhat = sum(gy * (x-mean)*invStd): the bias and weight gradients of
// batch normalization, and the two reductions its input gradient needs.
// They are overwritten, not accumulated.
func BatchNormGradSums(threads int, gy, x []float32, n, c, hw int, mean, invStd, sumGy, sumGyXhat []float32) {
	ParallelRanges(threads, c, 2*n*c*hw, func(c0, c1 int) {
		batchNormGradSums(gy, x, n, c, hw, c0, c1, mean, invStd, sumGy, sumGyXhat)
	})
}

// batchNormGradSums is BatchNormGradSums for channels [c0, c1).
func batchNormGradSums(gy, x []float32, n, c, hw, c0, c1 int, mean, invStd, sumGy, sumGyXhat []float32) {
	if k := c1 - c0; rowsSIMD() && k > 0 {
		// Sample by sample, each row's sums in float64 and added in
		// sample order: ClampGradSetPartials's sums, so that a fused
		// activation's batch norm gets the same.
		part, s := make([]float64, 2*k), make([]float64, 2*k)
		for i := range n {
			clear(part)
			off := (i*c + c0) * hw
			gradSumsRowsSIMD(gy[off:], x[off:], k, hw, mean[c0:c1], part)
			for j := range s {
				s[j] += part[j]
			}
		}
		for j := range k {
			sumGy[c0+j], sumGyXhat[c0+j] = gradSumsOut(s[j], s[k+j], invStd[c0+j])
		}
		return
	}
	for ch := c0; ch < c1; ch++ {
		s1, s2 := gradSumsChannel(gy, x, n, c, hw, ch, mean[ch])
		sumGy[ch], sumGyXhat[ch] = gradSumsOut(s1, s2, invStd[ch])
	}
}

// gradSumsOut is BatchNormGradSums's pair for one channel from its float64
// sums of gy and of gy*(x-mean).
func gradSumsOut(s1, s2 float64, invStd float32) (sumGy, sumGyXhat float32) {
	return float32(s1), float32(s2 * float64(invStd))
}

// BatchNormGradSumsFrom sets sumGy and sumGyXhat as BatchNormGradSums
// does, from the per-channel float64 sums s1 and s2 that
// BatchNormGradPartials added up.
func BatchNormGradSumsFrom(s1, s2 []float64, invStd, sumGy, sumGyXhat []float32) {
	for ch := range sumGy {
		sumGy[ch], sumGyXhat[ch] = gradSumsOut(s1[ch], s2[ch], invStd[ch])
	}
}

// gradSumsChannel returns sum(gy) and sum(gy*(x-mu)) over channel ch of
// the n samples, in float64 over calls of bnRowsPerCall rows.
func gradSumsChannel(gy, x []float32, n, c, hw, ch int, mu float32) (s1, s2 float64) {
	step := bnRowsPerCall(hw)
	for i := 0; i < n; i += step {
		rows := min(step, n-i)
		off := (i*c + ch) * hw
		r1, r2, done := sumCenteredDotRowsSIMD(gy[off:], x[off:], rows, hw, c*hw, mu)
		s1 += float64(r1)
		s2 += float64(r2)
		for r := 0; r < rows && done < hw; r++ {
			o := off + r*c*hw
			r1, r2 := sumAndCenteredDotGo(gy[o+done:o+hw], x[o+done:o+hw], mu)
			s1 += float64(r1)
			s2 += float64(r2)
		}
	}
	return s1, s2
}

// BatchNormGradPartials adds to s1 and s2, per channel, sum(gy) and
// sum(gy*(x-mean)) over one sample (gy and x: c x hw), in float64: the
// part of BatchNormGradSums one sample contributes, for operators that
// compute it while the sample is in cache. It is the path without the
// per-channel row kernels (where ClampGradSetPartials does not run: the
// pure-Go and NEON paths); there, adding the samples' parts in order gives
// BatchNormGradSums's sums exactly when hw is over 512 (one row per call
// there as here); on smaller planes those sum several samples' rows in
// float32 first.
func BatchNormGradPartials(gy, x []float32, c, hw int, mean []float32, s1, s2 []float64) {
	for ch := range c {
		a, b := gradSumsChannel(gy, x, 1, c, hw, ch, mean[ch])
		s1[ch] += a
		s2[ch] += b
	}
}

// ClampGradSetPartials is, on one sample (g, gy, y and x: c x hw), the
// gradient of a ReLU6 (hi 6) or ReLU (hi +Inf) with output y, g = gy
// where 0 < y < hi, followed by BatchNormGradPartials of g and x (the
// batch norm before the activation), in one pass: it sets g and adds
// sum(g) to s1[ch] and sum(g*(x-mean[ch])) to s2[ch] (s1 and s2: sums[:c]
// and sums[c:2c]). It reports whether it ran (with AVX-512 or AVX2); the
// caller otherwise takes the two steps. Its sums add each row's float32
// lane sums in float64, as BatchNormGradSums does on those paths, so that
// per-sample parts added in sample order equal BatchNormGradSums's sums
// of g bit for bit.
func ClampGradSetPartials(g, gy, y, x []float32, c, hw int, hi float32, mean []float32, sums []float64) bool {
	return clampGradSumsRowsSIMD(g, gy, y, x, c, hw, mean, hi, sums)
}

// HasClampGradSetPartials reports whether ClampGradSetPartials runs here.
func HasClampGradSetPartials() bool { return rowsSIMD() }

// BatchNormTrainGrad accumulates the input gradient of batch normalization
// on batch statistics:
//
//	gx += scale * (gy - sumGy/m - xhat*sumGyXhat/m)
//
// with m = n*hw, xhat = (x-mean)*invStd, scale = weight*invStd, and sumGy
// and sumGyXhat from BatchNormGradSums.
func BatchNormTrainGrad(threads int, gx, gy, x []float32, n, c, hw int, mean, invStd, scale, sumGy, sumGyXhat []float32) {
	ParallelRanges(threads, c, 3*n*c*hw, func(c0, c1 int) {
		batchNormTrainGrad(gx, gy, x, n, c, hw, c0, c1, mean, invStd, scale, sumGy, sumGyXhat, false)
	})
}

// BatchNormTrainGradSet is BatchNormTrainGrad into a gradient that has no
// value yet: it sets gx instead of adding to it, and does not read it. gy
// may be gx itself (each element is read before it is written).
func BatchNormTrainGradSet(threads int, gx, gy, x []float32, n, c, hw int, mean, invStd, scale, sumGy, sumGyXhat []float32) {
	ParallelRanges(threads, c, 2*n*c*hw, func(c0, c1 int) {
		batchNormTrainGrad(gx, gy, x, n, c, hw, c0, c1, mean, invStd, scale, sumGy, sumGyXhat, true)
	})
}

// batchNormTrainGrad is BatchNormTrainGrad (or, with set,
// BatchNormTrainGradSet) for channels [c0, c1).
func batchNormTrainGrad(gx, gy, x []float32, n, c, hw, c0, c1 int, mean, invStd, scale, sumGy, sumGyXhat []float32, set bool) {
	m := float32(n * hw)
	if rowsSIMD() {
		// Each channel's coefficients once, then a call per sample.
		coef := make([]float32, 3*(c1-c0))
		for ch := c0; ch < c1; ch++ {
			k, kx := scale[ch], invStd[ch]*sumGyXhat[ch]/m
			mg := sumGy[ch] / m
			r := coef[3*(ch-c0):]
			r[0], r[1], r[2] = k, -k*kx, k*(kx*mean[ch]-mg)
		}
		for i := 0; i < n; i++ {
			off := (i*c + c0) * hw
			bnInputGradRowsSIMD(gx[off:], gy[off:], x[off:], c1-c0, hw, coef, set)
		}
		return
	}
	for i := 0; i < n; i++ {
		for ch := c0; ch < c1; ch++ {
			off := (i*c + ch) * hw
			gyr := gy[off : off+hw]
			xr := x[off : off+hw]
			gxr := gx[off : off+hw]
			is := invStd[ch]
			k := scale[ch]
			mg := sumGy[ch] / m
			// xhat*sumGyXhat/m = (x-mean) * invStd*sumGyXhat/m
			kx := is * sumGyXhat[ch] / m
			mu := mean[ch]
			// gx += k*gy + (-k*kx*x + k*(kx*mu - mg)), one SIMD pass
			// where there is a kernel.
			done := bnInputGradSIMD(gxr, gyr, xr, k, -k*kx, k*(kx*mu-mg), set)
			if set {
				// Set, not clear and add: gy may be gx itself.
				for j := done; j < len(gxr); j++ {
					gxr[j] = k * (gyr[j] - mg - (xr[j]-mu)*kx)
				}
				continue
			}
			for j := done; j < len(gxr); j++ {
				gxr[j] += k * (gyr[j] - mg - (xr[j]-mu)*kx)
			}
		}
	}
}

// bnRowsPerCall is the number of samples whose rows of one channel a
// SIMD reduction sums in one call: about 1024 values, so that small planes
// do not pay a call per row and the float32 lane sums of the gradient
// reductions stay short; the calls' sums are added in float64.
func bnRowsPerCall(hw int) int { return max(1, 1024/max(hw, 1)) }

// shiftedSumsGo returns the sum of v-shift and of (v-shift)^2 over row, in
// float64 with four independent partial sums each.
func shiftedSumsGo(row []float32, shift float64) (s1, s2 float64) {
	var a0, a1, a2, a3, b0, b1, b2, b3 float64
	i := 0
	for ; i+4 <= len(row); i += 4 {
		r := row[i : i+4 : i+4]
		d0, d1, d2, d3 := float64(r[0])-shift, float64(r[1])-shift, float64(r[2])-shift, float64(r[3])-shift
		a0 += d0
		a1 += d1
		a2 += d2
		a3 += d3
		b0 += d0 * d0
		b1 += d1 * d1
		b2 += d2 * d2
		b3 += d3 * d3
	}
	for ; i < len(row); i++ {
		d := float64(row[i]) - shift
		a0 += d
		b0 += d * d
	}
	return (a0 + a1) + (a2 + a3), (b0 + b1) + (b2 + b3)
}

// sumAndCenteredDotGo returns sum(g) and sum(g*(x-mu)) over g (x as long),
// with four independent partial sums each.
func sumAndCenteredDotGo(g, x []float32, mu float32) (s1, s2 float32) {
	x = x[:len(g)]
	var a0, a1, a2, a3, b0, b1, b2, b3 float32
	i := 0
	for ; i+4 <= len(g); i += 4 {
		gg, xx := g[i:i+4:i+4], x[i:i+4:i+4]
		a0 += gg[0]
		a1 += gg[1]
		a2 += gg[2]
		a3 += gg[3]
		b0 += gg[0] * (xx[0] - mu)
		b1 += gg[1] * (xx[1] - mu)
		b2 += gg[2] * (xx[2] - mu)
		b3 += gg[3] * (xx[3] - mu)
	}
	for ; i < len(g); i++ {
		a0 += g[i]
		b0 += g[i] * (x[i] - mu)
	}
	return (a0 + a1) + (a2 + a3), (b0 + b1) + (b2 + b3)
}

package kernels

// Batch normalization kernels on NCHW data: x has n*c*hw elements, channel
// ch of sample i is the contiguous run x[(i*c+ch)*hw : (i*c+ch+1)*hw], and
// the per-channel slices (mean, scale, ...) have c elements. Statistics are
// accumulated in float64.

// BatchNormStats computes the per-channel mean and biased variance (divided
// by n*hw) of x. It shifts each channel by its first value before summing,
// so a large mean does not cancel the variance away.
func BatchNormStats(x []float32, n, c, hw int, mean, variance []float32) {
	m := float64(n * hw)
	for ch := 0; ch < c; ch++ {
		shift := float64(x[ch*hw])
		var s1, s2 float64
		for i := 0; i < n; i++ {
			row := x[(i*c+ch)*hw : (i*c+ch+1)*hw]
			for _, v := range row {
				d := float64(v) - shift
				s1 += d
				s2 += d * d
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
func ChannelAffine(y, x []float32, n, c, hw int, scale, shift []float32) {
	for i := 0; i < n; i++ {
		for ch := 0; ch < c; ch++ {
			off := (i*c + ch) * hw
			xr := x[off : off+hw]
			yr := y[off : off+hw]
			a, b := scale[ch], shift[ch]
			for j, v := range xr {
				yr[j] = v*a + b
			}
		}
	}
}

// ChannelScaleGrad accumulates gx += gy*scale[ch], the input gradient of
// ChannelAffine.
func ChannelScaleGrad(gx, gy []float32, n, c, hw int, scale []float32) {
	for i := 0; i < n; i++ {
		for ch := 0; ch < c; ch++ {
			off := (i*c + ch) * hw
			gyr := gy[off : off+hw]
			gxr := gx[off : off+hw]
			a := scale[ch]
			for j, g := range gyr {
				gxr[j] += g * a
			}
		}
	}
}

// BatchNormGradSums computes, per channel, sumGy = sum(gy) and
// sumGyXhat = sum(gy * (x-mean)*invStd): the bias and weight gradients of
// batch normalization, and the two reductions its input gradient needs.
// They are overwritten, not accumulated.
func BatchNormGradSums(gy, x []float32, n, c, hw int, mean, invStd, sumGy, sumGyXhat []float32) {
	for ch := 0; ch < c; ch++ {
		mu := mean[ch]
		var s1, s2 float64
		for i := 0; i < n; i++ {
			off := (i*c + ch) * hw
			gyr := gy[off : off+hw]
			xr := x[off : off+hw]
			var r1, r2 float32
			for j, g := range gyr {
				r1 += g
				r2 += g * (xr[j] - mu)
			}
			s1 += float64(r1)
			s2 += float64(r2)
		}
		sumGy[ch] = float32(s1)
		sumGyXhat[ch] = float32(s2 * float64(invStd[ch]))
	}
}

// BatchNormTrainGrad accumulates the input gradient of batch normalization
// on batch statistics:
//
//	gx += scale * (gy - sumGy/m - xhat*sumGyXhat/m)
//
// with m = n*hw, xhat = (x-mean)*invStd, scale = weight*invStd, and sumGy
// and sumGyXhat from BatchNormGradSums.
func BatchNormTrainGrad(gx, gy, x []float32, n, c, hw int, mean, invStd, scale, sumGy, sumGyXhat []float32) {
	m := float32(n * hw)
	for i := 0; i < n; i++ {
		for ch := 0; ch < c; ch++ {
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
			for j, g := range gyr {
				gxr[j] += k * (g - mg - (xr[j]-mu)*kx)
			}
		}
	}
}

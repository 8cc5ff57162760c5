package nn

import "fmt"

// PReLU is max(0, x) + a_c * min(0, x) with one learnable slope a_c per
// channel (He et al., 2015), ESPNetv2's activation. x is NCHW or NC and
// slope has one value per channel. Gradients follow PyTorch: at x = 0 the
// input gradient is the slope and the slope's gradient is 0.
func PReLU(tp *Tape, x, slope *Tensor) *Tensor {
	if x.Dims() < 2 || slope.Len() != x.Shape[1] {
		panic(fmt.Sprintf("nn.PReLU: %d slopes for input %v", slope.Len(), x.Shape))
	}
	n, c := x.Shape[0], x.Shape[1]
	hw := x.Len() / max(n*c, 1)
	y := tp.alloc(x.Shape...)
	for i := range n {
		for ch := range c {
			a := slope.Data[ch]
			off := (i*c + ch) * hw
			xs, ys := x.Data[off:off+hw], y.Data[off:off+hw]
			for j, v := range xs {
				if v > 0 {
					ys[j] = v
				} else {
					ys[j] = a * v
				}
			}
		}
	}
	tp.record(y, func() {
		gy := y.Grad
		var gx, ga []float32
		if x.requiresGrad {
			gx = x.grad()
		}
		if slope.requiresGrad {
			ga = slope.grad()
		}
		for i := range n {
			for ch := range c {
				a := slope.Data[ch]
				off := (i*c + ch) * hw
				xs, gys := x.Data[off:off+hw], gy[off:off+hw]
				var sum float32
				for j, v := range xs {
					if v > 0 {
						if gx != nil {
							gx[off+j] += gys[j]
						}
					} else {
						if gx != nil {
							gx[off+j] += a * gys[j]
						}
						sum += v * gys[j]
					}
				}
				if ga != nil {
					ga[ch] += sum
				}
			}
		}
	}, x, slope)
	return y
}

package kernels

import "math"

// Elementwise kernels: sums, the activations of the lightweight families
// with their gradients, and the channel-wise multiply of squeeze-and-
// excitation. Forward kernels write dst (which may alias x); gradient
// kernels accumulate (+=) into their gradient outputs, which is the autodiff
// contract of package nn. All slices passed together have the same length
// unless a comment says otherwise.
//
// Gradients at the kinks are PyTorch's (1.13): ReLU passes nothing at 0;
// ReLU6 nothing at 0 and 6; hard sigmoid nothing at -3 and 3; hard swish
// x/3+1/2 on [-3, 3) and 1 from 3 on (so -1/2 at -3 and 1 at 3). For hard
// swish at exactly 3 PyTorch's own CPU kernels disagree: the vectorized
// loop, which every tensor of 16 or more elements goes through, gives 1; the
// scalar tail loop gives 3/2. We follow the vectorized loop.

// Add sets dst = a + b.
func Add(dst, a, b []float32) {
	a = a[:len(dst)]
	b = b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}

// AddTo accumulates dst += src.
func AddTo(dst, src []float32) {
	src = src[:len(dst)]
	if len(dst) >= 8 && biasResidualRowSIMD(dst, src, 0) {
		return
	}
	for i := range dst {
		dst[i] += src[i]
	}
}

// AddParallel is Add over chunks of dst on up to threads goroutines (see
// ParallelRanges) when dst is large: for the operators of a training step.
// (The inference plan calls Add from its own workers.)
func AddParallel(threads int, dst, a, b []float32) {
	a = a[:len(dst)]
	b = b[:len(dst)]
	ParallelChunks(threads, len(dst), 3*len(dst), func(lo, hi int) { Add(dst[lo:hi], a[lo:hi], b[lo:hi]) })
}

// AddToParallel is AddTo over chunks of dst on up to threads goroutines
// when dst is large, as AddParallel.
func AddToParallel(threads int, dst, src []float32) {
	src = src[:len(dst)]
	ParallelChunks(threads, len(dst), 2*len(dst), func(lo, hi int) { AddTo(dst[lo:hi], src[lo:hi]) })
}

// ReLU sets dst = max(0, x) (dst may alias x).
func ReLU(dst, x []float32) {
	clampForward(ActReLU, dst, x, 0, posInf32)
}

// ReLUGrad accumulates gx += gy where x > 0.
func ReLUGrad(gx, gy, x []float32) { activationGrad(gx, gy, x, false, reluGradSIMD, reluGradGo) }

// ReLUGradSet is ReLUGrad into a gradient that has no value yet: it sets
// gx = gy where x > 0, else 0, and does not read gx.
func ReLUGradSet(gx, gy, x []float32) { activationGrad(gx, gy, x, true, reluGradSIMD, reluGradGo) }

// reluGradGo is ReLUGrad in Go.
func reluGradGo(gx, gy, x []float32) {
	gy = gy[:len(gx)]
	x = x[:len(gx)]
	for i, v := range x {
		gx[i] += elemMasked(gy[i], elemLess(0, v))
	}
}

// ReLU6 sets dst = min(max(0, x), 6) (dst may alias x). With SIMD a NaN
// of x may come out clamped instead of NaN.
func ReLU6(dst, x []float32) {
	clampForward(ActReLU6, dst, x, 0, 6)
}

// clampForward sets dst = min(max(x, lo), hi), the forward pass of act
// (ReLU or ReLU6), with the SIMD epilogue kernel where there is one.
func clampForward(act ActKind, dst, x []float32, lo, hi float32) {
	x = x[:len(dst)]
	if len(dst) >= 8 {
		if &x[0] != &dst[0] {
			copy(dst, x)
		}
		if biasActRowSIMD(act, dst, 0) {
			return
		}
	}
	for i, v := range x {
		dst[i] = min(max(v, lo), hi)
	}
}

// ReLU6Grad accumulates gx += gy where 0 < x < 6.
func ReLU6Grad(gx, gy, x []float32) { activationGrad(gx, gy, x, false, relu6GradSIMD, relu6GradGo) }

// ReLU6GradSet is ReLU6Grad into a gradient that has no value yet (see
// ReLUGradSet).
func ReLU6GradSet(gx, gy, x []float32) { activationGrad(gx, gy, x, true, relu6GradSIMD, relu6GradGo) }

func relu6GradSIMD(gx, gy, x []float32, set bool) int { return clampGradSIMD(gx, gy, x, 0, 6, set) }

// relu6GradGo is ReLU6Grad in Go.
func relu6GradGo(gx, gy, x []float32) {
	gy = gy[:len(gx)]
	x = x[:len(gx)]
	for i, v := range x {
		gx[i] += elemMasked(gy[i], elemLess(0, v)&elemLess(v, 6))
	}
}

// activationGrad accumulates an activation's input gradient, gx += gy*f'(x),
// or with set writes it, gx = gy*f'(x): the SIMD kernel does the whole
// vectors (none without one) and the Go loop the rest.
func activationGrad(gx, gy, x []float32, set bool, simd func(gx, gy, x []float32, set bool) int, scalar func(gx, gy, x []float32)) {
	gy = gy[:len(gx)]
	x = x[:len(gx)]
	done := simd(gx, gy, x, set)
	if set {
		clear(gx[done:])
	}
	scalar(gx[done:], gy[done:], x[done:])
}

// Sigmoid sets dst = 1/(1+exp(-x)).
func Sigmoid(dst, x []float32) {
	x = x[:len(dst)]
	for i, v := range x {
		dst[i] = sigmoid32(v)
	}
}

// SigmoidGrad accumulates gx += gy*y*(1-y), where y is the sigmoid's output.
func SigmoidGrad(gx, gy, y []float32) {
	gy = gy[:len(gx)]
	y = y[:len(gx)]
	for i, s := range y {
		gx[i] += gy[i] * s * (1 - s)
	}
}

// HardSigmoid sets dst = ReLU6(x+3)/6.
func HardSigmoid(dst, x []float32) {
	x = x[:len(dst)]
	for i, v := range x {
		dst[i] = min(max(v+3, 0), 6) * sixth
	}
}

// HardSigmoidGrad accumulates gx += gy/6 where -3 < x < 3.
func HardSigmoidGrad(gx, gy, x []float32) {
	gy = gy[:len(gx)]
	x = x[:len(gx)]
	for i, v := range x {
		gx[i] += elemMasked(gy[i]*sixth, elemLess(-3, v)&elemLess(v, 3))
	}
}

// Swish sets dst = x*sigmoid(x) (SiLU).
func Swish(dst, x []float32) {
	x = x[:len(dst)]
	for i, v := range x {
		dst[i] = v * sigmoid32(v)
	}
}

// SwishGrad accumulates gx += gy*s*(1+x*(1-s)) with s = sigmoid(x).
func SwishGrad(gx, gy, x []float32) {
	gy = gy[:len(gx)]
	x = x[:len(gx)]
	for i, v := range x {
		s := sigmoid32(v)
		gx[i] += gy[i] * s * (1 + v*(1-s))
	}
}

// HardSwish sets dst = x*ReLU6(x+3)/6.
func HardSwish(dst, x []float32) {
	x = x[:len(dst)]
	for i := hardSwishSIMD(dst, x); i < len(x); i++ {
		v := x[i]
		dst[i] = v * min(max(v+3, 0), 6) * sixth
	}
}

// HardSwishGrad accumulates gx += gy*d, where d is 0 below -3, x/3+1/2 on
// [-3, 3) and 1 from 3 on.
func HardSwishGrad(gx, gy, x []float32) {
	activationGrad(gx, gy, x, false, hardSwishGradSIMD, hardSwishGradGo)
}

// HardSwishGradSet is HardSwishGrad into a gradient that has no value yet
// (see ReLUGradSet).
func HardSwishGradSet(gx, gy, x []float32) {
	activationGrad(gx, gy, x, true, hardSwishGradSIMD, hardSwishGradGo)
}

// hardSwishGradGo is HardSwishGrad in Go.
func hardSwishGradGo(gx, gy, x []float32) {
	gy = gy[:len(gx)]
	x = x[:len(gx)]
	for i, v := range x {
		below3 := elemLess(v, 3)
		// d is v/3+1/2 below 3 and 1 from 3 on, then 0 below -3.
		d := math.Float32frombits(math.Float32bits(v*third+0.5)&below3 | math.Float32bits(1)&^below3)
		gx[i] += elemMasked(gy[i]*d, ^elemLess(v, -3))
	}
}

// MulChannels sets dst[r*hw+j] = x[r*hw+j] * s[r] for r < rows, j < hw: x
// is NCHW with rows = N*C, and s holds one factor per (sample, channel).
// dst and x have rows*hw elements, s has rows.
func MulChannels(dst, x, s []float32, rows, hw int) {
	for r := 0; r < rows; r++ {
		d := dst[r*hw : r*hw+hw]
		xr := x[r*hw : r*hw+hw]
		f := s[r]
		for j := scaleSIMD(d, xr, f); j < len(d); j++ {
			d[j] = xr[j] * f
		}
	}
}

// MulChannelsGrad is the gradient of MulChannels: gx += gy*s[r] and
// gs[r] += sum_j gy*x. Either gx or gs may be nil to skip it.
func MulChannelsGrad(gx, gs, gy, x, s []float32, rows, hw int) {
	for r := 0; r < rows; r++ {
		gyr := gy[r*hw : r*hw+hw]
		if gx != nil {
			gxr := gx[r*hw : r*hw+hw]
			f := s[r]
			for j, g := range gyr {
				gxr[j] += g * f
			}
		}
		if gs != nil {
			xr := x[r*hw : r*hw+hw]
			var acc float64
			for j, g := range gyr {
				acc += float64(g * xr[j])
			}
			gs[r] += float32(acc)
		}
	}
}

// The gradients of the piecewise activations select with bit masks rather
// than branches: on data spread over several pieces a branch per element
// mispredicts often and costs several times the memory traffic.

// elemLess returns all ones when a < b and 0 otherwise (also for NaN
// operands on the usual positive NaN). a-b is negative exactly when a < b,
// and +0 when a == b, so the sign bit of the difference is the answer.
func elemLess(a, b float32) uint32 {
	return uint32(int32(math.Float32bits(a-b)) >> 31)
}

// elemMasked returns v where mask is all ones and +0 where it is 0.
func elemMasked(v float32, mask uint32) float32 {
	return math.Float32frombits(math.Float32bits(v) & mask)
}

// sixth replaces a division by 6 (several times slower); the result may
// differ from PyTorch's division in the last bit.
const (
	sixth = float32(1.0 / 6)
	third = float32(1.0 / 3)
)

// posInf32 is ReLU's upper bound.
var posInf32 = float32(math.Inf(1))

// sigmoid32 is the logistic function, evaluated in float64 so that it is
// correctly rounded to float32 over the whole range (0 below about -104,
// 1 above about 17).
func sigmoid32(v float32) float32 {
	return float32(1 / (1 + math.Exp(-float64(v))))
}

package nn

import (
	"fmt"
	"math"

	"nas/blocks/kernels"
)

// Batch normalization defaults, PyTorch's.
const (
	DefaultBatchNormEps      = 1e-5
	DefaultBatchNormMomentum = 0.1
)

// BatchNormConfig holds the settings of a batch normalization layer. The
// zero value means PyTorch's defaults (eps 1e-5, momentum 0.1);
// torchvision's MobileNetV3 uses Eps 1e-3 and Momentum 0.01, its
// efficientnet_b0 the defaults.
type BatchNormConfig struct {
	// Eps is added to the variance before the square root; 0 means 1e-5.
	Eps float64
	// Momentum is the weight of the current batch in the running averages,
	// PyTorch's convention: running = (1-Momentum)*running + Momentum*batch.
	// 0 means 0.1. (PyTorch's momentum=None, a cumulative average, is not
	// supported.)
	Momentum float64
}

// BatchNorm is 2-D batch normalization over the channels of NCHW input
// (torch.nn.BatchNorm2d with affine=True, track_running_stats=True).
//
// On a training tape it normalizes with the batch's mean and biased
// variance and updates the running averages with the unbiased variance, as
// PyTorch does; otherwise (nil tape, or Train unset) it uses the running
// statistics.
//
// PyTorch's state dict also holds num_batches_tracked, an int64 counter that
// only matters for momentum=None. It is kept here as NumBatchesTracked, not
// as a Buffer (buffers are float32): an exporter may write it, and PyTorch's
// load_state_dict (strict) accepts a plain dict without it.
type BatchNorm struct {
	Name     string
	Channels int
	Eps      float64
	Momentum float64

	Weight      *Param  // Name+".weight", ones at construction, NoDecay
	Bias        *Param  // Name+".bias", zeros, NoDecay
	RunningMean *Buffer // Name+".running_mean", zeros
	RunningVar  *Buffer // Name+".running_var", ones

	// NumBatchesTracked counts the training batches seen.
	NumBatchesTracked int64
}

// NewBatchNorm returns a batch normalization layer over channels channels,
// initialised as PyTorch does (weight 1, bias 0, running mean 0, running
// variance 1). cfg's zero fields take the defaults.
func NewBatchNorm(name string, channels int, cfg BatchNormConfig) (*BatchNorm, error) {
	if channels < 1 {
		return nil, fmt.Errorf("batch norm %q: %d channels, want at least 1", name, channels)
	}
	eps, mom := cfg.Eps, cfg.Momentum
	if eps == 0 {
		eps = DefaultBatchNormEps
	}
	if mom == 0 {
		mom = DefaultBatchNormMomentum
	}
	if !(eps > 0) || math.IsInf(eps, 0) {
		return nil, fmt.Errorf("batch norm %q: eps %g must be positive (0 means %g)", name, cfg.Eps, DefaultBatchNormEps)
	}
	if !(mom > 0 && mom <= 1) {
		return nil, fmt.Errorf("batch norm %q: momentum %g must be in (0, 1] (0 means %g)", name, cfg.Momentum, DefaultBatchNormMomentum)
	}
	bn := &BatchNorm{
		Name: name, Channels: channels, Eps: eps, Momentum: mom,
		Weight:      NewParam(name+".weight", true, channels),
		Bias:        NewParam(name+".bias", true, channels),
		RunningMean: &Buffer{Name: name + ".running_mean", Tensor: New(channels)},
		RunningVar:  &Buffer{Name: name + ".running_var", Tensor: New(channels)},
	}
	for i := range channels {
		bn.Weight.Data[i] = 1
		bn.RunningVar.Data[i] = 1
	}
	return bn, nil
}

// Params returns the weight and the bias.
func (bn *BatchNorm) Params() []*Param { return []*Param{bn.Weight, bn.Bias} }

// Buffers returns the running mean and variance.
func (bn *BatchNorm) Buffers() []*Buffer { return []*Buffer{bn.RunningMean, bn.RunningVar} }

// ScaleShift returns the per-channel affine map that batch normalization on
// the running statistics is: y = x*scale + shift, with
// scale = weight/sqrt(running_var+eps) and shift = bias - running_mean*scale.
// An inference plan folds it into the preceding convolution.
func (bn *BatchNorm) ScaleShift() (scale, shift []float32) {
	scale = make([]float32, bn.Channels)
	shift = make([]float32, bn.Channels)
	for c := range scale {
		s := float64(bn.Weight.Data[c]) / math.Sqrt(float64(bn.RunningVar.Data[c])+bn.Eps)
		scale[c] = float32(s)
		shift[c] = float32(float64(bn.Bias.Data[c]) - float64(bn.RunningMean.Data[c])*s)
	}
	return scale, shift
}

// Forward normalizes x (N x Channels x H x W, or N x Channels). It panics on
// another channel count, or, in training, on a single value per channel
// (N*H*W == 1), where the batch variance is undefined (PyTorch raises too).
func (bn *BatchNorm) Forward(tp *Tape, x *Tensor) *Tensor {
	if x.Dims() < 2 || x.Shape[1] != bn.Channels {
		panic(fmt.Sprintf("nn.BatchNorm %q: input %s, want N x %d x H x W", bn.Name, ShapeString(x.Shape), bn.Channels))
	}
	n, c := x.Shape[0], bn.Channels
	hw := x.Len() / max(n*c, 1)
	if tp.training() {
		return bn.forwardTrain(tp, x, n, c, hw)
	}
	return bn.forwardEval(tp, x, n, c, hw)
}

func (bn *BatchNorm) forwardEval(tp *Tape, x *Tensor, n, c, hw int) *Tensor {
	out := tp.allocOutput(x.Shape...)
	scale, shift := bn.ScaleShift()
	kernels.ChannelAffine(tp.threads(), out.Data, x.Data, n, c, hw, scale, shift)
	if !tp.recording() {
		return out
	}
	// The statistics are constants here: gx = gy*scale, and the parameters
	// see xhat = (x - running_mean)/sqrt(running_var + eps).
	mean := append([]float32(nil), bn.RunningMean.Data...)
	invStd := make([]float32, c)
	for i := range invStd {
		invStd[i] = float32(1 / math.Sqrt(float64(bn.RunningVar.Data[i])+bn.Eps))
	}
	tp.record(out, func() {
		bn.backward(tp, out, x, n, c, hw, 0, mean, invStd, scale, false)
	}, x, bn.Weight.Tensor, bn.Bias.Tensor)
	return out
}

func (bn *BatchNorm) forwardTrain(tp *Tape, x *Tensor, n, c, hw int) *Tensor {
	st := bn.trainStats(tp, x, n, c, hw)
	out := tp.allocOutput(x.Shape...)
	kernels.ChannelAffine(tp.threads(), out.Data, x.Data, n, c, hw, st.scale, st.shift)
	tp.record(out, func() {
		bn.backward(tp, out, x, n, c, hw, st.m, st.mean, st.invStd, st.scale, true)
	}, x, bn.Weight.Tensor, bn.Bias.Tensor)
	return out
}

// batchStats is what batch normalization in training computes from a
// batch: its statistics over m values per channel, and the affine map
// they give with the weight and bias.
type batchStats struct {
	m                          int
	mean, invStd, scale, shift []float32
}

// trainStats computes the batch's statistics of x (over all shards of a
// sharded tape) and updates the running averages.
func (bn *BatchNorm) trainStats(tp *Tape, x *Tensor, n, c, hw int) batchStats {
	mean := make([]float32, c)
	variance := make([]float32, c)
	kernels.BatchNormStats(tp.threads(), x.Data, n, c, hw, mean, variance)
	m := n * hw // values per channel in the batch, all shards'
	if tp.sharded() {
		local := make([]float64, 1+2*c)
		local[0] = float64(m)
		for i := range c {
			local[1+i], local[1+c+i] = float64(mean[i]), float64(variance[i])
		}
		count, bm, bv := tp.Group.batchStats(tp.Shard, local, c)
		m = int(count)
		for i := range c {
			mean[i], variance[i] = float32(bm[i]), float32(bv[i])
		}
	}
	if m < 2 {
		panic(fmt.Sprintf("nn.BatchNorm %q: training needs more than one value per channel, input is %s", bn.Name, ShapeString(x.Shape)))
	}
	st := batchStats{m: m, mean: mean, invStd: make([]float32, c), scale: make([]float32, c), shift: make([]float32, c)}
	for i := range c {
		is := 1 / math.Sqrt(float64(variance[i])+bn.Eps)
		st.invStd[i] = float32(is)
		st.scale[i] = float32(float64(bn.Weight.Data[i]) * is)
		st.shift[i] = float32(float64(bn.Bias.Data[i]) - float64(mean[i])*float64(bn.Weight.Data[i])*is)
	}

	// Running averages, PyTorch's way: unbiased variance, momentum on the
	// new value. Of a sharded batch, shard 0 keeps them.
	if !tp.sharded() || tp.Shard == 0 {
		mom := bn.Momentum
		unbias := float64(m) / float64(m-1)
		for i := range c {
			rm, rv := &bn.RunningMean.Data[i], &bn.RunningVar.Data[i]
			*rm = float32((1-mom)*float64(*rm) + mom*float64(mean[i]))
			*rv = float32((1-mom)*float64(*rv) + mom*float64(variance[i])*unbias)
		}
		bn.NumBatchesTracked++
	}
	return st
}

// ForwardAct is Forward followed by the activation act, Activate(tp, act,
// bn.Forward(tp, x)), with the same result. In training, for ReLU and
// ReLU6, the two are one operator: the activation is applied to each row
// as it is normalized, and its gradient (from its output: 0 < y < 6 is
// 0 < x < 6 for y = ReLU6(x)) is written where batch normalization's
// input gradient then goes, so neither the normalized tensor nor its
// gradient is stored. blocks.Network uses it for every batch norm whose
// only consumer is such an activation.
func (bn *BatchNorm) ForwardAct(tp *Tape, x *Tensor, act Act) *Tensor {
	if !tp.training() || (act != ActReLU && act != ActReLU6) {
		return freeAfter(tp, bn.Forward(tp, x), func(b *Tensor) *Tensor { return Activate(tp, act, b) })
	}
	if x.Dims() < 2 || x.Shape[1] != bn.Channels {
		panic(fmt.Sprintf("nn.BatchNorm %q: input %s, want N x %d x H x W", bn.Name, ShapeString(x.Shape), bn.Channels))
	}
	n, c := x.Shape[0], bn.Channels
	hw := x.Len() / max(n*c, 1)
	out, st := bn.forwardActTrain(tp, x, act)
	threads := tp.threads()
	tp.record(out, func() {
		if out.Grad == nil {
			return
		}
		// The activation's gradient, into x's gradient when that is new
		// (batch normalization's input gradient then overwrites it in
		// place), else into a temporary.
		g, inPlace := actGradStorage(tp, x)
		if sumGy, sumGyXhat, ok := actGradSums(tp, g, out.Grad, out.Data, x.Data, n, c, hw, act, st); ok {
			bn.backwardWithSums(tp, g, inPlace, x, n, c, hw, st.m, st.mean, st.invStd, st.scale, true, sumGy, sumGyXhat)
			return
		}
		gradSet := clampGradSet(act)
		kernels.ParallelChunks(threads, len(g), 3*len(g), func(lo, hi int) {
			gradSet(g[lo:hi], out.Grad[lo:hi], out.Data[lo:hi])
		})
		bn.backwardFrom(tp, g, inPlace, x, n, c, hw, st.m, st.mean, st.invStd, st.scale, true)
	}, x, bn.Weight.Tensor, bn.Bias.Tensor)
	return out
}

// actGradSums sets g to the gradient through a ReLU or ReLU6 act (output
// y, output gradient gy) into the batch norm before it (input x,
// statistics st), and returns that batch norm's gradient sums, as
// kernels.BatchNormGradSums would, in one pass per image
// (kernels.ClampGradSetPartials, whose per-image sums are added in image
// order, as the fused ForwardActDepthwise adds its own). It reports false,
// having done nothing, where that kernel does not run.
func actGradSums(tp *Tape, g, gy, y, x []float32, n, c, hw int, act Act, st batchStats) (sumGy, sumGyXhat []float32, ok bool) {
	if !kernels.HasClampGradSetPartials() {
		return nil, nil, false
	}
	l := c * hw
	parts := tp.scratch64(n * 2 * c)
	hi := clampHi(act)
	forEachImage(tp, n, func() struct{} { return struct{}{} }, func(i int, _ struct{}) {
		kernels.ClampGradSetPartials(g[i*l:(i+1)*l], gy[i*l:(i+1)*l], y[i*l:(i+1)*l], x[i*l:(i+1)*l], c, hw, hi, st.mean, parts[i*2*c:(i+1)*2*c])
	})
	sumGy, sumGyXhat = sumParts(parts, n, c, st.invStd)
	return sumGy, sumGyXhat, true
}

// sumParts adds per-image gradient sums (image i's s1 then s2 at
// parts[2ci:]) in image order into batch normalization's pair of sums.
func sumParts(parts []float64, n, c int, invStd []float32) (sumGy, sumGyXhat []float32) {
	s1, s2 := make([]float64, c), make([]float64, c)
	for i := range n {
		p := parts[i*2*c : (i+1)*2*c]
		for ch := range c {
			s1[ch] += p[ch]
			s2[ch] += p[c+ch]
		}
	}
	sumGy, sumGyXhat = make([]float32, c), make([]float32, c)
	kernels.BatchNormGradSumsFrom(s1, s2, invStd, sumGy, sumGyXhat)
	return sumGy, sumGyXhat
}

// actGradStorage is where the gradient through a batch norm's fused
// activation goes: x's gradient storage when that is new (inPlace: batch
// normalization's input gradient then overwrites it there), else scratch
// of the tape.
func actGradStorage(tp *Tape, x *Tensor) (g []float32, inPlace bool) {
	if x.requiresGrad && x.Grad == nil {
		g, _ = x.gradToSet()
		return g, true
	}
	return tp.scratch(len(x.Data), false), false
}

// clampGradSet is the setting gradient kernel of ReLU or ReLU6 (act),
// from the activation's output.
func clampGradSet(act Act) func(gx, gy, y []float32) {
	if act == ActReLU {
		return kernels.ReLUGradSet
	}
	return kernels.ReLU6GradSet
}

// clampHi is the upper bound of ReLU6 (6) or ReLU (+Inf).
func clampHi(act Act) float32 {
	if act == ActReLU {
		return float32(math.Inf(1))
	}
	return 6
}

// forwardActTrain is ForwardAct's forward pass in training (act ReLU or
// ReLU6), recording nothing: the output and the batch's statistics.
func (bn *BatchNorm) forwardActTrain(tp *Tape, x *Tensor, act Act) (*Tensor, batchStats) {
	n, c := x.Shape[0], bn.Channels
	hw := x.Len() / max(n*c, 1)
	st := bn.trainStats(tp, x, n, c, hw)
	out := tp.allocOutput(x.Shape...)
	kernels.ChannelAffineClamp(tp.threads(), out.Data, x.Data, n, c, hw, st.scale, st.shift, clampHi(act))
	return out, st
}

// backward accumulates the gradients of x, weight and bias from out.Grad.
// With batch statistics (train) the mean and variance depend on x; m is
// then the number of values per channel they were taken over (more than
// n*hw when tp is one shard of a batch).
func (bn *BatchNorm) backward(tp *Tape, out, x *Tensor, n, c, hw, m int, mean, invStd, scale []float32, train bool) {
	if out.Grad == nil {
		return
	}
	bn.backwardFrom(tp, out.Grad, false, x, n, c, hw, m, mean, invStd, scale, train)
}

// backwardFrom is backward from the output gradient gy. With inPlace (in
// training only), gy is x's new gradient storage, which the input
// gradient overwrites.
func (bn *BatchNorm) backwardFrom(tp *Tape, gy []float32, inPlace bool, x *Tensor, n, c, hw, m int, mean, invStd, scale []float32, train bool) {
	sumGy := make([]float32, c)
	sumGyXhat := make([]float32, c)
	kernels.BatchNormGradSums(tp.threads(), gy, x.Data, n, c, hw, mean, invStd, sumGy, sumGyXhat)
	bn.backwardWithSums(tp, gy, inPlace, x, n, c, hw, m, mean, invStd, scale, train, sumGy, sumGyXhat)
}

// backwardWithSums is backwardFrom given this shard's gradient sums
// (kernels.BatchNormGradSums of gy and x).
func (bn *BatchNorm) backwardWithSums(tp *Tape, gy []float32, inPlace bool, x *Tensor, n, c, hw, m int, mean, invStd, scale []float32, train bool, sumGy, sumGyXhat []float32) {
	threads := tp.threads()
	// The parameters' gradients are this shard's part; the caller adds
	// the shards' up.
	if bn.Weight.requiresGrad {
		kernels.AddTo(bn.Weight.grad(), sumGyXhat)
	}
	if bn.Bias.requiresGrad {
		kernels.AddTo(bn.Bias.grad(), sumGy)
	}
	if !x.requiresGrad {
		return
	}
	if train && tp.sharded() {
		// The input gradient needs the sums over the batch. The kernel
		// divides them by its own n*hw values, so scale them by
		// n*hw/m to divide by m.
		local := make([]float64, 2*c)
		for i := range c {
			local[i], local[c+i] = float64(sumGy[i]), float64(sumGyXhat[i])
		}
		tot := tp.Group.Sum(tp.Shard, local...)
		r := float64(n*hw) / float64(m)
		for i := range c {
			sumGy[i], sumGyXhat[i] = float32(tot[i]*r), float32(tot[c+i]*r)
		}
	}
	if inPlace {
		// gy is x.Grad, which has no other value: set it over gy.
		kernels.BatchNormTrainGradSet(threads, gy, gy, x.Data, n, c, hw, mean, invStd, scale, sumGy, sumGyXhat)
		return
	}
	gx, fresh := x.gradToSet()
	switch {
	case train && fresh:
		kernels.BatchNormTrainGradSet(threads, gx, gy, x.Data, n, c, hw, mean, invStd, scale, sumGy, sumGyXhat)
	case train:
		kernels.BatchNormTrainGrad(threads, gx, gy, x.Data, n, c, hw, mean, invStd, scale, sumGy, sumGyXhat)
	default:
		if fresh {
			clear(gx)
		}
		kernels.ChannelScaleGrad(threads, gx, gy, n, c, hw, scale)
	}
}

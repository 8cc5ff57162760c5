package nn

import (
	"fmt"
	"math"
)

// SoftmaxCrossEntropy returns the mean over the batch of the cross-entropy
// between softmax(logits) and the labels smoothed by smoothing, as a tensor
// of one element: torch.nn.CrossEntropyLoss(label_smoothing=smoothing).
// For a sample with label y among K classes the target is
// (1-smoothing)*onehot(y) + smoothing/K, so
//
//	loss_i = (1-smoothing)*(-log p_y) + smoothing/K * sum_k (-log p_k).
//
// logits is N x K. Labels come from data, so a bad one is an error (naming
// the sample and the label), not a panic; so is smoothing outside [0, 1].
func SoftmaxCrossEntropy(tp *Tape, logits *Tensor, labels []int, smoothing float64) (*Tensor, error) {
	return SoftmaxCrossEntropyOf(tp, logits, labels, smoothing, 0)
}

// SoftmaxCrossEntropyOf is SoftmaxCrossEntropy for one shard of a batch of
// batch samples (see ShardGroup): the sum of the shard's losses divided by
// batch, so that the shards' values, and their gradients, add up to those
// of the whole batch's mean. batch 0 means the shard is the whole batch.
func SoftmaxCrossEntropyOf(tp *Tape, logits *Tensor, labels []int, smoothing float64, batch int) (*Tensor, error) {
	if logits.Dims() != 2 {
		return nil, fmt.Errorf("cross-entropy: logits %s, want batch x classes", ShapeString(logits.Shape))
	}
	n, k := logits.Shape[0], logits.Shape[1]
	if len(labels) != n {
		return nil, fmt.Errorf("cross-entropy: %d labels for a batch of %d", len(labels), n)
	}
	if n == 0 || k == 0 {
		return nil, fmt.Errorf("cross-entropy: empty logits %s", ShapeString(logits.Shape))
	}
	if !(smoothing >= 0 && smoothing <= 1) {
		return nil, fmt.Errorf("cross-entropy: label smoothing %g must be in [0, 1]", smoothing)
	}
	for i, y := range labels {
		if y < 0 || y >= k {
			return nil, fmt.Errorf("cross-entropy: sample %d has label %d, want 0 to %d (%d classes)", i, y, k-1, k)
		}
	}
	if batch == 0 {
		batch = n
	}
	if batch < n {
		return nil, fmt.Errorf("cross-entropy: a shard of %d samples in a batch of %d", n, batch)
	}
	// prob holds softmax(logits), kept for the backward step.
	prob := make([]float64, n*k)
	var total float64
	for i := 0; i < n; i++ {
		row := logits.Data[i*k : (i+1)*k]
		logZ := softmaxRow(row, prob[i*k:(i+1)*k])
		var sumLogits float64
		for _, v := range row {
			sumLogits += float64(v)
		}
		nllLabel := logZ - float64(row[labels[i]])
		nllMean := logZ - sumLogits/float64(k) // mean over classes of -log p_k
		total += (1-smoothing)*nllLabel + smoothing*nllMean
	}
	out := New(1)
	out.Data[0] = float32(total / float64(batch))
	tp.record(out, func() {
		if out.Grad == nil {
			return
		}
		g := float64(out.Grad[0]) / float64(batch)
		gl := logits.grad()
		off := smoothing / float64(k)
		for i := 0; i < n; i++ {
			for j := 0; j < k; j++ {
				q := off
				if j == labels[i] {
					q += 1 - smoothing
				}
				gl[i*k+j] += float32(g * (prob[i*k+j] - q))
			}
		}
	}, logits)
	return out, nil
}

// Predictions returns the predicted class of each row of logits (N x K):
// the index of its largest value, the first one on ties (as torch.argmax).
// NaNs are skipped (torch.argmax would pick them); an all-NaN row predicts
// class 0.
func Predictions(logits *Tensor) []int {
	if logits.Dims() != 2 {
		panic(fmt.Sprintf("nn.Predictions: logits %s, want batch x classes", ShapeString(logits.Shape)))
	}
	n, k := logits.Shape[0], logits.Shape[1]
	out := make([]int, n)
	for i := range out {
		row := logits.Data[i*k : (i+1)*k]
		best := -1
		for j, v := range row {
			if v == v && (best < 0 || v > row[best]) { // v == v: not NaN
				best = j
			}
		}
		out[i] = max(best, 0)
	}
	return out
}

// CountCorrect returns how many rows of logits predict their label. It
// panics when the label count differs from the batch size.
func CountCorrect(logits *Tensor, labels []int) int {
	pred := Predictions(logits)
	if len(pred) != len(labels) {
		panic(fmt.Sprintf("nn.CountCorrect: %d labels for a batch of %d", len(labels), len(pred)))
	}
	correct := 0
	for i, p := range pred {
		if p == labels[i] {
			correct++
		}
	}
	return correct
}

// SoftCrossEntropyOf is the cross-entropy between softmax(logits) and the
// probability targets soft (N x K, each row summing to 1), summed over the
// shard's samples and divided by batch (0: the shard is the whole batch):
// torch.nn.functional.cross_entropy with probability targets,
//
//	loss_i = sum_k -soft_ik * log p_ik,
//
// whose gradient with respect to the logits is (p_i - soft_i)/batch. It
// is the loss of in-place distillation, where a smaller network learns the
// outputs of a larger one; the targets are data, not on the tape. Shapes
// that disagree, or targets that are not finite, are an error.
func SoftCrossEntropyOf(tp *Tape, logits *Tensor, soft []float32, batch int) (*Tensor, error) {
	if logits.Dims() != 2 {
		return nil, fmt.Errorf("soft cross-entropy: logits %s, want batch x classes", ShapeString(logits.Shape))
	}
	n, k := logits.Shape[0], logits.Shape[1]
	if n == 0 || k == 0 {
		return nil, fmt.Errorf("soft cross-entropy: empty logits %s", ShapeString(logits.Shape))
	}
	if len(soft) != n*k {
		return nil, fmt.Errorf("soft cross-entropy: %d target values for logits %s", len(soft), ShapeString(logits.Shape))
	}
	for i, q := range soft {
		if math.IsNaN(float64(q)) || math.IsInf(float64(q), 0) {
			return nil, fmt.Errorf("soft cross-entropy: target %d of sample %d is %g", i%k, i/k, q)
		}
	}
	if batch == 0 {
		batch = n
	}
	if batch < n {
		return nil, fmt.Errorf("soft cross-entropy: a shard of %d samples in a batch of %d", n, batch)
	}
	prob := make([]float64, n*k)
	var total float64
	for i := range n {
		row := logits.Data[i*k : (i+1)*k]
		logZ := softmaxRow(row, prob[i*k:(i+1)*k])
		for j, v := range row {
			total += float64(soft[i*k+j]) * (logZ - float64(v))
		}
	}
	out := New(1)
	out.Data[0] = float32(total / float64(batch))
	tp.record(out, func() {
		if out.Grad == nil {
			return
		}
		g := float64(out.Grad[0]) / float64(batch)
		gl := logits.grad()
		for i := range n * k {
			// The targets need not sum to exactly 1 in float32: the
			// gradient of sum_k -q_k log p_k is p*sum(q) - q.
			gl[i] += float32(g * (prob[i]*rowSum(soft, i/k, k) - float64(soft[i])))
		}
	}, logits)
	return out, nil
}

// rowSum is the sum of row i of the n x k matrix m.
func rowSum(m []float32, i, k int) float64 {
	var s float64
	for _, v := range m[i*k : (i+1)*k] {
		s += float64(v)
	}
	return s
}

// Softmax writes softmax(logits) row by row into out (N x K values, the
// length of logits.Data): the probabilities a teacher hands to
// SoftCrossEntropyOf. It panics on a shape mismatch.
func Softmax(logits *Tensor, out []float32) {
	if logits.Dims() != 2 || len(out) != len(logits.Data) {
		panic(fmt.Sprintf("nn.Softmax: logits %s and %d outputs, want batch x classes and as many", ShapeString(logits.Shape), len(out)))
	}
	k := logits.Shape[1]
	p := make([]float64, k)
	for i := range logits.Shape[0] {
		softmaxRow(logits.Data[i*k:(i+1)*k], p)
		for j, v := range p {
			out[i*k+j] = float32(v)
		}
	}
}

// softmaxRow writes softmax(row) into p (as long as row) in float64, with
// the maximum subtracted first so that large logits do not overflow, and
// returns log(sum(exp(row))).
func softmaxRow(row []float32, p []float64) float64 {
	mx := math.Inf(-1)
	for _, v := range row {
		mx = math.Max(mx, float64(v))
	}
	var sum float64
	for j, v := range row {
		p[j] = math.Exp(float64(v) - mx)
		sum += p[j]
	}
	for j := range p {
		p[j] /= sum
	}
	return mx + math.Log(sum)
}

package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSoftmaxCrossEntropyGolden(t *testing.T) {
	for _, g := range goldenCases(t, "xent_*") {
		t.Run(g.name, func(t *testing.T) {
			logits := g.T(t, "logits")
			labels := g.Labels(t, "labels")
			smoothing := g.Float(t, "smoothing")

			noTape, err := SoftmaxCrossEntropy(nil, logits, labels, smoothing)
			require.NoError(t, err)
			requireClose(t, g.T(t, "loss").Data, noTape.Data, goldenTol, "loss (nil tape)")

			elemPrefill(logits)
			tp := NewTape(true, nil)
			loss, err := SoftmaxCrossEntropy(tp, logits, labels, smoothing)
			require.NoError(t, err)
			require.Equal(t, []int{1}, loss.Shape)
			requireClose(t, g.T(t, "loss").Data, loss.Data, goldenTol, "loss")
			tp.Backward(loss)
			requireClose(t, g.T(t, "glogits").Data, elemGrad(t, logits), goldenTol, "glogits")
		})
	}
}

func TestSoftmaxCrossEntropyGradCheck(t *testing.T) {
	for i, smoothing := range []float64{0, 0.1, 1} {
		rng := rand.New(rand.NewPCG(uint64(i), 3))
		logits := elemRandn(rng, 4, 6)
		labels := []int{5, 0, 2, 2}
		f := func(tp *Tape) *Tensor {
			loss, err := SoftmaxCrossEntropy(tp, logits, labels, smoothing)
			require.NoError(t, err)
			return loss
		}
		gradCheck(t, []*Tensor{logits}, f, 24, uint64(i))
	}
}

func TestSoftmaxCrossEntropyValues(t *testing.T) {
	// Equal logits: the loss is log K whatever the label and smoothing.
	for _, smoothing := range []float64{0, 0.3} {
		loss, err := SoftmaxCrossEntropy(nil, New(2, 5), []int{0, 4}, smoothing)
		require.NoError(t, err)
		require.InDelta(t, math.Log(5), loss.Data[0], 1e-6)
	}
	// Huge logits neither overflow nor lose the answer.
	loss, err := SoftmaxCrossEntropy(nil, FromData([]float32{1e4, -1e4, 0}, 1, 3), []int{1}, 0)
	require.NoError(t, err)
	require.InDelta(t, 2e4, loss.Data[0], 1)
}

func TestSoftmaxCrossEntropyErrors(t *testing.T) {
	tests := []struct {
		name      string
		logits    *Tensor
		labels    []int
		smoothing float64
		want      string
	}{
		{"label too large", New(3, 4), []int{0, 4, 1}, 0, "sample 1 has label 4, want 0 to 3 (4 classes)"},
		{"negative label", New(3, 4), []int{0, 1, -1}, 0, "sample 2 has label -1"},
		{"label count", New(3, 4), []int{0, 1}, 0, "2 labels for a batch of 3"},
		{"smoothing", New(3, 4), []int{0, 1, 2}, 1.5, "label smoothing 1.5 must be in [0, 1]"},
		{"smoothing NaN", New(3, 4), []int{0, 1, 2}, math.NaN(), "label smoothing NaN"},
		{"not 2-D", New(3, 4, 1, 1), []int{0, 1, 2}, 0, "logits 3x4x1x1, want batch x classes"},
		{"empty", New(0, 4), nil, 0, "empty logits 0x4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loss, err := SoftmaxCrossEntropy(NewTape(true, nil), tt.logits, tt.labels, tt.smoothing)
			require.Nil(t, loss)
			require.ErrorContains(t, err, "cross-entropy: "+tt.want)
		})
	}
}

func TestPredictionsAndCountCorrect(t *testing.T) {
	nan := float32(math.NaN())
	logits := FromData([]float32{
		0.1, 0.7, 0.2,
		5, 5, 1, // tie: the first wins
		-1, -3, -0.5,
		nan, 2, 1,
		nan, nan, nan,
	}, 5, 3)
	require.Equal(t, []int{1, 0, 2, 1, 0}, Predictions(logits))
	require.Equal(t, 3, CountCorrect(logits, []int{1, 0, 0, 1, 2}))
	require.Equal(t, 0, CountCorrect(logits, []int{0, 1, 1, 0, 2}))
	require.Panics(t, func() { CountCorrect(logits, []int{1}) })
	require.Panics(t, func() { Predictions(New(2, 3, 1)) })
}

func TestSoftCrossEntropyGradCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 3))
	logits := elemRandn(rng, 4, 6)
	teacher := elemRandn(rng, 4, 6)
	soft := make([]float32, 24)
	Softmax(teacher, soft)
	for _, batch := range []int{0, 8} {
		f := func(tp *Tape) *Tensor {
			loss, err := SoftCrossEntropyOf(tp, logits, soft, batch)
			require.NoError(t, err)
			return loss
		}
		gradCheck(t, []*Tensor{logits}, f, 24, uint64(batch))
	}
}

func TestSoftCrossEntropyValues(t *testing.T) {
	// One-hot targets: the loss is the hard-label cross-entropy.
	rng := rand.New(rand.NewPCG(8, 3))
	logits := elemRandn(rng, 3, 5)
	labels := []int{4, 0, 2}
	soft := make([]float32, 15)
	for i, y := range labels {
		soft[i*5+y] = 1
	}
	hard, err := SoftmaxCrossEntropy(nil, logits, labels, 0)
	require.NoError(t, err)
	got, err := SoftCrossEntropyOf(nil, logits, soft, 0)
	require.NoError(t, err)
	require.InDelta(t, hard.Data[0], got.Data[0], 1e-6)
	// Targets equal to the network's own softmax: the gradient vanishes.
	Softmax(logits, soft)
	logits.SetRequiresGrad(true)
	tp := NewTape(true, nil)
	loss, err := SoftCrossEntropyOf(tp, logits, soft, 0)
	require.NoError(t, err)
	tp.Backward(loss)
	for _, g := range logits.Grad {
		require.InDelta(t, 0, g, 1e-6)
	}
}

func TestSoftCrossEntropyErrors(t *testing.T) {
	_, err := SoftCrossEntropyOf(nil, New(2, 3), make([]float32, 5), 0)
	require.ErrorContains(t, err, "5 target values for logits 2x3")
	_, err = SoftCrossEntropyOf(nil, New(2, 3), []float32{0, 1, 0, float32(math.NaN()), 0, 0}, 0)
	require.ErrorContains(t, err, "target 0 of sample 1 is NaN")
	_, err = SoftCrossEntropyOf(nil, New(2, 3), make([]float32, 6), 1)
	require.ErrorContains(t, err, "a shard of 2 samples in a batch of 1")
}

func TestSoftCrossEntropyGolden(t *testing.T) {
	for _, g := range goldenCases(t, "softxent_*") {
		t.Run(g.name, func(t *testing.T) {
			logits := g.T(t, "logits")
			soft := g.T(t, "soft").Data
			batch := int(g.Float(t, "batch"))
			elemPrefill(logits)
			tp := NewTape(true, nil)
			loss, err := SoftCrossEntropyOf(tp, logits, soft, batch)
			require.NoError(t, err)
			requireClose(t, g.T(t, "loss").Data, loss.Data, goldenTol, "loss")
			tp.Backward(loss)
			requireClose(t, g.T(t, "glogits").Data, elemGrad(t, logits), goldenTol, "glogits")
		})
	}
}

package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// PyTorch's RNG cannot be reproduced, so dropout is checked by its
// statistics and by the mask it applies to the gradient.

func dropoutTape(seed uint64) *Tape { return NewTape(true, rand.New(rand.NewPCG(seed, 99))) }

func TestDropoutIdentityOutsideTraining(t *testing.T) {
	x := FromData([]float32{1, 2, 3}, 3)
	require.Same(t, x, Dropout(nil, x, 0.5))
	require.Same(t, x, Dropout(NewTape(false, nil), x, 0.5))
	require.Same(t, x, Dropout(dropoutTape(1), x, 0))
}

func TestDropoutStatistics(t *testing.T) {
	const n = 200000
	for _, p := range []float64{0.1, 0.2, 0.5, 0.8} {
		x := New(n)
		for i := range x.Data {
			x.Data[i] = 1
		}
		y := Dropout(dropoutTape(7), x, p)
		kept := 0
		var sum float64
		for _, v := range y.Data {
			switch v {
			case 0:
			case float32(1 / (1 - p)):
				kept++
			default:
				t.Fatalf("p=%g: output %v is neither 0 nor 1/(1-p)", p, v)
			}
			sum += float64(v)
		}
		// The kept count is binomial(n, 1-p): allow 5 standard deviations
		// (the seed is fixed, so this is deterministic, not flaky).
		sd := math.Sqrt(n * p * (1 - p))
		require.InDelta(t, n*(1-p), kept, 5*sd, "p=%g kept count", p)
		// Inverted scaling keeps the mean at 1.
		require.InDelta(t, 1, sum/n, 5*sd/(1-p)/n, "p=%g mean", p)
	}
}

func TestDropoutSeeded(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := elemRandn(rng, 4, 3, 5, 5)
	a := Dropout(dropoutTape(3), x, 0.3)
	b := Dropout(dropoutTape(3), x, 0.3)
	c := Dropout(dropoutTape(4), x, 0.3)
	require.Equal(t, a.Data, b.Data, "same seed, same mask")
	require.NotEqual(t, a.Data, c.Data, "another seed, another mask")
}

func TestDropoutGradientFollowsMask(t *testing.T) {
	const p = 0.4
	rng := rand.New(rand.NewPCG(5, 5))
	x := actAwayFromKinks(rng, 3, 7, 5, 3) // no zeros: a zero output means dropped
	gy := elemRandn(rng, 3, 7, 5, 3)
	elemPrefill(x)
	tp := dropoutTape(11)
	y := Dropout(tp, x, p)
	elemSeed(t, y, gy)
	tp.BackwardFrom()
	gx := elemGrad(t, x)
	dropped := 0
	for i, v := range y.Data {
		if v == 0 {
			dropped++
			require.Zero(t, gx[i], "element %d was dropped", i)
		} else {
			require.InDelta(t, x.Data[i]/(1-p), v, 1e-6*math.Abs(float64(v)), "element %d", i)
			require.InDelta(t, gy.Data[i]/(1-p), gx[i], 1e-6, "element %d gradient", i)
		}
	}
	require.Positive(t, dropped)
	require.Less(t, dropped, x.Len())
}

func TestDropoutGradCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	x := elemRandn(rng, 2, 3, 3, 3)
	f := func(tp *Tape) *Tensor {
		// The same seed every call, hence the same mask.
		if tp == nil {
			tp = &Tape{}
		}
		tp.Train, tp.RNG = true, rand.New(rand.NewPCG(8, 8))
		return Dropout(tp, x, 0.5)
	}
	gradCheck(t, []*Tensor{x}, f, 54, 1)
}

func TestDropoutLayer(t *testing.T) {
	l, err := NewDropoutLayer("classifier.0", 0.2)
	require.NoError(t, err)
	var _ Module = l
	x := FromData([]float32{1, 2}, 1, 2)
	require.Same(t, x, l.Forward(nil, x))

	for _, p := range []float64{-0.1, 1, 1.5, math.NaN()} {
		_, err := NewDropoutLayer("classifier.0", p)
		require.ErrorContains(t, err, `dropout "classifier.0": probability`, "p=%g", p)
	}
}

func TestDropoutPanics(t *testing.T) {
	require.PanicsWithValue(t, "nn.Dropout: training tape has no RNG (set Tape.RNG from the run's seed)",
		func() { Dropout(NewTape(true, nil), New(3), 0.5) })
	require.Panics(t, func() { Dropout(nil, New(3), 1) })
}

package trainer

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// ids returns the pixel value (the sample id mod 256) of each sample.
func ids(d *Dataset) []int {
	out := make([]int, d.Len())
	for i := range out {
		out[i] = int(d.Pixels(i)[0])
	}
	return out
}

func TestSplitValidation(t *testing.T) {
	// Unbalanced classes: 100 of class 0, 50 of class 1, 30 of class 2.
	labelOf := func(i int) int {
		switch {
		case i < 100:
			return 0
		case i < 150:
			return 1
		}
		return 2
	}
	d := synthDataset(t, 180, 3, labelOf)
	for _, stratify := range []bool{true, false} {
		train, val, err := SplitValidation(d, 0.2, stratify, rand.New(rand.NewPCG(1, 2)))
		require.NoError(t, err)
		require.Equal(t, 36, val.Len())
		require.Equal(t, 144, train.Len())
		all := append(ids(train), ids(val)...)
		slices.Sort(all)
		for i, id := range all {
			require.Equal(t, i, id, "the two parts must cover every sample once")
		}
		if stratify {
			require.Equal(t, []int{20, 10, 6}, val.ClassCounts())
			require.Equal(t, []int{80, 40, 24}, train.ClassCounts())
		}
		// Same seed, same split; another seed, another split.
		_, again, err := SplitValidation(d, 0.2, stratify, rand.New(rand.NewPCG(1, 2)))
		require.NoError(t, err)
		require.Equal(t, ids(val), ids(again))
		_, other, err := SplitValidation(d, 0.2, stratify, rand.New(rand.NewPCG(3, 4)))
		require.NoError(t, err)
		require.NotEqual(t, ids(val), ids(other))
	}
}

func TestSplitValidationErrors(t *testing.T) {
	d := synthDataset(t, 10, 2, func(i int) int { return i % 2 })
	rng := rand.New(rand.NewPCG(1, 1))
	for _, f := range []float64{0, 1, -0.5, 1.5} {
		_, _, err := SplitValidation(d, f, true, rng)
		require.ErrorContains(t, err, "strictly between 0 and 1")
	}
	_, _, err := SplitValidation(d, 0.01, false, rng)
	require.ErrorContains(t, err, "leaves one side empty")
	_, _, err = SplitValidation(d, 0.5, false, nil)
	require.ErrorContains(t, err, "seeded *rand.Rand")
}

func TestSubset(t *testing.T) {
	d := synthDataset(t, 200, 4, func(i int) int { return i % 4 })
	s, err := Subset(d, 0.25, true, rand.New(rand.NewPCG(5, 6)))
	require.NoError(t, err)
	require.Equal(t, []int{13, 13, 13, 13}, s.ClassCounts()) // round(0.25*50) = 13 per class
	s2, err := Subset(d, 0.25, true, rand.New(rand.NewPCG(5, 6)))
	require.NoError(t, err)
	require.Equal(t, ids(s), ids(s2))

	tiny, err := Subset(d, 0.001, false, rand.New(rand.NewPCG(5, 6)))
	require.NoError(t, err)
	require.Equal(t, 1, tiny.Len())
	whole, err := Subset(d, 1, false, rand.New(rand.NewPCG(5, 6)))
	require.NoError(t, err)
	require.Equal(t, 200, whole.Len())
	_, err = Subset(d, 0, false, rand.New(rand.NewPCG(5, 6)))
	require.ErrorContains(t, err, "want a value in (0, 1]")
}

// TestConfigSplitSeed: SplitSeed fixes the validation split across seeds
// (a search's trials are scored on the same images), and EvalFraction
// scores on a per-class part of it that training still never sees.
func TestConfigSplitSeed(t *testing.T) {
	d := synthDataset(t, 200, 4, func(i int) int { return i % 4 })
	a, b := DefaultConfig(), DefaultConfig()
	a.ValFraction, b.ValFraction = 0.2, 0.2
	a.Seed, b.Seed = 1, 2
	_, va, err := a.Split(d)
	require.NoError(t, err)
	_, vb, err := b.Split(d)
	require.NoError(t, err)
	require.NotEqual(t, ids(va), ids(vb), "without SplitSeed the split follows Seed")

	a.SplitSeed, b.SplitSeed = 7, 7
	fa, va, err := a.Split(d)
	require.NoError(t, err)
	fb, vb, err := b.Split(d)
	require.NoError(t, err)
	require.Equal(t, ids(va), ids(vb))
	require.Equal(t, ids(fa), ids(fb))

	a.EvalFraction = 0.2
	fe, ve, err := a.Split(d)
	require.NoError(t, err)
	require.Equal(t, ids(fa), ids(fe), "the training part does not change")
	require.Equal(t, []int{2, 2, 2, 2}, ve.ClassCounts())
	require.Subset(t, ids(va), ids(ve))

	a.EvalFraction = 1.5
	require.Error(t, a.check())
}

package trainer

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// epoch runs one epoch and returns copies of every batch's data and labels.
func epoch(t *testing.T, b *Batches) (data [][]float32, labels [][]int) {
	t.Helper()
	for b.Next() {
		data = append(data, slices.Clone(b.Images().Data))
		labels = append(labels, slices.Clone(b.Labels()))
	}
	return data, labels
}

// uniqueDataset has n samples of 1x4x3 where sample i has label i (its own
// class) and pixel j equal to (i*12+j)%251: no two samples alike for n <= 20.
func uniqueDataset(t *testing.T, n int) *Dataset {
	t.Helper()
	d := synthDataset(t, n, n, func(i int) int { return i })
	px := d.store.pixels
	for i := range px {
		px[i] = uint8(i % 251)
	}
	return d
}

func TestBatchesEvaluationOrder(t *testing.T) {
	d := uniqueDataset(t, 10)
	d.Norm = Normalization{Mean: []float32{0.5}, Std: []float32{0.25}}
	b, err := NewBatches(d, BatchOptions{Size: 4}, nil)
	require.NoError(t, err)
	require.Equal(t, 3, b.Len())
	data, labels := epoch(t, b)
	require.Equal(t, [][]int{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}}, labels)
	require.Equal(t, []int{2, 1, 4, 3}, b.Images().Shape, "the last batch is short")
	require.Len(t, data[2], 2*12)
	for k, x := range data[1] {
		p := float64(d.Pixels(4 + k/12)[k%12])
		require.InDelta(t, (p/255-0.5)/0.25, float64(x), 1e-6)
	}
	require.False(t, b.Next(), "the epoch is over until Reset")
	b.Reset()
	data2, _ := epoch(t, b)
	require.Equal(t, data, data2)

	b, err = NewBatches(d, BatchOptions{Size: 4, DropLast: true}, nil)
	require.NoError(t, err)
	require.Equal(t, 2, b.Len())
	_, labels = epoch(t, b)
	require.Len(t, labels, 2)
}

func TestBatchesShuffleCoversEpoch(t *testing.T) {
	d := uniqueDataset(t, 21)
	b, err := NewBatches(d, BatchOptions{Size: 5, Shuffle: true}, rand.New(rand.NewPCG(7, 7)))
	require.NoError(t, err)
	var orders [][]int
	for range 3 {
		_, labels := epoch(t, b)
		flat := slices.Concat(labels...)
		orders = append(orders, slices.Clone(flat))
		slices.Sort(flat)
		for i, l := range flat {
			require.Equal(t, i, l, "every sample exactly once per epoch")
		}
		b.Reset()
	}
	require.NotEqual(t, orders[0], orders[1], "each epoch draws a new order")
}

// TestBatchesAugmentation checks that every augmented sample is its source
// shifted by at most the padding and maybe mirrored, and that both the shift
// and the flip happen.
func TestBatchesAugmentation(t *testing.T) {
	d := uniqueDataset(t, 20)
	aug := Augmentation{CropPadding: 1, HorizontalFlip: true}
	b, err := NewBatches(d, BatchOptions{Size: 8, Shuffle: true, Augment: aug}, rand.New(rand.NewPCG(1, 9)))
	require.NoError(t, err)
	seen := map[[3]int]bool{}
	lut := identityLUT(1)
	for range 5 {
		for b.Next() {
			x := b.Images().Data
			for k, label := range b.Labels() {
				got := x[k*12 : (k+1)*12]
				for i := range got {
					got[i] *= 255 // identity normalisation: p/255
				}
				match := false
				for dy := -1; dy <= 1 && !match; dy++ {
					for dx := -1; dx <= 1 && !match; dx++ {
						for _, flip := range []bool{false, true} {
							want := make([]float32, 12)
							writeSample(want, d.Pixels(label), d.Shape, lut, dy, dx, flip)
							if equalWithin(want, got, 1e-3) {
								seen[[3]int{dy, dx, map[bool]int{false: 0, true: 1}[flip]}] = true
								match = true
								break
							}
						}
					}
				}
				require.True(t, match, "sample %d: %v is no crop/flip of its source", label, got)
			}
		}
		b.Reset()
	}
	require.Greater(t, len(seen), 9, "too few distinct (shift, flip) draws: %v", seen)
}

func equalWithin(a, b []float32, tol float32) bool {
	for i := range a {
		if d := a[i] - b[i]; d > tol || d < -tol {
			return false
		}
	}
	return true
}

// TestBatchesDeterministic: the same seed gives the same split, order and
// augmentation; another seed does not.
func TestBatchesDeterministic(t *testing.T) {
	d := uniqueDataset(t, 20)
	run := func(seed uint64) ([][]float32, [][]int) {
		rng := rand.New(rand.NewPCG(seed, 0))
		train, _, err := SplitValidation(d, 0.25, false, rng)
		require.NoError(t, err)
		b, err := NewBatches(train, BatchOptions{Size: 4, Shuffle: true, Augment: Augmentation{CropPadding: 1, HorizontalFlip: true}}, rng)
		require.NoError(t, err)
		var data [][]float32
		var labels [][]int
		for range 2 {
			x, y := epoch(t, b)
			data, labels = append(data, x...), append(labels, y...)
			b.Reset()
		}
		return data, labels
	}
	x1, y1 := run(42)
	x2, y2 := run(42)
	require.Equal(t, y1, y2)
	require.Equal(t, x1, x2)
	x3, _ := run(43)
	require.NotEqual(t, x1, x3)
}

func TestBatchesNoAllocation(t *testing.T) {
	d := uniqueDataset(t, 20)
	b, err := NewBatches(d, BatchOptions{Size: 3, Shuffle: true, Augment: Augmentation{CropPadding: 1, HorizontalFlip: true}}, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(50, func() {
		if !b.Next() {
			b.Reset()
		}
	})
	require.Zero(t, allocs)
}

func TestBatchesErrors(t *testing.T) {
	d := uniqueDataset(t, 5)
	rng := rand.New(rand.NewPCG(1, 1))
	cases := []struct {
		o    BatchOptions
		rng  *rand.Rand
		want string
	}{
		{BatchOptions{Size: 0}, rng, "batch size 0"},
		{BatchOptions{Size: 2, Shuffle: true}, nil, "need a seeded *rand.Rand"},
		{BatchOptions{Size: 2, Augment: Augmentation{HorizontalFlip: true}}, nil, "need a seeded *rand.Rand"},
		{BatchOptions{Size: 2, Augment: Augmentation{CropPadding: 9}}, rng, "crop padding 9"},
	}
	for _, c := range cases {
		_, err := NewBatches(d, c.o, c.rng)
		require.ErrorContains(t, err, c.want)
	}
	empty, err := d.Select(nil)
	require.NoError(t, err)
	_, err = NewBatches(empty, BatchOptions{Size: 2}, nil)
	require.ErrorContains(t, err, "the dataset is empty")
}

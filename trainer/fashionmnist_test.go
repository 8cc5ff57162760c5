package trainer

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// openInstalledFashionMNIST loads the Debian package's Fashion-MNIST, or
// skips when it is not installed.
func openInstalledFashionMNIST(tb testing.TB) *Sets {
	tb.Helper()
	if _, err := os.Stat(filepath.Join(DefaultFashionMNISTDir, "train-images-idx3-ubyte.gz")); err != nil {
		tb.Skipf("Fashion-MNIST is not installed in %s (apt-get install -y dataset-fashion-mnist): %v", DefaultFashionMNISTDir, err)
	}
	sets, err := OpenDataset("fashion-mnist", "")
	require.NoError(tb, err)
	return sets
}

func TestFashionMNISTInstalled(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: loading and counting 70,000 images takes 12 s under -race; run without -short")
	}
	sets := openInstalledFashionMNIST(t)
	require.Equal(t, 60000, sets.Train.Len())
	require.Equal(t, 10000, sets.Test.Len())
	require.Equal(t, 1, sets.Shape().C)
	require.Equal(t, 28, sets.Shape().H)
	require.Equal(t, 28, sets.Shape().W)
	require.Equal(t, 10, sets.Classes())
	require.Equal(t, FashionMNISTClassNames(), sets.ClassNames())
	train := sets.Train.ClassCounts()
	test := sets.Test.ClassCounts()
	for c := range 10 {
		require.Equal(t, 6000, train[c], "train class %d", c)
		require.Equal(t, 1000, test[c], "test class %d", c)
	}
	// The documented normalisation is the training set's.
	n := ComputeNormalization(sets.Train)
	require.InDelta(t, FashionMNISTNorm().Mean[0], n.Mean[0], 5e-4)
	require.InDelta(t, FashionMNISTNorm().Std[0], n.Std[0], 5e-4)

	// A 10% stratified validation split keeps 600 of each class.
	fit, val, err := SplitValidation(sets.Train, 0.1, true, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	require.Equal(t, 54000, fit.Len())
	for _, c := range val.ClassCounts() {
		require.Equal(t, 600, c)
	}
}

// BenchmarkFashionMNISTBatches measures training batches (64 images,
// shuffled, random crop with padding 2 and horizontal flip, normalised) on
// the installed Fashion-MNIST:
//
//	go test ./trainer -run '^$' -bench FashionMNISTBatches -benchtime 5000x
func BenchmarkFashionMNISTBatches(b *testing.B) {
	sets := openInstalledFashionMNIST(b)
	it, err := NewBatches(sets.Train, BatchOptions{Size: 64, Shuffle: true, Augment: DefaultAugmentation("fashion-mnist")}, rand.New(rand.NewPCG(1, 2)))
	require.NoError(b, err)
	b.ReportAllocs()
	batches, images := 0, 0
	for b.Loop() {
		if !it.Next() {
			it.Reset()
			it.Next()
		}
		batches++
		images += len(it.Labels())
	}
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(batches)/s, "batches/s")
	b.ReportMetric(float64(images)/s, "images/s")
}

// BenchmarkOpenFashionMNIST measures loading the installed Fashion-MNIST
// (gunzip and parse of the four files):
//
//	go test ./trainer -run '^$' -bench OpenFashionMNIST -benchtime 5x
func BenchmarkOpenFashionMNIST(b *testing.B) {
	openInstalledFashionMNIST(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := OpenDataset("fashion-mnist", ""); err != nil {
			b.Fatal(err)
		}
	}
}

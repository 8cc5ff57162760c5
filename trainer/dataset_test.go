package trainer

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
)

// synthDataset returns n samples of shape 1x4x3; sample i has label
// labelOf(i) and every pixel equal to i%256.
func synthDataset(t testing.TB, n, classes int, labelOf func(i int) int) *Dataset {
	t.Helper()
	shape := blocks.Shape{C: 1, H: 4, W: 3}
	pixels := make([]uint8, n*12)
	labels := make([]int, n)
	for i := range n {
		for j := range 12 {
			pixels[i*12+j] = uint8(i % 256)
		}
		labels[i] = labelOf(i)
	}
	names := make([]string, classes)
	for c := range names {
		names[c] = string(rune('A' + c))
	}
	d, err := NewDataset("synth", shape, names, pixels, labels, Normalization{})
	require.NoError(t, err)
	return d
}

func TestNewDatasetErrors(t *testing.T) {
	shape := blocks.Shape{C: 1, H: 2, W: 2}
	cases := []struct {
		name   string
		shape  blocks.Shape
		names  []string
		pixels int
		labels []int
		norm   Normalization
		want   string
	}{
		{"zero shape", blocks.Shape{C: 1, H: 0, W: 2}, []string{"a"}, 0, nil, Normalization{}, "every dimension"},
		{"no classes", shape, nil, 4, []int{0}, Normalization{}, "no class names"},
		{"pixel count", shape, []string{"a"}, 5, []int{0}, Normalization{}, "5 pixel bytes for 1 labels"},
		{"label range", shape, []string{"a", "b"}, 8, []int{0, 2}, Normalization{}, "sample 1 has label 2, outside [0, 2)"},
		{"norm channels", shape, []string{"a"}, 4, []int{0}, CIFAR10Norm(), "3 means and 3 stds for 1 channels"},
		{"norm zero std", shape, []string{"a"}, 4, []int{0}, Normalization{Mean: []float32{0}, Std: []float32{0}}, "std of channel 0 is 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewDataset("x", c.shape, c.names, make([]uint8, c.pixels), c.labels, c.norm)
			require.ErrorContains(t, err, c.want)
		})
	}
}

func TestSelectAndComputeNormalization(t *testing.T) {
	d := synthDataset(t, 10, 3, func(i int) int { return i % 3 })
	v, err := d.Select([]int{9, 2, 2})
	require.NoError(t, err)
	require.Equal(t, 3, v.Len())
	require.Equal(t, uint8(9), v.Pixels(0)[0])
	require.Equal(t, 0, v.Label(0))
	require.Equal(t, 2, v.Label(1))
	// A view of a view maps back to the storage.
	vv, err := v.Select([]int{0})
	require.NoError(t, err)
	require.Equal(t, uint8(9), vv.Pixels(0)[5])
	_, err = v.Select([]int{3})
	require.ErrorContains(t, err, "position 0 of the selection is 3, outside [0, 3)")

	// Pixels 9, 2, 2 (all 12 of each sample): mean 13/3/255.
	n := ComputeNormalization(v)
	mean := 13.0 / 3
	variance := (81+4+4)/3.0 - mean*mean
	require.InDelta(t, mean/255, n.Mean[0], 1e-6)
	require.InDelta(t, variance/(255*255), float64(n.Std[0]*n.Std[0]), 1e-6)
}

func TestDatasetDir(t *testing.T) {
	for name, want := range map[string]string{"fashion-mnist": DefaultFashionMNISTDir, "mnist": DefaultMNISTDir, "cifar10": DefaultCIFAR10Dir} {
		if got, err := DatasetDir(name, ""); err != nil || got != want {
			t.Errorf("DatasetDir(%q, \"\") = %q, %v; want %q", name, got, err, want)
		}
		if got, err := DatasetDir(name, "d"); err != nil || got != "d" {
			t.Errorf("DatasetDir(%q, \"d\") = %q, %v; want d", name, got, err)
		}
	}
	for _, name := range []string{"folder", "imagenet"} {
		if _, err := DatasetDir(name, ""); err == nil || !strings.Contains(err.Error(), "--data-dir DIR") {
			t.Errorf("DatasetDir(%q, \"\"): error %v, want one naming --data-dir DIR", name, err)
		}
	}
}

package trainer

import (
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
)

// identityLUT maps pixel p to float32(p) on every channel.
func identityLUT(channels int) [][256]float32 {
	lut := make([][256]float32, channels)
	for c := range lut {
		for p := range 256 {
			lut[c][p] = float32(p)
		}
	}
	return lut
}

func TestWriteSample(t *testing.T) {
	// 2 channels of 2x3: channel 0 is 1..6, channel 1 is 11..16.
	shape := blocks.Shape{C: 2, H: 2, W: 3}
	src := []uint8{1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16}
	cases := []struct {
		name   string
		dy, dx int
		flip   bool
		want   []float32
	}{
		{"identity", 0, 0, false, []float32{1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16}},
		{"flip", 0, 0, true, []float32{3, 2, 1, 6, 5, 4, 13, 12, 11, 16, 15, 14}},
		{"right shift of content", 0, -1, false, []float32{0, 1, 2, 0, 4, 5, 0, 11, 12, 0, 14, 15}},
		{"left shift of content", 0, 1, false, []float32{2, 3, 0, 5, 6, 0, 12, 13, 0, 15, 16, 0}},
		{"down shift of content", -1, 0, false, []float32{0, 0, 0, 1, 2, 3, 0, 0, 0, 11, 12, 13}},
		{"crop then flip", 1, 1, true, []float32{0, 6, 5, 0, 0, 0, 0, 16, 15, 0, 0, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := make([]float32, 12)
			writeSample(dst, src, shape, identityLUT(2), c.dy, c.dx, c.flip)
			require.Equal(t, c.want, dst)
		})
	}
}

func TestAugmentationSettings(t *testing.T) {
	require.False(t, Augmentation{}.Enabled())
	require.True(t, DefaultAugmentation("cifar10").HorizontalFlip)
	require.True(t, DefaultAugmentation("fashion-mnist").HorizontalFlip)
	require.False(t, DefaultAugmentation("mnist").HorizontalFlip, "a mirrored digit is not the same digit")
	require.Equal(t, 2, DefaultAugmentation("mnist").CropPadding)
	require.False(t, DefaultAugmentation("folder").Enabled())

	shape := blocks.Shape{C: 1, H: 4, W: 3}
	require.NoError(t, Augmentation{CropPadding: 2}.check(shape))
	require.ErrorContains(t, Augmentation{CropPadding: 3}.check(shape), "want 0 (off) up to 2")
	require.Error(t, Augmentation{CropPadding: -1}.check(shape))
}

package trainer

import (
	"fmt"
	"math/rand/v2"

	"nas/blocks"
)

// Augmentation is the random change Batches applies to each training
// sample, in this order (torchvision's RandomCrop(size, padding) then
// RandomHorizontalFlip()). The zero value turns augmentation off; each part
// has its own switch. Draws come from the *rand.Rand given to NewBatches, so
// the same seed gives the same augmentation.
//
// Horizontal flips keep the class of Fashion-MNIST garments and CIFAR-10
// objects, but not of MNIST digits or of text: leave it off for those
// (DefaultAugmentation does).
type Augmentation struct {
	// CropPadding pads the image with zeros (black, before normalisation)
	// by this many pixels on every side and crops a random window of the
	// original size: a shift of up to CropPadding pixels in each
	// direction. 0 turns random cropping off.
	CropPadding int
	// HorizontalFlip mirrors the image left-right with probability 1/2.
	HorizontalFlip bool
}

// DefaultAugmentation is the usual training augmentation of a dataset name
// that OpenDataset knows: CIFAR-10: crop with padding 4 and flip;
// Fashion-MNIST: crop with padding 2 and flip; MNIST: crop with padding 2
// and no flip (a mirrored digit is not the same digit); folder datasets and
// other names: none (the caller knows whether its classes survive a flip).
func DefaultAugmentation(name string) Augmentation {
	switch name {
	case "cifar10":
		return Augmentation{CropPadding: 4, HorizontalFlip: true}
	case "fashion-mnist":
		return Augmentation{CropPadding: 2, HorizontalFlip: true}
	case "mnist":
		return Augmentation{CropPadding: 2}
	}
	return Augmentation{}
}

// Enabled reports whether a does anything.
func (a Augmentation) Enabled() bool { return a.CropPadding > 0 || a.HorizontalFlip }

func (a Augmentation) check(shape blocks.Shape) error {
	if a.CropPadding < 0 || a.CropPadding >= min(shape.H, shape.W) {
		return fmt.Errorf("augmentation: crop padding %d for %v images; want 0 (off) up to %d", a.CropPadding, shape, min(shape.H, shape.W)-1)
	}
	return nil
}

// draw picks the shift (dy, dx) and the flip of one sample. It takes the same
// number of draws from rng for every sample.
func (a Augmentation) draw(rng *rand.Rand) (dy, dx int, flip bool) {
	if p := a.CropPadding; p > 0 {
		dy = rng.IntN(2*p+1) - p
		dx = rng.IntN(2*p+1) - p
	}
	if a.HorizontalFlip {
		flip = rng.IntN(2) == 1
	}
	return dy, dx, flip
}

// writeSample writes one C x H x W sample into dst as float32 through the
// per-channel lookup tables lut (pixel value -> normalised value). Output
// pixel (y, x) takes source pixel (y+dy, x'+dx) with x' = W-1-x if flip,
// else x; sources outside the image read as 0. That is a crop of the image
// padded by max(|dy|, |dx|) at offset (dy, dx), then a flip.
func writeSample(dst []float32, src []uint8, shape blocks.Shape, lut [][256]float32, dy, dx int, flip bool) {
	h, w := shape.H, shape.W
	plane := h * w
	for c := range shape.C {
		table := &lut[c]
		in := src[c*plane : (c+1)*plane]
		out := dst[c*plane : (c+1)*plane]
		if dy == 0 && dx == 0 && !flip {
			for i, p := range in {
				out[i] = table[p]
			}
			continue
		}
		for y := range h {
			row := out[y*w : (y+1)*w]
			sy := y + dy
			if sy < 0 || sy >= h {
				for x := range row {
					row[x] = table[0]
				}
				continue
			}
			srcRow := in[sy*w : (sy+1)*w]
			for x := range row {
				sx := x
				if flip {
					sx = w - 1 - x
				}
				sx += dx
				if sx < 0 || sx >= w {
					row[x] = table[0]
				} else {
					row[x] = table[srcRow[sx]]
				}
			}
		}
	}
}

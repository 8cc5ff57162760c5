package trainer

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"io"
	"math"
	"os"

	"nas/blocks"
	"nas/blocks/nn"
)

// MaxInputBytes bounds the size of an input file ReadInput reads: a larger
// file is refused by its size before a byte of it is read.
const MaxInputBytes = 256 << 20

// InputOptions say how ReadInput reads an input file.
type InputOptions struct {
	// Norm normalises an image's values per channel after scaling them to
	// [0, 1] (nil: not normalised). Raw values are used as they are: a
	// raw file with a Norm is refused.
	Norm *Normalization
	// Grey converts a colour image for a one-channel network to grey, as
	// BT.601 luma (0.299 R + 0.587 G + 0.114 B). Without it a colour image
	// is refused there. An image whose pixels are all grey needs no
	// conversion, and a grey image given to a three-channel network fills
	// the three channels with its grey.
	Grey bool
}

// ReadInput reads the input of a network of input shape s from a file: a
// PNG or JPEG image of exactly s.H x s.W pixels, scaled to [0, 1] and
// normalised with o.Norm; or else raw little-endian float32 values,
// N x C x H x W, used as they are. A file larger than MaxInputBytes, an
// empty one, a raw file that is not a whole number of samples or holds a
// NaN or an infinity, and an image that does not fit the network are each
// refused with an error that names the file and the fix.
func ReadInput(path string, s blocks.Shape, o InputOptions) (*nn.Tensor, error) {
	if o.Norm != nil && (len(o.Norm.Mean) != s.C || len(o.Norm.Std) != s.C) {
		return nil, fmt.Errorf("the normalisation has statistics for %d channels, the network takes %d: choose the dataset's of %d channels, or none",
			len(o.Norm.Mean), s.C, s.C)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	per := int64(s.C) * int64(s.H) * int64(s.W) * 4
	switch {
	case fi.Size() == 0:
		return nil, fmt.Errorf("%s is empty: give raw little-endian float32 values (%d bytes per %v sample) or a PNG or JPEG image", path, per, s)
	case fi.Size() > MaxInputBytes:
		return nil, fmt.Errorf("%s is %d bytes, more than the %d MiB an input may have: split it into files of at most %d samples of %v",
			path, fi.Size(), MaxInputBytes>>20, MaxInputBytes/per, s)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxInputBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > MaxInputBytes {
		return nil, fmt.Errorf("%s grew beyond %d MiB while it was read", path, MaxInputBytes>>20)
	}
	if cfg, format, err := image.DecodeConfig(bytes.NewReader(b)); err == nil {
		// The header's size is checked before the pixels are decoded.
		if cfg.Width != s.W || cfg.Height != s.H {
			return nil, fmt.Errorf("%s: %s image is %dx%d pixels, the network takes %dx%d: resize it first", path, format, cfg.Width, cfg.Height, s.W, s.H)
		}
		img, _, err := image.Decode(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %s image: %v", path, format, err)
		}
		return imageInput(path, format, img, s, o)
	}
	if o.Norm != nil {
		return nil, fmt.Errorf("%s: raw float32 values are used as they are, and a normalisation applies to images only: normalise the values in the file, or give none", path)
	}
	if int64(len(b))%per != 0 {
		return nil, fmt.Errorf("%s: %d bytes is not a whole number of %v float32 samples (%d bytes each), nor a PNG or JPEG image: write N x %d little-endian float32 values",
			path, len(b), s, per, per/4)
	}
	x := nn.New(int(int64(len(b))/per), s.C, s.H, s.W)
	for i := range x.Data {
		v := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			n, c, y, xx := i/int(per/4), i/(s.H*s.W)%s.C, i/s.W%s.H, i%s.W
			return nil, fmt.Errorf("%s: value %d (sample %d, channel %d, row %d, column %d) is %v: the input must hold finite numbers", path, i, n, c, y, xx, v)
		}
		x.Data[i] = v
	}
	return x, nil
}

// imageInput converts an image at full 16-bit precision (see
// InputOptions for grey and colour).
func imageInput(path, format string, img image.Image, s blocks.Shape, o InputOptions) (*nn.Tensor, error) {
	r := img.Bounds()
	if s.C != 1 && s.C != 3 {
		return nil, fmt.Errorf("%s: the network takes %d channels; images give 1 (grey) or 3 (RGB): give raw float32 values", path, s.C)
	}
	x := nn.New(1, s.C, s.H, s.W)
	for yy := range s.H {
		for xx := range s.W {
			cr, cg, cb, _ := img.At(r.Min.X+xx, r.Min.Y+yy).RGBA()
			if s.C == 1 && !o.Grey && (cr != cg || cg != cb) {
				return nil, fmt.Errorf("%s: a colour %s image (pixel %d,%d is not grey), the network takes one channel: convert it to grey first, or ask for BT.601 luma with --grey",
					path, format, xx, yy)
			}
			rgb := [3]float32{float32(cr) / 65535, float32(cg) / 65535, float32(cb) / 65535}
			for c := range s.C {
				v := rgb[c]
				if s.C == 1 && (cr != cg || cg != cb) {
					v = 0.299*rgb[0] + 0.587*rgb[1] + 0.114*rgb[2]
				}
				if o.Norm != nil {
					v = (v - o.Norm.Mean[c]) / o.Norm.Std[c]
				}
				x.Data[(c*s.H+yy)*s.W+xx] = v
			}
		}
	}
	return x, nil
}

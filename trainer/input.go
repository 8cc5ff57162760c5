package trainer

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"math"
	"os"

	"nas/blocks"
	"nas/blocks/nn"
)

// ReadInput reads the input of a network of input shape s from a file: a
// PNG or JPEG image of exactly s.H x s.W pixels (gray for one channel, RGB
// for three), scaled to [0, 1] and normalised with norm (nil: not
// normalised); or else raw little-endian float32 values, N x C x H x W,
// used as they are.
func ReadInput(path string, s blocks.Shape, norm *Normalization) (*nn.Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if img, _, err := image.Decode(bytes.NewReader(b)); err == nil {
		return imageInput(path, img, s, norm)
	}
	per := s.C * s.H * s.W * 4
	if len(b) == 0 || len(b)%per != 0 {
		return nil, fmt.Errorf("%s: %d bytes is not a whole number of %v float32 samples (%d bytes each), nor a PNG or JPEG image", path, len(b), s, per)
	}
	n := len(b) / per
	x := nn.New(n, s.C, s.H, s.W)
	for i := range x.Data {
		x.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return x, nil
}

// imageInput converts an image at full 16-bit precision: gray as BT.601
// luma of the RGB values.
func imageInput(path string, img image.Image, s blocks.Shape, norm *Normalization) (*nn.Tensor, error) {
	r := img.Bounds()
	if r.Dx() != s.W || r.Dy() != s.H {
		return nil, fmt.Errorf("%s: image is %dx%d pixels, the network takes %dx%d: resize it first", path, r.Dx(), r.Dy(), s.W, s.H)
	}
	if s.C != 1 && s.C != 3 {
		return nil, fmt.Errorf("%s: the network takes %d channels; images give 1 (gray) or 3 (RGB)", path, s.C)
	}
	if norm != nil && len(norm.Mean) != s.C {
		return nil, fmt.Errorf("the normalisation has statistics for %d channels, the network takes %d", len(norm.Mean), s.C)
	}
	x := nn.New(1, s.C, s.H, s.W)
	for yy := range s.H {
		for xx := range s.W {
			cr, cg, cb, _ := img.At(r.Min.X+xx, r.Min.Y+yy).RGBA()
			rgb := [3]float32{float32(cr) / 65535, float32(cg) / 65535, float32(cb) / 65535}
			for c := range s.C {
				v := rgb[c]
				if s.C == 1 {
					v = 0.299*rgb[0] + 0.587*rgb[1] + 0.114*rgb[2]
				}
				if norm != nil {
					v = (v - norm.Mean[c]) / norm.Std[c]
				}
				x.Data[(c*s.H+yy)*s.W+xx] = v
			}
		}
	}
	return x, nil
}

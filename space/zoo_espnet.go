package space

import (
	"fmt"
	"math"
	"slices"

	"nas/blocks"
)

// ESPNetv2 (Mehta et al., 2019) for ImageNet classification as the
// authors' code builds it, at its width scales s.

// espnetScales are the scales the reference code supports.
var espnetScales = []float64{0.5, 1.0, 1.25, 1.5, 2.0}

func init() {
	registerZoo(ZooEntry{Name: "espnetv2", Family: "espnetv2", Widths: espnetScales, build: buildESPNetV2})
}

// espnetChannels are the widths of the stem, the four levels and the final
// grouped 1x1 at scale s: the levels double from round_up(int(32*s), 4),
// the stem keeps 32 channels unless that is smaller, and the final layer
// has 1024 channels up to s = 1.5 and 1280 above.
func espnetChannels(s float64) [6]int {
	base := int(32 * s)
	base = (base + 3) / 4 * 4
	var c [6]int
	c[0] = min(base, 32)
	for i := 1; i < 5; i++ {
		c[i] = base << i
	}
	c[5] = 1024
	if s > 1.5 {
		c[5] = 1280
	}
	return c
}

// buildESPNetV2 is ESPNetv2 at scale o.Width: a 3x3 stride-2 stem + BN +
// PReLU; level 2, a strided EESP unit; levels 3, 4 and 5, a strided unit
// followed by 3, 7 and 3 EESP units; a depthwise 3x3 + BN + PReLU and a
// 1x1 in 4 groups + BN + PReLU; global average pooling, dropout 0.2 and a
// fully connected layer. The receptive-field limits are 13, 11, 9, 7, 5
// along the levels as in the reference, 4 branches everywhere, and the
// strided units of levels 2-4 take the input reinforcement from the image.
// For small inputs the stem and the level-2 unit run at stride 1.
func buildESPNetV2(o ZooOptions) (*Arch, error) {
	if !slices.Contains(espnetScales, o.Width) {
		return nil, fmt.Errorf("width %g: ESPNetv2 is defined at scales %v", o.Width, espnetScales)
	}
	c := espnetChannels(o.Width)
	stride := 2
	if smallInput(o) {
		stride = 1
	}
	img := o.Input.C
	layers := []blocks.Spec{
		&blocks.Conv{Out: c[0], Kernel: 3, Stride: stride, Act: blocks.ActPReLU},
		&blocks.EESP{Out: c[1], Stride: stride, RLim: 13, Down: true, Reinf: img},
		&blocks.EESP{Out: c[2], Stride: 2, RLim: 11, Down: true, Reinf: img},
	}
	layers = espnetRepeat(layers, 3, blocks.EESP{Out: c[2], RLim: 9})
	layers = append(layers, &blocks.EESP{Out: c[3], Stride: 2, RLim: 9, Down: true, Reinf: img})
	layers = espnetRepeat(layers, 7, blocks.EESP{Out: c[3], RLim: 7})
	layers = append(layers, &blocks.EESP{Out: c[4], Stride: 2, RLim: 7, Down: true})
	layers = espnetRepeat(layers, 3, blocks.EESP{Out: c[4], RLim: 5})
	layers = append(layers,
		&blocks.Conv{Out: c[4], Kernel: 3, Groups: c[4], Act: blocks.ActPReLU},
		&blocks.Conv{Out: c[5], Kernel: 1, Groups: 4, Act: blocks.ActPReLU},
		&blocks.GlobalPool{},
		&blocks.Dropout{P: 20},
		&blocks.Linear{Out: o.Classes})
	name := "espnetv2"
	if o.Width != 1 {
		name = fmt.Sprintf("espnetv2_s%s", strconvScale(o.Width))
	}
	return &Arch{Name: name, Input: o.Input, Classes: o.Classes, Layers: layers}, nil
}

func espnetRepeat(layers []blocks.Spec, n int, unit blocks.EESP) []blocks.Spec {
	for range n {
		u := unit
		layers = append(layers, &u)
	}
	return layers
}

// strconvScale writes a scale for a network name: 0.5 -> "0.5", 2 -> "2.0".
func strconvScale(s float64) string {
	if s == math.Trunc(s) {
		return fmt.Sprintf("%.1f", s)
	}
	return fmt.Sprintf("%g", s)
}

package space

import (
	"fmt"

	"nas/blocks"
)

// GhostNet (Han et al., 2020) as the official ghostnet.py builds it, with
// its width multiplier.

func init() {
	registerZoo(ZooEntry{Name: "ghostnet", Family: "ghostnet", Widths: []float64{0.5, 1.0, 1.3}, build: buildGhostNet})
}

// ghostStages are GhostNet's bottlenecks: kernel, expanded channels,
// output channels, SE, stride.
var ghostStages = []struct {
	kernel, mid, out int
	se               bool
	stride           int
}{
	{3, 16, 16, false, 1},
	{3, 48, 24, false, 2},
	{3, 72, 24, false, 1},
	{5, 72, 40, true, 2},
	{5, 120, 40, true, 1},
	{3, 240, 80, false, 2},
	{3, 200, 80, false, 1},
	{3, 184, 80, false, 1},
	{3, 184, 80, false, 1},
	{3, 480, 112, true, 1},
	{3, 672, 112, true, 1},
	{5, 672, 160, true, 2},
	{5, 960, 160, false, 1},
	{5, 960, 160, true, 1},
	{5, 960, 160, false, 1},
	{5, 960, 160, true, 1},
}

// ghostMakeDivisible rounds v to the nearest multiple of divisor (at least
// divisor), going up a step when rounding would lose more than 10%: the
// make_divisible of the TensorFlow MobileNet code that GhostNet uses.
func ghostMakeDivisible(v float64, divisor int) int {
	n := max(divisor, int(v+float64(divisor)/2)/divisor*divisor)
	if float64(n) < 0.9*v {
		n += divisor
	}
	return n
}

// buildGhostNet is GhostNet at o.Width: a 3x3 stride-2 stem + BN + ReLU, 16
// Ghost bottlenecks (SE squeezing the expanded channels to a quarter,
// rounded to a multiple of 4), a 1x1 convolution + BN + ReLU, global
// average pooling, a 1x1 convolution with bias to 1280 channels + ReLU,
// dropout 0.2 and a fully connected layer. Every width except the 1280 of
// the head is scaled and rounded to a multiple of 4. For small inputs the
// stem and the first stride-2 bottleneck run at stride 1.
func buildGhostNet(o ZooOptions) (*Arch, error) {
	if o.Width <= 0 {
		return nil, fmt.Errorf("width %g must be positive", o.Width)
	}
	w := func(c int) int { return ghostMakeDivisible(float64(c)*o.Width, 4) }
	small := smallInput(o)
	stem := &blocks.Conv{Out: w(16), Kernel: 3, Stride: 2, Act: blocks.ActReLU}
	if small {
		stem.Stride = 1
	}
	layers := []blocks.Spec{stem}
	firstDown := true
	for _, b := range ghostStages {
		g := &blocks.Ghost{Mid: w(b.mid), Out: w(b.out), Kernel: b.kernel, Stride: b.stride}
		if b.stride == 2 && firstDown {
			firstDown = false
			if small {
				g.Stride = 1
			}
		}
		if b.se {
			g.SE = blocks.SE{Squeeze: ghostMakeDivisible(float64(g.Mid)*0.25, 4)}
		}
		layers = append(layers, g)
	}
	layers = append(layers,
		&blocks.Conv{Out: w(960), Kernel: 1, Act: blocks.ActReLU},
		&blocks.GlobalPool{},
		&blocks.Conv{Out: 1280, Kernel: 1, NoBN: true, Act: blocks.ActReLU},
		&blocks.Dropout{P: 20},
		&blocks.Linear{Out: o.Classes})
	return &Arch{Name: "ghostnet", Input: o.Input, Classes: o.Classes, Layers: layers}, nil
}

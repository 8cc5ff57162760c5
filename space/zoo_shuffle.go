package space

import (
	"fmt"

	"nas/blocks"
)

// ShuffleNet V1 at 1.0x for 1, 2, 3, 4 and 8 groups (Zhang et al., 2018,
// channels from the paper's Table 1, layers as Megvii's reference code) and
// ShuffleNet V2 at 0.5x, 1.0x, 1.5x and 2.0x (Ma et al., 2018, as
// torchvision builds them).

// shuffleV1Widths are the stage 2-4 output channels of ShuffleNet 1x by
// number of groups.
var shuffleV1Widths = map[int][3]int{
	1: {144, 288, 576},
	2: {200, 400, 800},
	3: {240, 480, 960},
	4: {272, 544, 1088},
	8: {384, 768, 1536},
}

// shuffleV2Widths are the stage 2-4 and final 1x1 channels of ShuffleNet V2
// by width name.
var shuffleV2Widths = map[string][4]int{
	"x0_5": {48, 96, 192, 1024},
	"x1_0": {116, 232, 464, 1024},
	"x1_5": {176, 352, 704, 1024},
	"x2_0": {244, 488, 976, 2048},
}

func init() {
	for _, g := range []int{1, 2, 3, 4, 8} {
		registerZoo(ZooEntry{Name: fmt.Sprintf("shufflenet_v1_g%d", g), Family: "shufflenet_v1",
			build: func(o ZooOptions) (*Arch, error) { return buildShuffleNetV1(o, g) }})
	}
	for _, w := range []string{"x0_5", "x1_0", "x1_5", "x2_0"} {
		registerZoo(ZooEntry{Name: "shufflenet_v2_" + w, Family: "shufflenet_v2",
			build: func(o ZooOptions) (*Arch, error) { return buildShuffleNetV2(o, w) }})
	}
}

// shuffleStem is the 3x3 stride-2 convolution to 24 channels + BN + ReLU
// and the 3x3 stride-2 max-pool (padding 1) of both versions; for small
// inputs the stem runs at stride 1 and the max-pool is dropped.
func shuffleStem(o ZooOptions) []blocks.Spec {
	if smallInput(o) {
		return []blocks.Spec{&blocks.Conv{Out: 24, Kernel: 3, Stride: 1, Act: blocks.ActReLU}}
	}
	return []blocks.Spec{
		&blocks.Conv{Out: 24, Kernel: 3, Stride: 2, Act: blocks.ActReLU},
		&blocks.Pool{Kernel: 3, Stride: 2, Pad: 1},
	}
}

// shuffleRepeats are the units per stage of both versions.
var shuffleRepeats = [3]int{4, 8, 4}

// buildShuffleNetV1 is ShuffleNet 1x with g groups: the stem, stages of 4,
// 8 and 4 units (the first of each at stride 2, the very first with an
// ungrouped 1x1; bottlenecks a quarter of the stage width), global average
// pooling and a fully connected layer without bias.
func buildShuffleNetV1(o ZooOptions, g int) (*Arch, error) {
	if err := lightFixedWidth(o); err != nil {
		return nil, err
	}
	layers := shuffleStem(o)
	for stage, width := range shuffleV1Widths[g] {
		for i := range shuffleRepeats[stage] {
			u := &blocks.ShuffleV1{Out: width, Mid: width / 4, Groups: g, Stride: 1}
			if i == 0 {
				u.Stride = 2
				u.DenseFirst = stage == 0
			}
			layers = append(layers, u)
		}
	}
	layers = append(layers, &blocks.GlobalPool{}, &blocks.Linear{Out: o.Classes, NoBias: true})
	return &Arch{Name: fmt.Sprintf("shufflenet_v1_g%d", g), Input: o.Input, Classes: o.Classes, Layers: layers}, nil
}

// buildShuffleNetV2 is torchvision's ShuffleNet V2: the stem, stages of 4,
// 8 and 4 units (the first of each at stride 2), a 1x1 convolution + BN +
// ReLU, global average pooling and a fully connected layer with bias.
func buildShuffleNetV2(o ZooOptions, name string) (*Arch, error) {
	if err := lightFixedWidth(o); err != nil {
		return nil, err
	}
	w := shuffleV2Widths[name]
	layers := shuffleStem(o)
	for stage := range 3 {
		for i := range shuffleRepeats[stage] {
			stride := 1
			if i == 0 {
				stride = 2
			}
			layers = append(layers, &blocks.ShuffleV2{Out: w[stage], Stride: stride})
		}
	}
	layers = append(layers,
		&blocks.Conv{Out: w[3], Kernel: 1, Act: blocks.ActReLU},
		&blocks.GlobalPool{},
		&blocks.Linear{Out: o.Classes})
	return &Arch{Name: "shufflenet_v2_" + name, Input: o.Input, Classes: o.Classes, Layers: layers}, nil
}

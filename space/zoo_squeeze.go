package space

import (
	"fmt"

	"nas/blocks"
)

// SqueezeNet 1.0 and 1.1 (Iandola et al., 2016) as torchvision builds them,
// and 1.0-SqNxt-23 (Gholami et al., 2018) as the authors' Caffe definition
// does.

func init() {
	registerZoo(ZooEntry{Name: "squeezenet1_0", Family: "squeezenet", build: buildSqueezeNet10})
	registerZoo(ZooEntry{Name: "squeezenet1_1", Family: "squeezenet", build: buildSqueezeNet11})
	registerZoo(ZooEntry{Name: "squeezenext23", Family: "squeezenext", build: buildSqueezeNext23})
}

// lightFixedWidth refuses a width multiplier for the networks that have
// none.
func lightFixedWidth(o ZooOptions) error {
	if o.Width != 1 {
		return fmt.Errorf("width %g: this network has no width multiplier (use 1.0)", o.Width)
	}
	return nil
}

// squeezeStem is SqueezeNet's unpadded stem convolution (with bias, ReLU)
// and its first max-pool, which the small-input rule drops.
func squeezeStem(o ZooOptions, out, kernel int) []blocks.Spec {
	if smallInput(o) {
		return []blocks.Spec{&blocks.Conv{Out: out, Kernel: kernel, Stride: 1, Valid: true, NoBN: true, Act: blocks.ActReLU}}
	}
	return []blocks.Spec{
		&blocks.Conv{Out: out, Kernel: kernel, Stride: 2, Valid: true, NoBN: true, Act: blocks.ActReLU},
		squeezeMaxPool(),
	}
}

func squeezeMaxPool() blocks.Spec { return &blocks.Pool{Kernel: 3, Stride: 2, Ceil: true} }

// squeezeClassifier is SqueezeNet's head: dropout, a 1x1 convolution with
// bias to the classes, ReLU, global average pooling.
func squeezeClassifier(o ZooOptions) []blocks.Spec {
	return []blocks.Spec{
		&blocks.Dropout{P: 50},
		&blocks.Conv{Out: o.Classes, Kernel: 1, NoBN: true, Act: blocks.ActReLU},
		&blocks.GlobalPool{},
	}
}

func squeezeFire(squeeze, expand int) blocks.Spec {
	return &blocks.Fire{Squeeze: squeeze, E1: expand, E3: expand}
}

func buildSqueezeNet10(o ZooOptions) (*Arch, error) {
	if err := lightFixedWidth(o); err != nil {
		return nil, err
	}
	layers := squeezeStem(o, 96, 7)
	layers = append(layers,
		squeezeFire(16, 64), squeezeFire(16, 64), squeezeFire(32, 128), squeezeMaxPool(),
		squeezeFire(32, 128), squeezeFire(48, 192), squeezeFire(48, 192), squeezeFire(64, 256), squeezeMaxPool(),
		squeezeFire(64, 256))
	layers = append(layers, squeezeClassifier(o)...)
	return &Arch{Name: "squeezenet1_0", Input: o.Input, Classes: o.Classes, Layers: layers}, nil
}

func buildSqueezeNet11(o ZooOptions) (*Arch, error) {
	if err := lightFixedWidth(o); err != nil {
		return nil, err
	}
	layers := squeezeStem(o, 64, 3)
	layers = append(layers,
		squeezeFire(16, 64), squeezeFire(16, 64), squeezeMaxPool(),
		squeezeFire(32, 128), squeezeFire(32, 128), squeezeMaxPool(),
		squeezeFire(48, 192), squeezeFire(48, 192), squeezeFire(64, 256), squeezeFire(64, 256))
	layers = append(layers, squeezeClassifier(o)...)
	return &Arch{Name: "squeezenet1_1", Input: o.Input, Classes: o.Classes, Layers: layers}, nil
}

// buildSqueezeNext23 is 1.0-SqNxt-23: a 7x7 stride-2 stem to 64 channels +
// BN + ReLU and a 3x3 stride-2 max-pool, stages of 6, 6, 8 and 1 SqueezeNext
// blocks at 32, 64, 128 and 256 channels (the first block of stages 2-4 at
// stride 2; the odd blocks of each stage run their 1x3 before their 3x1, as
// the prototxt does), a 1x1 convolution to 128 channels + BN + ReLU, global average
// pooling and a fully connected layer without bias.
//
// The Caffe definition feeds 227x227 crops to an unpadded stem (111x111,
// then 55x55 after the pool); at 224x224 the stem is padded by 1 to reach
// the same 55x55 (as the imgclsmob port does).
func buildSqueezeNext23(o ZooOptions) (*Arch, error) {
	if err := lightFixedWidth(o); err != nil {
		return nil, err
	}
	layers := []blocks.Spec{&blocks.Conv{Out: 64, Kernel: 7, Stride: 2, Pad: 1, Act: blocks.ActReLU}, squeezeMaxPool()}
	if smallInput(o) {
		layers = layers[:1]
		layers[0] = &blocks.Conv{Out: 64, Kernel: 7, Stride: 1, Pad: 1, Act: blocks.ActReLU}
	}
	for stage, width := range []int{32, 64, 128, 256} {
		for i := range []int{6, 6, 8, 1}[stage] {
			stride := 1
			if i == 0 && stage > 0 {
				stride = 2
			}
			layers = append(layers, &blocks.SqNxt{Out: width, Stride: stride, WidthFirst: i%2 == 1})
		}
	}
	layers = append(layers,
		&blocks.Conv{Out: 128, Kernel: 1, Act: blocks.ActReLU},
		&blocks.GlobalPool{},
		&blocks.Linear{Out: o.Classes, NoBias: true})
	return &Arch{Name: "squeezenext23", Input: o.Input, Classes: o.Classes, Layers: layers}, nil
}

package space

import (
	"fmt"
	"sort"

	"nas/blocks"
)

// ZooOptions shape a zoo network. Zero values mean the defaults: input
// 3x224x224, 1000 classes, width 1.0.
type ZooOptions struct {
	Input   blocks.Shape
	Classes int
	Width   float64 // width multiplier, for the families that have one
}

func (o ZooOptions) withDefaults() ZooOptions {
	if o.Input == (blocks.Shape{}) {
		o.Input = blocks.Shape{C: 3, H: 224, W: 224}
	}
	if o.Classes == 0 {
		o.Classes = 1000
	}
	if o.Width == 0 {
		o.Width = 1
	}
	return o
}

// ZooEntry is one reference network.
type ZooEntry struct {
	Name   string
	Family string
	// Widths lists the width multipliers the family supports; empty means
	// the network has no width multiplier and only 1.0 is accepted.
	Widths []float64
	build  func(o ZooOptions) (*Arch, error)
}

var zoo = map[string]ZooEntry{}

func registerZoo(e ZooEntry) {
	if _, dup := zoo[e.Name]; dup {
		panic("space: zoo network registered twice: " + e.Name)
	}
	zoo[e.Name] = e
}

// Zoo lists the reference networks by name.
func Zoo() []ZooEntry {
	out := make([]ZooEntry, 0, len(zoo))
	for _, e := range zoo {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ZooArch builds the named reference network.
func ZooArch(name string, o ZooOptions) (*Arch, error) {
	e, ok := zoo[name]
	if !ok {
		return nil, fmt.Errorf("no zoo network %q (see `nas zoo list`)", name)
	}
	o = o.withDefaults()
	if err := e.checkWidth(o.Width); err != nil {
		return nil, fmt.Errorf("zoo network %s: %w", name, err)
	}
	a, err := e.build(o)
	if err != nil {
		return nil, fmt.Errorf("zoo network %s: %w", name, err)
	}
	if _, err := a.Shapes(); err != nil {
		return nil, fmt.Errorf("zoo network %s at input %v: %w", name, o.Input, err)
	}
	for _, l := range a.Layers {
		canonicalizeSpec(l)
	}
	return a, nil
}

// checkWidth accepts the width multipliers the entry lists (1.0 only when it
// lists none).
func (e ZooEntry) checkWidth(w float64) error {
	if len(e.Widths) == 0 {
		if w != 1 {
			return fmt.Errorf("width %g: this network has no width multiplier (leave it at 1.0)", w)
		}
		return nil
	}
	for _, ok := range e.Widths {
		if w == ok {
			return nil
		}
	}
	return fmt.Errorf("width %g is not supported (choose one of %v)", w, e.Widths)
}

// smallInputSide is the input side, in pixels, below which a zoo network
// counts as built for small images (Fashion-MNIST 28x28, CIFAR 32x32).
const smallInputSide = 64

// smallInput reports whether o.Input is small (height or width below 64
// pixels).
//
// The small-input rule, applied by every zoo builder through
// earlyDownsampling: a network for small images keeps all of its blocks and
// channel counts but drops its first two downsampling steps. Going through
// the network in order, the first two layers that would halve the spatial
// size (a stride-2 stem convolution, a stride-2 max pool, the stride-2 block
// that starts a stage) run at stride 1 instead; every later stride is kept.
// A network that downsamples by 32 at 224x224 thus downsamples by 8: a
// 28x28 input reaches the head at 4x4 (28 -> 14 -> 7 -> 4), a 32x32 one at
// 4x4.
func smallInput(o ZooOptions) bool {
	return o.Input.H < smallInputSide || o.Input.W < smallInputSide
}

// earlyDownsampling applies the small-input rule to the strides of one
// network as its builder lays the layers out in order. Make one per build.
type earlyDownsampling struct{ toDrop int }

// newEarlyDownsampling returns the rule for o: two strides to drop for a
// small input, none otherwise.
func newEarlyDownsampling(o ZooOptions) *earlyDownsampling {
	if smallInput(o) {
		return &earlyDownsampling{toDrop: 2}
	}
	return &earlyDownsampling{}
}

// stride returns the stride the next downsampling-capable layer uses: 1 in
// place of the first two strides above 1 for a small input, s otherwise.
// Call it for every layer that has a stride, in network order.
func (d *earlyDownsampling) stride(s int) int {
	if s > 1 && d.toDrop > 0 {
		d.toDrop--
		return 1
	}
	return s
}

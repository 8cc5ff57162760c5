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
	a, err := e.build(o)
	if err != nil {
		return nil, fmt.Errorf("zoo network %s: %w", name, err)
	}
	if _, err := a.Shapes(); err != nil {
		return nil, fmt.Errorf("zoo network %s at input %v: %w", name, o.Input, err)
	}
	return a, nil
}

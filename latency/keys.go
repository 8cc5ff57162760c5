package latency

import (
	"fmt"

	"nas/blocks"
	"nas/space"
)

// Item is one thing a table entry times: a block at its input shape (and
// batch), or the overhead of a whole network at its input shape.
type Item struct {
	Key  string
	Spec blocks.Spec  // nil for the overhead item
	In   blocks.Shape // the block's input, or the network's for the overhead
	// Net is the network's input shape, set only for a block that reads it
	// (ESPNetv2's input reinforcement): its time depends on it.
	Net blocks.Shape
}

// overheadType starts the key of the overhead item.
const overheadType = "overhead"

// IsOverhead reports whether the item is a network's overhead rather than
// a block.
func (it Item) IsOverhead() bool { return it.Spec == nil }

// Graph lowers the item for timing alone: the block alone at its input
// (with the network input as a second input if it reads it), or, for the
// overhead, a graph with no operation, whose run is the executor's own
// input and output handling.
func (it Item) Graph() (*blocks.Graph, error) {
	if it.IsOverhead() {
		return &blocks.Graph{Shapes: []blocks.Shape{it.In}}, nil
	}
	return blocks.LowerBlock(it.Net, it.In, it.Spec)
}

// BlockKey is the table key of a block at input shape in and a batch size:
// its canonical arch-string token (space.BlockString), the input shape and
// the batch, "TOKEN|CxHxW|bN", e.g. "ir_e4_o24|16x14x14|b1"; a block that
// reads the network input (of shape net) has "|netCxHxW" added.
func BlockKey(s blocks.Spec, in blocks.Shape, batch int, net *blocks.Shape) string {
	k := fmt.Sprintf("%s|%v|b%d", space.BlockString(s), in, batch)
	if net != nil {
		k += fmt.Sprintf("|net%v", *net)
	}
	return k
}

// OverheadKey is the table key of the overhead of a network with input
// shape in: "overhead|CxHxW|bN".
func OverheadKey(in blocks.Shape, batch int) string {
	return fmt.Sprintf("%s|%v|b%d", overheadType, in, batch)
}

// ArchItems lists the items whose entries sum to the latency of a: one per
// layer, in order, then the network's overhead.
func ArchItems(a *space.Arch, batch int) ([]Item, error) {
	if batch < 1 {
		return nil, fmt.Errorf("batch %d: want at least 1", batch)
	}
	g, err := a.Graph()
	if err != nil {
		return nil, fmt.Errorf("network %s: %w", archName(a), err)
	}
	items := make([]Item, 0, len(g.Blocks)+1)
	for _, span := range g.Blocks {
		it := Item{Spec: span.Spec, In: g.Shapes[span.In]}
		var net *blocks.Shape
		if span.NetworkInput {
			it.Net = a.Input
			net = &it.Net
		}
		it.Key = BlockKey(span.Spec, it.In, batch, net)
		items = append(items, it)
	}
	items = append(items, Item{Key: OverheadKey(a.Input, batch), In: a.Input})
	return items, nil
}

// DistinctItems lists, without repeats and in order of first appearance,
// the items of all the networks.
func DistinctItems(archs []*space.Arch, batch int) ([]Item, error) {
	var out []Item
	seen := map[string]bool{}
	for _, a := range archs {
		items, err := ArchItems(a, batch)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			if !seen[it.Key] {
				seen[it.Key] = true
				out = append(out, it)
			}
		}
	}
	return out, nil
}

// LayerItems turns layers of networks whose input has shape net (as
// space.Space.Layers lists them) into items, the overhead of that input
// last.
func LayerItems(layers []space.LayerAt, net blocks.Shape, batch int) ([]Item, error) {
	if batch < 1 {
		return nil, fmt.Errorf("batch %d: want at least 1", batch)
	}
	items := make([]Item, 0, len(layers)+1)
	for _, l := range layers {
		g, err := blocks.LowerBlock(net, l.In, l.Spec)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", l.Key(), err)
		}
		it := Item{Spec: l.Spec, In: l.In}
		var reads *blocks.Shape
		if g.NetworkInput != g.Input {
			it.Net = net
			reads = &it.Net
		}
		it.Key = BlockKey(l.Spec, l.In, batch, reads)
		items = append(items, it)
	}
	return append(items, Item{Key: OverheadKey(net, batch), In: net}), nil
}

func archName(a *space.Arch) string {
	if a.Name != "" {
		return a.Name
	}
	return "(unnamed)"
}

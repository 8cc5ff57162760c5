package supernet

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"

	"nas/blocks"
	"nas/blocks/nn"
	"nas/space"
)

// LayoutVersion is the version of the shared weights' layout: the slot
// names and the slicing rules that map a network's tensors onto them. A
// folder written under another layout is refused.
const LayoutVersion = 1

// Weights holds the shared tensors of a supernet, one per slot: a
// parameter of a layer placement (space.Placement) and spec type, named
// "stage2.1.ir.expand.conv.weight", "stem.0.conv.weight",
// "stage1.0.shuffle2.conv.conv.weight" (the ShuffleNet families'
// width-adapting conv, whose type differs from the family's) or
// "head.2.fc.weight". Each slot's shape is the largest, axis by axis, of
// every network of the space; a network's tensor is the leading part of
// each axis, except the kernel axes of a convolution, where it is the
// centre. Batch-norm running statistics are not shared: they are
// recalibrated for each network.
type Weights struct {
	space  *space.Space
	names  []string // sorted
	params map[string]*nn.Param
	grads  map[string][]float32 // gradient storage, attached to Grad when a step reaches the slot
}

// slotInfo is what the initialisation of a slot needs.
type slotInfo struct {
	shape   []int
	kind    blocks.OpKind
	bias    bool // a conv with a bias (no BN after it)
	noDecay bool
}

// slotName is the shared name of a network's tensor "layers.i." + suffix
// at placement p in a layer of type typ.
func slotName(p space.Placement, typ, suffix string) string {
	if p.Part == space.PartStage && typ != p.Family {
		return p.String() + "." + typ + "." + suffix
	}
	return p.String() + "." + suffix
}

// layerSuffix splits a graph tensor name "layers.12.dw.conv.weight" into
// the layer index and the rest.
func layerSuffix(name string) (int, string, error) {
	parts := strings.SplitN(name, ".", 3)
	if len(parts) != 3 || parts[0] != "layers" {
		return 0, "", fmt.Errorf("tensor %q is not under layers.N (internal error)", name)
	}
	i, err := strconv.Atoi(parts[1])
	if err != nil {
		return 0, "", fmt.Errorf("tensor %q is not under layers.N (internal error)", name)
	}
	return i, parts[2], nil
}

// slots lists every slot of sp with its largest shape.
func slots(sp *space.Space) (map[string]*slotInfo, error) {
	out := map[string]*slotInfo{}
	var firstErr error
	err := sp.EachLayer(func(p space.Placement, spec blocks.Spec, in blocks.Shape) {
		if firstErr != nil {
			return
		}
		g, err := blocks.Lower(in, []blocks.Spec{spec})
		if err != nil {
			firstErr = fmt.Errorf("%s (%s at %v): %w", p, space.BlockString(spec), in, err)
			return
		}
		for _, ps := range g.Params() {
			if ps.Buffer {
				continue
			}
			_, suffix, err := layerSuffix(ps.Name)
			if err != nil {
				firstErr = err
				return
			}
			name := slotName(p, spec.Type(), suffix)
			op := g.Ops[ps.Op]
			s, ok := out[name]
			if !ok {
				out[name] = &slotInfo{shape: slices.Clone(ps.Shape), kind: op.Kind, bias: op.Kind == blocks.OpConv && op.Conv.Bias, noDecay: ps.NoDecay}
				continue
			}
			if len(s.shape) != len(ps.Shape) || s.kind != op.Kind {
				firstErr = fmt.Errorf("slot %s holds a %s tensor of shape %v and a %s one of shape %v: the layout cannot share them", name, s.kind, s.shape, op.Kind, ps.Shape)
				return
			}
			for d := range s.shape {
				s.shape[d] = max(s.shape[d], ps.Shape[d])
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// NewWeights returns the shared tensors of sp initialised from rng the way
// blocks.NewNetwork initialises a network, on each slot's largest shape:
// convolutions Kaiming-normal by fan-out, or Kaiming-uniform by fan-in
// when they have a bias and no batch norm; batch norm scale 1 and shift
// 0; linear layers normal(0, 0.01) with zero bias; PReLU slopes 0.25.
func NewWeights(sp *space.Space, rng *rand.Rand) (*Weights, error) {
	info, err := slots(sp)
	if err != nil {
		return nil, fmt.Errorf("supernet of space %s: %w", sp.Name, err)
	}
	w := &Weights{space: sp, params: map[string]*nn.Param{}, grads: map[string][]float32{}}
	for name := range info {
		w.names = append(w.names, name)
	}
	sort.Strings(w.names)
	for _, name := range w.names {
		s := info[name]
		p := nn.NewParam(name, s.noDecay, s.shape...)
		switch {
		case s.kind == blocks.OpConv && strings.HasSuffix(name, ".weight"):
			rf := s.shape[2] * s.shape[3]
			if s.bias {
				bound := math.Sqrt(6 / float64(s.shape[1]*rf))
				for j := range p.Data {
					p.Data[j] = float32(bound * (2*rng.Float64() - 1))
				}
			} else {
				std := math.Sqrt(2 / float64(s.shape[0]*rf))
				for j := range p.Data {
					p.Data[j] = float32(rng.NormFloat64() * std)
				}
			}
		case s.kind == blocks.OpLinear && strings.HasSuffix(name, ".weight"):
			for j := range p.Data {
				p.Data[j] = float32(0.01 * rng.NormFloat64())
			}
		case s.kind == blocks.OpBN && strings.HasSuffix(name, ".weight"):
			for j := range p.Data {
				p.Data[j] = 1
			}
		case s.kind == blocks.OpAct:
			for j := range p.Data {
				p.Data[j] = 0.25
			}
		}
		w.params[name] = p
		w.grads[name] = make([]float32, len(p.Data))
	}
	return w, nil
}

// Names lists the slots in sorted order.
func (w *Weights) Names() []string { return w.names }

// Params returns the shared tensors in the order of Names.
func (w *Weights) Params() []*nn.Param {
	out := make([]*nn.Param, len(w.names))
	for i, n := range w.names {
		out[i] = w.params[n]
	}
	return out
}

// Tensor returns the shared tensor of a slot, or nil.
func (w *Weights) Tensor(name string) *nn.Tensor {
	if p := w.params[name]; p != nil {
		return p.Tensor
	}
	return nil
}

// clearGrads detaches every gradient: a slot that no network of the next
// step reaches keeps a nil Grad, which the optimizer skips.
func (w *Weights) clearGrads() {
	for _, p := range w.params {
		p.Grad = nil
	}
}

// binding ties one tensor of a network to its slot: the network's tensor
// is the box [off, off+sub) of the slot's (both padded to four axes).
type binding struct {
	shared         *nn.Param
	grad           []float32
	net            *nn.Param
	sub, full, off [4]int
}

// bind maps the parameters of net, built from the network placed by
// places, onto the slots.
func (w *Weights) bind(a *space.Arch, places []space.Placement, net *blocks.Network) ([]binding, error) {
	var out []binding
	for _, p := range net.Params() {
		i, suffix, err := layerSuffix(p.Name)
		if err != nil {
			return nil, err
		}
		name := slotName(places[i], a.Layers[i].Type(), suffix)
		s := w.params[name]
		if s == nil {
			return nil, fmt.Errorf("layer %d (%s) has tensor %s, which the supernet has no slot %s for: the folder belongs to another space", i, space.BlockString(a.Layers[i]), p.Name, name)
		}
		b := binding{shared: s, grad: w.grads[name], net: p}
		if len(p.Shape) != len(s.Shape) || len(p.Shape) > 4 {
			return nil, fmt.Errorf("tensor %s has shape %v, slot %s %v (internal error)", p.Name, p.Shape, name, s.Shape)
		}
		pad := 4 - len(p.Shape)
		for d := range 4 {
			b.sub[d], b.full[d] = 1, 1
			if d >= pad {
				b.sub[d], b.full[d] = p.Shape[d-pad], s.Shape[d-pad]
			}
			if b.sub[d] > b.full[d] {
				return nil, fmt.Errorf("tensor %s has shape %v, larger than slot %s %v: the folder belongs to another space", p.Name, p.Shape, name, s.Shape)
			}
		}
		if len(p.Shape) == 4 { // a convolution's kernel: the centre
			b.off[2] = (b.full[2] - b.sub[2]) / 2
			b.off[3] = (b.full[3] - b.sub[3]) / 2
		}
		out = append(out, b)
	}
	return out, nil
}

// each calls fn with every run of contiguous values of the box: the
// offset in the network's tensor, the offset in the slot's, the length.
func (b *binding) each(fn func(dst, src, n int)) {
	s, f, o := b.sub, b.full, b.off
	k := 0
	for i := range s[0] {
		for j := range s[1] {
			for l := range s[2] {
				src := (((i+o[0])*f[1]+(j+o[1]))*f[2]+(l+o[2]))*f[3] + o[3]
				fn(k, src, s[3])
				k += s[3]
			}
		}
	}
}

// load copies the shared values into the network's tensor.
func (b *binding) load() {
	dst, src := b.net.Data, b.shared.Data
	b.each(func(d, s, n int) { copy(dst[d:d+n], src[s:s+n]) })
}

// store copies the network's values into the shared tensor.
func (b *binding) store() {
	dst, src := b.shared.Data, b.net.Data
	b.each(func(d, s, n int) { copy(dst[s:s+n], src[d:d+n]) })
}

// addGrad adds the network's gradient into the slot's, attaching (and
// clearing) the slot's gradient storage at its first use in a step.
func (b *binding) addGrad() {
	g := b.net.Grad
	if g == nil {
		return
	}
	if b.shared.Grad == nil {
		clear(b.grad)
		b.shared.Grad = b.grad
	}
	sg := b.shared.Grad
	b.each(func(d, s, n int) {
		for t, v := range g[d : d+n] {
			sg[s+t] += v
		}
	})
}

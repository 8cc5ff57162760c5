package export

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"nas/blocks"
	"nas/internal/safetensors"
)

// Weights holds a network's parameters and BN buffers by their Graph names
// ("layers.0.conv.weight", "layers.0.bn.running_var"), each flat in
// row-major order of its ParamSpec shape.
type Weights map[string][]float32

// Check reports the first parameter of g that w lacks or has at the wrong
// size, and any name in w that g does not have.
func (w Weights) Check(g *blocks.Graph) error {
	want := map[string]bool{}
	for _, p := range g.Params() {
		want[p.Name] = true
		v, ok := w[p.Name]
		if !ok {
			return fmt.Errorf("weights: no tensor %q (shape %v) for this network: are the weights from another architecture?", p.Name, p.Shape)
		}
		if len(v) != numel(p.Shape) {
			return fmt.Errorf("weights: tensor %q has %d values, the network needs shape %v (%d values): are the weights from another architecture?", p.Name, len(v), p.Shape, numel(p.Shape))
		}
	}
	var extra []string
	for name := range w {
		if !want[name] {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return fmt.Errorf("weights: %d tensors the network does not have, first %q: are the weights from another architecture?", len(extra), extra[0])
	}
	return nil
}

// RandomOptions choose how RandomWeights fills the tensors.
type RandomOptions struct {
	// Varied gives BN non-trivial statistics and affine parameters (scale
	// in [0.5, 1.5), shift and running mean N(0, 0.1²), running variance
	// in [0.5, 1.5)) and biases N(0, 0.1²), so that a consumer check really
	// tests them, and linear weights N(0, 1/in) so that the logits depend
	// on the input as much as on the biases. Without it, BN is the PyTorch
	// initialisation (scale 1, shift 0, mean 0, variance 1), biases are 0
	// and linear weights N(0, 0.01²).
	Varied bool
}

// RandomWeights makes seeded weights for g, initialised the torchvision
// way: conv weights Kaiming-normal in fan-out mode (std sqrt(2/fan_out),
// fan_out = out channels / groups * kernel area), linear weights N(0, 0.01²),
// PReLU slopes 0.25, and BN and biases as o says. Tensors are filled in
// Params order, so the same seed gives the same weights.
func RandomWeights(g *blocks.Graph, rng *rand.Rand, o RandomOptions) Weights {
	w := Weights{}
	for _, p := range g.Params() {
		op := g.Ops[p.Op]
		v := make([]float32, numel(p.Shape))
		suffix := p.Name[len(op.Name):]
		switch {
		case op.Kind == blocks.OpConv && suffix == ".weight":
			a := op.Conv
			fanOut := a.Out / max(a.Groups, 1) * a.KH * a.KW
			normal(rng, v, 0, math.Sqrt(2/float64(fanOut)))
		case op.Kind == blocks.OpLinear && suffix == ".weight" && o.Varied:
			normal(rng, v, 0, 1/math.Sqrt(float64(p.Shape[1])))
		case op.Kind == blocks.OpLinear && suffix == ".weight":
			normal(rng, v, 0, 0.01)
		case op.Kind == blocks.OpAct: // PReLU slopes
			fill(v, 0.25)
		case suffix == ".bias" && o.Varied:
			normal(rng, v, 0, 0.1)
		case suffix == ".bias":
			// zeros
		case op.Kind == blocks.OpBN && (suffix == ".weight" || suffix == ".running_var"):
			if o.Varied {
				uniform(rng, v, 0.5, 1.5)
			} else {
				fill(v, 1)
			}
		case op.Kind == blocks.OpBN && suffix == ".running_mean":
			if o.Varied {
				normal(rng, v, 0, 0.1)
			}
		default:
			panic(fmt.Sprintf("export: no initialisation for %s (op %s)", p.Name, op.Kind))
		}
		w[p.Name] = v
	}
	return w
}

func normal(rng *rand.Rand, v []float32, mean, std float64) {
	for i := range v {
		v[i] = float32(mean + std*rng.NormFloat64())
	}
}

func uniform(rng *rand.Rand, v []float32, lo, hi float64) {
	for i := range v {
		v[i] = float32(lo + (hi-lo)*rng.Float64())
	}
}

func fill(v []float32, x float32) {
	for i := range v {
		v[i] = x
	}
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// WeightsOrRandom reads the weights of g from the safetensors file path
// (ReadWeights), or makes them from seed with RandomWeights' defaults when
// path is "".
func WeightsOrRandom(g *blocks.Graph, path string, seed uint64) (Weights, error) {
	if path == "" {
		return RandomWeights(g, rand.New(rand.NewPCG(seed, 0)), RandomOptions{}), nil
	}
	return ReadWeights(path, g)
}

// ReadWeights reads a safetensors file (a nas checkpoint) and checks it
// against g. Tensors whose names g does not have are an error, so weights
// of another architecture are never half-used.
func ReadWeights(path string, g *blocks.Graph) (Weights, error) {
	f, err := safetensors.Read(path)
	if err != nil {
		return nil, err
	}
	w := Weights{}
	for name, t := range f.Tensors {
		if t.F32 == nil && t.I64 != nil {
			return nil, fmt.Errorf("%s: tensor %q is I64; network weights are F32", path, name)
		}
		w[name] = t.F32
	}
	shapes := map[string][]int{}
	for _, p := range g.Params() {
		shapes[p.Name] = p.Shape
	}
	for name, t := range f.Tensors {
		if s, ok := shapes[name]; ok && !slices.Equal(s, t.Shape) {
			return nil, fmt.Errorf("%s: tensor %q has shape %v, the network needs %v: are the weights from another architecture?", path, name, t.Shape, s)
		}
	}
	if err := w.Check(g); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return w, nil
}

// WriteWeights stores w as safetensors with the shapes g gives each tensor,
// the form nas train saves and the exported PyTorch module loads.
func WriteWeights(path string, g *blocks.Graph, w Weights) error {
	if err := w.Check(g); err != nil {
		return err
	}
	f := &safetensors.File{Tensors: map[string]safetensors.Tensor{}}
	for _, p := range g.Params() {
		f.Tensors[p.Name] = safetensors.Tensor{Shape: p.Shape, F32: w[p.Name]}
	}
	return safetensors.Write(path, f)
}

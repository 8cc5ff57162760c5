package onnximport

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"nas/blocks"
	"nas/internal/onnxpb"
	"nas/space"
)

// Options shape an import. The zero value is the default.
type Options struct {
	// Input is the C x H x W of one sample, for models whose input
	// dimensions are symbolic; zero means the model's own.
	Input blocks.Shape
	// Limits bound the sizes the model may ask for; zero fields are
	// DefaultLimits.
	Limits Limits
}

// Result is an imported network.
type Result struct {
	// Arch is the network; its lowering (Arch.Graph) has exactly the
	// parameters in Weights.
	Arch *space.Arch
	// Weights holds every parameter and BN buffer of Arch.Graph() by name
	// ("layers.3.dw.conv.weight"), flat in the order of its shape.
	Weights map[string][]float32
	// Metadata is what the model records about itself.
	Metadata Metadata
	// RebuiltBN counts the batch norms rebuilt from convolutions that the
	// exporter had folded them into (identity statistics, the bias as the
	// shift).
	RebuiltBN int
	// FromMetadata reports that the arch recorded in the model's metadata
	// (a model nas exported) matched its graph and was kept as it is.
	FromMetadata bool
}

// The metadata_props keys nas writes into the ONNX models it exports and
// reads back on import.
const (
	MetaArch       = "nas.arch"        // the canonical arch string
	MetaVersion    = "nas.version"     // the nas version that wrote the model
	MetaCommit     = "nas.commit"      // its VCS revision, when the build recorded one
	MetaMean       = "nas.norm.mean"   // JSON array: per-channel mean of pixel/255
	MetaStd        = "nas.norm.std"    // JSON array: per-channel std of pixel/255
	MetaClassNames = "nas.class_names" // JSON array: one name per class
)

// Metadata is what an ONNX model says about itself (nas writes the keys
// above; other producers may set some of them).
type Metadata struct {
	Producer, ProducerVersion string
	Arch                      string
	Version, Commit           string
	Mean, Std                 []float32
	ClassNames                []string
	// Other holds the metadata_props nas does not interpret.
	Other map[string]string
}

// ReadFile imports the ONNX model at path; errors name the file. The
// arch's name is the file's base name unless the model records one.
func ReadFile(path string, o Options) (*Result, error) {
	lim := o.Limits.withDefaults()
	data, err := readModelFile(path, lim)
	if err != nil {
		return nil, err
	}
	r, err := Decode(data, o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if r.Arch.Name == "" {
		r.Arch.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	return r, nil
}

// Decode imports an ONNX model from its encoded bytes.
func Decode(data []byte, o Options) (*Result, error) {
	lim := o.Limits.withDefaults()
	m, err := decodeModel(data, lim)
	if err != nil {
		return nil, err
	}
	meta, err := readMetadata(m)
	if err != nil {
		return nil, err
	}
	g, classes, err := lowerGraph(m, o.Input, lim)
	if err != nil {
		return nil, err
	}
	eps, err := commonEps(g.bnEps)
	if err != nil {
		return nil, err
	}
	r := &Result{Metadata: meta}
	mt, fromMeta := matchMetadataArch(g, eps, meta.Arch)
	if mt == nil {
		if mt, err = matchGraph(g, eps); err != nil {
			return nil, err
		}
	}
	a := &space.Arch{Input: g.shapes[g.input], Classes: classes, Layers: mt.layers}
	if fromMeta != nil {
		a.Name = fromMeta.Name
	}
	if eps != blocks.DefaultBNEps {
		a.BNEps = eps
	}
	// The canonical form: defaults left out, and checked once more.
	js, err := a.MarshalJSON()
	if err != nil {
		return nil, err
	}
	if a, err = space.ParseArchJSON(js); err != nil {
		return nil, fmt.Errorf("the imported arch does not check out (a bug in the importer): %w", err)
	}
	r.Arch, r.Weights, r.RebuiltBN, r.FromMetadata = a, mt.weights, mt.rebuilt, fromMeta != nil
	if err := r.check(); err != nil {
		return nil, err
	}
	return r, nil
}

// check holds the promise of Result: the weights are exactly the graph's.
func (r *Result) check() error {
	g, err := r.Arch.Graph()
	if err != nil {
		return fmt.Errorf("the imported arch does not lower (a bug in the importer): %w", err)
	}
	params := g.Params()
	if len(params) != len(r.Weights) {
		return fmt.Errorf("the imported arch has %d tensors, the model gave %d (a bug in the importer)", len(params), len(r.Weights))
	}
	for _, p := range params {
		n := 1
		for _, d := range p.Shape {
			n *= d
		}
		if len(r.Weights[p.Name]) != n {
			return fmt.Errorf("tensor %s: %d values from the model, the arch needs %v (a bug in the importer)", p.Name, len(r.Weights[p.Name]), p.Shape)
		}
	}
	return nil
}

// commonEps returns the eps all batch norms share (the default without
// any); nas networks have one.
func commonEps(eps []float64) (float64, error) {
	if len(eps) == 0 {
		return blocks.DefaultBNEps, nil
	}
	for _, e := range eps[1:] {
		if math.Abs(e-eps[0]) > 1e-9*eps[0] {
			return 0, fmt.Errorf("the batch norms use different eps (%g and %g); a nas network has one eps for all", eps[0], e)
		}
	}
	return eps[0], nil
}

// matchMetadataArch matches the arch recorded in the metadata, when there
// is one that fits the graph.
func matchMetadataArch(g *primGraph, eps float64, s string) (*matcher, *space.Arch) {
	if s == "" {
		return nil, nil
	}
	a, err := space.ParseArch(s)
	if err != nil || a.Input != g.shapes[g.input] || (a.BNEps != 0 && math.Abs(a.BNEps-eps) > 1e-9*eps) {
		return nil, nil
	}
	if a.BNEps == 0 && len(g.bnEps) > 0 && eps != blocks.DefaultBNEps {
		return nil, nil
	}
	m := newMatcher(g, eps, len(g.bnEps) == 0, true)
	if !m.follow(a.Layers) {
		return nil, nil
	}
	return m, a
}

// matchGraph searches for the block sequence. A model without batch
// norms may have had them folded into its convolutions: when some block
// family needed one back, plain conv layers get theirs back too.
func matchGraph(g *primGraph, eps float64) (*matcher, error) {
	folded := len(g.bnEps) == 0
	m := newMatcher(g, eps, folded, false)
	ok := m.search(g.input)
	if !folded || (ok && m.rebuilt == 0) {
		if !ok {
			return nil, m.failure()
		}
		return m, nil
	}
	m2 := newMatcher(g, eps, true, true)
	if m2.search(g.input) {
		return m2, nil
	}
	if ok {
		return m, nil
	}
	return nil, m.failure()
}

func readMetadata(m *onnxpb.ModelProto) (Metadata, error) {
	md := Metadata{Producer: m.GetProducerName(), ProducerVersion: m.GetProducerVersion()}
	floats := func(key, v string) ([]float32, error) {
		var f []float32
		if err := json.Unmarshal([]byte(v), &f); err != nil || len(f) == 0 || len(f) > 4096 {
			return nil, fmt.Errorf("metadata %s = %.40q: want a JSON array of numbers", key, v)
		}
		return f, nil
	}
	var err error
	for _, p := range m.GetMetadataProps() {
		k, v := p.GetKey(), p.GetValue()
		switch k {
		case MetaArch:
			md.Arch = v
		case MetaVersion:
			md.Version = v
		case MetaCommit:
			md.Commit = v
		case MetaMean:
			md.Mean, err = floats(k, v)
		case MetaStd:
			md.Std, err = floats(k, v)
		case MetaClassNames:
			if e := json.Unmarshal([]byte(v), &md.ClassNames); e != nil {
				err = fmt.Errorf("metadata %s: want a JSON array of strings", k)
			}
		default:
			if md.Other == nil {
				md.Other = map[string]string{}
			}
			md.Other[k] = v
		}
		if err != nil {
			return md, err
		}
	}
	if len(md.Mean) != len(md.Std) {
		return md, fmt.Errorf("metadata: %d mean values and %d std values", len(md.Mean), len(md.Std))
	}
	return md, nil
}

// Command checkcases writes the networks that scripts/check-export.sh hands
// to the exporters' consumers: for each case a directory with model.onnx
// (and model_folded.onnx for some, BN folded), model.py (the generated
// PyTorch module), weights.safetensors (seeded weights with varied BN
// statistics) and input.safetensors (a seeded random batch), plus
// nas.safetensors (the output of nas's own executor, blocks.Network, in
// eval mode), plus manifest.json listing them with their parameter counts.
//
// The cases are every zoo network (at -zoo-input, and mobilenet_v2 also at
// 3x224x224) whose blocks lower to a Graph, -per-space networks sampled
// from each built-in space (space.SpaceNames), and -random random graphs
// that use every primitive op in more combinations than the families do
// (export/internal/testnets). A zoo network
// whose family does not lower yet is listed as skipped with the reason.
//
//	go run ./export/internal/checkcases -out DIR
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"nas/blocks"
	"nas/blocks/nn"
	"nas/export"
	"nas/export/internal/testnets"
	"nas/internal/safetensors"
	"nas/space"
)

type manifestCase struct {
	Name    string   `json:"name"`
	Dir     string   `json:"dir,omitempty"`
	Params  int64    `json:"params,omitempty"`
	Input   []int    `json:"input,omitempty"` // N, C, H, W of input.safetensors
	ONNX    []string `json:"onnx,omitempty"`
	Skipped string   `json:"skipped,omitempty"`
}

func main() {
	out := flag.String("out", "", "directory to write the cases to (created)")
	zooInput := flag.Int("zoo-input", 64, "input side of the zoo networks (3 x side x side)")
	random := flag.Int("random", 6, "number of random graphs")
	perSpace := flag.Int("per-space", 3, "random networks sampled from each built-in space")
	seed := flag.Uint64("seed", 1, "seed of weights, inputs and random graphs")
	batch := flag.Int("batch", 2, "batch size of the inputs")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "checkcases: -out DIR is required")
		os.Exit(2)
	}
	if err := run(*out, *zooInput, *random, *perSpace, *seed, *batch); err != nil {
		fmt.Fprintln(os.Stderr, "checkcases:", err)
		os.Exit(1)
	}
}

func run(out string, zooInput, random, perSpace int, seed uint64, batch int) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	var cases []manifestCase
	n := 0
	add := func(name string, g *blocks.Graph, fold bool) error {
		n++
		rng := rand.New(rand.NewPCG(seed, uint64(n)))
		c, err := writeCase(out, name, g, fold, rng, batch)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		cases = append(cases, c)
		return nil
	}
	for i, e := range space.Zoo() {
		a, err := space.ZooArch(e.Name, space.ZooOptions{Input: blocks.Shape{C: 3, H: zooInput, W: zooInput}})
		if err != nil {
			return err
		}
		g, err := a.Graph()
		if err != nil {
			cases = append(cases, manifestCase{Name: e.Name, Skipped: err.Error()})
			continue
		}
		if err := add(e.Name, g, i%3 == 0); err != nil {
			return err
		}
	}
	if a, err := space.ZooArch("mobilenet_v2", space.ZooOptions{}); err != nil {
		return err
	} else if g, err := a.Graph(); err != nil {
		cases = append(cases, manifestCase{Name: "mobilenet_v2_224", Skipped: err.Error()})
	} else if err := add("mobilenet_v2_224", g, true); err != nil {
		return err
	}
	for _, name := range space.SpaceNames() {
		sp, err := space.LoadSpace(name)
		if err != nil {
			return err
		}
		rng := rand.New(rand.NewPCG(seed, 2000))
		for i := 0; i < perSpace; i++ {
			_, a, err := sp.Sample(rng)
			if err != nil {
				return fmt.Errorf("space %s: %w", name, err)
			}
			g, err := a.Graph()
			if err != nil {
				return fmt.Errorf("space %s: sample %d (%s): %w", name, i, a, err)
			}
			if err := add(fmt.Sprintf("%s_%d", name, i), g, i%2 == 0); err != nil {
				return err
			}
		}
	}
	for i := 0; i < random; i++ {
		rng := rand.New(rand.NewPCG(seed, 1000+uint64(i)))
		side := 24 + rng.IntN(24)
		g := testnets.Random(rng, blocks.Shape{C: 3, H: side, W: side + rng.IntN(8)}, 5+rng.IntN(10))
		if err := add(fmt.Sprintf("random_%d", i), g, i%2 == 0); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(map[string]any{"cases": cases}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "manifest.json"), b, 0o644)
}

func writeCase(out, name string, g *blocks.Graph, fold bool, rng *rand.Rand, batch int) (manifestCase, error) {
	dir := filepath.Join(out, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return manifestCase{}, err
	}
	w := export.RandomWeights(g, rng, export.RandomOptions{Varied: true})
	if err := calibrate(g, w, rng); err != nil {
		return manifestCase{}, err
	}
	if err := export.WriteWeights(filepath.Join(dir, "weights.safetensors"), g, w); err != nil {
		return manifestCase{}, err
	}
	in := g.Shapes[g.Input]
	x := make([]float32, batch*in.C*in.H*in.W)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	shape := []int{batch, in.C, in.H, in.W}
	if err := safetensors.Write(filepath.Join(dir, "input.safetensors"), &safetensors.File{
		Tensors: map[string]safetensors.Tensor{"input": {Shape: shape, F32: x}},
	}); err != nil {
		return manifestCase{}, err
	}
	// nas's own inference (eval mode) on the same input and weights.
	net, err := blocks.NewNetwork(g, rng)
	if err != nil {
		return manifestCase{}, err
	}
	if err := net.LoadState(w); err != nil {
		return manifestCase{}, err
	}
	y := net.Forward(nil, nn.FromData(x, shape...))
	if err := safetensors.Write(filepath.Join(dir, "nas.safetensors"), &safetensors.File{
		Tensors: map[string]safetensors.Tensor{"logits": {Shape: append([]int(nil), y.Shape...), F32: y.Data}},
	}); err != nil {
		return manifestCase{}, err
	}
	c := manifestCase{Name: name, Dir: name, Params: g.Cost().Params, Input: shape, ONNX: []string{"model.onnx"}}
	if fold {
		c.ONNX = append(c.ONNX, "model_folded.onnx")
	}
	for _, file := range c.ONNX {
		if err := writeFile(filepath.Join(dir, file), func(f *os.File) error {
			return export.WriteONNX(f, g, w, export.ONNXOptions{Name: name, FoldBN: file == "model_folded.onnx"})
		}); err != nil {
			return manifestCase{}, err
		}
	}
	err = writeFile(filepath.Join(dir, "model.py"), func(f *os.File) error {
		return export.WritePyTorch(f, g, export.PyTorchOptions{Name: name})
	})
	return c, err
}

func writeFile(path string, write func(*os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// calibrate sets every BN's running mean and variance in w to the
// statistics of its input on one random batch of 8 in training mode (the
// executor with momentum 1), as a trained network's would fit its data.
func calibrate(g *blocks.Graph, w export.Weights, rng *rand.Rand) error {
	net, err := blocks.NewNetwork(g, rng)
	if err != nil {
		return err
	}
	if err := net.LoadState(w); err != nil {
		return err
	}
	for _, bn := range net.BatchNorms() {
		bn.Momentum = 1
	}
	in := g.Shapes[g.Input]
	x := nn.New(8, in.C, in.H, in.W)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	net.Forward(nn.NewTape(true, rng), x)
	for name, t := range net.State() {
		copy(w[name], t.Data)
	}
	return nil
}

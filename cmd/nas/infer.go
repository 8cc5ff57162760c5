package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg" // decoders for --input images
	_ "image/png"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"nas/blocks"
	"nas/blocks/nn"
	"nas/space"
	"nas/trainer"
)

type inferOptions struct {
	Ref     string
	Input   string // the data file
	Weights string
	Seed    uint64
	Norm    string
	Shape   string // zoo networks' input shape
	Classes int
	Width   float64
	JSON    bool
}

func newCmdInfer(runF func(*cobra.Command, *inferOptions) error) *cobra.Command {
	opts := &inferOptions{}
	cmd := &cobra.Command{
		Use:   "infer ARCH --input FILE",
		Short: "Run a network on an input and print its outputs",
		Long: `Run a network (eval mode: BN running statistics, no dropout) on an input and
print the outputs (logits) and the top classes.

ARCH is anything 'nas inspect' accepts. The weights come from --weights (a
safetensors file from 'nas train' or 'nas export --write-weights'), or, without
it, seeded random initialisation (--seed).

--input is either
  raw float32: little-endian float32 values, N x C x H x W in that order
               (N is the file size over C*H*W*4; any file that is not a PNG
               or JPEG is read this way), used as they are; or
  an image:    PNG or JPEG of exactly H x W pixels, gray for C=1 and RGB for
               C=3, scaled to [0, 1] and normalised with --norm (the
               training statistics of a dataset, or none).`,
		Example: `  nas infer runs/run-1/best.json --weights runs/mbv2/weights.safetensors --input shoe.png --norm fashion-mnist
  nas infer mobilenet_v2 --input x.f32 --seed 3 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			if opts.Input == "" {
				return usageErrorf("--input FILE is required")
			}
			if _, err := normalization(opts.Norm); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd, opts)
			}
			return inferRun(cmd, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Input, "input", "", "input file: raw little-endian float32 (NxCxHxW) or a PNG/JPEG image")
	f.StringVar(&opts.Weights, "weights", "", "weights (safetensors); without it, seeded random initialisation")
	f.Uint64Var(&opts.Seed, "seed", 1, "seed of the random initialisation when --weights is not given")
	f.StringVar(&opts.Norm, "norm", "none", "normalisation of image inputs: fashion-mnist, mnist, cifar10 or none")
	f.StringVar(&opts.Shape, "input-shape", "", "input shape CxHxW of a zoo network (default 3x224x224)")
	f.IntVar(&opts.Classes, "classes", 0, "classes of a zoo network (default 1000)")
	f.Float64Var(&opts.Width, "width", 0, "width multiplier of a zoo network (default 1.0)")
	f.BoolVar(&opts.JSON, "json", false, "print a JSON object")
	return cmd
}

func normalization(name string) (*trainer.Normalization, error) {
	switch name {
	case "none", "":
		return nil, nil
	case "fashion-mnist":
		n := trainer.FashionMNISTNorm()
		return &n, nil
	case "mnist":
		n := trainer.MNISTNorm()
		return &n, nil
	case "cifar10":
		n := trainer.CIFAR10Norm()
		return &n, nil
	}
	return nil, usageErrorf("--norm %q: want fashion-mnist, mnist, cifar10 or none", name)
}

// inferResult is what --json prints.
type inferResult struct {
	Shape  []int       `json:"shape"`
	Logits [][]float32 `json:"logits"`
	Top1   []int       `json:"top1"`
}

func inferRun(cmd *cobra.Command, opts *inferOptions) error {
	o, err := zooOptions(opts.Shape, opts.Classes, opts.Width)
	if err != nil {
		return err
	}
	a, err := space.Resolve(opts.Ref, o)
	if err != nil {
		return err
	}
	g, err := a.Graph()
	if err != nil {
		return err
	}
	net, err := blocks.NewNetwork(g, rand.New(rand.NewPCG(opts.Seed, 0)))
	if err != nil {
		return err
	}
	if opts.Weights != "" {
		if _, err := trainer.LoadWeights(opts.Weights, net); err != nil {
			return err
		}
	}
	norm, _ := normalization(opts.Norm)
	x, err := readInput(opts.Input, a.Input, norm)
	if err != nil {
		return err
	}
	y := net.Forward(nil, x)
	n, k := y.Shape[0], y.Len()/y.Shape[0]
	res := inferResult{Shape: []int{n, k}, Top1: nn.Predictions(y)}
	for i := range n {
		res.Logits = append(res.Logits, y.Data[i*k:(i+1)*k])
	}
	out := cmd.OutOrStdout()
	if opts.JSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	for i, row := range res.Logits {
		idx := make([]int, len(row))
		for j := range idx {
			idx[j] = j
		}
		sort.SliceStable(idx, func(p, q int) bool { return row[idx[p]] > row[idx[q]] })
		var parts []string
		for _, j := range idx[:min(5, len(idx))] {
			parts = append(parts, fmt.Sprintf("class %d: %.4f", j, row[j]))
		}
		fmt.Fprintf(out, "sample %d: %s\n", i, strings.Join(parts, ", "))
	}
	return nil
}

// readInput reads an image or raw float32 values for a network input of
// shape s.
func readInput(path string, s blocks.Shape, norm *trainer.Normalization) (*nn.Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if img, _, err := image.Decode(bytes.NewReader(b)); err == nil {
		return imageInput(path, img, s, norm)
	}
	per := s.C * s.H * s.W * 4
	if len(b) == 0 || len(b)%per != 0 {
		return nil, fmt.Errorf("%s: %d bytes is not a whole number of %v float32 samples (%d bytes each), nor a PNG or JPEG image", path, len(b), s, per)
	}
	n := len(b) / per
	x := nn.New(n, s.C, s.H, s.W)
	for i := range x.Data {
		x.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return x, nil
}

func imageInput(path string, img image.Image, s blocks.Shape, norm *trainer.Normalization) (*nn.Tensor, error) {
	r := img.Bounds()
	if r.Dx() != s.W || r.Dy() != s.H {
		return nil, fmt.Errorf("%s: image is %dx%d pixels, the network takes %dx%d: resize it first", path, r.Dx(), r.Dy(), s.W, s.H)
	}
	if s.C != 1 && s.C != 3 {
		return nil, fmt.Errorf("%s: the network takes %d channels; images give 1 (gray) or 3 (RGB)", path, s.C)
	}
	if norm != nil && len(norm.Mean) != s.C {
		return nil, fmt.Errorf("--norm has statistics for %d channels, the network takes %d", len(norm.Mean), s.C)
	}
	x := nn.New(1, s.C, s.H, s.W)
	for yy := range s.H {
		for xx := range s.W {
			cr, cg, cb, _ := img.At(r.Min.X+xx, r.Min.Y+yy).RGBA()
			rgb := [3]float32{float32(cr) / 65535, float32(cg) / 65535, float32(cb) / 65535}
			for c := range s.C {
				v := rgb[c]
				if s.C == 1 {
					v = 0.299*rgb[0] + 0.587*rgb[1] + 0.114*rgb[2]
				}
				if norm != nil {
					v = (v - norm.Mean[c]) / norm.Std[c]
				}
				x.Data[(c*s.H+yy)*s.W+xx] = v
			}
		}
	}
	return x, nil
}

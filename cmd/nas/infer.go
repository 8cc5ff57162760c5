package main

import (
	"fmt"
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
	File    string // the data file
	Weights string
	Seed    uint64
	Norm    string
	Grey    bool
	Zoo     zooFlags
	JSON    bool
}

func newCmdInfer(runF func(*cobra.Command, *inferOptions) error) *cobra.Command {
	opts := &inferOptions{}
	cmd := &cobra.Command{
		Use:   "infer ARCH FILE",
		Short: "Run a network on an input and print its outputs",
		Long: `Run a network (eval mode: BN running statistics, no dropout) on an input and
print the outputs (logits) and the top classes.

ARCH is anything 'nas inspect' accepts. The weights come from --weights (a
safetensors file from 'nas train' or 'nas export --write-weights'), or, without
it, seeded random initialisation (--seed): the outputs of random weights
mean nothing, and a warning on stderr says so.

FILE (or --file), at most 256 MiB, is either
  raw float32: little-endian float32 values, N x C x H x W in that order
               (N is the file size over C*H*W*4; any file that is not a PNG
               or JPEG is read this way), finite, used as they are (--norm
               is refused); or
  an image:    PNG or JPEG of exactly H x W pixels, scaled to [0, 1] and
               normalised with --norm (the training statistics of a dataset
               of C channels, or none). A network of 1 channel takes a grey
               image; a colour one is refused unless --grey converts it to
               BT.601 luma (0.299 R + 0.587 G + 0.114 B). A network of 3
               channels takes RGB, or grey in all three.`,
		Example: `  nas infer runs/run-1/best.json shoe.png --weights runs/mbv2/weights.safetensors --norm fashion-mnist
  nas infer mobilenet_v2 x.f32 --seed 3 --json`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			if err := refuseTogether(cmd, "input-shape", "input", "they are one flag"); err != nil {
				return err
			}
			if err := opts.takeFile(cmd, args[1:]); err != nil {
				return err
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
	f.StringVar(&opts.File, "file", "", "input file (instead of the FILE argument): raw little-endian float32 (NxCxHxW) or a PNG/JPEG image")
	addWeightsFlag(cmd, &opts.Weights)
	addSeedFlag(cmd, &opts.Seed)
	f.StringVar(&opts.Norm, "norm", "none", "normalisation of image inputs: fashion-mnist, mnist, cifar10 or none")
	f.BoolVar(&opts.Grey, "grey", false, "convert a colour image for a one-channel network to grey (BT.601 luma); without it such an image is refused")
	opts.Zoo.addFlags(cmd)
	deprecatedAlias(cmd, "input-shape", "input")
	addJSONFlag(cmd, &opts.JSON)
	return cmd
}

// takeFile finds the input file: the argument, --file, or (deprecated)
// --input given a file rather than a shape.
func (o *inferOptions) takeFile(cmd *cobra.Command, args []string) error {
	if o.Zoo.Input != "" {
		if _, err := space.ParseShape(o.Zoo.Input); err != nil {
			if _, serr := os.Stat(o.Zoo.Input); serr == nil && o.File == "" && len(args) == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "Flag --input as the input file is deprecated, give the file as an argument: --input is the input shape\n")
				o.File, o.Zoo.Input = o.Zoo.Input, ""
			}
		}
	}
	switch {
	case len(args) == 1 && o.File != "":
		return usageErrorf("give the input file as an argument or with --file, not both")
	case len(args) == 1:
		o.File = args[0]
	case o.File == "":
		return usageErrorf("the input FILE is required (an argument, or --file)")
	}
	return nil
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
	a, err := opts.Zoo.resolve(opts.Ref)
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
	} else {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: no --weights: the weights are random (seed %d), and the predictions mean nothing\n", opts.Seed)
	}
	norm, _ := normalization(opts.Norm)
	x, err := trainer.ReadInput(opts.File, a.Input, trainer.InputOptions{Norm: norm, Grey: opts.Grey})
	if err != nil {
		if norm != nil && strings.Contains(err.Error(), "normalisation") {
			return fmt.Errorf("--norm %s: %w", opts.Norm, err)
		}
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
		return writeJSON(out, res)
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

package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"nas/blocks"
	"nas/export"
	"nas/space"
)

type exportOptions struct {
	Arch         string
	Format       string
	Output       string
	Weights      string // safetensors checkpoint; "" means seeded random weights
	Seed         uint64
	FoldBN       bool
	WriteWeights string
	Input        string // CxHxW
	Classes      int
	Width        float64
}

func newCmdExport(runF func(*cobra.Command, *exportOptions) error) *cobra.Command {
	opts := &exportOptions{}
	cmd := &cobra.Command{
		Use:   "export ARCH --format onnx|pytorch -o FILE",
		Short: "Write a network as an ONNX model or PyTorch module code",
		Long: `Write a network for use outside nas.

  onnx     an ONNX model (opset 13) with its weights: input "input"
           (N x C x H x W, dynamic batch), output "logits" (N x classes).
           BN stays BatchNormalization unless --fold-bn folds it into the
           convolutions.
  pytorch  a self-contained Python file (torch only) defining an nn.Module
           whose state_dict keys are nas's parameter names, with load(path)
           to read a nas safetensors checkpoint. The weights are not in it.

ARCH is a zoo network name (see 'nas zoo list'). Weights come from --weights
(a safetensors checkpoint of nas train) or, without it, are seeded random
(--seed): Kaiming-normal convolutions, BN at its initial state.
See docs/export.md.`,
		Example: `  nas export mobilenet_v2 --format onnx -o mobilenet_v2.onnx
  nas export mobilenet_v2 --input 3x32x32 --classes 10 --weights ckpt.safetensors --format onnx --fold-bn -o m.onnx
  nas export mobilenet_v2 --format pytorch -o mobilenet_v2.py`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Arch = args[0]
			switch opts.Format {
			case "onnx", "pytorch":
			case "":
				return usageErrorf("--format is required: onnx or pytorch")
			default:
				return usageErrorf("--format %q: want onnx or pytorch", opts.Format)
			}
			if opts.Output == "" {
				return usageErrorf("-o FILE is required (- for standard output)")
			}
			if opts.Format == "pytorch" && opts.FoldBN {
				return usageErrorf("--fold-bn applies to --format onnx only (the PyTorch module keeps BN to load checkpoints)")
			}
			if opts.Weights != "" && cmd.Flags().Changed("seed") {
				return usageErrorf("--seed makes random weights; it cannot be used with --weights")
			}
			if runF != nil {
				return runF(cmd, opts)
			}
			return exportRun(cmd, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Format, "format", "", "what to write: onnx or pytorch")
	f.StringVarP(&opts.Output, "output", "o", "", "file to write (- for standard output)")
	f.StringVar(&opts.Weights, "weights", "", "safetensors checkpoint with the network's weights (default: seeded random weights)")
	f.Uint64Var(&opts.Seed, "seed", 1, "seed of the random weights when --weights is not given")
	f.BoolVar(&opts.FoldBN, "fold-bn", false, "fold batch norms into the convolutions before them (onnx)")
	f.StringVar(&opts.WriteWeights, "write-weights", "", "also write the weights used to this safetensors file (for the random weights of --seed)")
	f.StringVar(&opts.Input, "input", "3x224x224", "input shape of one sample, CxHxW")
	f.IntVar(&opts.Classes, "classes", 1000, "number of classes")
	f.Float64Var(&opts.Width, "width", 1, "width multiplier, for the zoo families that have one")
	return cmd
}

func exportRun(cmd *cobra.Command, opts *exportOptions) error {
	in, err := parseShape(opts.Input)
	if err != nil {
		return usageErrorf("--input %q: %v", opts.Input, err)
	}
	arch, err := space.ZooArch(opts.Arch, space.ZooOptions{Input: in, Classes: opts.Classes, Width: opts.Width})
	if err != nil {
		return err
	}
	g, err := arch.Graph()
	if err != nil {
		return fmt.Errorf("%s: %w", opts.Arch, err)
	}
	var w export.Weights
	if opts.Format == "onnx" || opts.WriteWeights != "" {
		if opts.Weights != "" {
			if w, err = export.ReadWeights(opts.Weights, g); err != nil {
				return err
			}
		} else {
			w = export.RandomWeights(g, rand.New(rand.NewPCG(opts.Seed, 0)), export.RandomOptions{})
		}
	}
	var buf bytes.Buffer
	switch opts.Format {
	case "onnx":
		err = export.WriteONNX(&buf, g, w, export.ONNXOptions{Name: opts.Arch, FoldBN: opts.FoldBN, ProducerVersion: currentVersion().Version})
	case "pytorch":
		err = export.WritePyTorch(&buf, g, export.PyTorchOptions{Name: opts.Arch})
	}
	if err != nil {
		return err
	}
	if opts.WriteWeights != "" {
		if err := export.WriteWeights(opts.WriteWeights, g, w); err != nil {
			return fmt.Errorf("--write-weights %s: %w", opts.WriteWeights, err)
		}
	}
	if opts.Output == "-" {
		_, err = cmd.OutOrStdout().Write(buf.Bytes())
		return err
	}
	if err := os.WriteFile(opts.Output, buf.Bytes(), 0o644); err != nil {
		return err
	}
	c := g.Cost()
	fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (%s, %d parameters, %d MACs)\n", opts.Output, opts.Format, c.Params, c.MACs)
	return nil
}

// parseShape reads CxHxW ("3x224x224").
func parseShape(s string) (blocks.Shape, error) {
	parts := strings.Split(s, "x")
	if len(parts) != 3 {
		return blocks.Shape{}, fmt.Errorf("want CxHxW, e.g. 3x224x224")
	}
	var d [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 1 {
			return blocks.Shape{}, fmt.Errorf("%q is not a positive whole number (want CxHxW, e.g. 3x224x224)", p)
		}
		d[i] = v
	}
	return blocks.Shape{C: d[0], H: d[1], W: d[2]}, nil
}

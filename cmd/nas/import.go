package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"nas/export"
	"nas/onnximport"
	"nas/space"
)

// An .onnx file is accepted wherever ARCH is: space.Resolve reads it
// through the importer (its weights are for `nas import --weights-out`).
func init() {
	space.RegisterFileLoader(".onnx", func(path string) (*space.Arch, error) {
		r, err := onnximport.ReadFile(path, onnximport.Options{})
		if err != nil {
			return nil, err
		}
		return r.Arch, nil
	})
}

type importOptions struct {
	Model      string
	Out        string
	WeightsOut string
	Input      string
	JSON       bool
}

// importReport is the --json output of `nas import`.
type importReport struct {
	Model        string    `json:"model"`
	Name         string    `json:"name"`
	Arch         string    `json:"arch"`
	Input        [3]int    `json:"input"`
	Classes      int       `json:"classes"`
	Layers       int       `json:"layers"`
	Params       int64     `json:"params"`
	MACs         int64     `json:"macs"`
	RebuiltBN    int       `json:"rebuilt_bn"`
	FromMetadata bool      `json:"from_metadata"`
	Out          string    `json:"out"`
	WeightsOut   string    `json:"weights_out,omitempty"`
	Producer     string    `json:"producer,omitempty"`
	Mean         []float32 `json:"mean,omitempty"`
	Std          []float32 `json:"std,omitempty"`
	ClassNames   []string  `json:"class_names,omitempty"`
}

func newCmdImport(runF func(*cobra.Command, *importOptions) error) *cobra.Command {
	opts := &importOptions{}
	cmd := &cobra.Command{
		Use:   "import MODEL.onnx -o ARCH.json [--weights-out W.safetensors]",
		Short: "Bring an ONNX model in as a nas arch and weights",
		Long: `Read an ONNX model (from torch.onnx.export, or nas export) and write the
network as an arch JSON file, and its weights as a safetensors file under
nas's parameter names, for nas latency, profile, netadapt, train, infer
and export.

The model must be made of the operators nas's blocks cover: Conv (grouped,
depthwise), BatchNormalization, Relu, Clip (ReLU6), HardSigmoid, HardSwish,
Sigmoid, Mul (swish, h-swish, squeeze-and-excitation), Add (residual),
Concat, the Reshape-Transpose-Reshape channel shuffle, Split/Slice of
channels, MaxPool, AveragePool, GlobalAveragePool, ReduceMean over H and W,
Gemm, MatMul, Flatten, Reshape to N x features, Dropout and Identity, in an
order that forms nas's blocks. Anything else is refused, naming the node.
A model exported in eval mode (batch norms folded into the convolutions)
gets its batch norms back, with identity statistics. An .onnx file is also
accepted wherever ARCH is. See docs/import.md.`,
		Example: `  nas import mobilenet_v2.onnx -o mbv2.json --weights-out mbv2.safetensors
  nas inspect mobilenet_v2.onnx
  nas import model.onnx --input 3x224x224 -o arch.json --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Model = args[0]
			if opts.Out == "" {
				return usageErrorf("-o ARCH.json is required (- for standard output)")
			}
			if opts.Out == "-" && opts.JSON {
				return usageErrorf("--json prints the summary on standard output: give -o a file")
			}
			if runF != nil {
				return runF(cmd, opts)
			}
			return importRun(cmd, opts)
		},
	}
	addOutFlag(cmd, &opts.Out) // the arch JSON file (- for standard output; required)
	cmd.Flags().StringVar(&opts.WeightsOut, "weights-out", "", "also write the model's weights to this safetensors file")
	addInputFlag(cmd, &opts.Input)
	addJSONFlag(cmd, &opts.JSON)
	return cmd
}

func importRun(cmd *cobra.Command, opts *importOptions) error {
	var o onnximport.Options
	if opts.Input != "" {
		s, err := space.ParseShape(opts.Input)
		if err != nil {
			return usageErrorf("--input: %v", err)
		}
		o.Input = s
	}
	r, err := onnximport.ReadFile(opts.Model, o)
	if err != nil {
		return err
	}
	g, err := r.Arch.Graph()
	if err != nil {
		return err
	}
	js, err := r.Arch.IndentedJSON()
	if err != nil {
		return err
	}
	if err := writeOut(cmd, opts.Out, js); err != nil {
		return fmt.Errorf("-o %s: %w", opts.Out, err)
	}
	if opts.WeightsOut != "" {
		if err := export.WriteWeights(opts.WeightsOut, g, export.Weights(r.Weights)); err != nil {
			return fmt.Errorf("--weights-out %s: %w", opts.WeightsOut, err)
		}
	}
	c := g.Cost()
	rep := importReport{Model: opts.Model, Name: r.Arch.Name, Arch: r.Arch.String(),
		Input: [3]int{r.Arch.Input.C, r.Arch.Input.H, r.Arch.Input.W}, Classes: r.Arch.Classes, Layers: len(r.Arch.Layers),
		Params: c.Params, MACs: c.MACs, RebuiltBN: r.RebuiltBN, FromMetadata: r.FromMetadata,
		Out: opts.Out, WeightsOut: opts.WeightsOut, Producer: r.Metadata.Producer,
		Mean: r.Metadata.Mean, Std: r.Metadata.Std, ClassNames: r.Metadata.ClassNames}
	if opts.JSON {
		return writeJSON(cmd.OutOrStdout(), rep)
	}
	w := cmd.ErrOrStderr()
	fmt.Fprintf(w, "imported %s: input %v, %d classes, %d layers, %s parameters, %s MACs\n",
		opts.Model, r.Arch.Input, r.Arch.Classes, len(r.Arch.Layers), groupDigits(c.Params), groupDigits(c.MACs))
	if r.RebuiltBN > 0 {
		fmt.Fprintf(w, "%d batch norms were folded into convolutions; rebuilt with identity statistics\n", r.RebuiltBN)
	}
	if r.FromMetadata {
		fmt.Fprintln(w, "the arch recorded in the model's metadata matches its graph and is kept")
	}
	if opts.Out != "-" {
		fmt.Fprintf(w, "wrote %s\n", opts.Out)
	}
	if opts.WeightsOut != "" {
		fmt.Fprintf(w, "wrote %s\n", opts.WeightsOut)
	}
	return nil
}

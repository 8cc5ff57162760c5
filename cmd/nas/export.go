package main

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

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
	Data         string // dataset whose normalisation and class names the ONNX metadata records
	Zoo          zooFlags
	JSON         bool
}

// exportJSON is what --json prints about the file written.
type exportJSON struct {
	Out    string `json:"out"`
	Format string `json:"format"`
	Arch   string `json:"arch"`
	Params int64  `json:"params"`
	MACs   int64  `json:"macs"`
	Bytes  int    `json:"bytes"`
}

// exportFormats are the values of --format.
var exportFormats = []string{"onnx", "pytorch", "json", "string"}

func newCmdExport(runF func(*cobra.Command, *exportOptions) error) *cobra.Command {
	opts := &exportOptions{}
	cmd := &cobra.Command{
		Use:   "export ARCH --format onnx|pytorch|json|string -o FILE",
		Short: "Write a network as an ONNX model, PyTorch module code, or its arch JSON or string",
		Long: `Write a network for use outside nas.

  onnx     an ONNX model (opset 13) with its weights: input "input"
           (N x C x H x W, dynamic batch), output "logits" (N x classes).
           BN stays BatchNormalization unless --fold-bn folds it into the
           convolutions.
  pytorch  a self-contained Python file (torch only) defining an nn.Module
           whose state_dict keys are nas's parameter names, with load(path)
           to read a nas safetensors checkpoint. The weights are not in it.
  json     the canonical arch JSON (docs/arch-format.md).
  string   the canonical one-line arch string.

ARCH is a zoo network name (see 'nas zoo list'; --input, --classes and
--width shape it), an arch JSON file or an arch string. Weights come from --weights
(a safetensors checkpoint of nas train) or, without it, are seeded random
(--seed): Kaiming-normal convolutions, BN at its initial state.
--data NAME records the dataset's input normalisation and class names in
the ONNX model's metadata (nas import reads them back; docs/import.md);
without it the model carries the arch, the version and the commit only.
See docs/export.md.`,
		Example: `  nas export mobilenet_v2 --format onnx -o mobilenet_v2.onnx
  nas export mobilenet_v2 --input 3x32x32 --classes 10 --weights ckpt.safetensors --format onnx --fold-bn -o m.onnx
  nas export runs/run-1/best.json --weights runs/run-1/searched-1.safetensors --data fashion-mnist --format onnx -o best.onnx
  nas export mobilenet_v2 --format pytorch -o mobilenet_v2.py`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Arch = args[0]
			switch opts.Format {
			case "onnx", "pytorch", "json", "string":
			case "":
				return usageErrorf("--format is required: one of %s", strings.Join(exportFormats, ", "))
			default:
				return usageErrorf("--format %q: want one of %s", opts.Format, strings.Join(exportFormats, ", "))
			}
			if opts.Output == "" {
				return usageErrorf("-o FILE is required (- for standard output)")
			}
			if opts.Output == "-" && opts.JSON {
				return usageErrorf("--json describes the file written: give -o FILE, not standard output")
			}
			if opts.Format == "pytorch" && opts.FoldBN {
				return usageErrorf("--fold-bn applies to --format onnx only (the PyTorch module keeps BN to load checkpoints)")
			}
			if (opts.Format == "json" || opts.Format == "string") && (opts.Weights != "" || opts.WriteWeights != "" || opts.FoldBN) {
				return usageErrorf("--format %s writes the architecture only: --weights, --write-weights and --fold-bn do not apply", opts.Format)
			}
			if opts.Data != "" && opts.Format != "onnx" {
				return usageErrorf("--data records the dataset in ONNX metadata: it applies to --format onnx only")
			}
			if opts.Data != "" {
				if _, _, ok := export.DatasetMetadata(opts.Data); !ok {
					return usageErrorf("--data %q: want fashion-mnist, mnist or cifar10 (the datasets whose normalisation and class names nas knows)", opts.Data)
				}
			}
			if err := refuseTogether(cmd, "output", "out", "they are one flag"); err != nil {
				return err
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
	f.StringVar(&opts.Format, "format", "", "what to write: onnx, pytorch, json or string")
	addOutFlag(cmd, &opts.Output)
	deprecatedAlias(cmd, "output", "out")
	addWeightsFlag(cmd, &opts.Weights)
	addSeedFlag(cmd, &opts.Seed)
	f.BoolVar(&opts.FoldBN, "fold-bn", false, "fold batch norms into the convolutions before them (onnx)")
	f.StringVar(&opts.Data, "data", "", "dataset whose input normalisation and class names the ONNX model's metadata records: fashion-mnist, mnist or cifar10 (default: none)")
	f.StringVar(&opts.WriteWeights, "write-weights", "", "also write the weights used to this safetensors file (for the random weights of --seed)")
	opts.Zoo.addFlags(cmd)
	addJSONFlag(cmd, &opts.JSON)
	return cmd
}

func exportRun(cmd *cobra.Command, opts *exportOptions) error {
	arch, err := opts.Zoo.resolve(opts.Arch)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	switch opts.Format {
	case "json":
		b, err := arch.IndentedJSON()
		if err != nil {
			return err
		}
		buf.Write(b)
		if !bytes.HasSuffix(b, []byte("\n")) {
			buf.WriteByte('\n')
		}
		return writeExport(cmd, opts, arch, buf.Bytes())
	case "string":
		buf.WriteString(arch.String() + "\n")
		return writeExport(cmd, opts, arch, buf.Bytes())
	}
	g, err := arch.Graph()
	if err != nil {
		return fmt.Errorf("%s: %w", opts.Arch, err)
	}
	var w export.Weights
	if opts.Format == "onnx" || opts.WriteWeights != "" {
		if w, err = export.WeightsOrRandom(g, opts.Weights, opts.Seed); err != nil {
			return err
		}
	}
	name := arch.Name
	if name == "" {
		name = "nas"
	}
	switch opts.Format {
	case "onnx":
		o := export.ONNXOptions{Name: name, Arch: arch.String(), FoldBN: opts.FoldBN, ProducerVersion: currentVersion().Version}
		if opts.Data != "" {
			if err := o.SetDataset(opts.Data, arch.Input.C, arch.Classes); err != nil {
				return fmt.Errorf("--data %s: %w", opts.Data, err)
			}
		}
		err = export.WriteONNX(&buf, g, w, o)
	case "pytorch":
		err = export.WritePyTorch(&buf, g, export.PyTorchOptions{Name: name, Arch: arch.String()})
	}
	if err != nil {
		return err
	}
	if opts.WriteWeights != "" {
		if err := export.WriteWeights(opts.WriteWeights, g, w); err != nil {
			return fmt.Errorf("--write-weights %s: %w", opts.WriteWeights, err)
		}
	}
	return writeExport(cmd, opts, arch, buf.Bytes())
}

// writeExport writes b to -o (standard output for -) and says so on
// standard error, or with --json on standard output.
func writeExport(cmd *cobra.Command, opts *exportOptions, a *space.Arch, b []byte) error {
	if err := writeOut(cmd, opts.Output, b); err != nil {
		return err
	}
	if opts.Output == "-" {
		return nil
	}
	about := ""
	c, err := a.Cost()
	if err != nil {
		return err
	}
	if opts.Format == "onnx" || opts.Format == "pytorch" {
		about = fmt.Sprintf(", %d parameters, %d MACs", c.Params, c.MACs)
	}
	if opts.JSON {
		return writeJSON(cmd.OutOrStdout(), exportJSON{Out: opts.Output, Format: opts.Format, Arch: a.String(), Params: c.Params, MACs: c.MACs, Bytes: len(b)})
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (%s%s)\n", opts.Output, opts.Format, about)
	return nil
}

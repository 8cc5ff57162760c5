package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"nas/space"
)

type inspectOptions struct {
	Ref  string
	Zoo  zooFlags
	JSON bool
}

// inspectLayer is one row of `nas inspect`.
type inspectLayer struct {
	Index  int    `json:"index"`
	Block  string `json:"block"`
	Input  string `json:"input"`
	Output string `json:"output"`
	Params int64  `json:"params"`
	MACs   int64  `json:"macs"`
}

// inspectReport is the --json output of `nas inspect`.
type inspectReport struct {
	Name    string         `json:"name,omitempty"`
	Arch    string         `json:"arch"`
	Input   [3]int         `json:"input"`
	Classes int            `json:"classes"`
	Params  int64          `json:"params"`
	MACs    int64          `json:"macs"`
	Layers  []inspectLayer `json:"layers"`
}

func newCmdInspect(runF func(*cobra.Command, *inspectOptions) error) *cobra.Command {
	opts := &inspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect ARCH",
		Short: "Show the layers, output shapes, params and MACs of a network",
		Long: `Show a network layer by layer: its block string, output shape, parameters
and multiply-accumulates (conv and linear layers, the torchvision convention).

ARCH is a zoo network name (see 'nas zoo list'), a path to an arch JSON file,
or an arch string such as
  "in1x28x28 cls10 | conv_o16_k3_s2_arelu | ir_e4_o24_k3 | gap | linear_o10"
(docs/arch-format.md has the grammar). --input, --classes and --width shape
zoo networks; a file or string carries its own input and classes.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			if runF != nil {
				return runF(cmd, opts)
			}
			return inspectRun(cmd, opts)
		},
	}
	opts.Zoo.addFlags(cmd)
	addJSONFlag(cmd, &opts.JSON)
	return cmd
}

// zooOptions turns the shaping flags into space.ZooOptions.
func zooOptions(input string, classes int, width float64) (space.ZooOptions, error) {
	var o space.ZooOptions
	if input != "" {
		sh, err := space.ParseShape(input)
		if err != nil {
			return o, usageErrorf("--input: %v", err)
		}
		o.Input = sh
	}
	if classes < 0 {
		return o, usageErrorf("--classes %d: must be at least 1", classes)
	}
	if width < 0 {
		return o, usageErrorf("--width %v: must be positive", width)
	}
	o.Classes, o.Width = classes, width
	return o, nil
}

func inspectRun(cmd *cobra.Command, opts *inspectOptions) error {
	a, err := opts.Zoo.resolve(opts.Ref)
	if err != nil {
		return err
	}
	shapes, err := a.Shapes()
	if err != nil {
		return err
	}
	r := inspectReport{Name: a.Name, Arch: a.String(), Input: [3]int{a.Input.C, a.Input.H, a.Input.W}, Classes: a.Classes, Layers: []inspectLayer{}}
	for i, l := range a.Layers {
		c := l.Cost(shapes[i])
		r.Params += c.Params
		r.MACs += c.MACs
		r.Layers = append(r.Layers, inspectLayer{Index: i, Block: space.BlockString(l), Input: shapes[i].String(), Output: shapes[i+1].String(), Params: c.Params, MACs: c.MACs})
	}
	out := cmd.OutOrStdout()
	if opts.JSON {
		return writeJSON(out, r)
	}
	if a.Name != "" {
		fmt.Fprintf(out, "%s: ", a.Name)
	}
	fmt.Fprintf(out, "input %v, %d classes, %d layers\n\n", a.Input, a.Classes, len(a.Layers))
	blockWidth, shapeWidth := len("block"), len("output")
	for _, l := range r.Layers {
		blockWidth, shapeWidth = max(blockWidth, len(l.Block)), max(shapeWidth, len(l.Output))
	}
	row := fmt.Sprintf("%%4s  %%-%ds  %%%ds  %%13s  %%15s\n", blockWidth, shapeWidth)
	fmt.Fprintf(out, row, "#", "block", "output", "params", "MACs")
	for _, l := range r.Layers {
		fmt.Fprintf(out, row, strconv.Itoa(l.Index), l.Block, l.Output, groupDigits(l.Params), groupDigits(l.MACs))
	}
	fmt.Fprintf(out, row, "", "total", "", groupDigits(r.Params), groupDigits(r.MACs))
	return nil
}

// groupDigits writes n with thousands separators: 3,504,872.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	if neg {
		return "-" + string(b)
	}
	return string(b)
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"nas/blocks"
	"nas/internal/onnxpb"
	"nas/space"
)

func TestExportFlags(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string // in the usage error; "" means accepted
	}{
		{"onnx", []string{"mobilenet_v2", "--format", "onnx", "-o", "m.onnx", "--fold-bn"}, ""},
		{"pytorch with checkpoint", []string{"mobilenet_v2", "--format", "pytorch", "-o", "m.py", "--weights", "w.safetensors"}, ""},
		{"no format", []string{"mobilenet_v2", "-o", "m.onnx"}, "--format is required"},
		{"bad format", []string{"mobilenet_v2", "--format", "tflite", "-o", "m"}, `--format "tflite"`},
		{"no output", []string{"mobilenet_v2", "--format", "onnx"}, "-o FILE is required"},
		{"fold-bn pytorch", []string{"mobilenet_v2", "--format", "pytorch", "-o", "m.py", "--fold-bn"}, "--fold-bn applies to --format onnx"},
		{"seed and weights", []string{"mobilenet_v2", "--format", "onnx", "-o", "m", "--seed", "3", "--weights", "w"}, "--seed makes random weights"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got *exportOptions
			cmd := newCmdExport(func(_ *cobra.Command, o *exportOptions) error { got = o; return nil })
			cmd.SetArgs(c.args)
			cmd.SetOut(&strings.Builder{})
			cmd.SetErr(&strings.Builder{})
			err := cmd.Execute()
			if c.want == "" {
				require.NoError(t, err)
				require.Equal(t, "mobilenet_v2", got.Arch)
				require.Equal(t, "3x224x224", got.Input)
				return
			}
			var ue usageError
			require.ErrorAs(t, err, &ue)
			require.ErrorContains(t, err, c.want)
		})
	}
}

func TestExportErrors(t *testing.T) {
	code, _, errOut := runNas(t, "export", "mobilenet_v9", "--format", "onnx", "-o", filepath.Join(t.TempDir(), "m.onnx"))
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, `no zoo network "mobilenet_v9"`)

	code, _, errOut = runNas(t, "export", "mobilenet_v2", "--input", "3x224", "--format", "onnx", "-o", "m.onnx")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, `--input "3x224": want CxHxW`)
}

// TestExportZooNetwork writes a zoo network in both formats, with seeded
// weights saved beside it and read back through --weights.
func TestExportZooNetwork(t *testing.T) {
	arch, err := space.ZooArch("mobilenet_v2", space.ZooOptions{Input: blockShape(3, 32, 32), Classes: 10})
	require.NoError(t, err)
	if _, err := arch.Graph(); err != nil && strings.Contains(err.Error(), "cannot be executed yet") {
		t.Skipf("mobilenet_v2 does not lower to a Graph yet: %v", err)
	}
	dir := t.TempDir()
	onnxPath, wPath := filepath.Join(dir, "m.onnx"), filepath.Join(dir, "w.safetensors")
	flags := []string{"--input", "3x32x32", "--classes", "10"}
	code, _, errOut := runNas(t, append([]string{"export", "mobilenet_v2", "--format", "onnx", "-o", onnxPath, "--write-weights", wPath}, flags...)...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, errOut, "wrote "+onnxPath)
	b, err := os.ReadFile(onnxPath)
	require.NoError(t, err)
	m := &onnxpb.ModelProto{}
	require.NoError(t, proto.Unmarshal(b, m))
	require.Equal(t, "logits", m.GetGraph().GetOutput()[0].GetName())

	again := filepath.Join(dir, "again.onnx")
	code, _, errOut = runNas(t, append([]string{"export", "mobilenet_v2", "--format", "onnx", "-o", again, "--weights", wPath}, flags...)...)
	require.Equal(t, 0, code, errOut)
	b2, err := os.ReadFile(again)
	require.NoError(t, err)
	require.Equal(t, b, b2, "the saved weights give the same model")

	code, src, errOut := runNas(t, append([]string{"export", "mobilenet_v2", "--format", "pytorch", "-o", "-"}, flags...)...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, src, "class Net(nn.Module):")
}

func blockShape(c, h, w int) blocks.Shape { return blocks.Shape{C: c, H: h, W: w} }

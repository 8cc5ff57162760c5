package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"nas/blocks"
	"nas/export"
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
		{"json with weights", []string{"mobilenet_v2", "--format", "json", "-o", "m.json", "--weights", "w"}, "writes the architecture only"},
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
				require.Equal(t, "", got.Zoo.Input, "zoo default unless set")
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
	require.Contains(t, errOut, `"mobilenet_v9" is not a zoo network`)

	code, _, errOut = runNas(t, "export", "mobilenet_v2", "--input", "3x224", "--format", "onnx", "-o", "m.onnx")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, `--input`)
}

// TestExportZooNetwork writes a zoo network in both formats, with seeded
// weights saved beside it and read back through --weights.
func TestExportZooNetwork(t *testing.T) {
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
	require.Contains(t, src, "Architecture: in3x32x32 cls10 | conv_o32_k3")
}

// TestExportArchForms writes a zoo network's arch string and JSON, and
// exports from each of them the same ONNX model as from the zoo name.
func TestExportArchForms(t *testing.T) {
	dir := t.TempDir()
	code, str, errOut := runNas(t, "export", "squeezenet1_1", "--input", "3x64x64", "--classes", "7", "--format", "string", "-o", "-")
	require.Equal(t, 0, code, errOut)
	str = strings.TrimSpace(str)
	want, err := space.ZooArch("squeezenet1_1", space.ZooOptions{Input: blocks.Shape{C: 3, H: 64, W: 64}, Classes: 7})
	require.NoError(t, err)
	require.Equal(t, want.String(), str)

	jsonPath := filepath.Join(dir, "a.json")
	code, _, errOut = runNas(t, "export", str, "--format", "json", "-o", jsonPath)
	require.Equal(t, 0, code, errOut)
	models := map[string]*onnxpb.ModelProto{}
	for ref, args := range map[string][]string{
		"zoo":    {"squeezenet1_1", "--input", "3x64x64", "--classes", "7"},
		"string": {str},
		"json":   {jsonPath},
	} {
		out := filepath.Join(dir, ref+".onnx")
		code, _, errOut = runNas(t, append(append([]string{"export"}, args...), "--format", "onnx", "-o", out)...)
		require.Equal(t, 0, code, errOut)
		b, err := os.ReadFile(out)
		require.NoError(t, err)
		m := &onnxpb.ModelProto{}
		require.NoError(t, proto.Unmarshal(b, m))
		m.Graph.Name = nil // the zoo name labels the graph; a string has none
		models[ref] = m
	}
	require.True(t, proto.Equal(models["zoo"], models["string"]), "zoo name and arch string give the same model")
	require.True(t, proto.Equal(models["zoo"], models["json"]), "zoo name and arch JSON give the same model")
}

// nas export --data records the dataset's normalisation and class names in
// the ONNX metadata, which nas import reads back; without it the model
// carries neither.
func TestExportDataMetadata(t *testing.T) {
	dir := t.TempDir()
	flags := []string{"mobilenet_v1", "--width", "0.25", "--input", "1x28x28", "--classes", "10", "--format", "onnx"}
	with, without := filepath.Join(dir, "with.onnx"), filepath.Join(dir, "without.onnx")
	code, _, errOut := runNas(t, append([]string{"export", "--data", "fashion-mnist", "-o", with}, flags...)...)
	require.Equal(t, 0, code, errOut)
	code, _, errOut = runNas(t, append([]string{"export", "-o", without}, flags...)...)
	require.Equal(t, 0, code, errOut)

	norm, classes, ok := export.DatasetMetadata("fashion-mnist")
	require.True(t, ok)
	code, out, errOut := runNas(t, "import", with, "-o", filepath.Join(dir, "a.json"), "--json")
	require.Equal(t, 0, code, errOut)
	var rep importReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Equal(t, norm.Mean, rep.Mean)
	require.Equal(t, norm.Std, rep.Std)
	require.Equal(t, classes, rep.ClassNames)
	require.Equal(t, "T-shirt/top", rep.ClassNames[0], "Fashion-MNIST's own names")
	code, out, errOut = runNas(t, "import", without, "-o", filepath.Join(dir, "b.json"), "--json")
	require.Equal(t, 0, code, errOut)
	rep = importReport{}
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Empty(t, rep.Mean)
	require.Empty(t, rep.ClassNames)

	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--data", "cifar10"}, exitError, "--data cifar10: the dataset has 3 channels and 10 classes, the network takes 1 channels"},
		{[]string{"--data", "imagenet"}, exitUsage, `--data "imagenet": want fashion-mnist, mnist or cifar10`},
		{[]string{"--data", "mnist", "--format", "pytorch"}, exitUsage, "applies to --format onnx only"},
		{[]string{"--output", filepath.Join(dir, "x.onnx")}, exitUsage, "--output and --out cannot be given together"},
	} {
		code, _, errOut := runNas(t, append(append([]string{"export", "-o", filepath.Join(dir, "x.onnx")}, flags...), c.args...)...)
		require.Equal(t, c.code, code, "%v: %s", c.args, errOut)
		require.Contains(t, errOut, c.want, "%v", c.args)
	}
}

package export

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"nas/blocks"
	"nas/blocks/nn"
	"nas/export/internal/testnets"
	"nas/internal/onnxpb"
	"nas/internal/safetensors"
)

// smallNet is conv+BN+ReLU6, a grouped conv with bias and PReLU, a ceil
// max pool, GAP and a linear head.
func smallNet(t *testing.T) *blocks.Graph {
	t.Helper()
	g, err := blocks.Lower(blocks.Shape{C: 3, H: 13, W: 11}, []blocks.Spec{
		&blocks.Conv{Out: 8, Kernel: 3, Stride: 2, Act: blocks.ActReLU6},
		&blocks.Conv{Out: 8, Kernel: 3, Groups: 4, NoBN: true, Act: blocks.ActPReLU},
		&blocks.Pool{Kernel: 3, Stride: 2, Ceil: true},
		&blocks.GlobalPool{},
		&blocks.Dropout{P: 20},
		&blocks.Linear{Out: 5},
	})
	require.NoError(t, err)
	return g
}

func TestRandomWeightsFollowTorchvisionInit(t *testing.T) {
	g, err := blocks.Lower(blocks.Shape{C: 64, H: 4, W: 4}, []blocks.Spec{
		&blocks.Conv{Out: 256, Kernel: 3, Act: blocks.ActReLU},
		&blocks.GlobalPool{}, &blocks.Linear{Out: 500},
	})
	require.NoError(t, err)
	w := RandomWeights(g, rand.New(rand.NewPCG(1, 2)), RandomOptions{})
	require.NoError(t, w.Check(g))
	std := func(v []float32) float64 {
		s := 0.0
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		return math.Sqrt(s / float64(len(v)))
	}
	// Kaiming normal, fan-out: 256 * 3 * 3.
	require.InDelta(t, math.Sqrt(2.0/(256*9)), std(w["layers.0.conv.weight"]), 0.002)
	require.InDelta(t, 0.01, std(w["layers.2.fc.weight"]), 0.0005)
	for name, want := range map[string]float32{"layers.0.bn.weight": 1, "layers.0.bn.bias": 0, "layers.0.bn.running_mean": 0, "layers.0.bn.running_var": 1, "layers.2.fc.bias": 0} {
		for _, x := range w[name] {
			require.Equal(t, want, x, name)
		}
	}
	again := RandomWeights(g, rand.New(rand.NewPCG(1, 2)), RandomOptions{})
	require.Equal(t, w, again, "the same seed gives the same weights")

	varied := RandomWeights(g, rand.New(rand.NewPCG(1, 2)), RandomOptions{Varied: true})
	for _, x := range varied["layers.0.bn.running_var"] {
		require.True(t, x >= 0.5 && x < 1.5, "running_var %v", x)
	}
	require.NotEqual(t, float32(0), varied["layers.0.bn.running_mean"][0])
}

func TestWeightsCheck(t *testing.T) {
	g := smallNet(t)
	good := RandomWeights(g, rand.New(rand.NewPCG(1, 1)), RandomOptions{})
	cases := []struct {
		name string
		edit func(w Weights)
		want string
	}{
		{"missing", func(w Weights) { delete(w, "layers.1.act.weight") }, `no tensor "layers.1.act.weight"`},
		{"wrong size", func(w Weights) { w["layers.0.bn.bias"] = w["layers.0.bn.bias"][:3] }, `"layers.0.bn.bias" has 3 values`},
		{"extra", func(w Weights) { w["layers.9.conv.weight"] = []float32{1} }, `"layers.9.conv.weight"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := Weights{}
			for k, v := range good {
				w[k] = v
			}
			c.edit(w)
			require.ErrorContains(t, w.Check(g), c.want)
			_, err := ONNX(g, w, ONNXOptions{})
			require.ErrorContains(t, err, c.want)
		})
	}
}

func TestWeightsFileRoundTrip(t *testing.T) {
	g := smallNet(t)
	w := RandomWeights(g, rand.New(rand.NewPCG(3, 1)), RandomOptions{Varied: true})
	path := filepath.Join(t.TempDir(), "w.safetensors")
	require.NoError(t, WriteWeights(path, g, w))
	back, err := ReadWeights(path, g)
	require.NoError(t, err)
	require.Equal(t, w, back)

	// A tensor with the right size but another shape is another network's.
	f, err := safetensors.Read(path)
	require.NoError(t, err)
	tw := f.Tensors["layers.5.fc.weight"]
	tw.Shape = []int{tw.Shape[1], tw.Shape[0]}
	f.Tensors["layers.5.fc.weight"] = tw
	require.NoError(t, safetensors.Write(path, f))
	_, err = ReadWeights(path, g)
	require.ErrorContains(t, err, `"layers.5.fc.weight" has shape [8 5]`)
}

func decodeONNX(t *testing.T, g *blocks.Graph, w Weights, o ONNXOptions) *onnxpb.ModelProto {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, WriteONNX(&buf, g, w, o))
	m := &onnxpb.ModelProto{}
	require.NoError(t, proto.Unmarshal(buf.Bytes(), m))
	return m
}

func opTypes(m *onnxpb.ModelProto) []string {
	var out []string
	for _, n := range m.GetGraph().GetNode() {
		out = append(out, n.GetOpType())
	}
	return out
}

func TestONNXModel(t *testing.T) {
	g := smallNet(t)
	w := RandomWeights(g, rand.New(rand.NewPCG(1, 1)), RandomOptions{Varied: true})
	m := decodeONNX(t, g, w, ONNXOptions{Name: "small"})
	require.Equal(t, int64(ONNXOpset), m.GetOpsetImport()[0].GetVersion())
	require.Equal(t, "small", m.GetGraph().GetName())
	in, out := m.GetGraph().GetInput()[0], m.GetGraph().GetOutput()[0]
	require.Equal(t, ONNXInput, in.GetName())
	require.Equal(t, ONNXOutput, out.GetName())
	dims := in.GetType().GetTensorType().GetShape().GetDim()
	require.Equal(t, "N", dims[0].GetDimParam(), "dynamic batch")
	require.Equal(t, []int64{3, 13, 11}, []int64{dims[1].GetDimValue(), dims[2].GetDimValue(), dims[3].GetDimValue()})
	require.Equal(t, int64(5), out.GetType().GetTensorType().GetShape().GetDim()[1].GetDimValue())
	require.Equal(t, []string{"Conv", "BatchNormalization", "Clip", "Conv", "PRelu", "MaxPool", "GlobalAveragePool", "Flatten", "Gemm"}, opTypes(m))
	require.Equal(t, ONNXOutput, m.GetGraph().GetNode()[8].GetOutput()[0], "the Gemm writes the logits")

	inits := map[string]*onnxpb.TensorProto{}
	for _, ti := range m.GetGraph().GetInitializer() {
		inits[ti.GetName()] = ti
	}
	for _, p := range g.Params() {
		ti, ok := inits[p.Name]
		require.True(t, ok, p.Name)
		n := int64(1)
		for _, d := range ti.GetDims() {
			n *= d
		}
		require.Equal(t, int64(len(w[p.Name])), n, p.Name)
		require.Equal(t, math.Float32bits(w[p.Name][0]), leUint32(ti.GetRawData()), p.Name)
	}
	require.Equal(t, []int64{8, 1, 1}, inits["layers.1.act.weight"].GetDims(), "PReLU slopes broadcast over H x W")
}

func leUint32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func TestONNXFoldBN(t *testing.T) {
	// A 1x1 convolution on a 1x1 input is a matrix product, so the folded
	// weights can be checked against conv then BN by hand.
	g, err := blocks.Lower(blocks.Shape{C: 3, H: 1, W: 1}, []blocks.Spec{
		&blocks.Conv{Out: 4, Kernel: 1}, &blocks.GlobalPool{}, &blocks.Linear{Out: 2},
	})
	require.NoError(t, err)
	w := RandomWeights(g, rand.New(rand.NewPCG(5, 5)), RandomOptions{Varied: true})
	m := decodeONNX(t, g, w, ONNXOptions{FoldBN: true})
	require.NotContains(t, opTypes(m), "BatchNormalization")
	inits := map[string][]float32{}
	for _, ti := range m.GetGraph().GetInitializer() {
		raw := ti.GetRawData()
		v := make([]float32, len(raw)/4)
		for i := range v {
			v[i] = math.Float32frombits(leUint32(raw[4*i:]))
		}
		inits[ti.GetName()] = v
	}
	x := []float64{0.3, -1.2, 2}
	for c := 0; c < 4; c++ {
		conv, folded := 0.0, float64(inits["layers.0.conv.bias"][c])
		for i := 0; i < 3; i++ {
			conv += float64(w["layers.0.conv.weight"][3*c+i]) * x[i]
			folded += float64(inits["layers.0.conv.weight"][3*c+i]) * x[i]
		}
		bn := (conv-float64(w["layers.0.bn.running_mean"][c]))/math.Sqrt(float64(w["layers.0.bn.running_var"][c])+1e-5)*
			float64(w["layers.0.bn.weight"][c]) + float64(w["layers.0.bn.bias"][c])
		require.InDelta(t, bn, folded, 1e-5, "channel %d", c)
	}
}

func TestONNXNodesOfEveryOp(t *testing.T) {
	b := blocks.NewBuilder(blocks.Shape{C: 4, H: 6, W: 6})
	x := b.Graph().Input
	y := b.Act("a", x, blocks.ActHSwish)
	y = b.Act("b", y, blocks.ActSwish)
	y = b.Shuffle(y, 2)
	y = b.Concat(b.Slice(y, 0, 2), x)
	y = b.Pool(y, true, blocks.PoolAttr{K: 3, S: 1, P: 1})
	s := b.Act("c", b.GAP(y), blocks.ActHSigmoid)
	y = b.Add(b.Mul(y, s), y)
	y = b.GAP(y)
	y = b.Linear("fc", y, 6, false)
	y = b.Act("d", y, blocks.ActSigmoid)
	b.Mul(y, y) // a rank-2 value that must become N x C x 1 x 1 again
	g := b.Graph()
	w := RandomWeights(g, rand.New(rand.NewPCG(1, 1)), RandomOptions{})
	m := decodeONNX(t, g, w, ONNXOptions{})
	require.Equal(t, []string{
		"HardSigmoid", "Mul", "Sigmoid", "Mul", "Reshape", "Transpose", "Reshape", "Slice", "Concat", "AveragePool",
		"GlobalAveragePool", "HardSigmoid", "Mul", "Add", "GlobalAveragePool", "Flatten", "Gemm", "Sigmoid",
		"Reshape", "Mul", "Flatten",
	}, opTypes(m))
	for _, n := range m.GetGraph().GetNode() {
		if n.GetOpType() == "AveragePool" {
			require.Contains(t, n.String(), "count_include_pad")
		}
	}
}

func TestUnknownOpIsAnError(t *testing.T) {
	g := smallNet(t)
	g.Ops = append([]blocks.Op(nil), g.Ops...)
	g.Ops[2].Kind = "warp"
	w := RandomWeights(smallNet(t), rand.New(rand.NewPCG(1, 1)), RandomOptions{})
	_, err := ONNX(g, w, ONNXOptions{})
	require.ErrorContains(t, err, `warp`)
	require.ErrorContains(t, WritePyTorch(&bytes.Buffer{}, g, PyTorchOptions{}), "warp")
}

func TestPyTorchSource(t *testing.T) {
	g := smallNet(t)
	var buf bytes.Buffer
	require.NoError(t, WritePyTorch(&buf, g, PyTorchOptions{Name: "small", ClassName: "Small"}))
	src := buf.String()
	for _, want := range []string{
		"class Small(nn.Module):",
		`_put(self, "layers.0.conv", nn.Conv2d(3, 8, (3, 3), stride=(2, 2), padding=(1, 1), dilation=(1, 1), groups=1, bias=False))`,
		`_put(self, "layers.0.bn", BatchNorm(8, eps=1e-05))`,
		`_put(self, "layers.1.act", nn.PReLU(8))`,
		"F.relu6(v2)",
		"F.max_pool2d(v5, 3, 2, 0, ceil_mode=True)",
		"F.dropout(v7, 0.2, self.training)",
		`m("layers.5.fc")(torch.flatten(v8, 1))[:, :, None, None]`,
		"PARAMETERS = " + strconv.FormatInt(g.Cost().Params, 10),
	} {
		require.Contains(t, src, want)
	}
	require.ErrorContains(t, WritePyTorch(&buf, g, PyTorchOptions{ClassName: "my net"}), "not a Python identifier")
}

// TestRandomGraphsCoverEveryOp holds the promise of the consumer checks:
// the random graphs they run use every op kind and activation.
func TestRandomGraphsCoverEveryOp(t *testing.T) {
	kinds := map[blocks.OpKind]bool{}
	acts := map[blocks.Act]bool{}
	for i := 0; i < 6; i++ { // the seeds checkcases uses by default
		rng := rand.New(rand.NewPCG(1, 1000+uint64(i)))
		side := 24 + rng.IntN(24)
		g := testnets.Random(rng, blocks.Shape{C: 3, H: side, W: side + rng.IntN(8)}, 5+rng.IntN(10))
		for _, op := range g.Ops {
			kinds[op.Kind] = true
			if op.Kind == blocks.OpAct {
				acts[op.Act] = true
			}
		}
	}
	for _, k := range []blocks.OpKind{blocks.OpConv, blocks.OpBN, blocks.OpAct, blocks.OpMaxPool, blocks.OpAvgPool, blocks.OpGAP,
		blocks.OpLinear, blocks.OpDropout, blocks.OpShuffle, blocks.OpSlice, blocks.OpConcat, blocks.OpAdd, blocks.OpMul} {
		require.True(t, kinds[k], "no %s op in the random graphs", k)
	}
	for _, a := range []blocks.Act{blocks.ActReLU, blocks.ActReLU6, blocks.ActHSwish, blocks.ActSwish, blocks.ActSigmoid, blocks.ActHSigmoid, blocks.ActPReLU} {
		require.True(t, acts[a], "no %s activation in the random graphs", a)
	}
}

// TestConsumersAgreeWithExecutor exports random graphs and runs them with
// Debian's onnx and torch: onnx.checker passes and the PyTorch module, with
// the same weights, gives nas's own output (blocks.Network) within 1e-4.
// ONNX Runtime is checked by scripts/check-export.sh.
func TestConsumersAgreeWithExecutor(t *testing.T) {
	if testing.Short() {
		t.Skip("runs python3 with torch (a few seconds)")
	}
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import onnx, torch").Run(); err != nil {
		t.Skipf("%s with onnx and torch not available (apt-get install python3-onnx python3-torch): %v", python, err)
	}
	dir := t.TempDir()
	var script strings.Builder
	script.WriteString(pythonCheck)
	for i := 0; i < 3; i++ {
		rng := rand.New(rand.NewPCG(99, uint64(i)))
		g := testnets.Random(rng, blocks.Shape{C: 3, H: 20 + i, W: 23}, 7)
		w := RandomWeights(g, rng, RandomOptions{Varied: true})
		net, err := blocks.NewNetwork(g, rng)
		require.NoError(t, err)
		require.NoError(t, net.LoadState(w))
		in := g.Shapes[g.Input]
		x := make([]float32, 2*in.C*in.H*in.W)
		for j := range x {
			x[j] = float32(rng.NormFloat64())
		}
		y := net.Forward(nil, nn.FromData(x, 2, in.C, in.H, in.W))
		d := filepath.Join(dir, strconv.Itoa(i))
		require.NoError(t, os.MkdirAll(d, 0o755))
		require.NoError(t, WriteWeights(filepath.Join(d, "weights.safetensors"), g, w))
		require.NoError(t, safetensors.Write(filepath.Join(d, "io.safetensors"), &safetensors.File{Tensors: map[string]safetensors.Tensor{
			"input": {Shape: []int{2, in.C, in.H, in.W}, F32: x}, "logits": {Shape: y.Shape, F32: y.Data},
		}}))
		var onnxBuf, pyBuf bytes.Buffer
		require.NoError(t, WriteONNX(&onnxBuf, g, w, ONNXOptions{FoldBN: i%2 == 1}))
		require.NoError(t, os.WriteFile(filepath.Join(d, "model.onnx"), onnxBuf.Bytes(), 0o644))
		require.NoError(t, WritePyTorch(&pyBuf, g, PyTorchOptions{}))
		require.NoError(t, os.WriteFile(filepath.Join(d, "model.py"), pyBuf.Bytes(), 0o644))
		script.WriteString("check(" + pyQuote(d) + ", " + strconv.FormatInt(g.Cost().Params, 10) + ")\n")
	}
	out, err := exec.Command(python, "-c", script.String()).CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Logf("%s", out)
}

func pyQuote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

const pythonCheck = `
import importlib.util, os, onnx, onnx.checker, torch
def check(d, params):
    onnx.checker.check_model(onnx.load(os.path.join(d, "model.onnx")), full_check=True)
    spec = importlib.util.spec_from_file_location("m", os.path.join(d, "model.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    net = mod.load(os.path.join(d, "weights.safetensors"))
    count = sum(p.numel() for p in net.parameters())
    assert count == params, f"{d}: PyTorch has {count} parameters, nas counts {params}"
    io = mod.load_safetensors(os.path.join(d, "io.safetensors"))
    with torch.no_grad():
        y = net(io["input"])
    spread = (y[0] - y[1]).abs().max().item() / y.abs().max().item()
    assert spread > 1e-3, f"{d}: outputs hardly depend on the input ({spread}): a blind check"
    err = (y - io["logits"]).abs().max().item() / io["logits"].abs().max().item()
    assert err <= 1e-4, f"{d}: PyTorch vs nas relative error {err}"
    print(f"{d}: {count} parameters, relative error {err:.1e}")
`

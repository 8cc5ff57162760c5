package onnximport_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"nas/internal/onnxpb"
	"nas/onnximport"
)

// tiny builds small ONNX models by hand: input "x" of N x 2 x 6 x 6.
type tiny struct{ m *onnxpb.ModelProto }

func newTiny() *tiny {
	dim := func(v int64) *onnxpb.TensorShapeProto_Dimension {
		return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: v}}
	}
	in := &onnxpb.ValueInfoProto{Name: proto.String("x"), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)),
			Shape: &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{
				{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}}, dim(2), dim(6), dim(6)}}}}}}
	return &tiny{m: &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph:       &onnxpb.GraphProto{Name: proto.String("tiny"), Input: []*onnxpb.ValueInfoProto{in}},
	}}
}

func (t *tiny) init(name string, dims []int64) {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i%7)/7 - 0.4
	}
	t.m.Graph.Initializer = append(t.m.Graph.Initializer, &onnxpb.TensorProto{
		Name: proto.String(name), Dims: dims, DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), FloatData: v})
}

func ints(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

func (t *tiny) node(op, name string, in, out []string, attrs ...*onnxpb.AttributeProto) {
	t.m.Graph.Node = append(t.m.Graph.Node, &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(name),
		Input: in, Output: out, Attribute: attrs})
}

func (t *tiny) output(name string) {
	t.m.Graph.Output = []*onnxpb.ValueInfoProto{{Name: proto.String(name)}}
}

func (t *tiny) bytes(tb testing.TB) []byte {
	b, err := proto.Marshal(t.m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// validTiny is conv 3x3 (2 -> 4, bias) + relu + global pooling + flatten +
// gemm (4 -> 3): "conv_o4_k3_arelu_nobn | gap | linear_o3".
func validTiny() *tiny {
	t := newTiny()
	t.init("w", []int64{4, 2, 3, 3})
	t.init("b", []int64{4})
	t.init("fw", []int64{3, 4})
	t.init("fb", []int64{3})
	t.node("Conv", "conv", []string{"x", "w", "b"}, []string{"c"}, ints("pads", 1, 1, 1, 1))
	t.node("Relu", "relu", []string{"c"}, []string{"r"})
	t.node("GlobalAveragePool", "gap", []string{"r"}, []string{"g"})
	t.node("Flatten", "flat", []string{"g"}, []string{"f"})
	t.node("Gemm", "fc", []string{"f", "fw", "fb"}, []string{"y"},
		&onnxpb.AttributeProto{Name: proto.String("transB"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(1)})
	t.output("y")
	return t
}

func TestTinyImports(t *testing.T) {
	r, err := onnximport.Decode(validTiny().bytes(t), onnximport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Arch.String(), "in2x6x6 cls3 | conv_o4_k3_arelu_nobn | gap | linear_o3"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestRefusals(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*tiny)
		want   string
		target any
	}{
		{"unsupported op", func(m *tiny) { m.m.Graph.Node[1].OpType = proto.String("Softmax") },
			"node relu: operator Softmax is not supported", new(*onnximport.UnsupportedError)},
		{"custom domain", func(m *tiny) { m.m.Graph.Node[1].Domain = proto.String("com.microsoft") },
			"com.microsoft.Relu is not supported", new(*onnximport.UnsupportedError)},
		{"missing initializer", func(m *tiny) { m.m.Graph.Initializer = m.m.Graph.Initializer[1:] },
			`node conv (Conv): input "w" is not produced`, new(*onnximport.NodeError)},
		{"dangling input", func(m *tiny) { m.m.Graph.Node[2].Input[0] = "nowhere" },
			`node gap (GlobalAveragePool): input "nowhere" is not produced`, nil},
		{"cycle", func(m *tiny) { m.m.Graph.Node[1].Input[0] = "g" },
			"has a cycle", nil},
		{"huge initializer", func(m *tiny) {
			m.m.Graph.Initializer[0].Dims = []int64{1 << 20, 1 << 20, 3, 3}
			m.m.Graph.Initializer[0].FloatData = nil
		}, "initializer \"w\"", onnximport.ErrTooLarge},
		{"short raw data", func(m *tiny) {
			m.m.Graph.Initializer[0].FloatData = nil
			m.m.Graph.Initializer[0].RawData = make([]byte, 10)
		}, "raw data of 10 bytes", nil},
		{"negative dimension", func(m *tiny) { m.m.Graph.Initializer[0].Dims = []int64{4, -2, 3, 3} }, "negative dimension", nil},
		{"wrong conv channels", func(m *tiny) { m.m.Graph.Initializer[0].Dims = []int64{4, 1, 3, 6} },
			"do not fit 2 input channels", nil},
		{"asymmetric pads", func(m *tiny) { m.m.Graph.Node[0].Attribute = []*onnxpb.AttributeProto{ints("pads", 1, 1, 0, 0)} },
			"asymmetric", nil},
		{"huge input", func(m *tiny) {
			m.m.Graph.Input[0].Type.GetTensorType().Shape.Dim[2].Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 1 << 40}
		}, "limit", onnximport.ErrTooLarge},
		{"symbolic input", func(m *tiny) {
			m.m.Graph.Input[0].Type.GetTensorType().Shape.Dim[1].Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "C"}
		}, "--input CxHxW", nil},
		{"output not pooled", func(m *tiny) { m.m.Graph.Output[0].Name = proto.String("r") }, "N x 4x6x6", nil},
		{"two outputs", func(m *tiny) { m.m.Graph.Output = append(m.m.Graph.Output, m.m.Graph.Output[0]) }, "2 outputs", nil},
		{"no nodes", func(m *tiny) { m.m.Graph.Node = nil }, "no graph or no nodes", nil},
		{"duplicate output", func(m *tiny) { m.m.Graph.Node[1].Output[0] = "c" }, "already produced", nil},
		{"training BN", func(m *tiny) {
			m.init("s", []int64{4})
			m.node("BatchNormalization", "bn", []string{"c", "s", "s", "s", "s"}, []string{"n"},
				&onnxpb.AttributeProto{Name: proto.String("training_mode"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(1)})
			m.m.Graph.Node[1].Input[0] = "n"
		}, "eval mode", nil},
		{"no block fits", func(m *tiny) {
			// relu(conv(x)) + conv(x): a residual no block family has.
			m.node("Add", "odd_add", []string{"r", "c"}, []string{"a"})
			m.m.Graph.Node[2].Input[0] = "a"
		}, "no nas block matches", new(*onnximport.GroupError)},
		{"external data", func(m *tiny) {
			m.m.Graph.Initializer[0].DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
		}, "external file", nil},
		{"opset", func(m *tiny) { m.m.OpsetImport[0].Version = proto.Int64(99) }, "opset 99", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := validTiny()
			c.mutate(m)
			_, err := onnximport.Decode(m.bytes(t), onnximport.Options{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			switch target := c.target.(type) {
			case error:
				if !errors.Is(err, target) {
					t.Errorf("%v is not %v", err, target)
				}
			case nil:
			default:
				if !errors.As(err, target) {
					t.Errorf("%v (%T) is not a %T", err, err, target)
				}
			}
		})
	}
	if _, err := onnximport.Decode([]byte("not a model"), onnximport.Options{}); err == nil {
		t.Error("garbage decoded")
	}
}

func TestLimits(t *testing.T) {
	b := validTiny().bytes(t)
	if _, err := onnximport.Decode(b, onnximport.Options{Limits: onnximport.Limits{Nodes: 3}}); !errors.Is(err, onnximport.ErrTooLarge) {
		t.Errorf("5 nodes under a limit of 3: %v", err)
	}
	if _, err := onnximport.Decode(b, onnximport.Options{Limits: onnximport.Limits{TotalValues: 50}}); !errors.Is(err, onnximport.ErrTooLarge) {
		t.Errorf("91 values under a limit of 50: %v", err)
	}
	path := filepath.Join(t.TempDir(), "tiny.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := onnximport.ReadFile(path, onnximport.Options{Limits: onnximport.Limits{FileBytes: 10}}); !errors.Is(err, onnximport.ErrTooLarge) || !strings.Contains(err.Error(), path) {
		t.Errorf("a file over the size limit: %v", err)
	}
	r, err := onnximport.ReadFile(path, onnximport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Arch.Name != "tiny" {
		t.Errorf("name %q, want the file's base name", r.Arch.Name)
	}
}

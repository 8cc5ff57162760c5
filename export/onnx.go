package export

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime/debug"

	"google.golang.org/protobuf/proto"

	"nas/blocks"
	"nas/internal/onnxpb"
	"nas/onnximport"
	"nas/trainer"
)

// ONNX model settings nas writes.
const (
	// ONNXOpset is the default-domain opset of exported models.
	ONNXOpset = 13
	// onnxIRVersion is the IR version of opset 13's ONNX release line that
	// the onnx.proto in internal/onnxpb (ONNX 1.12) defines.
	onnxIRVersion = 8
	// ONNXInput and ONNXOutput name the model's input (N x C x H x W) and
	// output (N x classes); N is the dynamic batch dimension "N".
	ONNXInput  = "input"
	ONNXOutput = "logits"
)

// ONNXOptions shape an exported ONNX model. The zero value is the default.
type ONNXOptions struct {
	// Name is the graph's name ("mobilenet_v2"); "" means "nas".
	Name string
	// FoldBN folds each batch norm that directly follows a convolution
	// into that convolution's weights and bias (computed in float64). By
	// default BN is kept as BatchNormalization nodes, which is exact.
	FoldBN bool
	// Arch is the network's arch string, recorded as the model's doc_string
	// and as its nas.arch metadata.
	Arch string
	// ProducerVersion is recorded as the model's producer_version and as
	// the metadata's nas version; "" means the build's module version.
	ProducerVersion string
	// Norm is the input normalisation the network was trained with
	// (per-channel mean and std of pixel/255), recorded as metadata when
	// set (DatasetMetadata gives a dataset's).
	Norm *trainer.Normalization
	// ClassNames name the outputs, recorded as metadata when set.
	ClassNames []string
}

// SetDataset records in o the normalisation and class names of dataset
// name (DatasetMetadata) for a network of input channels and classes, which
// must be the dataset's: the network is one trained on it.
func (o *ONNXOptions) SetDataset(name string, channels, classes int) error {
	norm, names, _ := DatasetMetadata(name)
	if norm == nil || len(norm.Mean) != channels || len(names) != classes {
		n := 0
		if norm != nil {
			n = len(norm.Mean)
		}
		return fmt.Errorf("the dataset has %d channels and %d classes, the network takes %d channels and has %d classes: name the dataset the network was trained on",
			n, len(names), channels, classes)
	}
	o.Norm, o.ClassNames = norm, names
	return nil
}

// DatasetMetadata returns the normalisation and class names of a dataset
// nas trains on ("fashion-mnist", "mnist", "cifar10"), for ONNXOptions.
func DatasetMetadata(name string) (*trainer.Normalization, []string, bool) {
	var n trainer.Normalization
	var classes []string
	switch name {
	case "fashion-mnist":
		n, classes = trainer.FashionMNISTNorm(), trainer.FashionMNISTClassNames()
	case "mnist":
		n, classes = trainer.MNISTNorm(), trainer.MNISTClassNames()
	case "cifar10":
		n, classes = trainer.CIFAR10Norm(), trainer.CIFAR10ClassNames()
	default:
		return nil, nil, false
	}
	return &n, classes, true
}

// metadata lists the model's metadata_props (the keys of onnximport,
// which reads them back): the arch string, nas's version and VCS commit
// (from the build information, when it has one), the normalisation and
// the class names.
func metadata(o ONNXOptions) ([]*onnxpb.StringStringEntryProto, error) {
	var props []*onnxpb.StringStringEntryProto
	add := func(k, v string) {
		props = append(props, &onnxpb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(v)})
	}
	addJSON := func(k string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("export: metadata %s: %w", k, err)
		}
		add(k, string(b))
		return nil
	}
	if o.Arch != "" {
		add(onnximport.MetaArch, o.Arch)
	}
	version, commit := buildVersion()
	if o.ProducerVersion != "" {
		version = o.ProducerVersion
	}
	add(onnximport.MetaVersion, version)
	if commit != "" {
		add(onnximport.MetaCommit, commit)
	}
	if o.Norm != nil {
		if len(o.Norm.Mean) == 0 || len(o.Norm.Mean) != len(o.Norm.Std) {
			return nil, fmt.Errorf("export: normalisation has %d means and %d stds", len(o.Norm.Mean), len(o.Norm.Std))
		}
		if err := addJSON(onnximport.MetaMean, o.Norm.Mean); err != nil {
			return nil, err
		}
		if err := addJSON(onnximport.MetaStd, o.Norm.Std); err != nil {
			return nil, err
		}
	}
	if len(o.ClassNames) > 0 {
		if err := addJSON(onnximport.MetaClassNames, o.ClassNames); err != nil {
			return nil, err
		}
	}
	return props, nil
}

// buildVersion returns the module version and VCS revision recorded in the
// binary's build information ("(devel)" and "" when there are none); a
// revision with uncommitted changes ends in "+modified".
func buildVersion() (version, commit string) {
	version = "(devel)"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version, ""
	}
	if bi.Main.Version != "" {
		version = bi.Main.Version
	}
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if commit != "" && modified {
		commit += "+modified"
	}
	return version, commit
}

// WriteONNX encodes the ONNX model of g with weights w (see ONNX) to out.
func WriteONNX(out io.Writer, g *blocks.Graph, w Weights, o ONNXOptions) error {
	m, err := ONNX(g, w, o)
	if err != nil {
		return err
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("export: encoding the ONNX model: %w", err)
	}
	_, err = out.Write(b)
	return err
}

// ONNX builds the ONNX model of g with weights w: opset 13, one node (or a
// few) per primitive op, weights as initializers named as in w, a dynamic
// batch dimension, input "input" and output "logits" (N x classes). Dropout
// is left out (inference). An op kind it does not know is an error.
func ONNX(g *blocks.Graph, w Weights, o ONNXOptions) (*onnxpb.ModelProto, error) {
	if err := w.Check(g); err != nil {
		return nil, err
	}
	if g.Output == g.Input {
		return nil, fmt.Errorf("export: the graph has no ops")
	}
	e := &onnxWriter{g: g, w: w, names: make([]string, len(g.Shapes)), rank: make([]int, len(g.Shapes)), gp: &onnxpb.GraphProto{}}
	e.names[g.Input] = ONNXInput
	e.rank[g.Input] = 4
	if o.FoldBN {
		e.folded = foldableBNs(g)
	}
	for i := range g.Ops {
		if err := e.op(i); err != nil {
			return nil, err
		}
	}
	e.finish()
	in := g.Shapes[g.Input]
	outShape := g.Shapes[g.Output]
	e.gp.Name = proto.String(o.Name)
	if o.Name == "" {
		e.gp.Name = proto.String("nas")
	}
	e.gp.Input = []*onnxpb.ValueInfoProto{valueInfo(ONNXInput, in.C, in.H, in.W)}
	e.gp.Output = []*onnxpb.ValueInfoProto{valueInfo(ONNXOutput, outShape.C*outShape.H*outShape.W)}
	if n := len(o.ClassNames); n > 0 && n != outShape.C*outShape.H*outShape.W {
		return nil, fmt.Errorf("export: %d class names for a network of %d outputs", n, outShape.C*outShape.H*outShape.W)
	}
	props, err := metadata(o)
	if err != nil {
		return nil, err
	}
	return &onnxpb.ModelProto{
		MetadataProps:   props,
		IrVersion:       proto.Int64(onnxIRVersion),
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(ONNXOpset)}},
		ProducerName:    proto.String("nas"),
		ProducerVersion: proto.String(o.ProducerVersion),
		DocString:       proto.String(o.Arch),
		Graph:           e.gp,
	}, nil
}

// onnxWriter turns ops into nodes. Values are N x C x H x W (rank 4) except
// the outputs of linear layers, which are N x Units (rank 2) until an op
// that needs rank 4 reshapes them.
type onnxWriter struct {
	g      *blocks.Graph
	w      Weights
	gp     *onnxpb.GraphProto
	names  []string // ONNX tensor name of each graph value
	rank   []int
	folded map[int]bool // BN ops folded into the conv before them
	consts int
}

// foldableBNs finds the BN ops whose input is a convolution's output that
// nothing else reads.
func foldableBNs(g *blocks.Graph) map[int]bool {
	producer := map[blocks.Value]int{}
	readers := map[blocks.Value]int{}
	for i, op := range g.Ops {
		producer[op.Out] = i
		for _, v := range op.In {
			readers[v]++
		}
	}
	out := map[int]bool{}
	for i, op := range g.Ops {
		if op.Kind != blocks.OpBN {
			continue
		}
		p, ok := producer[op.In[0]]
		if ok && g.Ops[p].Kind == blocks.OpConv && readers[op.In[0]] == 1 && op.In[0] != g.Output {
			out[i] = true
		}
	}
	return out
}

func (e *onnxWriter) node(opType string, in []string, out string, attrs ...*onnxpb.AttributeProto) {
	e.gp.Node = append(e.gp.Node, &onnxpb.NodeProto{
		OpType:    proto.String(opType),
		Name:      proto.String(fmt.Sprintf("%s_%d", opType, len(e.gp.Node))),
		Input:     in,
		Output:    []string{out},
		Attribute: attrs,
	})
}

// tmp returns a fresh name for an intermediate tensor.
func (e *onnxWriter) tmp(base string) string {
	e.consts++
	return fmt.Sprintf("%s_%d", base, e.consts)
}

func (e *onnxWriter) initFloat(name string, dims []int, v []float32) string {
	raw := make([]byte, 0, 4*len(v))
	for _, x := range v {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(x))
	}
	e.gp.Initializer = append(e.gp.Initializer, &onnxpb.TensorProto{
		Name: proto.String(name), Dims: int64s(dims), DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), RawData: raw,
	})
	return name
}

func (e *onnxWriter) initInt64(base string, v ...int64) string {
	name := e.tmp(base)
	raw := make([]byte, 0, 8*len(v))
	for _, x := range v {
		raw = binary.LittleEndian.AppendUint64(raw, uint64(x))
	}
	e.gp.Initializer = append(e.gp.Initializer, &onnxpb.TensorProto{
		Name: proto.String(name), Dims: []int64{int64(len(v))}, DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)), RawData: raw,
	})
	return name
}

// scalar adds a float scalar (rank 0) initializer.
func (e *onnxWriter) scalar(base string, x float32) string {
	name := e.tmp(base)
	e.gp.Initializer = append(e.gp.Initializer, &onnxpb.TensorProto{
		Name: proto.String(name), DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)),
		RawData: binary.LittleEndian.AppendUint32(nil, math.Float32bits(x)),
	})
	return name
}

// in4 returns the name of value v as a rank-4 tensor, reshaping a rank-2
// one (N x C) to N x C x 1 x 1.
func (e *onnxWriter) in4(v blocks.Value) string {
	if e.rank[v] == 4 {
		return e.names[v]
	}
	s := e.g.Shapes[v]
	out := e.tmp(e.names[v] + "_4d")
	e.node("Reshape", []string{e.names[v], e.initInt64("shape", 0, int64(s.C), int64(s.H), int64(s.W))}, out)
	e.names[v], e.rank[v] = out, 4
	return out
}

func (e *onnxWriter) op(i int) error {
	op := e.g.Ops[i]
	out := fmt.Sprintf("v%d", op.Out)
	x := op.In[0]
	rank := 4
	switch op.Kind {
	case blocks.OpConv:
		a := op.Conv
		in := []string{e.in4(x), op.Name + ".weight"}
		wShape := []int{a.Out, e.g.Shapes[x].C / max(a.Groups, 1), a.KH, a.KW}
		if bn := e.foldedBN(i); bn >= 0 {
			weight, bias := e.fold(op, e.g.Ops[bn])
			in = []string{in[0], e.initFloat(op.Name+".weight", wShape, weight), e.initFloat(op.Name+".bias", []int{a.Out}, bias)}
		} else {
			e.initFloat(op.Name+".weight", wShape, e.w[op.Name+".weight"])
			if a.Bias {
				in = append(in, e.initFloat(op.Name+".bias", []int{a.Out}, e.w[op.Name+".bias"]))
			}
		}
		e.node("Conv", in, out,
			intsAttr("kernel_shape", a.KH, a.KW), intsAttr("strides", a.SH, a.SW),
			intsAttr("pads", a.PH, a.PW, a.PH, a.PW), intsAttr("dilations", max(a.DH, 1), max(a.DW, 1)),
			intAttr("group", max(a.Groups, 1)))
	case blocks.OpBN:
		if e.folded[i] {
			e.names[op.Out], e.rank[op.Out] = e.names[x], e.rank[x]
			return nil
		}
		c := e.g.Shapes[x].C
		in := []string{e.names[x]}
		for _, s := range []string{".weight", ".bias", ".running_mean", ".running_var"} {
			in = append(in, e.initFloat(op.Name+s, []int{c}, e.w[op.Name+s]))
		}
		e.node("BatchNormalization", in, out, floatAttr("epsilon", op.Eps))
		rank = e.rank[x]
	case blocks.OpAct:
		rank = e.rank[x]
		if err := e.act(op, e.names[x], out, rank); err != nil {
			return err
		}
	case blocks.OpMaxPool, blocks.OpAvgPool:
		p := op.Pool
		attrs := []*onnxpb.AttributeProto{intsAttr("kernel_shape", p.K, p.K), intsAttr("strides", p.S, p.S),
			intsAttr("pads", p.P, p.P, p.P, p.P), intAttr("ceil_mode", b2i(p.Ceil))}
		typ := "MaxPool"
		if op.Kind == blocks.OpAvgPool {
			typ = "AveragePool"
			attrs = append(attrs, intAttr("count_include_pad", 1))
		}
		e.node(typ, []string{e.in4(x)}, out, attrs...)
	case blocks.OpGAP:
		e.node("GlobalAveragePool", []string{e.in4(x)}, out)
	case blocks.OpLinear:
		in := e.names[x]
		if e.rank[x] == 4 {
			in = e.tmp(in + "_flat")
			e.node("Flatten", []string{e.names[x]}, in, intAttr("axis", 1))
		}
		s := e.g.Shapes[x]
		args := []string{in, e.initFloat(op.Name+".weight", []int{op.Units, s.C * s.H * s.W}, e.w[op.Name+".weight"])}
		if op.Bias {
			args = append(args, e.initFloat(op.Name+".bias", []int{op.Units}, e.w[op.Name+".bias"]))
		}
		e.node("Gemm", args, out, intAttr("transB", 1))
		rank = 2
	case blocks.OpDropout:
		// Inference: dropout is the identity.
		e.names[op.Out], e.rank[op.Out] = e.names[x], e.rank[x]
		return nil
	case blocks.OpShuffle:
		s := e.g.Shapes[x]
		gr := int64(op.Groups)
		split, swapped := e.tmp(out+"_split"), e.tmp(out+"_swapped")
		e.node("Reshape", []string{e.in4(x), e.initInt64("shape", 0, gr, int64(s.C)/gr, int64(s.H*s.W))}, split)
		e.node("Transpose", []string{split}, swapped, intsAttr("perm", 0, 2, 1, 3))
		e.node("Reshape", []string{swapped, e.initInt64("shape", 0, int64(s.C), int64(s.H), int64(s.W))}, out)
	case blocks.OpSlice:
		rank = e.rank[x]
		e.node("Slice", []string{e.names[x], e.initInt64("starts", int64(op.Start)), e.initInt64("ends", int64(op.End)), e.initInt64("axes", 1)}, out)
	case blocks.OpConcat, blocks.OpAdd:
		in, r := e.sameRank(op.In)
		rank = r
		if op.Kind == blocks.OpAdd {
			e.node("Add", in, out)
		} else {
			e.node("Concat", in, out, intAttr("axis", 1))
		}
	case blocks.OpMul:
		e.node("Mul", []string{e.in4(op.In[0]), e.in4(op.In[1])}, out)
	default:
		return fmt.Errorf("export: op %d (%s %q) has no ONNX form yet", i, op.Kind, op.Name)
	}
	e.names[op.Out], e.rank[op.Out] = out, rank
	return nil
}

// sameRank returns the names of vs, all rank 2 if they all are, else all
// rank 4.
func (e *onnxWriter) sameRank(vs []blocks.Value) ([]string, int) {
	r := 2
	for _, v := range vs {
		if e.rank[v] == 4 {
			r = 4
		}
	}
	names := make([]string, len(vs))
	for i, v := range vs {
		if r == 4 {
			names[i] = e.in4(v)
		} else {
			names[i] = e.names[v]
		}
	}
	return names, r
}

func (e *onnxWriter) act(op blocks.Op, x, out string, rank int) error {
	switch op.Act {
	case blocks.ActReLU:
		e.node("Relu", []string{x}, out)
	case blocks.ActReLU6:
		e.node("Clip", []string{x, e.scalar("zero", 0), e.scalar("six", 6)}, out)
	case blocks.ActSigmoid:
		e.node("Sigmoid", []string{x}, out)
	case blocks.ActHSigmoid:
		e.node("HardSigmoid", []string{x}, out, hardSigmoidAttrs()...)
	case blocks.ActHSwish:
		gate := e.tmp(out + "_hsigmoid")
		e.node("HardSigmoid", []string{x}, gate, hardSigmoidAttrs()...)
		e.node("Mul", []string{x, gate}, out)
	case blocks.ActSwish:
		gate := e.tmp(out + "_sigmoid")
		e.node("Sigmoid", []string{x}, gate)
		e.node("Mul", []string{x, gate}, out)
	case blocks.ActPReLU:
		c := len(e.w[op.Name+".weight"])
		dims := []int{c, 1, 1} // broadcast over H x W of N x C x H x W
		if rank == 2 {
			dims = []int{c}
		}
		e.node("PRelu", []string{x, e.initFloat(op.Name+".weight", dims, e.w[op.Name+".weight"])}, out)
	default:
		return fmt.Errorf("export: %s: activation %q has no ONNX form", op.Name, op.Act)
	}
	return nil
}

// hardSigmoidAttrs make ONNX's max(0, min(1, alpha*x + beta)) equal
// ReLU6(x+3)/6.
func hardSigmoidAttrs() []*onnxpb.AttributeProto {
	return []*onnxpb.AttributeProto{floatAttr("alpha", 1.0/6), floatAttr("beta", 0.5)}
}

// foldedBN returns the index of the BN op folded into conv op i, or -1.
func (e *onnxWriter) foldedBN(i int) int {
	for j := i + 1; j < len(e.g.Ops); j++ {
		if e.folded[j] && e.g.Ops[j].In[0] == e.g.Ops[i].Out {
			return j
		}
	}
	return -1
}

// fold returns conv weights and bias with the batch norm bn applied:
// w' = w * s, b' = (b - mean) * s + shift, s = scale / sqrt(var + eps).
func (e *onnxWriter) fold(conv, bn blocks.Op) (weight, bias []float32) {
	w := e.w[conv.Name+".weight"]
	scale, shift := e.w[bn.Name+".weight"], e.w[bn.Name+".bias"]
	mean, variance := e.w[bn.Name+".running_mean"], e.w[bn.Name+".running_var"]
	out := conv.Conv.Out
	per := len(w) / out
	weight = make([]float32, len(w))
	bias = make([]float32, out)
	for c := 0; c < out; c++ {
		s := float64(scale[c]) / math.Sqrt(float64(variance[c])+bn.Eps)
		for k := c * per; k < (c+1)*per; k++ {
			weight[k] = float32(float64(w[k]) * s)
		}
		b := 0.0
		if conv.Conv.Bias {
			b = float64(e.w[conv.Name+".bias"][c])
		}
		bias[c] = float32((b-float64(mean[c]))*s + float64(shift[c]))
	}
	return weight, bias
}

// finish names the network's output "logits", flattening it to N x classes.
func (e *onnxWriter) finish() {
	v := e.g.Output
	if e.rank[v] == 4 {
		e.node("Flatten", []string{e.names[v]}, ONNXOutput, intAttr("axis", 1))
		return
	}
	// A rank-2 output comes from a node of this graph; rename its output
	// (nothing reads the last value), or copy it when it is an alias.
	last := e.gp.Node[len(e.gp.Node)-1]
	if last.Output[0] == e.names[v] {
		last.Output[0] = ONNXOutput
		return
	}
	e.node("Identity", []string{e.names[v]}, ONNXOutput)
}

func valueInfo(name string, dims ...int) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{
		{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}},
	}}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
	}
	return &onnxpb.ValueInfoProto{
		Name: proto.String(name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: shape,
		}}},
	}
}

func intAttr(name string, v int) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(int64(v))}
}

func intsAttr(name string, v ...int) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: int64s(v)}
}

func floatAttr(name string, v float64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(float32(v))}
}

func int64s(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

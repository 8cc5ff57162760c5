package onnximport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"google.golang.org/protobuf/proto"

	"nas/internal/onnxpb"
)

// Limits bound what a model may make the importer allocate. Zero fields
// take the defaults of DefaultLimits.
type Limits struct {
	FileBytes    int64 // size of the .onnx file
	Nodes        int   // nodes of the graph
	TensorValues int64 // values of one initializer or constant
	TotalValues  int64 // values of all initializers and constants together
	Dim          int   // any channel count, height or width
}

// DefaultLimits are generous for the lightweight networks nas deals with
// (a 224x224 MobileNet has about 150 nodes and 3.5M weights).
var DefaultLimits = Limits{
	FileBytes:    1 << 30,
	Nodes:        100_000,
	TensorValues: 1 << 27,
	TotalValues:  1 << 28,
	Dim:          1 << 16,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.FileBytes > 0 {
		d.FileBytes = l.FileBytes
	}
	if l.Nodes > 0 {
		d.Nodes = l.Nodes
	}
	if l.TensorValues > 0 {
		d.TensorValues = l.TensorValues
	}
	if l.TotalValues > 0 {
		d.TotalValues = l.TotalValues
	}
	if l.Dim > 0 {
		d.Dim = l.Dim
	}
	return d
}

// ErrTooLarge is a model beyond one of the Limits.
var ErrTooLarge = errors.New("onnx model too large")

// readModelFile reads path after checking its size against the limit.
func readModelFile(path string, lim Limits) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not an ONNX model", path)
	}
	if st.Size() > lim.FileBytes {
		return nil, fmt.Errorf("%s: %d bytes, more than the limit of %d: %w", path, st.Size(), lim.FileBytes, ErrTooLarge)
	}
	b, err := io.ReadAll(io.LimitReader(f, lim.FileBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > lim.FileBytes {
		return nil, fmt.Errorf("%s: more than the limit of %d bytes: %w", path, lim.FileBytes, ErrTooLarge)
	}
	return b, nil
}

// decodeModel parses the protobuf and checks the parts the importer reads
// before anything is sized from them.
func decodeModel(data []byte, lim Limits) (*onnxpb.ModelProto, error) {
	if int64(len(data)) > lim.FileBytes {
		return nil, fmt.Errorf("%d bytes, more than the limit of %d: %w", len(data), lim.FileBytes, ErrTooLarge)
	}
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("not an ONNX model (protobuf: %v)", err)
	}
	g := m.GetGraph()
	if g == nil || len(g.GetNode()) == 0 {
		return nil, errors.New("the ONNX model has no graph or no nodes (is it an ONNX ModelProto?)")
	}
	if n := len(g.GetNode()); n > lim.Nodes {
		return nil, fmt.Errorf("%d nodes, more than the limit of %d: %w", n, lim.Nodes, ErrTooLarge)
	}
	for _, op := range m.GetOpsetImport() {
		if d := op.GetDomain(); d != "" && d != "ai.onnx" {
			continue
		}
		if v := op.GetVersion(); v < 7 || v > 23 {
			return nil, fmt.Errorf("opset %d of the default domain is not supported (7 to 23 are; export with opset_version=13)", v)
		}
	}
	return m, nil
}

// constant is a tensor whose value is known at import time: an
// initializer, a Constant node, or shape arithmetic on them.
type constant struct {
	dims []int64
	f    []float32 // float data
	i    []int64   // integer data (shapes, axes, indices)
	int  bool
}

func (c *constant) len() int {
	if c.int {
		return len(c.i)
	}
	return len(c.f)
}

// numel returns the number of values of dims, or an error when a dimension
// is negative or the product passes max.
func numel(dims []int64, max int64) (int64, error) {
	n := int64(1)
	for _, d := range dims {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d in %v", d, dims)
		}
		if d != 0 && n > max/d {
			return 0, fmt.Errorf("dimensions %v hold more than %d values: %w", dims, max, ErrTooLarge)
		}
		n *= d
	}
	return n, nil
}

// tensorConstant decodes a TensorProto of float, double (narrowed) or
// integer type, checking its size against the limits before allocating.
// budget is what remains of Limits.TotalValues; it is decreased.
func tensorConstant(t *onnxpb.TensorProto, lim Limits, budget *int64) (*constant, error) {
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL || len(t.GetExternalData()) > 0 {
		return nil, errors.New("its data is in an external file: save the model with its weights inside (onnx.save(model, path, save_as_external_data=False))")
	}
	if t.GetSegment() != nil {
		return nil, errors.New("segmented tensors are not supported")
	}
	if len(t.GetDims()) > 8 {
		return nil, fmt.Errorf("rank %d: at most 8 dimensions", len(t.GetDims()))
	}
	n, err := numel(t.GetDims(), lim.TensorValues)
	if err != nil {
		return nil, err
	}
	if n > *budget {
		return nil, fmt.Errorf("%d values take the model past the limit of %d values in all: %w", n, lim.TotalValues, ErrTooLarge)
	}
	*budget -= n
	c := &constant{dims: append([]int64(nil), t.GetDims()...)}
	raw := t.GetRawData()
	dt := onnxpb.TensorProto_DataType(t.GetDataType())
	count := func(have, size int) error {
		if raw != nil {
			if int64(len(raw)) != n*int64(size) {
				return fmt.Errorf("raw data of %d bytes for dims %v (%d values of %d bytes)", len(raw), c.dims, n, size)
			}
			return nil
		}
		if int64(have) != n {
			return fmt.Errorf("%d values for dims %v (%d)", have, c.dims, n)
		}
		return nil
	}
	switch dt {
	case onnxpb.TensorProto_FLOAT:
		if err := count(len(t.GetFloatData()), 4); err != nil {
			return nil, err
		}
		c.f = make([]float32, n)
		if raw != nil {
			for i := range c.f {
				c.f[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		} else {
			copy(c.f, t.GetFloatData())
		}
	case onnxpb.TensorProto_DOUBLE:
		if err := count(len(t.GetDoubleData()), 8); err != nil {
			return nil, err
		}
		c.f = make([]float32, n)
		for i := range c.f {
			if raw != nil {
				c.f[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
			} else {
				c.f[i] = float32(t.GetDoubleData()[i])
			}
		}
	case onnxpb.TensorProto_INT64:
		if err := count(len(t.GetInt64Data()), 8); err != nil {
			return nil, err
		}
		c.int, c.i = true, make([]int64, n)
		if raw != nil {
			for i := range c.i {
				c.i[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		} else {
			copy(c.i, t.GetInt64Data())
		}
	case onnxpb.TensorProto_INT32:
		if err := count(len(t.GetInt32Data()), 4); err != nil {
			return nil, err
		}
		c.int, c.i = true, make([]int64, n)
		for i := range c.i {
			if raw != nil {
				c.i[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
			} else {
				c.i[i] = int64(t.GetInt32Data()[i])
			}
		}
	default:
		return nil, fmt.Errorf("data type %v is not supported (float, double, int32 and int64 are)", dt)
	}
	for _, x := range c.f {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, errors.New("it holds NaN or infinite values")
		}
	}
	return c, nil
}

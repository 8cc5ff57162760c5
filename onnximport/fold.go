package onnximport

import (
	"slices"

	"nas/internal/onnxpb"
)

// constantFold evaluates the nodes that compute constants: Constant, Shape
// of a run-time tensor, and the integer shape arithmetic exporters emit
// around Reshape and Slice (torch.onnx writes x.chunk(2, dim=1) as
// Shape, Gather, Add, Div, Mul, Slice). It reports whether the node was
// one of those.
func (c *nodeCtx) constantFold() (bool, error) {
	op := c.n.GetOpType()
	switch op {
	case "Constant":
		k, err := c.constantAttr()
		if err != nil {
			return true, err
		}
		return true, c.set(0, value{c: k})
	case "Shape":
		v, err := c.in(0)
		if err != nil {
			return true, err
		}
		if v.t == nil || v.t.view != plain {
			return true, c.errf("the shape of a constant or of a channel shuffle's inner reshape is not supported")
		}
		d := c.l.dims(v.t)
		start, end := c.intAttr("start", 0), c.intAttr("end", int64(len(d)))
		if start < 0 {
			start += int64(len(d))
		}
		if end < 0 {
			end += int64(len(d))
		}
		start, end = max(0, min(start, int64(len(d)))), max(0, min(end, int64(len(d))))
		d = d[start:max(start, end)]
		return true, c.set(0, value{c: &constant{dims: []int64{int64(len(d))}, i: d, int: true}})
	case "Gather", "Unsqueeze", "Squeeze", "Concat", "Add", "Sub", "Mul", "Div", "Cast", "Slice", "Identity", "Dropout", "Reshape":
	default:
		return false, nil
	}
	var ins []*constant
	for i, name := range c.n.GetInput() {
		if name == "" {
			ins = append(ins, nil)
			continue
		}
		v, err := c.in(i)
		if err != nil {
			return true, err
		}
		if v.c == nil {
			return false, nil
		}
		ins = append(ins, v.c)
	}
	if len(ins) == 0 || ins[0] == nil {
		return false, nil
	}
	k, err := c.fold(op, ins)
	if err != nil {
		return true, err
	}
	return true, c.set(0, value{c: k})
}

func (c *nodeCtx) constantAttr() (*constant, error) {
	for _, a := range c.n.GetAttribute() {
		switch a.GetName() {
		case "value":
			k, err := tensorConstant(a.GetT(), c.l.lim, &c.l.budget)
			if err != nil {
				return nil, c.errf("value: %v", err)
			}
			return k, nil
		case "value_float":
			return &constant{f: []float32{a.GetF()}}, nil
		case "value_floats":
			return &constant{dims: []int64{int64(len(a.GetFloats()))}, f: slices.Clone(a.GetFloats())}, nil
		case "value_int":
			return &constant{i: []int64{a.GetI()}, int: true}, nil
		case "value_ints":
			return &constant{dims: []int64{int64(len(a.GetInts()))}, i: slices.Clone(a.GetInts()), int: true}, nil
		}
	}
	return nil, c.errf("no value attribute nas can read (value, value_float(s), value_int(s))")
}

// fold evaluates op on small constants. Only what shape arithmetic needs:
// one-dimensional integer (and, for Identity, any) tensors.
func (c *nodeCtx) fold(op string, ins []*constant) (*constant, error) {
	x := ins[0]
	switch op {
	case "Identity", "Dropout":
		return x, nil
	case "Cast":
		to := onnxpb.TensorProto_DataType(c.intAttr("to", 0))
		switch to {
		case onnxpb.TensorProto_INT64, onnxpb.TensorProto_INT32:
			if x.int {
				return x, nil
			}
			out := &constant{dims: x.dims, int: true, i: make([]int64, len(x.f))}
			for i, f := range x.f {
				out.i[i] = int64(f)
			}
			return out, nil
		case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_DOUBLE:
			if !x.int {
				return x, nil
			}
			out := &constant{dims: x.dims, f: make([]float32, len(x.i))}
			for i, v := range x.i {
				out.f[i] = float32(v)
			}
			return out, nil
		}
		return nil, c.errf("cast to %v is not supported", to)
	case "Reshape":
		if len(ins) < 2 || ins[1] == nil || !ins[1].int {
			return nil, c.errf("reshapes a constant by a non-constant shape")
		}
		shape := slices.Clone(ins[1].i)
		infer, prod := -1, int64(1)
		for i, d := range shape {
			switch {
			case d == -1 && infer < 0:
				infer = i
			case d == 0 && i < len(x.dims):
				shape[i] = x.dims[i]
				prod *= shape[i]
			case d < 1:
				return nil, c.errf("shape %v is out of range", ins[1].i)
			default:
				prod *= d
			}
		}
		n := int64(x.len())
		if infer >= 0 && prod > 0 && n%prod == 0 {
			shape[infer] = n / prod
			prod = n
		}
		if prod != n {
			return nil, c.errf("shape %v does not hold %d values", ins[1].i, n)
		}
		out := *x
		out.dims = shape
		return &out, nil
	}
	for _, k := range ins {
		if k != nil && (!k.int || len(k.dims) > 1) {
			return nil, c.errf("constant arithmetic on float or multi-dimensional tensors is not supported (only integer shape arithmetic)")
		}
	}
	switch op {
	case "Gather":
		if len(ins) < 2 || ins[1] == nil {
			return nil, c.errf("indices are missing")
		}
		if c.intAttr("axis", 0) != 0 {
			return nil, c.errf("axis %d: constant Gather on axis 0 only", c.intAttr("axis", 0))
		}
		out := &constant{dims: ins[1].dims, int: true}
		for _, idx := range ins[1].i {
			if idx < 0 {
				idx += int64(len(x.i))
			}
			if idx < 0 || idx >= int64(len(x.i)) {
				return nil, c.errf("index %d out of range for %d values", idx, len(x.i))
			}
			out.i = append(out.i, x.i[idx])
		}
		return out, nil
	case "Unsqueeze", "Squeeze":
		// A scalar becomes one value or back; the values stay.
		n := int64(len(x.i))
		out := &constant{i: x.i, int: true}
		if op == "Unsqueeze" {
			out.dims = []int64{n}
		} else if n != 1 {
			out.dims = []int64{n}
		}
		return out, nil
	case "Concat":
		out := &constant{int: true}
		for _, k := range ins {
			if k == nil {
				continue
			}
			out.i = append(out.i, k.i...)
			if len(out.i) > 64 {
				return nil, c.errf("constant concat of more than 64 values")
			}
		}
		out.dims = []int64{int64(len(out.i))}
		return out, nil
	case "Add", "Sub", "Mul", "Div":
		if len(ins) != 2 || ins[1] == nil {
			return nil, c.errf("needs two inputs")
		}
		a, b := ins[0], ins[1]
		n := max(len(a.i), len(b.i))
		if (len(a.i) != n && len(a.i) != 1) || (len(b.i) != n && len(b.i) != 1) {
			return nil, c.errf("operands of %d and %d values do not broadcast", len(a.i), len(b.i))
		}
		out := &constant{dims: a.dims, int: true, i: make([]int64, n)}
		if len(b.i) > len(a.i) {
			out.dims = b.dims
		}
		for i := range n {
			p, q := a.i[min(i, len(a.i)-1)], b.i[min(i, len(b.i)-1)]
			switch op {
			case "Add":
				out.i[i] = p + q
			case "Sub":
				out.i[i] = p - q
			case "Mul":
				out.i[i] = p * q
			case "Div":
				if q == 0 {
					return nil, c.errf("division by zero")
				}
				out.i[i] = p / q
			}
		}
		return out, nil
	case "Slice":
		if len(ins) < 3 || ins[1] == nil || ins[2] == nil || len(ins[1].i) != 1 || len(ins[2].i) != 1 {
			return nil, c.errf("constant Slice needs one start and one end")
		}
		if len(ins) > 4 && ins[4] != nil && (len(ins[4].i) != 1 || ins[4].i[0] != 1) {
			return nil, c.errf("constant Slice with a step other than 1")
		}
		n := int64(len(x.i))
		clamp := func(v int64) int64 {
			if v < 0 {
				v += n
			}
			return max(0, min(v, n))
		}
		s, e := clamp(ins[1].i[0]), clamp(ins[2].i[0])
		e = max(s, e)
		return &constant{dims: []int64{e - s}, i: slices.Clone(x.i[s:e]), int: true}, nil
	}
	return nil, c.errf("not a constant operator")
}

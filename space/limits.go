package space

import (
	"fmt"
	"math"
	"reflect"

	"nas/blocks"
)

// Limits bounds the networks the arch and space parsers accept, so that a
// short arch string or file cannot ask for a network that takes all the
// memory of the machine before anything checks it. The plain functions
// (ParseArch, ParseArchJSON, LoadArch, ParseSpaceJSON, ...) use
// DefaultLimits; a program that really needs a larger network passes its
// own Limits to the *With variants (ParseArchWith, ParseArchJSONWith,
// Arch.CheckLimits, ParseSpaceJSONWith). A zero field means its default, so
// Limits{Channels: 1 << 18} raises only the channels.
//
// Params and MACs are computed analytically (Arch.Cost) and refused before
// any weight or activation is allocated.
type Limits struct {
	Channels  int   // every channel count: the input's, each layer field's (out, mid, squeeze, ...) and every activation's
	Kernel    int   // kernel sizes, paddings and receptive-field limits
	Stride    int   // strides
	Groups    int   // groups, branches and ghost ratios
	Expansion int   // the eN of an arch string, the expansion ratios of a space
	Layers    int   // layers of one arch, after repeats
	Spatial   int   // height and width of the input and of every activation
	Classes   int   // classes
	Params    int64 // parameters of the whole network
	MACs      int64 // multiply-accumulates of one forward pass of one sample
}

// DefaultLimits are generous for the lightweight CNNs nas searches: about
// 40 times MobileNetV2's widest layer, ImageNet-21k's classes, 4096x4096
// images, and a network of 250 million parameters (1 GB of float32
// weights) and 10^12 MACs per sample.
func DefaultLimits() Limits {
	return Limits{
		Channels:  1 << 16,
		Kernel:    31,
		Stride:    64,
		Groups:    1 << 16,
		Expansion: 64,
		Layers:    10000,
		Spatial:   4096,
		Classes:   1 << 16,
		Params:    250_000_000,
		MACs:      1_000_000_000_000,
	}
}

// withDefaults fills the zero fields of l with DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	v, dv := reflect.ValueOf(&l).Elem(), reflect.ValueOf(d)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			v.Field(i).Set(dv.Field(i))
		}
	}
	return l
}

// LimitError is a value above one of the Limits: what it is, the value,
// the limit and the name of the Limits field that raises it.
type LimitError struct {
	What  string // "channels of layer 3 (conv) output", "out", "input height"
	Value int64
	Limit int64
	Field string // the Limits field: "Channels", "MACs", ...
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s %d is above the limit of %d: make it smaller, or, if the network really needs it, raise space.Limits.%s (docs/arch-format.md, Limits)", e.What, e.Value, e.Limit, e.Field)
}

// fieldLimit is the limit that bounds an int field of a block spec, by its
// JSON name: kernels and paddings by Kernel, strides by Stride, groups and
// the like by Groups, every other count (out, mid, squeeze, e1, se, ...) by
// Channels. Dropout's percentage has its own range check in blocks.
func (l Limits) fieldLimit(jsonName string) (int64, string) {
	switch jsonName {
	case "kernel", "pad", "rlim":
		return int64(l.Kernel), "Kernel"
	case "stride":
		return int64(l.Stride), "Stride"
	case "groups", "branches", "ratio":
		return int64(l.Groups), "Groups"
	case "p":
		return 100, "" // a percentage, range-checked by the block
	}
	return int64(l.Channels), "Channels"
}

// checkField checks one int (or []int) field of a spec; what names it in
// an error.
func (l Limits) checkField(f specField, fv reflect.Value, what string) error {
	limit, name := l.fieldLimit(f.json)
	if name == "" {
		return nil
	}
	check := func(v int64) error {
		if v > limit {
			return &LimitError{What: what, Value: v, Limit: limit, Field: name}
		}
		return nil
	}
	switch f.kind {
	case kindInt:
		return check(fv.Int())
	case kindInts:
		for i := range fv.Len() {
			if err := check(fv.Index(i).Int()); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkSpec checks every int field of one layer against l. what gives the
// error's name of a field from its specField (token or JSON path).
func (l Limits) checkSpec(s blocks.Spec, what func(specField) string) error {
	fields, err := specFields(s)
	if err != nil {
		return err
	}
	v := reflect.ValueOf(s).Elem()
	for _, f := range fields {
		if err := l.checkField(f, v.FieldByIndex(f.index), what(f)); err != nil {
			return err
		}
	}
	return nil
}

// checkInput checks the sample shape and the classes.
func (l Limits) checkInput(in blocks.Shape, classes int) error {
	switch {
	case in.C > l.Channels:
		return &LimitError{What: "input channels", Value: int64(in.C), Limit: int64(l.Channels), Field: "Channels"}
	case in.H > l.Spatial:
		return &LimitError{What: "input height", Value: int64(in.H), Limit: int64(l.Spatial), Field: "Spatial"}
	case in.W > l.Spatial:
		return &LimitError{What: "input width", Value: int64(in.W), Limit: int64(l.Spatial), Field: "Spatial"}
	case classes > l.Classes:
		return &LimitError{What: "classes", Value: int64(classes), Limit: int64(l.Classes), Field: "Classes"}
	}
	return nil
}

// checkActivation checks the shape a layer outputs.
func (l Limits) checkActivation(i int, typ string, out blocks.Shape) error {
	what := fmt.Sprintf("layer %d (%s) output", i, typ)
	switch {
	case out.C > l.Channels:
		return &LimitError{What: what + " channels", Value: int64(out.C), Limit: int64(l.Channels), Field: "Channels"}
	case out.H > l.Spatial:
		return &LimitError{What: what + " height", Value: int64(out.H), Limit: int64(l.Spatial), Field: "Spatial"}
	case out.W > l.Spatial:
		return &LimitError{What: what + " width", Value: int64(out.W), Limit: int64(l.Spatial), Field: "Spatial"}
	}
	return nil
}

// CheckLimits checks a against l (zero fields meaning DefaultLimits): the
// input, the classes, the number of layers, every int field of every layer,
// every activation's shape, and the params and MACs, in that order, so
// that the cost is computed only for a network whose sizes are bounded.
// It also checks that every layer fits its input (as Arch.Shapes does).
// The error is a *LimitError, or a *LayerError naming the layer.
func (a *Arch) CheckLimits(l Limits) error {
	l = l.withDefaults()
	if err := l.checkInput(a.Input, a.Classes); err != nil {
		return err
	}
	if len(a.Layers) > l.Layers {
		return &LimitError{What: "number of layers", Value: int64(len(a.Layers)), Limit: int64(l.Layers), Field: "Layers"}
	}
	for i, s := range a.Layers {
		err := l.checkSpec(s, func(f specField) string { return fmt.Sprintf("layer %d (%s) field %s", i, s.Type(), f.json) })
		if err != nil {
			return err
		}
	}
	return l.checkCost(a)
}

// checkCost walks the layers' shapes, checking each activation, and sums
// the cost, refusing it as soon as it passes a limit. Each layer's cost is
// first bounded in floating point, so that limits raised far beyond the
// defaults cannot make the int64 sums wrap around.
func (l Limits) checkCost(a *Arch) error {
	if a.Input.C < 1 || a.Input.H < 1 || a.Input.W < 1 {
		return fmt.Errorf("input shape %v: every dimension must be at least 1", a.Input)
	}
	var total blocks.Cost
	in := a.Input
	for i, s := range a.Layers {
		out, err := s.OutShape(in)
		if err != nil {
			return &LayerError{Index: i, Type: s.Type(), In: in, Err: err}
		}
		if err := l.checkActivation(i, s.Type(), out); err != nil {
			return err
		}
		if bound := costBound(s, in, out); bound > float64(math.MaxInt64)/4 {
			return &LimitError{What: fmt.Sprintf("layer %d (%s) MACs, bounded by its sizes at", i, s.Type()), Value: int64(min(bound, float64(math.MaxInt64)/2)), Limit: l.MACs, Field: "MACs"}
		}
		total = total.Add(s.Cost(in))
		if total.Params > l.Params {
			return &LimitError{What: fmt.Sprintf("params up to layer %d (%s)", i, s.Type()), Value: total.Params, Limit: l.Params, Field: "Params"}
		}
		if total.MACs > l.MACs {
			return &LimitError{What: fmt.Sprintf("MACs up to layer %d (%s)", i, s.Type()), Value: total.MACs, Limit: l.MACs, Field: "MACs"}
		}
		in = out
	}
	return nil
}

// costBound is a crude upper bound of one layer's params and MACs, in
// floating point: every channel count squared, every kernel squared, the
// larger spatial size, times a margin for the few convolutions a block
// holds. It only guards the exact int64 cost against overflow.
func costBound(s blocks.Spec, in, out blocks.Shape) float64 {
	c := float64(max(in.C, out.C, 1))
	k := 1.0
	fields, _ := specFields(s)
	v := reflect.ValueOf(s).Elem()
	for _, f := range fields {
		if f.kind != kindInt {
			continue
		}
		x := float64(v.FieldByIndex(f.index).Int())
		if _, name := (Limits{}).fieldLimit(f.json); name == "Kernel" {
			k = max(k, x)
		} else if name == "Channels" {
			c = max(c, x)
		}
	}
	hw := max(float64(in.H)*float64(in.W), float64(out.H)*float64(out.W), 1)
	return 16 * c * c * k * k * hw
}

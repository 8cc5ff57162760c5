package blocks

import (
	"fmt"
	"sort"
)

// Shape is the shape of one sample: channels, height, width. A feature
// vector (after global pooling or flattening) is C x 1 x 1.
type Shape struct{ C, H, W int }

func (s Shape) String() string { return fmt.Sprintf("%dx%dx%d", s.C, s.H, s.W) }

// Cost is what a layer holds and does: learnable parameters (BN scale and
// shift included, running statistics not) and multiply-accumulates of its
// convolution and linear layers, the torchvision/fvcore convention (BN,
// activations, pooling, adds and SE gating multiplies are not counted).
type Cost struct {
	Params int64
	MACs   int64
}

// Add returns c + d.
func (c Cost) Add(d Cost) Cost { return Cost{c.Params + d.Params, c.MACs + d.MACs} }

// Spec describes one layer or block of a network: the family and every
// setting, with explicit channel counts (NetAdapt changes them one at a
// time). Specs are plain structs; the fields that appear in arch strings and
// JSON carry an `arch:"token"` tag and a `json` tag, and the zero value of a
// field is its common default, so that it can be left out of both forms.
type Spec interface {
	// Type is the family token that starts the block in an arch string and
	// is the "type" field of its JSON form ("conv", "ir", "fire", ...).
	Type() string
	// OutShape checks the spec against its input and returns the output shape.
	// The error names the field and the numbers that do not fit.
	OutShape(in Shape) (Shape, error)
	// Cost counts parameters and MACs at this input (the spec must be valid
	// for it).
	Cost(in Shape) Cost
	// Lowerer: every spec lowers itself to the primitive ops of a Graph,
	// the form that is executed, exported and profiled (Lower is called
	// only after OutShape has accepted the input).
	Lowerer
}

var registry = map[string]func() Spec{}

// Register makes a block family known to the arch codecs. It is called from
// the init function of each family's file; registering a type twice is a
// programmer error.
func Register(typ string, newSpec func() Spec) {
	if _, dup := registry[typ]; dup {
		panic("blocks: type registered twice: " + typ)
	}
	registry[typ] = newSpec
}

// NewSpec returns a zero spec of the registered type.
func NewSpec(typ string) (Spec, bool) {
	f, ok := registry[typ]
	if !ok {
		return nil, false
	}
	return f(), true
}

// Types lists the registered block types in order.
func Types() []string {
	out := make([]string, 0, len(registry))
	for t := range registry {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// FieldError is a spec setting that is impossible at the given input.
type FieldError struct {
	Type  string // block type
	Field string // the arch token / JSON field
	Msg   string // what is wrong and how to fix it
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s block: %s: %s", e.Type, e.Field, e.Msg)
}

func fieldErr(typ, field, format string, args ...any) error {
	return &FieldError{Type: typ, Field: field, Msg: fmt.Sprintf(format, args...)}
}

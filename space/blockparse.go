package space

import (
	"fmt"

	"nas/blocks"
)

// ParseBlock reads one block in its canonical form (BlockString), as the
// keys of a latency table hold it: "ir_k3_m64_o24". The conveniences of
// an arch string (repeats, eN) are refused, since a lone block has no
// input to expand and stands for one layer; the fields are checked
// against DefaultLimits. ParseBlock(BlockString(s)) gives back an equal
// spec, and a string that is not canonical (tokens out of order, a zero
// value written out) is refused, so that a block has one spelling.
func ParseBlock(s string) (blocks.Spec, error) {
	b, err := parseBlock(s, 0, DefaultLimits())
	if err != nil {
		return nil, err
	}
	switch {
	case b.repeat != 1:
		return nil, &ParseError{Layer: 0, Item: s, Token: b.repeatToken, Msg: "a lone block has no repeat"}
	case b.expansion != 0:
		return nil, &ParseError{Layer: 0, Item: s, Token: b.expansionToken, Msg: "a lone block has no input to expand: give the channels"}
	}
	if c := BlockString(b.spec); c != s {
		return nil, &ParseError{Layer: 0, Item: s, Msg: fmt.Sprintf("not the canonical form, %q", c)}
	}
	return b.spec, nil
}

// CheckShape checks an activation shape against DefaultLimits (channels,
// height and width), for shapes read from outside an arch string.
func CheckShape(in blocks.Shape) error { return DefaultLimits().checkInput(in, 0) }

package space

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks"
)

const tinyArch = "in1x28x28 cls10 | conv_o16_k3_s2_ahswish | conv_o32_k3_s2_g2 | pool_k2 | gap | linear_o10"

func TestParseArchCanonical(t *testing.T) {
	a, err := ParseArch(tinyArch)
	require.NoError(t, err)
	require.Equal(t, blocks.Shape{C: 1, H: 28, W: 28}, a.Input)
	require.Equal(t, 10, a.Classes)
	require.Equal(t, []blocks.Spec{
		&blocks.Conv{Out: 16, Kernel: 3, Stride: 2, Act: blocks.ActHSwish},
		&blocks.Conv{Out: 32, Kernel: 3, Stride: 2, Groups: 2},
		&blocks.Pool{Kernel: 2},
		&blocks.GlobalPool{},
		&blocks.Linear{Out: 10},
	}, a.Layers)
	require.Equal(t, tinyArch, a.String())
}

func TestParseArchForms(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"spaces only", "in1x28x28 cls10 conv_o8_k3 gap linear_o10", "in1x28x28 cls10 | conv_o8_k3 | gap | linear_o10"},
		{"pipes only", "in1x28x28|cls10|conv_o8_k3|gap|linear_o10", "in1x28x28 cls10 | conv_o8_k3 | gap | linear_o10"},
		{"token order and explicit defaults", "in1x28x28 cls10 | conv_k3_s1_g1_o8 | gap | linear_o10", "in1x28x28 cls10 | conv_o8_k3 | gap | linear_o10"},
		{"explicit zero", "in1x28x28 cls10 | conv_k3_s0_o8 | gap | linear_o10", "in1x28x28 cls10 | conv_o8_k3 | gap | linear_o10"},
		{"leading zeros", "in1x28x28 cls010 | conv_o08_k03 | gap | linear_o10", "in1x28x28 cls10 | conv_o8_k3 | gap | linear_o10"},
		{"bool flag", "in1x28x28 cls10 | conv_nobn_o8_k3 | gap | linear_nobias_o10", "in1x28x28 cls10 | conv_o8_k3_nobn | gap | linear_o10_nobias"},
		{"repeat keeps first stride", "in1x28x28 cls10 | conv_o8_k3_s2_r3 | gap | linear_o10",
			"in1x28x28 cls10 | conv_o8_k3_s2 | conv_o8_k3 | conv_o8_k3 | gap | linear_o10"},
		{"repeat once", "in1x28x28 cls10 | conv_o8_k3_r1 | gap | linear_o10", "in1x28x28 cls10 | conv_o8_k3 | gap | linear_o10"},
		{"header order", "cls10 in1x28x28 | conv_o8_k3 | gap | linear_o10", "in1x28x28 cls10 | conv_o8_k3 | gap | linear_o10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseArch(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, a.String())
		})
	}
}

func TestParseArchErrors(t *testing.T) {
	tests := []struct {
		name, in string
		layer    int
		token    string
		msg      string
	}{
		{"unknown type", "in1x28x28 cls10 | conv_o8_k3 | bogus_k3 | gap | linear_o10", 1, "", `unknown block type "bogus" (known: conv, dropout,`},
		{"unknown key", "in1x28x28 cls10 | conv_o8_q3 | gap | linear_o10", 0, "q3", "unknown key for a conv block (known: a, g, k, nobn, o, p, r, s, valid)"},
		{"not an integer", "in1x28x28 cls10 | conv_o8_kx | gap | linear_o10", 0, "kx", `"x" is not an integer`},
		{"missing number", "in1x28x28 cls10 | conv_o8_k | gap | linear_o10", 0, "k", "missing number"},
		{"flag with value", "in1x28x28 cls10 | conv_o8_k3_nobn1 | gap | linear_o10", 0, "nobn1", `"nobn" is a flag and takes no value`},
		{"act not a word", "in1x28x28 cls10 | conv_o8_k3_a6 | gap | linear_o10", 0, "a6", `value "6" must be a lowercase word`},
		{"act missing", "in1x28x28 cls10 | conv_o8_k3_a | gap | linear_o10", 0, "a", `"a" needs a value`},
		{"duplicate key", "in1x28x28 cls10 | conv_o8_k3_k5 | gap | linear_o10", 0, "k5", `key "k" already given by token "k3"`},
		{"empty token", "in1x28x28 cls10 | conv_o8__k3 | gap | linear_o10", 0, "", "empty token"},
		{"zero repeat", "in1x28x28 cls10 | conv_o8_k3_r0 | gap | linear_o10", 0, "r0", "repeat count 0 must be at least 1"},
		{"huge repeat", "in1x28x28 cls10 | conv_o8_k3_r99999 | gap | linear_o10", 0, "r99999", "number of layers 99999 is above the limit of 10000"},
		{"overflow", "in1x28x28 cls10 | conv_o99999999999_k3 | gap | linear_o10", 0, "o99999999999", "out of range"},
		{"layer numbering after repeat", "in1x28x28 cls10 | conv_o8_k3_r4 | conv_o8_z | gap | linear_o10", 4, "z", "unknown key"},
		{"missing input", "cls10 | conv_o8_k3 | gap | linear_o10", -1, "", "missing input shape"},
		{"missing classes", "in1x28x28 | conv_o8_k3 | gap | linear_o10", -1, "", "missing classes"},
		{"bad shape", "in1x28 cls10 | conv_o8_k3 | gap | linear_o10", -1, "", "must be CxHxW"},
		{"zero dim", "in0x28x28 cls10 | conv_o8_k3 | gap | linear_o10", -1, "", "at least 1"},
		{"header late", "in1x28x28 cls10 | conv_o8_k3 | cls5 | gap | linear_o10", 1, "", "before the first layer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseArch(tt.in)
			require.Error(t, err)
			var pe *ParseError
			require.True(t, errors.As(err, &pe), "want a *ParseError, got %T: %v", err, err)
			require.Equal(t, tt.layer, pe.Layer, err.Error())
			require.Equal(t, tt.token, pe.Token, err.Error())
			require.Contains(t, err.Error(), tt.msg)
		})
	}
}

func TestParseArchErrorFormat(t *testing.T) {
	_, err := ParseArch("in1x28x28 cls10 | conv_o8_k3 | conv_o8_k3 | conv_o8_k3 | conv_o8_kq_s2 | gap | linear_o10")
	require.EqualError(t, err, `layer 3 "conv_o8_kq_s2": token "kq": "q" is not an integer`)
}

func TestParseArchShapeErrors(t *testing.T) {
	tests := []struct {
		name, in string
		index    int
		msg      string
	}{
		{"groups", "in3x28x28 cls10 | conv_o8_k3_g2 | gap | linear_o10", 0, "groups 2 must divide input channels 3"},
		{"kernel too big", "in1x4x4 cls10 | conv_o8_k3_s2 | conv_o8_k3_s2 | conv_o8_k3_s2 | pool_k3 | gap | linear_o10", 3, "does not fit"},
		{"unknown act", "in1x28x28 cls10 | conv_o8_k3_afoo | gap | linear_o10", 0, `unknown activation "foo"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseArch(tt.in)
			var le *LayerError
			require.True(t, errors.As(err, &le), "want a *LayerError, got %T: %v", err, err)
			require.Equal(t, tt.index, le.Index)
			require.Contains(t, err.Error(), tt.msg)
		})
	}
	_, err := ParseArch("in1x28x28 cls10 | conv_o8_k3 | gap | linear_o12")
	require.ErrorContains(t, err, "want 10x1x1 for 10 classes")
}

// The parser picks the longest key that starts the token. The SE fields of
// MBConv and Ghost are "s"-prefixed ("se", "sea", "seg") next to the stride
// "s"; this fake block reproduces that and a float and an int-list field.
type keyTestSpec struct {
	Out    int     `json:"out" arch:"o"`
	Stride int     `json:"stride,omitempty" arch:"s"`
	Ratio  float64 `json:"ratio,omitempty" arch:"x"`
	Rates  []int   `json:"rates,omitempty" arch:"d"`
	Flag   bool    `json:"flag,omitempty" arch:"f"`
	blocks.SE
}

func (k *keyTestSpec) Type() string                                   { return "keytest" }
func (k *keyTestSpec) OutShape(in blocks.Shape) (blocks.Shape, error) { return in, nil }
func (k *keyTestSpec) Cost(in blocks.Shape) blocks.Cost               { return blocks.Cost{} }
func (k *keyTestSpec) Lower(b *blocks.Builder, name string, x blocks.Value) blocks.Value {
	return x
}

func parseTestBlock(t *testing.T, item string) (*keyTestSpec, error) {
	t.Helper()
	spec := &keyTestSpec{}
	fields, err := specFields(spec)
	require.NoError(t, err)
	keys := []string{"r"}
	for _, f := range fields {
		keys = append(keys, f.token)
	}
	v := reflect.ValueOf(spec).Elem()
	for _, tok := range strings.Split(item, "_") {
		key := longestKey(keys, tok)
		if key == "" {
			return nil, errors.New("unknown key " + tok)
		}
		f, _ := fieldByToken(fields, key)
		if err := setFromString(v.FieldByIndex(f.index), f, tok[len(key):]); err != nil {
			return nil, err
		}
	}
	return spec, nil
}

func TestLongestKeyMatch(t *testing.T) {
	tests := []struct {
		item string
		want keyTestSpec
		err  string
	}{
		{"s2", keyTestSpec{Stride: 2}, ""},
		{"se8", keyTestSpec{SE: blocks.SE{Squeeze: 8}}, ""},
		{"s2_se8", keyTestSpec{Stride: 2, SE: blocks.SE{Squeeze: 8}}, ""},
		{"searelu", keyTestSpec{SE: blocks.SE{Inner: blocks.ActReLU}}, ""},
		{"segsigmoid", keyTestSpec{SE: blocks.SE{Gate: blocks.ActSigmoid}}, ""},
		{"x0.25", keyTestSpec{Ratio: 0.25}, ""},
		{"x2", keyTestSpec{Ratio: 2}, ""},
		{"d1x2x4", keyTestSpec{Rates: []int{1, 2, 4}}, ""},
		{"f", keyTestSpec{Flag: true}, ""},
		// "sea8" is the SE inner activation with value "8", not se=a8 nor s=ea8.
		{"sea8", keyTestSpec{}, `value "8" must be a lowercase word`},
		// "sex" is se with value "x": not an integer.
		{"sex", keyTestSpec{}, `"x" is not an integer`},
		{"x1e5", keyTestSpec{}, "not a decimal number"},
		{"x.5", keyTestSpec{}, "not a decimal number"},
		{"xnan", keyTestSpec{}, "not a decimal number"},
		{"d1xx2", keyTestSpec{}, "element 1: missing number"},
		{"d", keyTestSpec{}, "needs a value"},
	}
	for _, tt := range tests {
		t.Run(tt.item, func(t *testing.T) {
			got, err := parseTestBlock(t, tt.item)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, &tt.want, got)
			require.Equal(t, "keytest_"+tt.item, BlockString(got))
		})
	}
}

func longestKey(keys []string, tok string) string {
	key := ""
	for _, k := range keys {
		if strings.HasPrefix(tok, k) && len(k) > len(key) {
			key = k
		}
	}
	return key
}

func TestEmbeddedFieldsJSON(t *testing.T) {
	s := &keyTestSpec{Out: 8, Ratio: 0.5, Rates: []int{1, 2}, SE: blocks.SE{Squeeze: 4, Gate: blocks.ActSigmoid}}
	var b bytes.Buffer
	require.NoError(t, writeLayerJSON(&b, s))
	require.Equal(t, `{"type":"keytest","out":8,"ratio":0.5,"rates":[1,2],"se":4,"se_gate":"sigmoid"}`, b.String())
}

// Every registered block type must be usable by both codecs, and every
// token String writes must parse back as the same key under the
// longest-key rule (a key "s" next to a key "s1" would break integers).
func TestRegisteredSpecs(t *testing.T) {
	acts := []blocks.Act{blocks.ActReLU, blocks.ActReLU6, blocks.ActHSwish, blocks.ActSwish, blocks.ActSigmoid, blocks.ActHSigmoid}
	for _, typ := range blocks.Types() {
		spec, _ := blocks.NewSpec(typ)
		require.Equal(t, typ, spec.Type())
		fields, err := specFields(spec)
		require.NoError(t, err, typ)
		keys := blockKeys(typ, fields)
		for _, f := range fields {
			var values []string
			switch f.kind {
			case kindInt, kindFloat, kindInts:
				values = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "-1"}
			case kindString:
				for _, a := range acts {
					values = append(values, string(a))
				}
			case kindBool:
				values = []string{""}
			}
			for _, v := range values {
				tok := f.token + v
				require.Equal(t, f.token, longestKey(keys, tok), "%s block: token %q would not parse as field %q", typ, tok, f.token)
			}
		}
	}
}

func TestArchJSONRoundTrip(t *testing.T) {
	a, err := ParseArch(tinyArch)
	require.NoError(t, err)
	a.Name = "tiny"
	data, err := json.Marshal(a)
	require.NoError(t, err)
	require.Equal(t, `{"version":1,"name":"tiny","input":[1,28,28],"classes":10,"layers":[{"type":"conv","out":16,"kernel":3,"stride":2,"act":"hswish"},{"type":"conv","out":32,"kernel":3,"stride":2,"groups":2},{"type":"pool","kernel":2},{"type":"gap"},{"type":"linear","out":10}]}`, string(data))
	b, err := ParseArchJSON(data)
	require.NoError(t, err)
	require.Equal(t, a, b)
	ind, err := a.IndentedJSON()
	require.NoError(t, err)
	c, err := ParseArchJSON(ind)
	require.NoError(t, err)
	require.Equal(t, a, c)
	require.Equal(t, tinyArch, c.String())

	var d Arch
	require.NoError(t, json.Unmarshal(data, &d))
	require.Equal(t, *a, d)
}

func TestParseArchConveniences(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"expansion from running channels", "in3x32x32 cls10 | conv_o16_k3 | ir_e6_o24_s2_r2 | gap | linear_o10",
			"in3x32x32 cls10 | conv_o16_k3 | ir_o24_m96_s2 | ir_o24_m144 | gap | linear_o10"},
		{"star repeat for a type with its own r", "in3x32x32 cls10 | conv_o16_k3 | ghost_m32_o16_r3*2 | gap | linear_o10",
			"in3x32x32 cls10 | conv_o16_k3 | ghost_m32_o16_r3 | ghost_m32_o16_r3 | gap | linear_o10"},
		{"star repeat keeps first stride", "in3x32x32 cls10 | conv_o16_k3_s2*3 | gap | linear_o10",
			"in3x32x32 cls10 | conv_o16_k3_s2 | conv_o16_k3 | conv_o16_k3 | gap | linear_o10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseArch(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, a.String())
		})
	}
	for _, tt := range []struct{ in, msg string }{
		{"in3x32x32 cls10 | ir_e6_m96_o24 | gap | linear_o10", `token "m96": give the expansion e or the channels m, not both`},
		{"in3x32x32 cls10 | conv_o16_k3_r2*2 | gap | linear_o10", `token "r2": repeat given twice`},
		{"in3x32x32 cls10 | conv_o16_k3*0 | gap | linear_o10", `token "*0": repeat: repeat count 0 must be at least 1`},
		{"in3x32x32 cls10 | conv_o16_k3_g5 | ir_e6_o24 | gap | linear_o10", `token "e6": cannot resolve the expansion`},
		{"in3x32x32 cls10 | conv_e6_o16_k3 | gap | linear_o10", `token "e6": unknown key for a conv block`},
	} {
		_, err := ParseArch(tt.in)
		require.ErrorContains(t, err, tt.msg, tt.in)
	}
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	a, err := ParseArch(tinyArch)
	require.NoError(t, err)
	data, err := a.IndentedJSON()
	require.NoError(t, err)
	file := dir + "/tiny.json"
	require.NoError(t, os.WriteFile(file, data, 0o644))

	got, err := Resolve(file, ZooOptions{})
	require.NoError(t, err)
	require.Equal(t, tinyArch, got.String())
	got, err = Resolve(tinyArch, ZooOptions{})
	require.NoError(t, err)
	require.Equal(t, tinyArch, got.String())

	bad := dir + "/bad.json"
	require.NoError(t, os.WriteFile(bad, []byte(`{"version":1}`), 0o644))
	_, err = Resolve(bad, ZooOptions{})
	require.ErrorContains(t, err, bad+": input: missing")
	_, err = Resolve(dir+"/none.json", ZooOptions{})
	require.ErrorContains(t, err, "none.json: no such file")
	_, err = Resolve("mobilenet_v9", ZooOptions{})
	require.ErrorContains(t, err, `"mobilenet_v9" is not a zoo network (see `+"`nas zoo list`"+`), an arch JSON file or an arch string`)
	_, err = Resolve(tinyArch, ZooOptions{Classes: 5})
	require.ErrorContains(t, err, "apply to zoo networks")

	zoo := Zoo()
	require.NotEmpty(t, zoo)
	got, err = Resolve(zoo[0].Name, ZooOptions{Input: blocks.Shape{C: 3, H: 64, W: 64}, Classes: 7})
	require.NoError(t, err)
	require.Equal(t, 7, got.Classes)
	require.Equal(t, blocks.Shape{C: 3, H: 64, W: 64}, got.Input)
}

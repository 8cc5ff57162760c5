package space

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseArchJSONErrors(t *testing.T) {
	const head = `{"version":1,"input":[1,28,28],"classes":10,"layers":[`
	const tail = `,{"type":"gap"},{"type":"linear","out":10}]}`
	tests := []struct {
		name, in, path, msg string
	}{
		{"syntax", "{\n\"version\": 1,\n  \"input\": [1,28,,28]}", "", "invalid JSON at line 3, column 18"},
		{"not an object", `[1,2]`, "", "want an object, got [1,2]"},
		{"null", `null`, "", "want an object, got null"},
		{"missing version", `{"input":[1,28,28],"classes":10,"layers":[]}`, "version", `add "version": 1`},
		{"future version", `{"version":2,"input":[1,28,28],"classes":10,"layers":[]}`, "version", "format version 2 is not supported"},
		{"unknown top field", `{"version":1,"input":[1,28,28],"classes":10,"layers":[],"layer":[]}`, "layer", "unknown field (known: bn_eps, classes, input, layers, name, version)"},
		{"input length", `{"version":1,"input":[28,28],"classes":10,"layers":[]}`, "input", "want [C, H, W]"},
		{"input zero", `{"version":1,"input":[1,0,28],"classes":10,"layers":[]}`, "input[1]", "at least 1"},
		{"classes string", `{"version":1,"input":[1,28,28],"classes":"10","layers":[]}`, "classes", `want an integer, got "10"`},
		{"classes missing", `{"version":1,"input":[1,28,28],"layers":[]}`, "classes", "missing"},
		{"layers not array", `{"version":1,"input":[1,28,28],"classes":10,"layers":{}}`, "layers", "want an array of layer objects"},
		{"layer not object", head + `3` + tail, "layers[0]", "want an object, got 3"},
		{"missing type", head + `{"out":8}` + tail, "layers[0]", `missing "type" (known: conv,`},
		{"unknown type", head + `{"type":"conv","out":8,"kernel":3},{"type":"nope"}` + tail, "layers[1].type", `unknown block type "nope" (known: conv,`},
		{"unknown field", head + `{"type":"conv","out":8,"kernal":3}` + tail, "layers[0].kernal", "unknown field (known: act, groups, kernel, no_bn, out, pad, stride, type, valid)"},
		{"float for int", head + `{"type":"conv","out":8,"kernel":3.5}` + tail, "layers[0].kernel", "want an integer, got 3.5"},
		{"int overflow", head + `{"type":"conv","out":8,"kernel":30000000000}` + tail, "layers[0].kernel", "out of range"},
		{"null int", head + `{"type":"conv","out":null,"kernel":3}` + tail, "layers[0].out", "want an integer, got null"},
		{"bool as int", head + `{"type":"conv","out":8,"kernel":3,"no_bn":1}` + tail, "layers[0].no_bn", "want true or false, got 1"},
		{"act not a word", head + `{"type":"conv","out":8,"kernel":3,"act":"h swish"}` + tail, "layers[0].act", "must be a lowercase word"},
		{"act number", head + `{"type":"conv","out":8,"kernel":3,"act":6}` + tail, "layers[0].act", "want a string, got 6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseArchJSON([]byte(tt.in))
			var je *JSONError
			require.True(t, errors.As(err, &je), "want a *JSONError, got %T: %v", err, err)
			require.Equal(t, tt.path, je.Path, err.Error())
			require.Contains(t, err.Error(), tt.msg)
		})
	}
}

func TestParseArchJSONShapeError(t *testing.T) {
	_, err := ParseArchJSON([]byte(`{"version":1,"input":[3,28,28],"classes":10,"layers":[{"type":"conv","out":8,"kernel":3},{"type":"conv","out":9,"kernel":3,"groups":2},{"type":"gap"},{"type":"linear","out":10}]}`))
	var le *LayerError
	require.True(t, errors.As(err, &le), "%v", err)
	require.Equal(t, 1, le.Index)
	require.ErrorContains(t, err, "layer 1 (conv, input 8x28x28): conv block: g: groups 2 must divide")
}

func TestArchJSONExplicitZero(t *testing.T) {
	// Fields without omitempty are always written; an explicit zero of an
	// omitempty field reads back as the default.
	a, err := ParseArchJSON([]byte(`{"version":1,"input":[1,28,28],"classes":10,"layers":[{"type":"conv","out":8,"kernel":3,"stride":0,"act":""},{"type":"gap"},{"type":"linear","out":10,"no_bias":false}]}`))
	require.NoError(t, err)
	require.Equal(t, "in1x28x28 cls10 | conv_o8_k3 | gap | linear_o10", a.String())
	data, err := a.MarshalJSON()
	require.NoError(t, err)
	require.Equal(t, `{"version":1,"input":[1,28,28],"classes":10,"layers":[{"type":"conv","out":8,"kernel":3},{"type":"gap"},{"type":"linear","out":10}]}`, string(data))
}

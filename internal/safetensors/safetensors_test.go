package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRoundTrip(t *testing.T) {
	f := &File{
		Tensors: map[string]Tensor{
			"w":      {Shape: []int{2, 3}, F32: []float32{1, -2, 3.5, 0, 1e-7, -1e30}},
			"labels": {Shape: []int{3}, I64: []int64{0, 9, -1}},
			"scalar": {Shape: []int{}, F32: []float32{42}},
			"empty":  {Shape: []int{0, 4}, F32: []float32{}},
		},
		Metadata: map[string]string{"op": "conv2d"},
	}
	path := filepath.Join(t.TempDir(), "x.safetensors")
	require.NoError(t, Write(path, f))
	g, err := Read(path)
	require.NoError(t, err)
	require.Equal(t, f.Metadata, g.Metadata)
	require.Equal(t, f.Tensors, g.Tensors)
}

// raw builds a safetensors file from a header and data bytes as given,
// however wrong.
func raw(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

// corruptCases are the malformed files Decode must refuse, each with a part
// of the message that names what is wrong. docs/reliability.md counts them.
var corruptCases = func() map[string]struct {
	b    []byte
	want string
} {
	var buf bytes.Buffer
	if err := Encode(&buf, &File{Tensors: map[string]Tensor{"a": {Shape: []int{4}, F32: []float32{1, 2, 3, 4}}}}); err != nil {
		panic(err)
	}
	good := buf.Bytes()
	d16 := make([]byte, 16)
	return map[string]struct {
		b    []byte
		want string
	}{
		"empty":           {nil, "shorter than"},
		"7 bytes":         {good[:7], "shorter than"},
		"truncated":       {good[:len(good)-3], "outside"},
		"huge len":        {append([]byte{255, 255, 255, 255, 0, 0, 0, 0}, good[8:]...), "exceeds the limit of 100000000"},
		"max len":         {append([]byte{255, 255, 255, 255, 255, 255, 255, 255}, good[8:]...), "exceeds the limit"},
		"len past end":    {append([]byte{200, 0, 0, 0, 0, 0, 0, 0}, good[8:]...), "does not fit in a"},
		"not json":        {append(append([]byte(nil), good[:8]...), bytes.Repeat([]byte{'x'}, len(good)-8)...), "not valid JSON"},
		"json array":      {raw(`[1,2]`, nil), "want an object"},
		"trailing json":   {raw(`{} {}`, nil), "after its JSON object"},
		"duplicate name":  {raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`, d16), `tensor "a": name appears twice`},
		"wrap to buffer":  {raw(`{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,16]}}`, d16), `tensor "a": shape [4611686018427387904] has more elements than the 4 F32 values`},
		"wrap to zero":    {raw(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil), `tensor "a": shape [4294967296 4294967296] has more elements`},
		"wrap I64":        {raw(`{"a":{"dtype":"I64","shape":[2305843009213693952],"data_offsets":[0,16]}}`, d16), "more elements than the 2 I64 values"},
		"product too big": {raw(`{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}}`, d16), `tensor "a": shape [2 3] has more elements than the 4`},
		"size mismatch":   {raw(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}`, d16), "span 16 bytes, shape [3] of F32 needs 12"},
		"zero dim bytes":  {raw(`{"a":{"dtype":"F32","shape":[0,7],"data_offsets":[0,16]}}`, d16), "needs 0"},
		"negative dim":    {raw(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,16]}}`, d16), "shape[0] is -1"},
		"overlap":         {raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, d16[:12]), `tensor "b": data_offsets [4, 12) overlap tensor "a"`},
		"same range":      {raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, d16[:8]), "overlap"},
		"gap":             {raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`, d16), "leaving bytes [0, 8) unused"},
		"trailing data":   {raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, d16), "end at byte 8 of the 16"},
		"offset negative": {raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}`, d16), "outside the 16 data bytes"},
		"offset reversed": {raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}`, d16), "outside"},
		"offset huge":     {raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,9223372036854775807]}}`, d16), "outside"},
		"offsets count":   {raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,16]}}`, d16), "data_offsets has 3 values"},
		"missing field":   {raw(`{"a":{"dtype":"F32","shape":[2]}}`, d16), "needs dtype, shape and data_offsets"},
		"unknown field":   {raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`, d16[:8]), `unknown field "x"`},
		"bad dtype":       {raw(`{"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}`, d16[:8]), `dtype "F16" not supported`},
		"dim not int":     {raw(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}}`, d16[:8]), `tensor "a": bad header entry`},
		"dim overflow":    {raw(`{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}`, d16[:8]), `tensor "a": bad header entry`},
		"bad metadata":    {raw(`{"__metadata__":{"a":1}}`, nil), "__metadata__ must map strings to strings"},
		"null metadata":   {raw(`{"__metadata__":null}`, nil), "__metadata__ must map"},
	}
}()

func TestCorrupt(t *testing.T) {
	for name, c := range corruptCases {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(c.b)
			require.Error(t, err)
			require.True(t, strings.Contains(err.Error(), c.want), err.Error())
		})
	}
}

func TestEncodeRefusesShapeMismatch(t *testing.T) {
	for name, tn := range map[string]Tensor{
		"short":    {Shape: []int{2, 3}, F32: []float32{1, 2}},
		"negative": {Shape: []int{-1}, F32: []float32{1}},
		"overflow": {Shape: []int{math.MaxInt / 2, 3}, F32: []float32{1}},
		"both":     {Shape: []int{1}, F32: []float32{1}, I64: []int64{1}},
	} {
		t.Run(name, func(t *testing.T) {
			err := Encode(&bytes.Buffer{}, &File{Tensors: map[string]Tensor{"x": tn}})
			require.ErrorContains(t, err, `tensor "x"`)
		})
	}
}

// FuzzDecode holds that Decode never panics and that what it accepts
// encodes to bytes that decode to the same tensors and metadata.
func FuzzDecode(f *testing.F) {
	var buf bytes.Buffer
	if err := Encode(&buf, &File{
		Tensors:  map[string]Tensor{"w": {Shape: []int{2, 2}, F32: []float32{1, 2, 3, 4}}, "n": {Shape: []int{1}, I64: []int64{7}}, "e": {Shape: []int{0}, F32: []float32{}}},
		Metadata: map[string]string{"k": "v"},
	}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	for _, c := range corruptCases {
		f.Add(c.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Decode(b)
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := Encode(&out, a); err != nil {
			t.Fatalf("Decode accepted a file that Encode refuses: %v", err)
		}
		c, err := Decode(out.Bytes())
		if err != nil {
			t.Fatalf("re-encoded file does not decode: %v", err)
		}
		if len(a.Metadata) > 0 || len(c.Metadata) > 0 {
			require.Equal(t, a.Metadata, c.Metadata)
		}
		require.Equal(t, len(a.Tensors), len(c.Tensors))
		for name, x := range a.Tensors {
			y, ok := c.Tensors[name]
			require.True(t, ok, name)
			require.Equal(t, x.Shape, y.Shape, name)
			require.Equal(t, x.I64, y.I64, name)
			require.Equal(t, len(x.F32), len(y.F32), name)
			for i := range x.F32 {
				if math.Float32bits(x.F32[i]) != math.Float32bits(y.F32[i]) {
					t.Fatalf("tensor %q[%d]: %v became %v", name, i, x.F32[i], y.F32[i])
				}
			}
		}
	})
}

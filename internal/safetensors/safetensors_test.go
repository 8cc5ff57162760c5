package safetensors

import (
	"bytes"
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

func TestCorrupt(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, Encode(&buf, &File{Tensors: map[string]Tensor{"a": {Shape: []int{4}, F32: []float32{1, 2, 3, 4}}}}))
	good := buf.Bytes()
	cases := map[string]struct {
		b    []byte
		want string
	}{
		"empty":     {nil, "shorter than"},
		"truncated": {good[:len(good)-3], "outside"},
		"huge len":  {append([]byte{255, 255, 255, 255, 0, 0, 0, 0}, good[8:]...), "does not fit"},
		"not json":  {append(append([]byte(nil), good[:8]...), bytes.Repeat([]byte{'x'}, len(good)-8)...), "not valid JSON"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(c.b)
			require.Error(t, err)
			require.True(t, strings.Contains(err.Error(), c.want), err.Error())
		})
	}
}

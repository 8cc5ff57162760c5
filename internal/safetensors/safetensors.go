// Package safetensors reads and writes the safetensors format
// (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length, a JSON header mapping tensor names to dtype, shape and byte
// offsets (plus an optional "__metadata__" map of strings), then the raw
// little-endian data. nas uses it for checkpoints (PyTorch loads them with
// safetensors.torch.load_file) and for the golden test data.
//
// Only F32 and I64 tensors are supported; that is all nas stores.
package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"nas/internal/atomicfile"
)

// Tensor is one named array. Exactly one of F32 and I64 is set.
type Tensor struct {
	Shape []int
	F32   []float32
	I64   []int64
}

// File is the content of a safetensors file.
type File struct {
	Tensors  map[string]Tensor
	Metadata map[string]string
}

type entry struct {
	DType   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// maxHeader bounds the JSON header so that a corrupt length cannot make us
// allocate gigabytes.
const maxHeader = 100 << 20

// Read parses a safetensors file. Errors name the file and what is wrong.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Decode parses safetensors bytes.
func Decode(b []byte) (*File, error) {
	if len(b) < 8 {
		return nil, errors.New("safetensors: file shorter than its 8-byte header length (truncated?)")
	}
	n := binary.LittleEndian.Uint64(b[:8])
	if n > maxHeader || n > uint64(len(b)-8) {
		return nil, fmt.Errorf("safetensors: header length %d does not fit in a %d-byte file (truncated or not safetensors)", n, len(b))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &raw); err != nil {
		return nil, fmt.Errorf("safetensors: header is not valid JSON: %v", err)
	}
	data := b[8+n:]
	f := &File{Tensors: map[string]Tensor{}, Metadata: map[string]string{}}
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &f.Metadata); err != nil {
				return nil, fmt.Errorf("safetensors: __metadata__ must map strings to strings: %v", err)
			}
			continue
		}
		var e entry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: bad header entry: %v", name, err)
		}
		count := int64(1)
		for _, d := range e.Shape {
			if d < 0 {
				return nil, fmt.Errorf("safetensors: tensor %q: negative dimension in shape %v", name, e.Shape)
			}
			count *= int64(d)
		}
		lo, hi := e.Offsets[0], e.Offsets[1]
		if lo < 0 || hi < lo || hi > int64(len(data)) {
			return nil, fmt.Errorf("safetensors: tensor %q: data offsets [%d, %d) outside the %d data bytes (truncated?)", name, lo, hi, len(data))
		}
		buf := data[lo:hi]
		t := Tensor{Shape: e.Shape}
		switch e.DType {
		case "F32":
			if int64(len(buf)) != 4*count {
				return nil, fmt.Errorf("safetensors: tensor %q: %d bytes for shape %v of F32", name, len(buf), e.Shape)
			}
			t.F32 = make([]float32, count)
			for i := range t.F32 {
				t.F32[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
			}
		case "I64":
			if int64(len(buf)) != 8*count {
				return nil, fmt.Errorf("safetensors: tensor %q: %d bytes for shape %v of I64", name, len(buf), e.Shape)
			}
			t.I64 = make([]int64, count)
			for i := range t.I64 {
				t.I64[i] = int64(binary.LittleEndian.Uint64(buf[8*i:]))
			}
		default:
			return nil, fmt.Errorf("safetensors: tensor %q: dtype %s not supported (nas reads F32 and I64)", name, e.DType)
		}
		f.Tensors[name] = t
	}
	return f, nil
}

// Encode writes f in safetensors form, tensors in name order.
func Encode(w io.Writer, f *File) error {
	names := make([]string, 0, len(f.Tensors))
	for name := range f.Tensors {
		names = append(names, name)
	}
	sort.Strings(names)
	header := map[string]any{}
	if len(f.Metadata) > 0 {
		header["__metadata__"] = f.Metadata
	}
	var off int64
	for _, name := range names {
		t := f.Tensors[name]
		var e entry
		e.Shape = t.Shape
		if e.Shape == nil {
			e.Shape = []int{}
		}
		switch {
		case t.I64 != nil:
			e.DType = "I64"
			e.Offsets = [2]int64{off, off + 8*int64(len(t.I64))}
		default:
			e.DType = "F32"
			e.Offsets = [2]int64{off, off + 4*int64(len(t.F32))}
		}
		off = e.Offsets[1]
		header[name] = e
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return err
	}
	// Pad the header with spaces to 8 bytes, as the reference writer does.
	for len(hb)%8 != 0 {
		hb = append(hb, ' ')
	}
	out := make([]byte, 8, 8+len(hb)+int(off))
	binary.LittleEndian.PutUint64(out, uint64(len(hb)))
	out = append(out, hb...)
	for _, name := range names {
		t := f.Tensors[name]
		if t.I64 != nil {
			for _, v := range t.I64 {
				out = binary.LittleEndian.AppendUint64(out, uint64(v))
			}
			continue
		}
		for _, v := range t.F32 {
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
		}
	}
	_, err = w.Write(out)
	return err
}

// Write stores f at path atomically (temporary file, fsync, rename), so a
// killed process never leaves a half-written checkpoint behind.
func Write(path string, f *File) error {
	return atomicfile.Write(path, func(w io.Writer) error { return Encode(w, f) })
}

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
	"bytes"
	"encoding/binary"
	"encoding/json"
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

// MaxHeader bounds the JSON header (as the reference reader does) so that a
// corrupt length cannot make Decode allocate gigabytes.
const MaxHeader = 100_000_000

// dtypeSize is the byte size of one element of each supported dtype.
var dtypeSize = map[string]int64{"F32": 4, "I64": 8}

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

// located is a header entry with its name, for the offsets check.
type located struct {
	name   string
	lo, hi int64
}

// Decode parses safetensors bytes. It checks everything the reference
// reader checks before it allocates: the header length against MaxHeader
// and the buffer, each shape's element count with overflow-safe arithmetic
// against the bytes its offsets give, and that the tensors' byte ranges
// tile the data exactly (no overlap, no gap, nothing after the last).
// Duplicate names are errors. Every allocation is bounded by len(b).
func Decode(b []byte) (*File, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("safetensors: file of %d bytes is shorter than its 8-byte header length (truncated?)", len(b))
	}
	n := binary.LittleEndian.Uint64(b[:8])
	if n > MaxHeader {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the limit of %d bytes (corrupt, or not a safetensors file)", n, MaxHeader)
	}
	if n > uint64(len(b)-8) {
		return nil, fmt.Errorf("safetensors: header length %d does not fit in a %d-byte file (truncated or not safetensors)", n, len(b))
	}
	members, err := headerMembers(b[8 : 8+n])
	if err != nil {
		return nil, err
	}
	data := b[8+n:]
	f := &File{Tensors: map[string]Tensor{}, Metadata: map[string]string{}}
	var spans []located
	for _, m := range members {
		if m.name == "__metadata__" {
			if err := json.Unmarshal(m.raw, &f.Metadata); err != nil || f.Metadata == nil {
				return nil, fmt.Errorf("safetensors: __metadata__ must map strings to strings, got %s", short(m.raw))
			}
			continue
		}
		t, lo, hi, err := decodeEntry(m.name, m.raw, data)
		if err != nil {
			return nil, err
		}
		f.Tensors[m.name] = t
		spans = append(spans, located{m.name, lo, hi})
	}
	if err := checkTiling(spans, int64(len(data))); err != nil {
		return nil, err
	}
	return f, nil
}

type member struct {
	name string
	raw  json.RawMessage
}

// headerMembers reads the header's top-level object in order, refusing
// duplicate names (encoding/json would silently keep the last).
func headerMembers(h []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(h))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("safetensors: header is not valid JSON: want an object, got %s", short(h))
	}
	var out []member
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("safetensors: header is not valid JSON: %v", err)
		}
		name := tok.(string) // object keys are always strings
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("safetensors: header is not valid JSON at %q: %v", name, err)
		}
		if seen[name] {
			return nil, fmt.Errorf("safetensors: tensor %q: name appears twice in the header", name)
		}
		seen[name] = true
		out = append(out, member{name, raw})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("safetensors: header is not valid JSON: %v", err)
	}
	// Only the padding the writers add may follow the object.
	if rest, _ := io.ReadAll(dec.Buffered()); len(bytes.TrimSpace(rest)) > 0 {
		return nil, fmt.Errorf("safetensors: header has %q after its JSON object", short(rest))
	}
	return out, nil
}

// decodeEntry reads one tensor from its header entry and the data bytes.
func decodeEntry(name string, raw json.RawMessage, data []byte) (Tensor, int64, int64, error) {
	var e struct {
		DType   *string `json:"dtype"`
		Shape   []int   `json:"shape"`
		Offsets []int64 `json:"data_offsets"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Tensor{}, 0, 0, fmt.Errorf("safetensors: tensor %q: bad header entry: %v", name, err)
	}
	if e.DType == nil || e.Shape == nil || e.Offsets == nil {
		return Tensor{}, 0, 0, fmt.Errorf("safetensors: tensor %q: header entry needs dtype, shape and data_offsets, got %s", name, short(raw))
	}
	size, ok := dtypeSize[*e.DType]
	if !ok {
		return Tensor{}, 0, 0, fmt.Errorf("safetensors: tensor %q: dtype %q not supported (nas reads F32 and I64)", name, *e.DType)
	}
	if len(e.Offsets) != 2 {
		return Tensor{}, 0, 0, fmt.Errorf("safetensors: tensor %q: data_offsets has %d values, want [begin, end]", name, len(e.Offsets))
	}
	lo, hi := e.Offsets[0], e.Offsets[1]
	if lo < 0 || hi < lo || hi > int64(len(data)) {
		return Tensor{}, 0, 0, fmt.Errorf("safetensors: tensor %q: data_offsets [%d, %d) outside the %d data bytes (truncated?)", name, lo, hi, len(data))
	}
	// The element count may not exceed what the data could hold: checking
	// each factor against that bound keeps the product from overflowing
	// (or wrapping to 0) and bounds the allocation by the file size.
	maxCount := int64(len(data)) / size
	count := int64(1)
	for i, d := range e.Shape {
		if d < 0 {
			return Tensor{}, 0, 0, fmt.Errorf("safetensors: tensor %q: shape[%d] is %d, a dimension must be at least 0", name, i, d)
		}
		if d == 0 {
			count = 0
			continue
		}
		if count > maxCount/int64(d) {
			return Tensor{}, 0, 0, fmt.Errorf("safetensors: tensor %q: shape %v has more elements than the %d %s values the %d data bytes can hold", name, e.Shape, maxCount, *e.DType, len(data))
		}
		count *= int64(d)
	}
	if hi-lo != count*size {
		return Tensor{}, 0, 0, fmt.Errorf("safetensors: tensor %q: data_offsets [%d, %d) span %d bytes, shape %v of %s needs %d", name, lo, hi, hi-lo, e.Shape, *e.DType, count*size)
	}
	buf := data[lo:hi]
	t := Tensor{Shape: e.Shape}
	switch *e.DType {
	case "F32":
		t.F32 = make([]float32, count)
		for i := range t.F32 {
			t.F32[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
		}
	case "I64":
		t.I64 = make([]int64, count)
		for i := range t.I64 {
			t.I64[i] = int64(binary.LittleEndian.Uint64(buf[8*i:]))
		}
	}
	return t, lo, hi, nil
}

// checkTiling holds that the tensors' byte ranges cover the data exactly
// once, as the reference reader requires: no two overlap, none leaves a
// gap, and the last ends at the end of the file.
func checkTiling(spans []located, n int64) error {
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].lo != spans[j].lo {
			return spans[i].lo < spans[j].lo
		}
		return spans[i].hi < spans[j].hi
	})
	var end int64
	prev := ""
	for _, s := range spans {
		switch {
		case s.lo < end:
			return fmt.Errorf("safetensors: tensor %q: data_offsets [%d, %d) overlap tensor %q, which ends at %d", s.name, s.lo, s.hi, prev, end)
		case s.lo > end:
			return fmt.Errorf("safetensors: tensor %q: data_offsets begin at %d, leaving bytes [%d, %d) unused (corrupt header)", s.name, s.lo, end, s.lo)
		}
		end, prev = s.hi, s.name
	}
	if end != n {
		return fmt.Errorf("safetensors: the tensors end at byte %d of the %d data bytes (trailing garbage, or a tensor missing from the header)", end, n)
	}
	return nil
}

// short shows raw bytes in an error, shortened.
func short(b []byte) string {
	s := string(bytes.TrimSpace(b))
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return s
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
		if t.F32 != nil && t.I64 != nil {
			return fmt.Errorf("safetensors: tensor %q has both F32 and I64 data", name)
		}
		if n, ok := elements(t.Shape); !ok || n != max(len(t.F32), len(t.I64)) {
			return fmt.Errorf("safetensors: tensor %q: shape %v does not hold its %d values", name, t.Shape, max(len(t.F32), len(t.I64)))
		}
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

// elements is the product of shape, false when a dimension is negative or
// the product overflows an int.
func elements(shape []int) (int, bool) {
	n, zero := 1, false
	for _, d := range shape {
		switch {
		case d < 0:
			return 0, false
		case d == 0:
			zero = true
		case !zero && n > math.MaxInt/d:
			return 0, false
		case !zero:
			n *= d
		}
	}
	if zero {
		return 0, true
	}
	return n, true
}

// Write stores f at path atomically (temporary file, fsync, rename), so a
// killed process never leaves a half-written checkpoint behind.
func Write(path string, f *File) error {
	return atomicfile.Write(path, func(w io.Writer) error { return Encode(w, f) })
}

package space

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"nas/blocks"
)

// The canonical JSON form of an Arch (docs/arch-format.md):
//
//	{"version":1,"name":"tiny","input":[1,28,28],"classes":10,
//	 "layers":[{"type":"conv","out":16,"kernel":3,"stride":2},{"type":"gap"},{"type":"linear","out":10}]}
//
// Each layer is an object with "type" and the spec's JSON fields; fields
// whose tag says omitempty are left out when zero. Decoding is strict:
// unknown fields, unknown types and values of the wrong kind are errors that
// name the JSON path.

// ArchJSONVersion is the version of the JSON format this package writes and
// reads.
const ArchJSONVersion = 1

// JSONError is a JSON document whose content is wrong at Path
// ("layers[3].kernel").
type JSONError struct {
	Path string
	Msg  string
}

func (e *JSONError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

func jsonErr(path, format string, args ...any) error {
	return &JSONError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// MarshalJSON writes the canonical JSON form (compact).
func (a Arch) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"version":%d`, ArchJSONVersion)
	if a.Name != "" {
		b.WriteString(`,"name":`)
		writeJSONString(&b, a.Name)
	}
	fmt.Fprintf(&b, `,"input":[%d,%d,%d],"classes":%d,`, a.Input.C, a.Input.H, a.Input.W, a.Classes)
	if a.BNEps != 0 {
		b.WriteString(`"bn_eps":` + strconv.FormatFloat(a.BNEps, 'g', -1, 64) + ",")
	}
	b.WriteString(`"layers":`)
	if err := writeLayersJSON(&b, a.Layers); err != nil {
		return nil, err
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// IndentedJSON is the canonical JSON form with one layer per line, for
// files people read.
func (a Arch) IndentedJSON() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\n  \"version\": %d,\n", ArchJSONVersion)
	if a.Name != "" {
		b.WriteString(`  "name": `)
		writeJSONString(&b, a.Name)
		b.WriteString(",\n")
	}
	fmt.Fprintf(&b, "  \"input\": [%d, %d, %d],\n  \"classes\": %d,\n", a.Input.C, a.Input.H, a.Input.W, a.Classes)
	if a.BNEps != 0 {
		b.WriteString("  \"bn_eps\": " + strconv.FormatFloat(a.BNEps, 'g', -1, 64) + ",\n")
	}
	b.WriteString("  \"layers\": [")
	for i, l := range a.Layers {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n    ")
		if err := writeLayerJSON(&b, l); err != nil {
			return nil, err
		}
	}
	if len(a.Layers) > 0 {
		b.WriteString("\n  ")
	}
	b.WriteString("]\n}\n")
	return b.Bytes(), nil
}

func writeLayersJSON(b *bytes.Buffer, layers []blocks.Spec) error {
	b.WriteByte('[')
	for i, l := range layers {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := writeLayerJSON(b, l); err != nil {
			return err
		}
	}
	b.WriteByte(']')
	return nil
}

// writeLayerJSON writes {"type":...,fields...} in struct order.
func writeLayerJSON(b *bytes.Buffer, s blocks.Spec) error {
	fields, err := specFields(s)
	if err != nil {
		return err
	}
	b.WriteString(`{"type":`)
	writeJSONString(b, s.Type())
	v := reflect.ValueOf(s).Elem()
	for _, f := range fields {
		fv := v.FieldByIndex(f.index)
		if f.isDefault(fv) && f.omitEmpty {
			continue
		}
		b.WriteByte(',')
		writeJSONString(b, f.json)
		b.WriteByte(':')
		switch f.kind {
		case kindInt:
			b.WriteString(strconv.FormatInt(fv.Int(), 10))
		case kindBool:
			b.WriteString(strconv.FormatBool(fv.Bool()))
		case kindString:
			writeJSONString(b, fv.String())
		case kindFloat:
			x := fv.Float()
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("%s block: %s: %v cannot be written as JSON", s.Type(), f.json, x)
			}
			b.WriteString(strconv.FormatFloat(x, 'f', -1, 64))
		case kindInts:
			b.WriteByte('[')
			for i := range fv.Len() {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strconv.FormatInt(fv.Index(i).Int(), 10))
			}
			b.WriteByte(']')
		}
	}
	b.WriteByte('}')
	return nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s) // a string always marshals
	b.Write(q)
}

// UnmarshalJSON reads the canonical JSON form and checks the result with
// Arch.Shapes. See ParseArchJSON.
func (a *Arch) UnmarshalJSON(data []byte) error {
	d, err := ParseArchJSON(data)
	if err != nil {
		return err
	}
	*a = *d
	return nil
}

// ParseArchJSON reads an Arch from its JSON form and checks it with
// Arch.Shapes, so that the Arch it returns is valid. Content errors are a
// *JSONError naming the path; a layer that does not fit its input is a
// *LayerError naming its index.
//
// The network must fit DefaultLimits (a *JSONError naming the field, or a
// *LimitError for an activation or the cost); ParseArchJSONWith takes other
// limits.
func ParseArchJSON(data []byte) (*Arch, error) { return ParseArchJSONWith(data, Limits{}) }

// ParseArchJSONWith is ParseArchJSON with limits l (zero fields meaning
// DefaultLimits).
func ParseArchJSONWith(data []byte, l Limits) (*Arch, error) {
	l = l.withDefaults()
	obj, err := decodeObject(data, "")
	if err != nil {
		return nil, err
	}
	if err := checkKeys(obj, "", "version", "name", "input", "classes", "bn_eps", "layers"); err != nil {
		return nil, err
	}
	if err := checkVersion(obj); err != nil {
		return nil, err
	}
	a := &Arch{}
	if raw, ok := obj["name"]; ok {
		if err := decodeString(raw, "name", &a.Name); err != nil {
			return nil, err
		}
	}
	if a.Input, err = decodeShape(obj, "input"); err != nil {
		return nil, err
	}
	raw, ok := obj["classes"]
	if !ok {
		return nil, jsonErr("classes", "missing: give the number of classes")
	}
	if a.Classes, err = decodeInt(raw, "classes"); err != nil {
		return nil, err
	}
	if err := checkHeaderJSON(l, a.Input, a.Classes); err != nil {
		return nil, err
	}
	if raw, ok := obj["bn_eps"]; ok {
		if a.BNEps, err = decodeFloat(raw, "bn_eps"); err != nil {
			return nil, err
		}
		if !(a.BNEps > 0 && a.BNEps < 1) {
			return nil, jsonErr("bn_eps", "%v must be in (0, 1), or leave it out for 1e-5", a.BNEps)
		}
	}
	raw, ok = obj["layers"]
	if !ok {
		return nil, jsonErr("layers", "missing: give the list of layers")
	}
	if a.Layers, err = decodeLayers(raw, "layers", l); err != nil {
		return nil, err
	}
	if _, err := a.Shapes(); err != nil {
		return nil, err
	}
	if err := a.CheckLimits(l); err != nil {
		return nil, err
	}
	return a, nil
}

// checkHeaderJSON checks the input shape and the classes against l, the
// error naming the JSON field.
func checkHeaderJSON(l Limits, in blocks.Shape, classes int) error {
	for _, c := range []struct {
		path string
		in   blocks.Shape
		cls  int
	}{
		{"input[0]", blocks.Shape{C: in.C}, 0},
		{"input[1]", blocks.Shape{H: in.H}, 0},
		{"input[2]", blocks.Shape{W: in.W}, 0},
		{"classes", blocks.Shape{}, classes},
	} {
		if err := l.checkInput(c.in, c.cls); err != nil {
			return jsonErr(c.path, "%v", err)
		}
	}
	return nil
}

func checkVersion(obj map[string]json.RawMessage) error {
	raw, ok := obj["version"]
	if !ok {
		return jsonErr("version", `missing: this is format version %d, add "version": %d`, ArchJSONVersion, ArchJSONVersion)
	}
	v, err := decodeInt(raw, "version")
	if err != nil {
		return err
	}
	if v != ArchJSONVersion {
		return jsonErr("version", "format version %d is not supported; this nas reads version %d", v, ArchJSONVersion)
	}
	return nil
}

// decodeObject reads a JSON object into its members; syntax errors say the
// line and column.
func decodeObject(data []byte, path string) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			line, col := lineCol(data, syn.Offset)
			return nil, jsonErr(path, "invalid JSON at line %d, column %d: %v", line, col, syn)
		}
		return nil, jsonErr(path, "want an object, got %s", describeJSON(data))
	}
	if obj == nil {
		return nil, jsonErr(path, "want an object, got null")
	}
	return obj, nil
}

func lineCol(data []byte, offset int64) (line, col int) {
	line, col = 1, 1
	for i := 0; i < len(data) && int64(i) < offset-1; i++ {
		if data[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// checkKeys rejects members not in known.
func checkKeys(obj map[string]json.RawMessage, path string, known ...string) error {
	var unknown []string
	for k := range obj {
		found := false
		for _, kn := range known {
			if k == kn {
				found = true
				break
			}
		}
		if !found {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return jsonErr(join(path, unknown[0]), "unknown field (known: %s)", strings.Join(sortedCopy(known), ", "))
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func decodeLayers(raw json.RawMessage, path string, l Limits) ([]blocks.Spec, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || items == nil {
		return nil, jsonErr(path, "want an array of layer objects, got %s", describeJSON(raw))
	}
	if len(items) > l.Layers {
		return nil, jsonErr(path, "%v", &LimitError{What: "number of layers", Value: int64(len(items)), Limit: int64(l.Layers), Field: "Layers"})
	}
	out := make([]blocks.Spec, 0, len(items))
	for i, it := range items {
		s, err := decodeLayer(it, fmt.Sprintf("%s[%d]", path, i), l)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// decodeLayer reads one {"type": ..., fields...} object.
func decodeLayer(raw json.RawMessage, path string, l Limits) (blocks.Spec, error) {
	obj, err := decodeObject(raw, path)
	if err != nil {
		return nil, err
	}
	typRaw, ok := obj["type"]
	if !ok {
		return nil, jsonErr(path, `missing "type" (known: %s)`, strings.Join(blocks.Types(), ", "))
	}
	var typ string
	if err := decodeString(typRaw, join(path, "type"), &typ); err != nil {
		return nil, err
	}
	spec, ok := blocks.NewSpec(typ)
	if !ok {
		return nil, jsonErr(join(path, "type"), "unknown block type %q (known: %s)", typ, strings.Join(blocks.Types(), ", "))
	}
	fields, err := specFields(spec)
	if err != nil {
		return nil, jsonErr(path, "%v", err)
	}
	known := []string{"type"}
	for _, f := range fields {
		known = append(known, f.json)
	}
	if err := checkKeys(obj, path, known...); err != nil {
		return nil, err
	}
	v := reflect.ValueOf(spec).Elem()
	for _, f := range fields {
		raw, ok := obj[f.json]
		if !ok {
			continue
		}
		if err := setFromJSON(v.FieldByIndex(f.index), f, raw, join(path, f.json)); err != nil {
			return nil, err
		}
		if err := l.checkField(f, v.FieldByIndex(f.index), f.json); err != nil {
			return nil, jsonErr(join(path, f.json), "%v", err)
		}
	}
	canonicalizeSpec(spec)
	return spec, nil
}

func setFromJSON(fv reflect.Value, f specField, raw json.RawMessage, path string) error {
	switch f.kind {
	case kindInt:
		n, err := decodeInt(raw, path)
		if err != nil {
			return err
		}
		fv.SetInt(int64(n))
	case kindBool:
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil || isNull(raw) {
			return jsonErr(path, "want true or false, got %s", describeJSON(raw))
		}
		fv.SetBool(b)
	case kindString:
		var s string
		if err := decodeString(raw, path, &s); err != nil {
			return err
		}
		if s != "" && !isIdent(s) {
			return jsonErr(path, "%q must be a lowercase word (letters, then letters or digits)", s)
		}
		fv.SetString(s)
	case kindFloat:
		x, err := decodeFloat(raw, path)
		if err != nil {
			return err
		}
		fv.SetFloat(x)
	case kindInts:
		if isNull(raw) {
			return nil
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return jsonErr(path, "want an array of integers, got %s", describeJSON(raw))
		}
		if len(items) == 0 {
			return nil // the zero value: nil, as the string form gives
		}
		ns := make([]int, len(items))
		for i, it := range items {
			n, err := decodeInt(it, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return err
			}
			ns[i] = n
		}
		fv.Set(reflect.ValueOf(ns).Convert(fv.Type()))
	}
	return nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// isQuoted reports whether raw is a JSON string (which json.Number would
// otherwise accept when it holds a number).
func isQuoted(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '"'
}

// decodeInt reads an integer that fits in 32 bits (as the string form does).
func decodeInt(raw json.RawMessage, path string) (int, error) {
	var num json.Number
	if err := json.Unmarshal(raw, &num); err != nil || isNull(raw) || isQuoted(raw) || num == "" {
		return 0, jsonErr(path, "want an integer, got %s", describeJSON(raw))
	}
	n, err := strconv.ParseInt(string(num), 10, 32)
	if err != nil {
		if _, ferr := strconv.ParseFloat(string(num), 64); ferr == nil && !strings.ContainsAny(string(num), ".eE") {
			return 0, jsonErr(path, "%s is out of range", num)
		}
		return 0, jsonErr(path, "want an integer, got %s", num)
	}
	return int(n), nil
}

func decodeFloat(raw json.RawMessage, path string) (float64, error) {
	var num json.Number
	if err := json.Unmarshal(raw, &num); err != nil || isNull(raw) || isQuoted(raw) || num == "" {
		return 0, jsonErr(path, "want a number, got %s", describeJSON(raw))
	}
	x, err := strconv.ParseFloat(string(num), 64)
	if err != nil || math.IsInf(x, 0) {
		return 0, jsonErr(path, "%s is out of range", num)
	}
	return x, nil
}

func decodeString(raw json.RawMessage, path string, s *string) error {
	if err := json.Unmarshal(raw, s); err != nil || isNull(raw) {
		return jsonErr(path, "want a string, got %s", describeJSON(raw))
	}
	return nil
}

func decodeShape(obj map[string]json.RawMessage, key string) (blocks.Shape, error) {
	raw, ok := obj[key]
	if !ok {
		return blocks.Shape{}, jsonErr(key, "missing: give the sample shape as [C, H, W], e.g. [3, 224, 224]")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || len(items) != 3 {
		return blocks.Shape{}, jsonErr(key, "want [C, H, W], e.g. [3, 224, 224], got %s", describeJSON(raw))
	}
	var n [3]int
	for i, it := range items {
		v, err := decodeInt(it, fmt.Sprintf("%s[%d]", key, i))
		if err != nil {
			return blocks.Shape{}, err
		}
		if v < 1 {
			return blocks.Shape{}, jsonErr(fmt.Sprintf("%s[%d]", key, i), "%d: every dimension must be at least 1", v)
		}
		n[i] = v
	}
	return blocks.Shape{C: n[0], H: n[1], W: n[2]}, nil
}

// describeJSON shows a JSON value in an error, shortened.
func describeJSON(raw []byte) string {
	s := string(bytes.TrimSpace(raw))
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	if s == "" {
		return "nothing"
	}
	return s
}

// LoadArch reads an Arch from a JSON file; errors name the file.
func LoadArch(path string) (*Arch, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err // *fs.PathError names the file
	}
	a, err := ParseArchJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

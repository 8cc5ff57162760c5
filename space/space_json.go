package space

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	"nas/blocks"
)

// ParseSpaceJSON reads a Space from its JSON form (docs/space-format.md)
// and validates it against DefaultLimits. Errors are a *JSONError naming
// the path.
func ParseSpaceJSON(data []byte) (*Space, error) { return ParseSpaceJSONWith(data, Limits{}) }

// ParseSpaceJSONWith is ParseSpaceJSON with limits l (zero fields meaning
// DefaultLimits) on the input, classes, layers and every option.
func ParseSpaceJSONWith(data []byte, l Limits) (*Space, error) {
	l = l.withDefaults()
	obj, err := decodeObject(data, "")
	if err != nil {
		return nil, err
	}
	if err := checkKeys(obj, "", "version", "name", "input", "classes", "stem", "stages", "head"); err != nil {
		return nil, err
	}
	if err := checkVersion(obj); err != nil {
		return nil, err
	}
	s := &Space{}
	if raw, ok := obj["name"]; ok {
		if err := decodeString(raw, "name", &s.Name); err != nil {
			return nil, err
		}
	}
	if s.Input, err = decodeShape(obj, "input"); err != nil {
		return nil, err
	}
	raw, ok := obj["classes"]
	if !ok {
		return nil, jsonErr("classes", "missing: give the number of classes")
	}
	if s.Classes, err = decodeInt(raw, "classes"); err != nil {
		return nil, err
	}
	if raw, ok := obj["stem"]; ok {
		if s.Stem, err = decodeLayers(raw, "stem", l); err != nil {
			return nil, err
		}
		if len(s.Stem) == 0 {
			s.Stem = nil // as when it is left out, which MarshalJSON writes as []
		}
	}
	raw, ok = obj["head"]
	if !ok {
		return nil, jsonErr("head", `missing: give the fixed last layers, e.g. [{"type":"gap"},{"type":"linear"}]`)
	}
	if s.Head, err = decodeLayers(raw, "head", l); err != nil {
		return nil, err
	}
	raw, ok = obj["stages"]
	if !ok {
		return nil, jsonErr("stages", "missing: give the list of stages")
	}
	var stages []json.RawMessage
	if err := json.Unmarshal(raw, &stages); err != nil || stages == nil {
		return nil, jsonErr("stages", "want an array of stage objects, got %s", describeJSON(raw))
	}
	if len(stages) > l.Layers {
		return nil, jsonErr("stages", "%v", &LimitError{What: "number of stages", Value: int64(len(stages)), Limit: int64(l.Layers), Field: "Layers"})
	}
	for i, raw := range stages {
		st, err := decodeStage(raw, fmt.Sprintf("stages[%d]", i))
		if err != nil {
			return nil, err
		}
		s.Stages = append(s.Stages, st)
	}
	if err := s.validate(l); err != nil {
		return nil, err
	}
	return s, nil
}

func decodeStage(raw json.RawMessage, p string) (Stage, error) {
	obj, err := decodeObject(raw, p)
	if err != nil {
		return Stage{}, err
	}
	if err := checkKeys(obj, p, "stride", "blocks", "kernels", "expansions", "se", "acts", "widths", "depths"); err != nil {
		return Stage{}, err
	}
	var st Stage
	if raw, ok := obj["stride"]; ok {
		if st.Stride, err = decodeInt(raw, join(p, "stride")); err != nil {
			return Stage{}, err
		}
	} else {
		st.Stride = 1
	}
	ints := func(key string, dst *[]int) error {
		raw, ok := obj[key]
		if !ok {
			return nil
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return jsonErr(join(p, key), "want an array of integers, got %s", describeJSON(raw))
		}
		for i, it := range items {
			n, err := decodeInt(it, fmt.Sprintf("%s.%s[%d]", p, key, i))
			if err != nil {
				return err
			}
			*dst = append(*dst, n)
		}
		return nil
	}
	floats := func(key string, dst *[]float64) error {
		raw, ok := obj[key]
		if !ok {
			return nil
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return jsonErr(join(p, key), "want an array of numbers, got %s", describeJSON(raw))
		}
		for i, it := range items {
			x, err := decodeFloat(it, fmt.Sprintf("%s.%s[%d]", p, key, i))
			if err != nil {
				return err
			}
			*dst = append(*dst, x)
		}
		return nil
	}
	strs := func(key string, dst *[]string) error {
		raw, ok := obj[key]
		if !ok {
			return nil
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return jsonErr(join(p, key), "want an array of strings, got %s", describeJSON(raw))
		}
		for i, it := range items {
			var s string
			if err := decodeString(it, fmt.Sprintf("%s.%s[%d]", p, key, i), &s); err != nil {
				return err
			}
			*dst = append(*dst, s)
		}
		return nil
	}
	var acts []string
	for _, err := range []error{
		strs("blocks", &st.Blocks), ints("kernels", &st.Kernels), floats("expansions", &st.Expansions),
		floats("se", &st.SE), strs("acts", &acts), ints("widths", &st.Widths), ints("depths", &st.Depths),
	} {
		if err != nil {
			return Stage{}, err
		}
	}
	for _, a := range acts {
		st.Acts = append(st.Acts, blocks.Act(a))
	}
	return st, nil
}

// maxStageDepth bounds the depth options of a stage.
const maxStageDepth = 64

// Validate checks that every choice of the space can be built: known
// families, the lists they need present, sensible and distinct values. It
// does not build every network (Arch and Sample check those). Sizes are
// checked against DefaultLimits.
func (s *Space) Validate() error { return s.validate(DefaultLimits()) }

func (s *Space) validate(l Limits) error {
	if s.Input.C < 1 || s.Input.H < 1 || s.Input.W < 1 {
		return jsonErr("input", "%v: every dimension must be at least 1", s.Input)
	}
	if s.Classes < 1 {
		return jsonErr("classes", "%d: must be at least 1", s.Classes)
	}
	if err := checkHeaderJSON(l, s.Input, s.Classes); err != nil {
		return err
	}
	if len(s.Stages) == 0 {
		return jsonErr("stages", "no stages: give at least one")
	}
	if _, err := s.head(); err != nil {
		return jsonErr("head", "%v", err)
	}
	depth := len(s.Stem) + len(s.Head)
	for i, st := range s.Stages {
		if err := st.validate(fmt.Sprintf("stages[%d]", i), l); err != nil {
			return err
		}
		depth += slices.Max(st.Depths)
	}
	if depth > l.Layers {
		return jsonErr("stages", "%v", &LimitError{What: "layers of the deepest network", Value: int64(depth), Limit: int64(l.Layers), Field: "Layers"})
	}
	return nil
}

func (st Stage) validate(p string, l Limits) error {
	if st.Stride < 1 {
		return jsonErr(join(p, "stride"), "%d: must be at least 1", st.Stride)
	}
	if st.Stride > l.Stride {
		return jsonErr(join(p, "stride"), "%v", &LimitError{What: "stride", Value: int64(st.Stride), Limit: int64(l.Stride), Field: "Stride"})
	}
	if len(st.Blocks) == 0 {
		return jsonErr(join(p, "blocks"), "no block families: give at least one of %s", strings.Join(knownFamilies(), ", "))
	}
	var needs [decisionsPerStage]string
	for i, b := range st.Blocks {
		f, ok := familyFor(b)
		if !ok {
			return jsonErr(fmt.Sprintf("%s.blocks[%d]", p, i), "unknown block family %q (known: %s)", b, strings.Join(knownFamilies(), ", "))
		}
		for d, u := range f.uses {
			if u && needs[d] == "" {
				needs[d] = b
			}
		}
	}
	needs[decWidth], needs[decDepth] = "every", "every"
	keys := [decisionsPerStage]string{"blocks", "kernels", "expansions", "se", "acts", "widths", "depths"}
	for d := decKernel; d < decisionsPerStage; d++ {
		if needs[d] != "" && st.count(d) == 0 && d != decSE {
			return jsonErr(join(p, keys[d]), "missing: the %s family needs a list of %s options", needs[d], decisionNames[d])
		}
	}
	opts := [decisionsPerStage][]string{}
	for d := range decisionsPerStage {
		opts[d] = st.options(d)
	}
	for d := range decisionsPerStage {
		seen := map[string]bool{}
		for i, o := range opts[d] {
			if seen[o] {
				return jsonErr(fmt.Sprintf("%s.%s[%d]", p, keys[d], i), "%s is listed twice", o)
			}
			seen[o] = true
		}
	}
	bad := func(d, i int, format string, args ...any) error {
		return jsonErr(fmt.Sprintf("%s.%s[%d]", p, keys[d], i), format, args...)
	}
	for i, k := range st.Kernels {
		if k < 1 {
			return bad(decKernel, i, "kernel %d must be at least 1", k)
		}
		if k > l.Kernel {
			return bad(decKernel, i, "%v", &LimitError{What: "kernel", Value: int64(k), Limit: int64(l.Kernel), Field: "Kernel"})
		}
	}
	for i, e := range st.Expansions {
		if !(e > 0) || math.IsInf(e, 0) || e > float64(l.Expansion) {
			return bad(decExpansion, i, "expansion ratio %v must be above 0 and at most %d (space.Limits.Expansion)", e, l.Expansion)
		}
	}
	for i, r := range st.SE {
		if !(r >= 0 && r <= 1) {
			return bad(decSE, i, "SE ratio %v must be between 0 (no SE) and 1", r)
		}
	}
	for i, a := range st.Acts {
		if a == blocks.ActNone || !a.Valid() {
			return bad(decAct, i, "unknown activation %q (want one of relu, relu6, hswish, swish)", string(a))
		}
	}
	for i, w := range st.Widths {
		if w < 1 || w > l.Channels {
			return bad(decWidth, i, "width %d must be between 1 and %d (space.Limits.Channels)", w, l.Channels)
		}
	}
	for i, n := range st.Depths {
		if n < 1 || n > maxStageDepth {
			return bad(decDepth, i, "depth %d must be between 1 and %d", n, maxStageDepth)
		}
	}
	return nil
}

// MarshalJSON writes the JSON form that ParseSpaceJSON reads.
func (s *Space) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"version":%d`, ArchJSONVersion)
	if s.Name != "" {
		b.WriteString(`,"name":`)
		writeJSONString(&b, s.Name)
	}
	fmt.Fprintf(&b, `,"input":[%d,%d,%d],"classes":%d,"stem":`, s.Input.C, s.Input.H, s.Input.W, s.Classes)
	if err := writeLayersJSON(&b, s.Stem); err != nil {
		return nil, err
	}
	b.WriteString(`,"stages":[`)
	for i, st := range s.Stages {
		if i > 0 {
			b.WriteByte(',')
		}
		acts := make([]string, len(st.Acts))
		for j, a := range st.Acts {
			acts[j] = string(a)
		}
		js, err := json.Marshal(struct {
			Stride     int       `json:"stride"`
			Blocks     []string  `json:"blocks"`
			Kernels    []int     `json:"kernels,omitempty"`
			Expansions []float64 `json:"expansions,omitempty"`
			SE         []float64 `json:"se,omitempty"`
			Acts       []string  `json:"acts,omitempty"`
			Widths     []int     `json:"widths"`
			Depths     []int     `json:"depths"`
		}{st.Stride, st.Blocks, st.Kernels, st.Expansions, st.SE, acts, st.Widths, st.Depths})
		if err != nil {
			return nil, err
		}
		b.Write(js)
	}
	b.WriteString(`],"head":`)
	if err := writeLayersJSON(&b, s.Head); err != nil {
		return nil, err
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

//go:embed spaces/*.json
var defaultSpaces embed.FS

// SpaceNames lists the spaces built into nas.
func SpaceNames() []string {
	entries, _ := defaultSpaces.ReadDir("spaces") // embedded: cannot fail
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".json"))
	}
	sort.Strings(out)
	return out
}

// LoadSpace returns a built-in space by name (see SpaceNames) or reads a
// space JSON file; errors name the file.
func LoadSpace(nameOrPath string) (*Space, error) {
	if !strings.ContainsAny(nameOrPath, "/.\\") {
		data, err := defaultSpaces.ReadFile(path.Join("spaces", nameOrPath+".json"))
		if err == nil {
			s, err := ParseSpaceJSON(data)
			if err != nil {
				return nil, fmt.Errorf("built-in space %s: %w", nameOrPath, err)
			}
			return s, nil
		}
		if _, statErr := os.Stat(nameOrPath); statErr != nil {
			return nil, fmt.Errorf("no space %q: give a built-in space (%s) or a space JSON file", nameOrPath, strings.Join(SpaceNames(), ", "))
		}
	}
	data, err := os.ReadFile(nameOrPath)
	if err != nil {
		return nil, err
	}
	s, err := ParseSpaceJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", nameOrPath, err)
	}
	return s, nil
}

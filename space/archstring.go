package space

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"nas/blocks"
)

// The arch string is the one-line form of an Arch, for logs, trial records,
// cache keys and the command line (docs/arch-format.md has the grammar):
//
//	in1x28x28 cls10 | conv_o16_k3_s2_ahswish | ir_k3_m16_o16_se8 | gap | linear_o10
//
// A header gives the input shape and the classes; then come the layers,
// separated by "|" or spaces. A layer is its block type followed by tokens,
// joined by "_"; a token is a key (the spec field's `arch` tag) directly
// followed by its value. Zero values are left out.

// ParseError is an arch string that cannot be read: which layer, which
// token, and why.
type ParseError struct {
	Layer int    // index in Arch.Layers of the first layer the item makes; -1 for the header
	Item  string // the whole layer or header item
	Token string // the token at fault; empty when the whole item is
	Msg   string // what is wrong and how to fix it
}

func (e *ParseError) Error() string {
	var b strings.Builder
	if e.Layer < 0 {
		b.WriteString("header")
	} else {
		fmt.Fprintf(&b, "layer %d", e.Layer)
	}
	item := e.Item
	if len(item) > 48 {
		item = item[:45] + "..."
	}
	fmt.Fprintf(&b, " %q", item)
	if e.Token != "" {
		fmt.Fprintf(&b, ": token %q", e.Token)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// ParseArch reads an arch string and checks the result with Arch.Shapes, so
// that the Arch it returns is valid. Errors are a *ParseError for the syntax
// and a *LayerError for a layer that does not fit its input.
//
// Besides the canonical form that String writes, ParseArch accepts two
// conveniences: rN repeats a layer N times (the first copy keeps its stride,
// the others have stride 1), and for "ir" blocks eN sets the expanded
// channels to N times the block's input channels.
//
// The network must fit DefaultLimits (a *LimitError says which value is too
// large); ParseArchWith takes other limits.
func ParseArch(s string) (*Arch, error) { return ParseArchWith(s, Limits{}) }

// ParseArchWith is ParseArch with limits l (zero fields meaning
// DefaultLimits). Sizes are checked as they are read, so that a repeat
// count or an expansion cannot allocate before it is refused, and the
// params and MACs are checked before the Arch is returned.
func ParseArchWith(s string, l Limits) (*Arch, error) {
	l = l.withDefaults()
	a, err := parseArchString(s, l)
	if err != nil {
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

// expansionField is the arch token that eN sets for a block type (N times
// the input channels), or "" when the type has no expansion convenience.
func expansionField(typ string) string {
	if typ == "ir" {
		return "m"
	}
	return ""
}

func parseArchString(s string, l Limits) (*Arch, error) {
	items := strings.FieldsFunc(s, func(r rune) bool { return r == '|' || unicode.IsSpace(r) })
	if len(items) == 0 {
		return nil, fmt.Errorf("empty arch string: write the input and classes, then the layers, e.g. \"in1x28x28 cls10 | conv_o8_k3 | gap | linear_o10\"")
	}
	a := &Arch{}
	haveInput, haveClasses := false, false
	i := 0
header:
	for ; i < len(items); i++ {
		it := items[i]
		switch {
		case isHeaderItem(it, "in"):
			if haveInput {
				return nil, &ParseError{Layer: -1, Item: it, Msg: "input shape given twice"}
			}
			sh, err := parseShape(it[2:])
			if err != nil {
				return nil, &ParseError{Layer: -1, Item: it, Msg: err.Error()}
			}
			if err := l.checkInput(sh, 0); err != nil {
				return nil, &ParseError{Layer: -1, Item: it, Msg: err.Error()}
			}
			a.Input, haveInput = sh, true
		case isHeaderItem(it, "cls"):
			if haveClasses {
				return nil, &ParseError{Layer: -1, Item: it, Msg: "classes given twice"}
			}
			n, err := parseInt(it[3:])
			if err != nil {
				return nil, &ParseError{Layer: -1, Item: it, Msg: "classes: " + err.Error()}
			}
			if err := l.checkInput(blocks.Shape{}, n); err != nil {
				return nil, &ParseError{Layer: -1, Item: it, Msg: err.Error()}
			}
			a.Classes, haveClasses = n, true
		case isHeaderItem(it, "bneps"):
			v, err := strconv.ParseFloat(it[5:], 64)
			if err != nil || !(v > 0 && v < 1) {
				return nil, &ParseError{Layer: -1, Item: it, Msg: "bn eps must be a number in (0, 1), e.g. bneps0.001"}
			}
			a.BNEps = v
		default:
			break header
		}
	}
	if !haveInput {
		return nil, &ParseError{Layer: -1, Item: items[0], Msg: "missing input shape: start with it, e.g. \"in3x224x224 cls1000 | ...\""}
	}
	if !haveClasses {
		return nil, &ParseError{Layer: -1, Item: items[0], Msg: "missing classes: put e.g. \"cls1000\" after the input shape"}
	}
	running, runningErr := a.Input, error(nil)
	for ; i < len(items); i++ {
		it := items[i]
		layer := len(a.Layers)
		if isHeaderItem(it, "in") || isHeaderItem(it, "cls") || isHeaderItem(it, "bneps") {
			return nil, &ParseError{Layer: layer, Item: it, Msg: "the input shape and classes go before the first layer"}
		}
		b, err := parseBlock(it, layer, l)
		if err != nil {
			return nil, err
		}
		if layer+b.repeat > l.Layers {
			lerr := &LimitError{What: "number of layers", Value: int64(layer + b.repeat), Limit: int64(l.Layers), Field: "Layers"}
			return nil, &ParseError{Layer: layer, Item: it, Token: b.repeatToken, Msg: lerr.Error()}
		}
		for k := range b.repeat {
			s := b.spec
			if k > 0 {
				s = cloneSpec(b.spec)
				if b.stride != nil {
					reflect.ValueOf(s).Elem().FieldByIndex(b.stride).SetInt(0)
				}
			}
			if b.expansion > 0 {
				if runningErr != nil {
					return nil, &ParseError{Layer: layer, Item: it, Token: b.expansionToken, Msg: fmt.Sprintf("cannot resolve the expansion: the input channels are unknown because an earlier layer does not fit (%v)", runningErr)}
				}
				mid := int64(running.C) * int64(b.expansion)
				if mid > int64(l.Channels) {
					lerr := &LimitError{What: fmt.Sprintf("expanded channels (%d input channels times %d)", running.C, b.expansion), Value: mid, Limit: int64(l.Channels), Field: "Channels"}
					return nil, &ParseError{Layer: layer, Item: it, Token: b.expansionToken, Msg: lerr.Error()}
				}
				reflect.ValueOf(s).Elem().FieldByIndex(b.expansionIndex).SetInt(mid)
			}
			canonicalizeSpec(s)
			a.Layers = append(a.Layers, s)
			if runningErr == nil {
				out, err := s.OutShape(running)
				if err != nil {
					runningErr = &LayerError{Index: len(a.Layers) - 1, Type: s.Type(), In: running, Err: err}
				}
				running = out
			}
		}
	}
	return a, nil
}

// parsedBlock is one layer item before repeats and expansion are applied.
type parsedBlock struct {
	spec           blocks.Spec
	repeat         int
	repeatToken    string
	stride         []int // index of the "s" field, nil if the type has none
	expansion      int   // eN, 0 if absent
	expansionToken string
	expansionIndex []int
}

func parseBlock(item string, layer int, l Limits) (parsedBlock, error) {
	body, count, hasCount := strings.Cut(item, "*")
	tokens := strings.Split(body, "_")
	typ := tokens[0]
	perr := func(token, format string, args ...any) error {
		return &ParseError{Layer: layer, Item: item, Token: token, Msg: fmt.Sprintf(format, args...)}
	}
	spec, ok := blocks.NewSpec(typ)
	if !ok {
		return parsedBlock{}, perr("", "unknown block type %q (known: %s)", typ, strings.Join(blocks.Types(), ", "))
	}
	fields, err := specFields(spec)
	if err != nil {
		return parsedBlock{}, perr("", "%v", err)
	}
	b := parsedBlock{spec: spec, repeat: 1}
	if f, ok := fieldByToken(fields, "s"); ok && f.kind == kindInt {
		b.stride = f.index
	}
	if hasCount {
		n, err := parseInt(count)
		if err == nil && n < 1 {
			err = fmt.Errorf("repeat count %d must be at least 1", n)
		}
		if err != nil {
			return parsedBlock{}, perr("*"+count, "repeat: %v", err)
		}
		b.repeat, b.repeatToken = n, "*"+count
	}
	keys := blockKeys(typ, fields)
	expField := expansionField(typ)
	if f, ok := fieldByToken(fields, expField); ok && slices.Contains(keys, "e") {
		b.expansionIndex = f.index
	}
	v := reflect.ValueOf(spec).Elem()
	seen := map[string]string{}
	for _, tok := range tokens[1:] {
		if tok == "" {
			return parsedBlock{}, perr("", "empty token (two \"_\" in a row, or a trailing \"_\")")
		}
		key := ""
		for _, k := range keys {
			if strings.HasPrefix(tok, k) && len(k) > len(key) {
				key = k
			}
		}
		if key == "" {
			return parsedBlock{}, perr(tok, "unknown key for a %s block (known: %s)", typ, strings.Join(sortedCopy(keys), ", "))
		}
		if prev, dup := seen[key]; dup {
			return parsedBlock{}, perr(tok, "key %q already given by token %q", key, prev)
		}
		seen[key] = tok
		val := tok[len(key):]
		switch key {
		case repeatKey(fields):
			if hasCount {
				return parsedBlock{}, perr(tok, "repeat given twice (r and *)")
			}
			n, err := parseInt(val)
			if err == nil && n < 1 {
				err = fmt.Errorf("repeat count %d must be at least 1", n)
			}
			if err != nil {
				return parsedBlock{}, perr(tok, "repeat: %v", err)
			}
			b.repeat, b.repeatToken = n, tok
			continue
		case "e":
			if b.expansionIndex != nil {
				if _, both := seen[expField]; both {
					return parsedBlock{}, perr(tok, "give the expansion e or the channels %s, not both", expField)
				}
				n, err := parseInt(val)
				if err == nil && n < 1 {
					err = fmt.Errorf("expansion %d must be at least 1", n)
				}
				if err == nil && n > l.Expansion {
					err = &LimitError{What: "expansion", Value: int64(n), Limit: int64(l.Expansion), Field: "Expansion"}
				}
				if err != nil {
					return parsedBlock{}, perr(tok, "expansion: %v", err)
				}
				b.expansion, b.expansionToken = n, tok
				continue
			}
		case expField:
			if _, both := seen["e"]; both && b.expansionIndex != nil {
				return parsedBlock{}, perr(tok, "give the expansion e or the channels %s, not both", expField)
			}
		}
		f, _ := fieldByToken(fields, key)
		if err := setFromString(v.FieldByIndex(f.index), f, val); err != nil {
			return parsedBlock{}, perr(tok, "%v", err)
		}
		if err := l.checkField(f, v.FieldByIndex(f.index), f.json); err != nil {
			return parsedBlock{}, perr(tok, "%v", err)
		}
	}
	return b, nil
}

// blockKeys lists the keys a block's tokens may start with: its fields'
// tokens, "r" (repeat) unless a field has it, and "e" (expansion) for the
// types with that convenience.
func blockKeys(typ string, fields []specField) []string {
	var keys []string
	if _, own := fieldByToken(fields, "r"); !own {
		keys = append(keys, "r")
	}
	if f, ok := fieldByToken(fields, expansionField(typ)); ok && f.kind == kindInt {
		if _, clash := fieldByToken(fields, "e"); !clash {
			keys = append(keys, "e")
		}
	}
	for _, f := range fields {
		keys = append(keys, f.token)
	}
	return keys
}

// repeatKey is "r", the repeat key, unless the type has a field of that
// name (ghost, sqnxt), in which case only the "*N" suffix repeats.
func repeatKey(fields []specField) string {
	if _, own := fieldByToken(fields, "r"); own {
		return "\x00" // matches no token
	}
	return "r"
}

// setFromString sets a field from the value part of a token.
func setFromString(fv reflect.Value, f specField, val string) error {
	switch f.kind {
	case kindInt:
		n, err := parseInt(val)
		if err != nil {
			return err
		}
		fv.SetInt(int64(n))
	case kindBool:
		if val != "" {
			return fmt.Errorf("%q is a flag and takes no value (write just %q)", f.token, f.token)
		}
		fv.SetBool(true)
	case kindString:
		if !isIdent(val) {
			if val == "" {
				return fmt.Errorf("%q needs a value, e.g. %srelu", f.token, f.token)
			}
			return fmt.Errorf("value %q must be a lowercase word (letters, then letters or digits)", val)
		}
		fv.SetString(val)
	case kindFloat:
		x, err := parseFloat(val)
		if err != nil {
			return err
		}
		fv.SetFloat(x)
	case kindInts:
		if val == "" {
			return fmt.Errorf("%q needs a value: integers joined by \"x\", e.g. %s1x2x4", f.token, f.token)
		}
		parts := strings.Split(val, "x")
		ns := make([]int, len(parts))
		for i, p := range parts {
			n, err := parseInt(p)
			if err != nil {
				return fmt.Errorf("element %d: %v", i, err)
			}
			ns[i] = n
		}
		fv.Set(reflect.ValueOf(ns).Convert(fv.Type()))
	}
	return nil
}

// parseInt reads an optional minus sign and decimal digits.
func parseInt(s string) (int, error) {
	digits := strings.TrimPrefix(s, "-")
	if digits == "" {
		return 0, fmt.Errorf("missing number")
	}
	for i := range len(digits) {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, fmt.Errorf("%q is not an integer", s)
		}
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s is out of range", s)
	}
	return int(n), nil
}

// parseFloat reads an optional minus sign, digits, and an optional
// fraction: no exponent, no signs elsewhere, no inf or nan.
func parseFloat(s string) (float64, error) {
	whole, frac, hasDot := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	ok := whole != "" && allDigits(whole) && (!hasDot || (frac != "" && allDigits(frac)))
	if !ok {
		if s == "" {
			return 0, fmt.Errorf("missing number")
		}
		return 0, fmt.Errorf("%q is not a decimal number (write e.g. 0.25)", s)
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(x, 0) {
		return 0, fmt.Errorf("%s is out of range", s)
	}
	return x, nil
}

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isHeaderItem(item, prefix string) bool {
	return len(item) > len(prefix) && strings.HasPrefix(item, prefix) && (item[len(prefix)] >= '0' && item[len(prefix)] <= '9' || item[len(prefix)] == '-')
}

// parseShape reads CxHxW.
func parseShape(s string) (blocks.Shape, error) {
	parts := strings.Split(s, "x")
	if len(parts) != 3 {
		return blocks.Shape{}, fmt.Errorf("input shape %q must be CxHxW, e.g. 3x224x224", s)
	}
	var n [3]int
	for i, p := range parts {
		v, err := parseInt(p)
		if err != nil {
			return blocks.Shape{}, fmt.Errorf("input shape %q: %v", s, err)
		}
		if v < 1 {
			return blocks.Shape{}, fmt.Errorf("input shape %q: every dimension must be at least 1", s)
		}
		n[i] = v
	}
	return blocks.Shape{C: n[0], H: n[1], W: n[2]}, nil
}

// ParseShape reads a sample shape written CxHxW ("3x224x224"), the form
// of the --input flag.
func ParseShape(s string) (blocks.Shape, error) { return parseShape(s) }

// String is the canonical arch string: the header, then every layer in its
// canonical block form, separated by " | ". The name is not part of it.
// ParseArch(a.String()) gives back an equal Arch (without the name).
func (a Arch) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "in%dx%dx%d cls%d", a.Input.C, a.Input.H, a.Input.W, a.Classes)
	if a.BNEps != 0 {
		b.WriteString(" bneps" + strconv.FormatFloat(a.BNEps, 'f', -1, 64))
	}
	for _, l := range a.Layers {
		b.WriteString(" | ")
		b.WriteString(BlockString(l))
	}
	return b.String()
}

// BlockString is the canonical string of one block: its type, then a token
// for every field that is not zero, in the order of the spec struct. It
// panics if the spec's type is not usable by the codecs, a programmer error
// in a block family file that the space tests catch for every registered
// type.
func BlockString(s blocks.Spec) string {
	fields, err := specFields(s)
	if err != nil {
		panic("space: " + err.Error())
	}
	var b strings.Builder
	b.WriteString(s.Type())
	v := reflect.ValueOf(s).Elem()
	for _, f := range fields {
		fv := v.FieldByIndex(f.index)
		if f.isDefault(fv) {
			continue
		}
		b.WriteByte('_')
		b.WriteString(f.token)
		switch f.kind {
		case kindInt:
			b.WriteString(strconv.FormatInt(fv.Int(), 10))
		case kindBool:
		case kindString:
			b.WriteString(fv.String())
		case kindFloat:
			b.WriteString(strconv.FormatFloat(fv.Float(), 'f', -1, 64))
		case kindInts:
			for i := range fv.Len() {
				if i > 0 {
					b.WriteByte('x')
				}
				b.WriteString(strconv.FormatInt(fv.Index(i).Int(), 10))
			}
		}
	}
	return b.String()
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

// fieldKind is the kind of value a spec field holds, which decides how it is
// written in arch strings and JSON.
type fieldKind int

const (
	kindInt    fieldKind = iota // decimal: k3
	kindBool                    // bare key when true: nobn
	kindString                  // lowercase identifier: ahswish
	kindFloat                   // decimal without exponent: x0.25
	kindInts                    // integers joined by "x": d1x2x4
)

// specField is one field of a block spec that the arch codecs read and
// write: a field with an `arch:"token"` tag, possibly promoted from an
// embedded struct (blocks.SE inside MBConv).
type specField struct {
	token     string // arch-string key
	json      string // JSON field name
	omitEmpty bool   // JSON leaves the zero value out
	kind      fieldKind
	index     []int // reflect.Value.FieldByIndex path
	// def is the value an int field's zero stands for (`def:"1"` on a
	// stride): writing it is the same as leaving it out, so the canonical
	// forms leave it out and a spec with Stride 1 and one with Stride 0
	// have one string.
	def    int64
	hasDef bool
}

// canonicalizeSpec zeroes the int fields that hold the value their zero
// stands for (Stride 1, Kernel 3, ...), so that equal networks decode to
// equal specs whichever way they were written.
func canonicalizeSpec(s blocks.Spec) {
	fields, err := specFields(s)
	if err != nil {
		return
	}
	v := reflect.ValueOf(s).Elem()
	for _, f := range fields {
		if fv := v.FieldByIndex(f.index); f.kind == kindInt && f.hasDef && fv.Int() == f.def {
			fv.SetInt(0)
		}
	}
}

// isDefault reports whether fv is the field's zero value or the value its
// zero stands for: the codecs leave such a field out.
func (f specField) isDefault(fv reflect.Value) bool {
	switch {
	case fv.IsZero():
		return true
	case f.kind == kindInts:
		return fv.Len() == 0
	case f.kind == kindInt && f.hasDef:
		return fv.Int() == f.def
	}
	return false
}

// specFields lists the codec fields of a spec in struct order, embedded
// structs' fields in place of the embedded struct. An error here is a
// programmer error in a block family file (an unsupported field type, a
// token used twice); TestRegisteredSpecs checks every registered type.
func specFields(s blocks.Spec) ([]specField, error) {
	t := reflect.TypeOf(s)
	if c, ok := specFieldsCache.Load(t); ok {
		c := c.(cachedFields)
		return c.fields, c.err
	}
	fields, err := collectSpecFields(s)
	specFieldsCache.Store(t, cachedFields{fields, err})
	return fields, err
}

// specFieldsCache holds specFields by spec type: the parsers, String and
// the limits check ask for a type's fields once per layer. The slices it
// returns are shared and must not be modified.
var specFieldsCache sync.Map // reflect.Type -> cachedFields

type cachedFields struct {
	fields []specField
	err    error
}

func collectSpecFields(s blocks.Spec) ([]specField, error) {
	v := reflect.ValueOf(s)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("%s spec is %T, want a pointer to a struct", s.Type(), s)
	}
	var out []specField
	if err := collectFields(v.Elem().Type(), nil, &out); err != nil {
		return nil, fmt.Errorf("%s spec: %w", s.Type(), err)
	}
	tokens, names := map[string]bool{}, map[string]bool{"type": true}
	for _, f := range out {
		if tokens[f.token] {
			return nil, fmt.Errorf("%s spec: arch token %q used twice or reserved", s.Type(), f.token)
		}
		if names[f.json] {
			return nil, fmt.Errorf("%s spec: JSON name %q used twice or reserved", s.Type(), f.json)
		}
		tokens[f.token], names[f.json] = true, true
	}
	return out, nil
}

func collectFields(t reflect.Type, prefix []int, out *[]specField) error {
	for i := range t.NumField() {
		f := t.Field(i)
		index := append(append([]int(nil), prefix...), i)
		tag, tagged := f.Tag.Lookup("arch")
		if f.Anonymous && !tagged && f.Type.Kind() == reflect.Struct {
			if err := collectFields(f.Type, index, out); err != nil {
				return err
			}
			continue
		}
		if !f.IsExported() || !tagged || tag == "-" {
			continue
		}
		if !isIdent(tag) {
			return fmt.Errorf("field %s: arch token %q must be a lowercase letter followed by lowercase letters or digits", f.Name, tag)
		}
		sf := specField{token: tag, json: tag, index: index}
		if j, ok := f.Tag.Lookup("json"); ok {
			name, opts, _ := strings.Cut(j, ",")
			if name != "" {
				sf.json = name
			}
			sf.omitEmpty = strings.Contains(","+opts+",", ",omitempty,")
		}
		if d, ok := f.Tag.Lookup("def"); ok {
			v, err := strconv.ParseInt(d, 10, 64)
			if err != nil || f.Type.Kind() != reflect.Int {
				return fmt.Errorf("field %s: def tag %q needs an int field and an integer", f.Name, d)
			}
			sf.def, sf.hasDef = v, true
		}
		switch {
		case f.Type.Kind() == reflect.Int:
			sf.kind = kindInt
		case f.Type.Kind() == reflect.Bool:
			sf.kind = kindBool
		case f.Type.Kind() == reflect.String:
			sf.kind = kindString
		case f.Type.Kind() == reflect.Float64:
			sf.kind = kindFloat
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Int:
			sf.kind = kindInts
		default:
			return fmt.Errorf("field %s: type %v is not supported by the arch codecs (int, bool, string, float64, []int)", f.Name, f.Type)
		}
		*out = append(*out, sf)
	}
	return nil
}

// fieldByToken returns the field with the arch token, if any.
func fieldByToken(fields []specField, token string) (specField, bool) {
	for _, f := range fields {
		if f.token == token {
			return f, true
		}
	}
	return specField{}, false
}

// tokenList is the sorted, comma-separated list of a type's keys, for errors.
func tokenList(fields []specField, extra ...string) string {
	var ts []string
	for _, f := range fields {
		ts = append(ts, f.token)
	}
	ts = append(ts, extra...)
	sort.Strings(ts)
	if len(ts) == 0 {
		return "none"
	}
	return strings.Join(ts, ", ")
}

// isIdent reports whether s is a value a string field can take in both
// formats: a lowercase letter followed by lowercase letters and digits.
func isIdent(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// cloneSpec returns a deep copy of a spec (slices included).
func cloneSpec(s blocks.Spec) blocks.Spec {
	v := reflect.ValueOf(s)
	c := reflect.New(v.Elem().Type())
	c.Elem().Set(v.Elem())
	fields, _ := specFields(s)
	for _, f := range fields {
		if f.kind == kindInts {
			fv := c.Elem().FieldByIndex(f.index)
			if !fv.IsNil() {
				fv.Set(reflect.ValueOf(append([]int(nil), fv.Interface().([]int)...)).Convert(fv.Type()))
			}
		}
	}
	return c.Interface().(blocks.Spec)
}

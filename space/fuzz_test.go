package space

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzParseArch holds that ParseArch never panics and that every string it
// accepts round-trips: through String (to the same Arch, and String is a
// fixed point) and through the JSON form. The seeds in testdata/fuzz and
// below run with every `go test`; CI adds a short fuzzing run.
func FuzzParseArch(f *testing.F) {
	for _, s := range []string{
		tinyArch,
		"in1x28x28 cls10 conv_o8_k3_s2_r3 gap linear_o10",
		"in3x32x32 cls10 | conv_o16_k3_s2_arelu6_nobn | conv_o16_k1_g4 | pool_avg_k3_s2_p1_ceil | dropout_p20 | gap | linear_o10_nobias",
		"in1x28x28 cls10 | conv_o8_k03 | gap | linear_o10",
		"in1x28x28 cls10 | conv_o8_k3_q | gap",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseArch(s)
		if err != nil {
			return
		}
		str := a.String()
		b, err := ParseArch(str)
		if err != nil {
			t.Fatalf("ParseArch(%q) accepted, but its String %q fails: %v", s, str, err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("ParseArch(%q) and ParseArch(String) differ: %#v vs %#v", s, a, b)
		}
		if b.String() != str {
			t.Fatalf("String not a fixed point: %q -> %q", str, b.String())
		}
		data, err := json.Marshal(a)
		if err != nil {
			t.Fatalf("marshal %q: %v", str, err)
		}
		c, err := ParseArchJSON(data)
		if err != nil {
			t.Fatalf("JSON of %q does not read back: %v\n%s", str, err, data)
		}
		if c.String() != str {
			t.Fatalf("JSON round trip changed %q to %q", str, c.String())
		}
	})
}

// FuzzParseArchJSON holds that ParseArchJSON never panics and that every
// document it accepts writes back to JSON that reads to the same Arch.
func FuzzParseArchJSON(f *testing.F) {
	f.Add([]byte(`{"version":1,"name":"t","input":[1,28,28],"classes":10,"layers":[{"type":"conv","out":8,"kernel":3,"stride":2,"act":"relu"},{"type":"gap"},{"type":"linear","out":10}]}`))
	f.Add([]byte(`{"version":1,"input":[3,8,8],"classes":2,"layers":[{"type":"ir","out":8,"mid":16,"se":8,"se_gate":"sigmoid"},{"type":"gap"},{"type":"linear","out":2,"no_bias":true}]}`))
	f.Add([]byte(`{"version":1,"input":[3,8,8],"classes":2,"layers":[{"type":"fire","squeeze":2,"e1":4,"e3":4},{"type":"pool","kernel":2,"ceil":true},{"type":"gap"},{"type":"linear","out":2}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseArchJSON(data)
		if err != nil {
			return
		}
		out, err := json.Marshal(a)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		b, err := ParseArchJSON(out)
		if err != nil {
			t.Fatalf("%s does not read back: %v", out, err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("JSON round trip changed %s", out)
		}
		if c, err := ParseArch(a.String()); err != nil || c.String() != a.String() {
			t.Fatalf("string form %q does not read back: %v", a.String(), err)
		}
	})
}

package space

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"

	"nas/blocks"
	"nas/blocks/nn"
)

// exercise holds that an Arch a parser accepted goes through what the
// commands do with it without a panic: Graph, Cost, and, when the network
// is small, building it and a forward pass on one sample. The cost bound
// keeps each execution fast; it is far below the Limits, which the parsers
// already checked.
func exercise(t *testing.T, a *Arch) {
	t.Helper()
	if err := a.CheckLimits(Limits{}); err != nil {
		t.Fatalf("parser accepted %q beyond the limits: %v", a.String(), err)
	}
	g, err := a.Graph()
	if err != nil {
		t.Fatalf("Graph of accepted %q: %v", a.String(), err)
	}
	c, err := a.Cost()
	if err != nil {
		t.Fatalf("Cost of accepted %q: %v", a.String(), err)
	}
	if c.Params < 0 || c.MACs < 0 {
		t.Fatalf("Cost of %q is negative: %+v", a.String(), c)
	}
	if c.Params > 20000 || c.MACs > 200000 || a.Input.C*a.Input.H*a.Input.W > 4096 {
		return
	}
	net, err := blocks.NewNetwork(g, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatalf("NewNetwork of accepted %q: %v", a.String(), err)
	}
	x := nn.New(1, a.Input.C, a.Input.H, a.Input.W)
	for i := range x.Data {
		x.Data[i] = float32(i%7) - 3
	}
	y := net.Forward(nil, x)
	if len(y.Data) != a.Classes {
		t.Fatalf("forward of %q gives %d values, want %d classes", a.String(), len(y.Data), a.Classes)
	}
}

// FuzzParseArch holds that ParseArch never panics, that every string it
// accepts round-trips: through String (to the same Arch, and String is a
// fixed point) and through the JSON form, and that the Arch goes through
// exercise. The seeds in testdata/fuzz and
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
		exercise(t, a)
	})
}

// FuzzParseArchJSON holds that ParseArchJSON never panics and that every
// document it accepts writes back to JSON that reads to the same Arch, and
// that the Arch goes through exercise.
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
		exercise(t, a)
	})
}

// FuzzParseSpaceJSON holds that ParseSpaceJSON never panics, that every
// space it accepts writes back to JSON that reads to the same Space, and
// that the space's first network (choice vector of zeros) can be built and
// costed.
func FuzzParseSpaceJSON(f *testing.F) {
	f.Add([]byte(convSpace))
	for _, name := range SpaceNames() {
		data, err := defaultSpaces.ReadFile("spaces/" + name + ".json")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSpaceJSON(data)
		if err != nil {
			return
		}
		out, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		b, err := ParseSpaceJSON(out)
		if err != nil {
			t.Fatalf("%s does not read back: %v", out, err)
		}
		if !reflect.DeepEqual(s, b) {
			t.Fatalf("JSON round trip changed the space:\n%s", out)
		}
		a, err := s.Arch(make([]int, len(s.Cardinalities())))
		if err != nil {
			return // a space whose smallest choice does not fit is refused when sampled
		}
		if _, err := a.Cost(); err != nil {
			t.Fatalf("Cost of the space's first network %q: %v", a.String(), err)
		}
	})
}

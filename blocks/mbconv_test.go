package blocks

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestMBConvShapeAndCost(t *testing.T) {
	tests := []struct {
		name     string
		spec     MBConv
		in       Shape
		out      Shape
		cost     Cost
		expands  bool
		residual bool
	}{
		{
			name: "expansion 1: no expand conv (mobilenet v2 first block)",
			spec: MBConv{Out: 16, Mid: 32, Act: ActReLU6},
			in:   Shape{32, 112, 112},
			out:  Shape{16, 112, 112},
			// dw 32*9 + BN 64, project 32*16 + BN 32
			cost: Cost{Params: 288 + 64 + 512 + 32, MACs: (288 + 512) * 112 * 112},
		},
		{
			name:    "expansion 6, stride 2",
			spec:    MBConv{Out: 24, Mid: 96, Stride: 2, Act: ActReLU6},
			in:      Shape{16, 112, 112},
			out:     Shape{24, 56, 56},
			cost:    Cost{Params: 1536 + 192 + 864 + 192 + 2304 + 48, MACs: 1536*112*112 + 864*56*56 + 2304*56*56},
			expands: true,
		},
		{
			name: "kernel 5 with SE (mobilenet v3)",
			spec: MBConv{Out: 40, Mid: 72, Kernel: 5, Stride: 2, Act: ActReLU, SE: SE{Squeeze: 24}},
			in:   Shape{24, 28, 28},
			out:  Shape{40, 14, 14},
			// expand 24*72, dw 72*25, SE 2*72*24 + biases 24+72, project 72*40
			cost:    Cost{Params: 1728 + 144 + 1800 + 144 + 3552 + 2880 + 80, MACs: 1728*784 + 1800*196 + 3456 + 2880*196},
			expands: true,
		},
		{
			name:     "residual",
			spec:     MBConv{Out: 24, Mid: 144, Act: ActReLU6},
			in:       Shape{24, 56, 56},
			out:      Shape{24, 56, 56},
			cost:     Cost{Params: 3456 + 288 + 1296 + 288 + 3456 + 48, MACs: (3456 + 1296 + 3456) * 56 * 56},
			expands:  true,
			residual: true,
		},
		{
			name:    "no skip where one would fit",
			spec:    MBConv{Out: 24, Mid: 144, Act: ActReLU6, NoSkip: true},
			in:      Shape{24, 56, 56},
			out:     Shape{24, 56, 56},
			cost:    Cost{Params: 3456 + 288 + 1296 + 288 + 3456 + 48, MACs: (3456 + 1296 + 3456) * 56 * 56},
			expands: true,
		},
		{
			name: "grouped 1x1 convs, expand kept at ratio 1 (fbnet ir_k5_s2)",
			spec: MBConv{Out: 64, Mid: 64, Kernel: 5, Groups: 2, Act: ActReLU, AlwaysExpand: true},
			in:   Shape{64, 14, 14},
			out:  Shape{64, 14, 14},
			// expand and project 64/2*64 each, dw 64*25
			cost:     Cost{Params: 2048 + 128 + 1600 + 128 + 2048 + 128, MACs: (2048 + 1600 + 2048) * 196},
			expands:  true,
			residual: true,
		},
		{
			name:     "grouped project without expand conv",
			spec:     MBConv{Out: 64, Mid: 64, Kernel: 3, Groups: 2, Act: ActReLU},
			in:       Shape{64, 14, 14},
			out:      Shape{64, 14, 14},
			cost:     Cost{Params: 576 + 128 + 2048 + 128, MACs: (576 + 2048) * 196},
			residual: true,
		},
		{
			name: "kernel 7 stride 2 on a 3x3 input",
			spec: MBConv{Out: 8, Mid: 16, Kernel: 7, Stride: 2, Act: ActHSwish},
			in:   Shape{8, 3, 3},
			out:  Shape{8, 2, 2},
			cost: Cost{Params: 128 + 32 + 784 + 32 + 128 + 16, MACs: 128*9 + 784*4 + 128*4},
			// stride 2: no residual although channels match
			expands: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.spec.OutShape(tt.in)
			if err != nil {
				t.Fatalf("OutShape(%v): %v", tt.in, err)
			}
			if out != tt.out {
				t.Errorf("OutShape(%v) = %v, want %v", tt.in, out, tt.out)
			}
			if got := tt.spec.Cost(tt.in); got != tt.cost {
				t.Errorf("Cost(%v) = %+v, want %+v", tt.in, got, tt.cost)
			}
			if got := tt.spec.Expands(tt.in); got != tt.expands {
				t.Errorf("Expands = %v, want %v", got, tt.expands)
			}
			if got := tt.spec.Residual(tt.in); got != tt.residual {
				t.Errorf("Residual = %v, want %v", got, tt.residual)
			}
		})
	}
}

func TestMBConvBadSettings(t *testing.T) {
	in := Shape{16, 8, 8}
	ok := MBConv{Out: 16, Mid: 64, Act: ActReLU}
	with := func(f func(*MBConv)) MBConv { m := ok; f(&m); return m }
	tests := []struct {
		name  string
		spec  MBConv
		field string
	}{
		{"no outputs", with(func(m *MBConv) { m.Out = 0 }), "o"},
		{"no expanded channels", with(func(m *MBConv) { m.Mid = 0 }), "m"},
		{"negative expanded channels", with(func(m *MBConv) { m.Mid = -16 }), "m"},
		{"even kernel", with(func(m *MBConv) { m.Kernel = 4 }), "k"},
		{"kernel 1", with(func(m *MBConv) { m.Kernel = 1 }), "k"},
		{"kernel 9", with(func(m *MBConv) { m.Kernel = 9 }), "k"},
		{"stride 4", with(func(m *MBConv) { m.Stride = 4 }), "s"},
		{"negative groups", with(func(m *MBConv) { m.Groups = -2 }), "g"},
		{"groups not dividing mid", with(func(m *MBConv) { m.Groups = 3 }), "g"},
		{"groups not dividing input", with(func(m *MBConv) { m.Groups = 32; m.Mid = 64; m.Out = 32 }), "g"},
		{"unknown activation", with(func(m *MBConv) { m.Act = "gelu" }), "a"},
		{"negative squeeze", with(func(m *MBConv) { m.SE.Squeeze = -1 }), "se"},
		{"unknown SE inner activation", with(func(m *MBConv) { m.SE = SE{Squeeze: 4, Inner: "tanh"} }), "sea"},
		{"unknown SE gate", with(func(m *MBConv) { m.SE = SE{Squeeze: 4, Gate: "softmax"} }), "seg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.spec.OutShape(in)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("OutShape error = %v, want a *FieldError", err)
			}
			if fe.Type != "ir" || fe.Field != tt.field {
				t.Errorf("error names %s/%s, want ir/%s (%v)", fe.Type, fe.Field, tt.field, err)
			}
			if c := tt.spec.Cost(in); c != (Cost{}) {
				t.Errorf("Cost of an invalid spec = %+v, want zero", c)
			}
		})
	}
}

func TestMBConvKernelMessage(t *testing.T) {
	m := MBConv{Out: 16, Mid: 64, Kernel: 4}
	_, err := m.OutShape(Shape{16, 8, 8})
	const want = "ir block: k: kernel 4 must be odd (3, 5 or 7)"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestMBConvJSONFlattensSE(t *testing.T) {
	m := MBConv{Out: 40, Mid: 120, Kernel: 5, Act: ActSwish, SE: SE{Squeeze: 10, Inner: ActSwish, Gate: ActSigmoid}}
	b, err := json.Marshal(&m)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"se":10`, `"se_act":"swish"`, `"se_gate":"sigmoid"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON %s lacks %s", b, key)
		}
	}
	if strings.Contains(string(b), "stride") || strings.Contains(string(b), "no_skip") {
		t.Errorf("JSON %s spells out zero-valued defaults", b)
	}
	var back MBConv
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != m {
		t.Errorf("JSON round trip = %+v, want %+v", back, m)
	}
	if s, ok := NewSpec("ir"); !ok || s.Type() != "ir" {
		t.Errorf(`NewSpec("ir") = %v, %v`, s, ok)
	}
}

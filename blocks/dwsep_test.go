package blocks

import (
	"errors"
	"testing"
)

func TestDWSepShapeAndCost(t *testing.T) {
	tests := []struct {
		name string
		spec DWSep
		in   Shape
		out  Shape
		cost Cost
	}{
		{
			name: "mobilenet v1 first block",
			spec: DWSep{Out: 64, Act: ActReLU},
			in:   Shape{32, 112, 112},
			out:  Shape{64, 112, 112},
			// dw 32*9 + BN 2*32, pw 32*64 + BN 2*64; (288+2048)*112*112 MACs
			cost: Cost{Params: 2528, MACs: 29_302_784},
		},
		{
			name: "stride 2",
			spec: DWSep{Out: 128, Stride: 2, Act: ActReLU},
			in:   Shape{64, 112, 112},
			out:  Shape{128, 56, 56},
			cost: Cost{Params: 576 + 128 + 8192 + 256, MACs: (576 + 8192) * 56 * 56},
		},
		{
			name: "kernel 5, stride 2 on an odd size rounds up",
			spec: DWSep{Out: 8, Kernel: 5, Stride: 2},
			in:   Shape{4, 7, 7},
			out:  Shape{8, 4, 4},
			cost: Cost{Params: 4*25 + 8 + 4*8 + 16, MACs: (4*25 + 4*8) * 16},
		},
		{
			name: "1x1 input at stride 2",
			spec: DWSep{Out: 2, Stride: 2},
			in:   Shape{2, 1, 1},
			out:  Shape{2, 1, 1},
			cost: Cost{Params: 18 + 4 + 4 + 4, MACs: 18 + 4},
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
		})
	}
}

func TestDWSepBadSettings(t *testing.T) {
	in := Shape{16, 8, 8}
	tests := []struct {
		name  string
		spec  DWSep
		field string
	}{
		{"no outputs", DWSep{Out: 0}, "o"},
		{"negative outputs", DWSep{Out: -4}, "o"},
		{"even kernel", DWSep{Out: 8, Kernel: 2}, "k"},
		{"negative kernel", DWSep{Out: 8, Kernel: -3}, "k"},
		{"kernel 9", DWSep{Out: 8, Kernel: 9}, "k"},
		{"stride 3", DWSep{Out: 8, Stride: 3}, "s"},
		{"negative stride", DWSep{Out: 8, Stride: -1}, "s"},
		{"unknown activation", DWSep{Out: 8, Act: "gelu"}, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.spec.OutShape(in)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("OutShape error = %v, want a *FieldError", err)
			}
			if fe.Type != "dwsep" || fe.Field != tt.field {
				t.Errorf("error names %s/%s, want dwsep/%s (%v)", fe.Type, fe.Field, tt.field, err)
			}
			if c := tt.spec.Cost(in); c != (Cost{}) {
				t.Errorf("Cost of an invalid spec = %+v, want zero", c)
			}
		})
	}
}

func TestDWSepRegistered(t *testing.T) {
	s, ok := NewSpec("dwsep")
	if !ok {
		t.Fatal(`NewSpec("dwsep") not registered`)
	}
	if _, ok := s.(*DWSep); !ok || s.Type() != "dwsep" {
		t.Errorf(`NewSpec("dwsep") = %T with type %q`, s, s.Type())
	}
}

package blocks

import "testing"

func TestFire(t *testing.T) {
	runBlockCases(t, []blockCase{
		// torchvision Fire(96, 16, 64, 64): 96*16+16 + 16*64+64 + 16*64*9+64
		// = 11920 params; MACs 54*54 * (1536 + 1024 + 9216).
		{name: "squeezenet fire2", spec: &Fire{Squeeze: 16, E1: 64, E3: 64}, in: Shape{96, 54, 54},
			out: Shape{128, 54, 54}, cost: Cost{Params: 11920, MACs: 2916 * 11776}},
		// No 1x1 expand: 8*4+4 + 4*8*9+8 = 332; MACs 25 * (32 + 288).
		{name: "only 3x3 expand", spec: &Fire{Squeeze: 4, E3: 8}, in: Shape{8, 5, 5},
			out: Shape{8, 5, 5}, cost: Cost{Params: 332, MACs: 8000}},
		// 1x1 maps: 3*2+2 + 2*5+5 = 23; MACs 1 * (6 + 10).
		{name: "1x1 input", spec: &Fire{Squeeze: 2, E1: 5}, in: Shape{3, 1, 1},
			out: Shape{5, 1, 1}, cost: Cost{Params: 23, MACs: 16}},
		{name: "no squeeze", spec: &Fire{E1: 4, E3: 4}, in: Shape{8, 5, 5}, wantErr: "squeeze channels 0", field: "sq"},
		{name: "negative e1", spec: &Fire{Squeeze: 2, E1: -1, E3: 4}, in: Shape{8, 5, 5}, wantErr: "-1", field: "e1"},
		{name: "negative e3", spec: &Fire{Squeeze: 2, E1: 4, E3: -3}, in: Shape{8, 5, 5}, wantErr: "-3", field: "e3"},
		{name: "no expand", spec: &Fire{Squeeze: 2}, in: Shape{8, 5, 5}, wantErr: "(0 + 0)", field: "e1"},
	})
}

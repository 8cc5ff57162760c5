package blocks

import "testing"

func TestShuffleV2(t *testing.T) {
	runBlockCases(t, []blockCase{
		// torchvision x1.0 stage 2 repeat: 58*58 + 58*9 + 58*58 = 7250
		// weights, BN 2*3*58 = 348.
		{name: "stride 1", spec: &ShuffleV2{Out: 116}, in: Shape{116, 28, 28},
			out: Shape{116, 28, 28}, cost: Cost{Params: 7598, MACs: 7250 * 784}},
		// torchvision x1.0 stage 2 first unit: left dw 24*9 + 24*58, right
		// 24*58 (at 56x56) + 58*9 + 58*58; BN 2*(24 + 4*58) = 512.
		{name: "stride 2", spec: &ShuffleV2{Out: 116, Stride: 2}, in: Shape{24, 56, 56},
			out: Shape{116, 28, 28}, cost: Cost{Params: 6886 + 512, MACs: (216+1392+522+3364)*784 + 1392*3136}},
		// Narrow right branch (mid 6), 5x5 kernel: 8*6 + 6*25 + 6*8 = 246
		// weights, BN 2*(6+6+8) = 40, at 5x5.
		{name: "explicit mid k5", spec: &ShuffleV2{Out: 16, Mid: 6, Kernel: 5}, in: Shape{16, 5, 5},
			out: Shape{16, 5, 5}, cost: Cost{Params: 286, MACs: 246 * 25}},
		{name: "odd output", spec: &ShuffleV2{Out: 57, Stride: 2}, in: Shape{24, 56, 56}, wantErr: "output channels 57 must be even (the unit splits them in two halves)", field: "o"},
		{name: "unequal split", spec: &ShuffleV2{Out: 232}, in: Shape{116, 28, 28}, wantErr: "split would be unequal", field: "o"},
		{name: "stride 3", spec: &ShuffleV2{Out: 116, Stride: 3}, in: Shape{116, 28, 28}, wantErr: "stride 3", field: "s"},
		{name: "even kernel", spec: &ShuffleV2{Out: 116, Kernel: 2}, in: Shape{116, 28, 28}, wantErr: "kernel 2", field: "k"},
	})
}

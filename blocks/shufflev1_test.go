package blocks

import "testing"

func TestShuffleV1(t *testing.T) {
	runBlockCases(t, []blockCase{
		// g=3, stage 3 repeat: 240 -> 240, mid 60. Weights 80*60 + 60*9 +
		// 20*240 = 10140, BN 2*(60+60+240) = 720.
		{name: "stride 1 g3", spec: &ShuffleV1{Out: 240, Groups: 3}, in: Shape{240, 28, 28},
			out: Shape{240, 28, 28}, cost: Cost{Params: 10860, MACs: 10140 * 784}},
		// First unit of stage 2, g=3: dense 24*60 at 56x56, dw 60*9 and
		// grouped 20*216 at 28x28; BN 2*(60+60+216) = 672.
		{name: "stride 2 dense first", spec: &ShuffleV1{Out: 240, Groups: 3, Stride: 2, DenseFirst: true}, in: Shape{24, 56, 56},
			out: Shape{240, 28, 28}, cost: Cost{Params: 1440 + 540 + 4320 + 672, MACs: 1440*3136 + (540+4320)*784}},
		// Explicit mid, g=1, 5x5 kernel, odd size 7 -> 4: weights 8*4 at 49, 4*25
		// and 4*8 at 16; BN 2*(4+4+8) = 32.
		{name: "stride 2 k5 odd size", spec: &ShuffleV1{Out: 16, Mid: 4, Stride: 2, Kernel: 5}, in: Shape{8, 7, 7},
			out: Shape{16, 4, 4}, cost: Cost{Params: 32 + 100 + 32 + 32, MACs: 32*49 + 132*16}},
		{name: "stride 1 width change", spec: &ShuffleV1{Out: 480, Groups: 3}, in: Shape{240, 28, 28}, wantErr: "must equal input channels 240", field: "o"},
		{name: "stride 2 not wider", spec: &ShuffleV1{Out: 24, Stride: 2}, in: Shape{24, 28, 28}, wantErr: "must exceed input channels 24", field: "o"},
		{name: "groups do not divide input", spec: &ShuffleV1{Out: 240, Groups: 8, Stride: 2}, in: Shape{20, 56, 56}, wantErr: "divide input channels 20", field: "g"},
		{name: "mid not multiple of groups", spec: &ShuffleV1{Out: 240, Mid: 50, Groups: 3}, in: Shape{240, 28, 28}, wantErr: "bottleneck channels 50", field: "m"},
		{name: "branch not multiple of groups", spec: &ShuffleV1{Out: 100, Mid: 24, Groups: 8, Stride: 2}, in: Shape{24, 28, 28}, wantErr: "branch output channels 76", field: "o"},
		{name: "even kernel", spec: &ShuffleV1{Out: 24, Kernel: 4}, in: Shape{24, 28, 28}, wantErr: "kernel 4", field: "k"},
		{name: "mid rounds to zero", spec: &ShuffleV1{Out: 3}, in: Shape{3, 8, 8}, wantErr: "come to 0", field: "m"},
	})
}

package blocks

import "testing"

func TestSqNxt(t *testing.T) {
	runBlockCases(t, []blockCase{
		// 1.0-SqNxt-23 stage 1, block 1 (Caffe Convolution2..7): 64 -> 32,
		// reduce 16, squeeze 8, projection shortcut. Weights 64*16 + 16*8 +
		// 8*16*3 + 16*16*3 + 16*32 + 64*32 = 4864, BN 2*(16+8+16+16+32+32) = 240.
		{name: "narrowing", spec: &SqNxt{Out: 32}, in: Shape{64, 55, 55},
			out: Shape{32, 55, 55}, cost: Cost{Params: 5104, MACs: 4864 * 55 * 55}},
		// Stage 2, block 1: stride 2, 32 -> 64, reduce 32, squeeze 16. Weights
		// 32*32 + 32*16 + 16*32*3 + 32*32*3 + 32*64 + 32*64 = 10240, BN 480.
		{name: "stride 2", spec: &SqNxt{Out: 64, Stride: 2}, in: Shape{32, 55, 55},
			out: Shape{64, 28, 28}, cost: Cost{Params: 10720, MACs: 10240 * 28 * 28}},
		// Identity shortcut: 32 -> 32, reduce 16, squeeze 8. Weights 512 + 128
		// + 384 + 768 + 512 = 2304, BN 2*(16+8+16+16+32) = 176.
		{name: "identity", spec: &SqNxt{Out: 32}, in: Shape{32, 7, 7},
			out: Shape{32, 7, 7}, cost: Cost{Params: 2480, MACs: 2304 * 49}},
		// Explicit widths and an odd size: 10 -> 6, r 3, sq 1, stride 2 on 5x5
		// gives 3x3. Weights 30 + 3 + 9 + 27 + 18 + 60 = 147, BN 2*(3+1+3+3+6+6) = 44.
		{name: "explicit widths", spec: &SqNxt{Out: 6, Stride: 2, Reduce: 3, Squeeze: 1}, in: Shape{10, 5, 5},
			out: Shape{6, 3, 3}, cost: Cost{Params: 191, MACs: 147 * 9}},
		{name: "no output", spec: &SqNxt{}, in: Shape{8, 4, 4}, wantErr: "output channels 0", field: "o"},
		{name: "stride 3", spec: &SqNxt{Out: 8, Stride: 3}, in: Shape{8, 4, 4}, wantErr: "stride 3 must be 1 or 2", field: "s"},
		{name: "reduce to nothing", spec: &SqNxt{Out: 1}, in: Shape{1, 4, 4}, wantErr: "from 1 input channels", field: "r"},
		{name: "squeeze to nothing", spec: &SqNxt{Out: 2, Reduce: 1}, in: Shape{2, 4, 4}, wantErr: "reduce channels 1", field: "sq"},
		{name: "negative reduce", spec: &SqNxt{Out: 2, Reduce: -2}, in: Shape{2, 4, 4}, wantErr: "-2", field: "r"},
	})
}

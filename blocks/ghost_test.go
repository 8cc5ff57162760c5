package blocks

import "testing"

func TestGhost(t *testing.T) {
	runBlockCases(t, []blockCase{
		// GhostNet's first bottleneck: two Ghost modules 16 -> 16 (primary 8:
		// 16*8 + BN 16, cheap 8*9 + BN 16), identity shortcut.
		{name: "identity", spec: &Ghost{Mid: 16, Out: 16}, in: Shape{16, 112, 112},
			out: Shape{16, 112, 112}, cost: Cost{Params: 464, MACs: 400 * 12544}},
		// GhostNet stage 3 first bottleneck: 24 -> mid 72 -> 40, k5, stride 2, SE
		// 20. Ghost 24->72 (864+72, 324+72) at 56x56; dw 72*25+144; SE
		// 2*72*20+20+72; ghost 72->40 (1440+40, 180+40); shortcut dw
		// 24*25+48 and 24*40+80, at 28x28.
		{name: "stride 2 SE", spec: &Ghost{Mid: 72, Out: 40, Kernel: 5, Stride: 2, SE: SE{Squeeze: 20}}, in: Shape{24, 56, 56},
			out: Shape{40, 28, 28}, cost: Cost{Params: 9636, MACs: 1188*3136 + 4980*784 + 2880}},
		// Ratio 3 and odd output 5: ghost 4->6 (primary 2: 8+4, cheap 4*9+8)
		// and 6->5 (primary 2: 12+4, cheap 36+8), shortcut dw 4*9+8 and 20+10,
		// stride 1 so no depthwise in the main path.
		{name: "ratio 3 odd out", spec: &Ghost{Mid: 6, Out: 5, Ratio: 3}, in: Shape{4, 3, 3},
			out: Shape{5, 3, 3}, cost: Cost{Params: 12 + 44 + 16 + 44 + 44 + 30, MACs: (8 + 36 + 12 + 36 + 36 + 20) * 9}},
		{name: "no mid", spec: &Ghost{Out: 16}, in: Shape{16, 8, 8}, wantErr: "expanded channels 0", field: "m"},
		{name: "no out", spec: &Ghost{Mid: 16}, in: Shape{16, 8, 8}, wantErr: "output channels 0", field: "o"},
		{name: "ratio 1", spec: &Ghost{Mid: 16, Out: 16, Ratio: 1}, in: Shape{16, 8, 8}, wantErr: "ratio 1", field: "r"},
		{name: "stride 4", spec: &Ghost{Mid: 16, Out: 16, Stride: 4}, in: Shape{16, 8, 8}, wantErr: "stride 4", field: "s"},
		{name: "even kernel", spec: &Ghost{Mid: 16, Out: 16, Kernel: 4}, in: Shape{16, 8, 8}, wantErr: "kernel 4", field: "k"},
		{name: "negative SE", spec: &Ghost{Mid: 16, Out: 16, SE: SE{Squeeze: -4}}, in: Shape{16, 8, 8}, wantErr: "squeeze channels -4", field: "se"},
		{name: "bad SE gate", spec: &Ghost{Mid: 16, Out: 16, SE: SE{Squeeze: 4, Gate: "tanh"}}, in: Shape{16, 8, 8}, wantErr: `"tanh"`, field: "seg"},
	})
}

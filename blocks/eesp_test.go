package blocks

import (
	"slices"
	"testing"
)

func TestEESP(t *testing.T) {
	runBlockCases(t, []blockCase{
		// ESPNetv2 level 3 repeat: 128 -> 128, K=4, n=32. Reduce 32*32 + BN
		// 64 + PReLU 32; 4 depthwise 32*9; BN+PReLU 384; expand 32*128 + BN
		// 256; PReLU 128.
		{name: "plain residual", spec: &EESP{Out: 128, RLim: 9}, in: Shape{128, 28, 28},
			out: Shape{128, 28, 28}, cost: Cost{Params: 7136, MACs: (1024 + 1152 + 4096) * 784}},
		// ESPNetv2 level 2 down-sampler: 32 -> 64 (branch 32, n=8) with input
		// reinforcement from 3 channels. Reduce 8*8 + 24 (at 112x112); dw
		// 4*72; 96; expand 8*32 + 64; PReLU 64; reinforcement 81+6+3 and
		// 3*64 + 128 (at 56x56).
		{name: "down with reinforcement", spec: &EESP{Out: 64, Stride: 2, RLim: 13, Down: true, Reinf: 3}, in: Shape{32, 112, 112},
			out: Shape{64, 56, 56}, cost: Cost{Params: 1266, MACs: 64*12544 + (288+256+81+192)*3136}},
		// Two branches, odd size 7 -> 4, plain unit at stride 2 (no residual):
		// 4 -> 8, n=4: reduce 2*4 + 12 at 49; dw 2*36; 24; expand 4*8 + 16;
		// PReLU 8.
		{name: "plain stride 2 two branches", spec: &EESP{Out: 8, Stride: 2, Branches: 2}, in: Shape{4, 7, 7},
			out: Shape{8, 4, 4}, cost: Cost{Params: 8 + 12 + 72 + 24 + 32 + 16 + 8, MACs: 8*49 + (72+32)*16}},
		{name: "branches do not divide output", spec: &EESP{Out: 130}, in: Shape{128, 8, 8}, wantErr: "branch output channels 130", field: "o"},
		{name: "branch width not multiple of K", spec: &EESP{Out: 8}, in: Shape{8, 8, 8}, wantErr: "branch width 2", field: "b"},
		{name: "down not wider", spec: &EESP{Out: 64, Stride: 2, Down: true}, in: Shape{64, 8, 8}, wantErr: "must exceed input channels 64", field: "o"},
		{name: "reinforcement without down", spec: &EESP{Out: 64, Reinf: 3}, in: Shape{64, 8, 8}, wantErr: "needs the strided unit", field: "ri"},
		{name: "tiny receptive limit", spec: &EESP{Out: 64, RLim: 2}, in: Shape{64, 8, 8}, wantErr: "limit 2", field: "rl"},
		{name: "stride 3", spec: &EESP{Out: 64, Stride: 3}, in: Shape{64, 8, 8}, wantErr: "stride 3", field: "s"},
	})
}

func TestEESPDilations(t *testing.T) {
	for _, tc := range []struct {
		spec EESP
		want []int
	}{
		{EESP{RLim: 13}, []int{1, 2, 3, 4}},
		{EESP{}, []int{1, 1, 2, 3}}, // limit 7: 3, 5, 7, 9->3
		{EESP{RLim: 5}, []int{1, 1, 1, 2}},
		{EESP{Branches: 2, RLim: 3}, []int{1, 1}},
	} {
		if got := tc.spec.Dilations(); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: Dilations() = %v, want %v", tc.spec, got, tc.want)
		}
	}
}

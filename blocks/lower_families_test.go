package blocks

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The op lists below are worked out from each family's reference code (see
// the Lower doc comments): the order of ops, which value each reads, the
// convolution settings and the shapes.

var dwsepLowerCases = []lowerCase{
	{"k3 s1 relu", &DWSep{Out: 16, Act: ActReLU}, Shape{8, 6, 6}, []string{
		"v1 = conv[dw.conv k3x3 s1 p1,1 d1 g8](v0) 8x6x6",
		"v2 = bn[dw.bn](v1) 8x6x6",
		"v3 = act[relu dw.act](v2) 8x6x6",
		"v4 = conv[pw.conv k1x1 s1 p0,0 d1 g1](v3) 16x6x6",
		"v5 = bn[pw.bn](v4) 16x6x6",
		"v6 = act[relu pw.act](v5) 16x6x6",
	}},
	{"k5 s2 linear", &DWSep{Out: 16, Kernel: 5, Stride: 2}, Shape{8, 7, 7}, []string{
		"v1 = conv[dw.conv k5x5 s2 p2,2 d1 g8](v0) 8x4x4",
		"v2 = bn[dw.bn](v1) 8x4x4",
		"v3 = conv[pw.conv k1x1 s1 p0,0 d1 g1](v2) 16x4x4",
		"v4 = bn[pw.bn](v3) 16x4x4",
	}},
}

var mbconvLowerCases = []lowerCase{
	{"expand s2 no residual", &MBConv{Out: 24, Mid: 96, Stride: 2, Act: ActReLU6}, Shape{16, 8, 8}, []string{
		"v1 = conv[expand.conv k1x1 s1 p0,0 d1 g1](v0) 96x8x8",
		"v2 = bn[expand.bn](v1) 96x8x8",
		"v3 = act[relu6 expand.act](v2) 96x8x8",
		"v4 = conv[dw.conv k3x3 s2 p1,1 d1 g96](v3) 96x4x4",
		"v5 = bn[dw.bn](v4) 96x4x4",
		"v6 = act[relu6 dw.act](v5) 96x4x4",
		"v7 = conv[project.conv k1x1 s1 p0,0 d1 g1](v6) 24x4x4",
		"v8 = bn[project.bn](v7) 24x4x4",
	}},
	{"no expand residual", &MBConv{Out: 16, Mid: 16, Act: ActReLU}, Shape{16, 8, 8}, []string{
		"v1 = conv[dw.conv k3x3 s1 p1,1 d1 g16](v0) 16x8x8",
		"v2 = bn[dw.bn](v1) 16x8x8",
		"v3 = act[relu dw.act](v2) 16x8x8",
		"v4 = conv[project.conv k1x1 s1 p0,0 d1 g1](v3) 16x8x8",
		"v5 = bn[project.bn](v4) 16x8x8",
		"v6 = add(v5, v0) 16x8x8",
	}},
	{"V3 SE residual", &MBConv{Out: 16, Mid: 64, Kernel: 5, Act: ActHSwish, SE: SE{Squeeze: 16}}, Shape{16, 8, 8}, []string{
		"v1 = conv[expand.conv k1x1 s1 p0,0 d1 g1](v0) 64x8x8",
		"v2 = bn[expand.bn](v1) 64x8x8",
		"v3 = act[hswish expand.act](v2) 64x8x8",
		"v4 = conv[dw.conv k5x5 s1 p2,2 d1 g64](v3) 64x8x8",
		"v5 = bn[dw.bn](v4) 64x8x8",
		"v6 = act[hswish dw.act](v5) 64x8x8",
		"v7 = gap(v6) 64x1x1",
		"v8 = conv[se.reduce k1x1 s1 p0,0 d1 g1 bias](v7) 16x1x1",
		"v9 = act[relu se.act](v8) 16x1x1",
		"v10 = conv[se.expand k1x1 s1 p0,0 d1 g1 bias](v9) 64x1x1",
		"v11 = act[hsigmoid se.gate](v10) 64x1x1",
		"v12 = mul(v6, v11) 64x8x8",
		"v13 = conv[project.conv k1x1 s1 p0,0 d1 g1](v12) 16x8x8",
		"v14 = bn[project.bn](v13) 16x8x8",
		"v15 = add(v14, v0) 16x8x8",
	}},
	{"EfficientNet SE no skip", &MBConv{Out: 32, Mid: 32, Act: ActSwish, NoSkip: true,
		SE: SE{Squeeze: 8, Inner: ActSwish, Gate: ActSigmoid}}, Shape{32, 8, 8}, []string{
		"v1 = conv[dw.conv k3x3 s1 p1,1 d1 g32](v0) 32x8x8",
		"v2 = bn[dw.bn](v1) 32x8x8",
		"v3 = act[swish dw.act](v2) 32x8x8",
		"v4 = gap(v3) 32x1x1",
		"v5 = conv[se.reduce k1x1 s1 p0,0 d1 g1 bias](v4) 8x1x1",
		"v6 = act[swish se.act](v5) 8x1x1",
		"v7 = conv[se.expand k1x1 s1 p0,0 d1 g1 bias](v6) 32x1x1",
		"v8 = act[sigmoid se.gate](v7) 32x1x1",
		"v9 = mul(v3, v8) 32x8x8",
		"v10 = conv[project.conv k1x1 s1 p0,0 d1 g1](v9) 32x8x8",
		"v11 = bn[project.bn](v10) 32x8x8",
	}},
	{"FBNet groups shuffle", &MBConv{Out: 16, Mid: 16, Groups: 2, Stride: 2, Act: ActReLU, AlwaysExpand: true}, Shape{16, 8, 8}, []string{
		"v1 = conv[expand.conv k1x1 s1 p0,0 d1 g2](v0) 16x8x8",
		"v2 = bn[expand.bn](v1) 16x8x8",
		"v3 = act[relu expand.act](v2) 16x8x8",
		"v4 = shuffle[g2](v3) 16x8x8",
		"v5 = conv[dw.conv k3x3 s2 p1,1 d1 g16](v4) 16x4x4",
		"v6 = bn[dw.bn](v5) 16x4x4",
		"v7 = act[relu dw.act](v6) 16x4x4",
		"v8 = conv[project.conv k1x1 s1 p0,0 d1 g2](v7) 16x4x4",
		"v9 = bn[project.bn](v8) 16x4x4",
	}},
}

var fireLowerCases = []lowerCase{
	{"both expands", &Fire{Squeeze: 16, E1: 64, E3: 64}, Shape{96, 13, 13}, []string{
		"v1 = conv[squeeze k1x1 s1 p0,0 d1 g1 bias](v0) 16x13x13",
		"v2 = act[relu squeeze_act](v1) 16x13x13",
		"v3 = conv[expand1x1 k1x1 s1 p0,0 d1 g1 bias](v2) 64x13x13",
		"v4 = act[relu expand1x1_act](v3) 64x13x13",
		"v5 = conv[expand3x3 k3x3 s1 p1,1 d1 g1 bias](v2) 64x13x13",
		"v6 = act[relu expand3x3_act](v5) 64x13x13",
		"v7 = concat(v4, v6) 128x13x13",
	}},
	{"3x3 expand only", &Fire{Squeeze: 4, E3: 8}, Shape{8, 5, 5}, []string{
		"v1 = conv[squeeze k1x1 s1 p0,0 d1 g1 bias](v0) 4x5x5",
		"v2 = act[relu squeeze_act](v1) 4x5x5",
		"v3 = conv[expand3x3 k3x3 s1 p1,1 d1 g1 bias](v2) 8x5x5",
		"v4 = act[relu expand3x3_act](v3) 8x5x5",
	}},
}

var sqnxtLowerCases = []lowerCase{
	{"s2 projection", &SqNxt{Out: 64, Stride: 2}, Shape{32, 8, 8}, []string{
		"v1 = conv[reduce.conv k1x1 s2 p0,0 d1 g1](v0) 32x4x4",
		"v2 = bn[reduce.bn](v1) 32x4x4",
		"v3 = act[relu reduce.act](v2) 32x4x4",
		"v4 = conv[squeeze.conv k1x1 s1 p0,0 d1 g1](v3) 16x4x4",
		"v5 = bn[squeeze.bn](v4) 16x4x4",
		"v6 = act[relu squeeze.act](v5) 16x4x4",
		"v7 = conv[conv3x1.conv k3x1 s1 p1,0 d1 g1](v6) 32x4x4",
		"v8 = bn[conv3x1.bn](v7) 32x4x4",
		"v9 = act[relu conv3x1.act](v8) 32x4x4",
		"v10 = conv[conv1x3.conv k1x3 s1 p0,1 d1 g1](v9) 32x4x4",
		"v11 = bn[conv1x3.bn](v10) 32x4x4",
		"v12 = act[relu conv1x3.act](v11) 32x4x4",
		"v13 = conv[expand.conv k1x1 s1 p0,0 d1 g1](v12) 64x4x4",
		"v14 = bn[expand.bn](v13) 64x4x4",
		"v15 = act[relu expand.act](v14) 64x4x4",
		"v16 = conv[shortcut.conv k1x1 s2 p0,0 d1 g1](v0) 64x4x4",
		"v17 = bn[shortcut.bn](v16) 64x4x4",
		"v18 = act[relu shortcut.act](v17) 64x4x4",
		"v19 = add(v15, v18) 64x4x4",
		"v20 = act[relu act](v19) 64x4x4",
	}},
	{"width first", &SqNxt{Out: 32, WidthFirst: true}, Shape{32, 6, 6}, []string{
		"v1 = conv[reduce.conv k1x1 s1 p0,0 d1 g1](v0) 16x6x6",
		"v2 = bn[reduce.bn](v1) 16x6x6",
		"v3 = act[relu reduce.act](v2) 16x6x6",
		"v4 = conv[squeeze.conv k1x1 s1 p0,0 d1 g1](v3) 8x6x6",
		"v5 = bn[squeeze.bn](v4) 8x6x6",
		"v6 = act[relu squeeze.act](v5) 8x6x6",
		"v7 = conv[conv1x3.conv k1x3 s1 p0,1 d1 g1](v6) 16x6x6",
		"v8 = bn[conv1x3.bn](v7) 16x6x6",
		"v9 = act[relu conv1x3.act](v8) 16x6x6",
		"v10 = conv[conv3x1.conv k3x1 s1 p1,0 d1 g1](v9) 16x6x6",
		"v11 = bn[conv3x1.bn](v10) 16x6x6",
		"v12 = act[relu conv3x1.act](v11) 16x6x6",
		"v13 = conv[expand.conv k1x1 s1 p0,0 d1 g1](v12) 32x6x6",
		"v14 = bn[expand.bn](v13) 32x6x6",
		"v15 = act[relu expand.act](v14) 32x6x6",
		"v16 = add(v15, v0) 32x6x6",
		"v17 = act[relu act](v16) 32x6x6",
	}},
	{"identity", &SqNxt{Out: 32}, Shape{32, 6, 6}, []string{
		"v1 = conv[reduce.conv k1x1 s1 p0,0 d1 g1](v0) 16x6x6",
		"v2 = bn[reduce.bn](v1) 16x6x6",
		"v3 = act[relu reduce.act](v2) 16x6x6",
		"v4 = conv[squeeze.conv k1x1 s1 p0,0 d1 g1](v3) 8x6x6",
		"v5 = bn[squeeze.bn](v4) 8x6x6",
		"v6 = act[relu squeeze.act](v5) 8x6x6",
		"v7 = conv[conv3x1.conv k3x1 s1 p1,0 d1 g1](v6) 16x6x6",
		"v8 = bn[conv3x1.bn](v7) 16x6x6",
		"v9 = act[relu conv3x1.act](v8) 16x6x6",
		"v10 = conv[conv1x3.conv k1x3 s1 p0,1 d1 g1](v9) 16x6x6",
		"v11 = bn[conv1x3.bn](v10) 16x6x6",
		"v12 = act[relu conv1x3.act](v11) 16x6x6",
		"v13 = conv[expand.conv k1x1 s1 p0,0 d1 g1](v12) 32x6x6",
		"v14 = bn[expand.bn](v13) 32x6x6",
		"v15 = act[relu expand.act](v14) 32x6x6",
		"v16 = add(v15, v0) 32x6x6",
		"v17 = act[relu act](v16) 32x6x6",
	}},
}

var shuffleV1LowerCases = []lowerCase{
	// Megvii's channel_shuffle on 12 channels in 3 groups is torchvision's
	// with 12/3 = 4 groups.
	{"s2 g3 concat", &ShuffleV1{Out: 48, Mid: 12, Groups: 3, Stride: 2}, Shape{12, 8, 8}, []string{
		"v1 = conv[pw1.conv k1x1 s1 p0,0 d1 g3](v0) 12x8x8",
		"v2 = bn[pw1.bn](v1) 12x8x8",
		"v3 = act[relu pw1.act](v2) 12x8x8",
		"v4 = conv[dw.conv k3x3 s2 p1,1 d1 g12](v3) 12x4x4",
		"v5 = bn[dw.bn](v4) 12x4x4",
		"v6 = shuffle[g4](v5) 12x4x4",
		"v7 = conv[pw2.conv k1x1 s1 p0,0 d1 g3](v6) 36x4x4",
		"v8 = bn[pw2.bn](v7) 36x4x4",
		"v9 = avgpool[k3 s2 p1](v0) 12x4x4",
		"v10 = act[relu act](v8) 36x4x4",
		"v11 = concat(v9, v10) 48x4x4",
	}},
	{"s1 g1 residual", &ShuffleV1{Out: 16, Mid: 4, Groups: 1}, Shape{16, 4, 4}, []string{
		"v1 = conv[pw1.conv k1x1 s1 p0,0 d1 g1](v0) 4x4x4",
		"v2 = bn[pw1.bn](v1) 4x4x4",
		"v3 = act[relu pw1.act](v2) 4x4x4",
		"v4 = conv[dw.conv k3x3 s1 p1,1 d1 g4](v3) 4x4x4",
		"v5 = bn[dw.bn](v4) 4x4x4",
		"v6 = conv[pw2.conv k1x1 s1 p0,0 d1 g1](v5) 16x4x4",
		"v7 = bn[pw2.bn](v6) 16x4x4",
		"v8 = add(v7, v0) 16x4x4",
		"v9 = act[relu act](v8) 16x4x4",
	}},
	{"s1 g2 dense first", &ShuffleV1{Out: 16, Mid: 8, Groups: 2, DenseFirst: true}, Shape{16, 4, 4}, []string{
		"v1 = conv[pw1.conv k1x1 s1 p0,0 d1 g1](v0) 8x4x4",
		"v2 = bn[pw1.bn](v1) 8x4x4",
		"v3 = act[relu pw1.act](v2) 8x4x4",
		"v4 = conv[dw.conv k3x3 s1 p1,1 d1 g8](v3) 8x4x4",
		"v5 = bn[dw.bn](v4) 8x4x4",
		"v6 = shuffle[g4](v5) 8x4x4",
		"v7 = conv[pw2.conv k1x1 s1 p0,0 d1 g2](v6) 16x4x4",
		"v8 = bn[pw2.bn](v7) 16x4x4",
		"v9 = add(v8, v0) 16x4x4",
		"v10 = act[relu act](v9) 16x4x4",
	}},
}

var shuffleV2LowerCases = []lowerCase{
	{"s1 split", &ShuffleV2{Out: 16}, Shape{16, 6, 6}, []string{
		"v1 = slice[0:8](v0) 8x6x6",
		"v2 = slice[8:16](v0) 8x6x6",
		"v3 = conv[branch2.pw1.conv k1x1 s1 p0,0 d1 g1](v2) 8x6x6",
		"v4 = bn[branch2.pw1.bn](v3) 8x6x6",
		"v5 = act[relu branch2.pw1.act](v4) 8x6x6",
		"v6 = conv[branch2.dw.conv k3x3 s1 p1,1 d1 g8](v5) 8x6x6",
		"v7 = bn[branch2.dw.bn](v6) 8x6x6",
		"v8 = conv[branch2.pw2.conv k1x1 s1 p0,0 d1 g1](v7) 8x6x6",
		"v9 = bn[branch2.pw2.bn](v8) 8x6x6",
		"v10 = act[relu branch2.pw2.act](v9) 8x6x6",
		"v11 = concat(v1, v10) 16x6x6",
		"v12 = shuffle[g2](v11) 16x6x6",
	}},
	{"s2 two branches", &ShuffleV2{Out: 32, Mid: 12, Stride: 2}, Shape{8, 6, 6}, []string{
		"v1 = conv[branch1.dw.conv k3x3 s2 p1,1 d1 g8](v0) 8x3x3",
		"v2 = bn[branch1.dw.bn](v1) 8x3x3",
		"v3 = conv[branch1.pw.conv k1x1 s1 p0,0 d1 g1](v2) 16x3x3",
		"v4 = bn[branch1.pw.bn](v3) 16x3x3",
		"v5 = act[relu branch1.pw.act](v4) 16x3x3",
		"v6 = conv[branch2.pw1.conv k1x1 s1 p0,0 d1 g1](v0) 12x6x6",
		"v7 = bn[branch2.pw1.bn](v6) 12x6x6",
		"v8 = act[relu branch2.pw1.act](v7) 12x6x6",
		"v9 = conv[branch2.dw.conv k3x3 s2 p1,1 d1 g12](v8) 12x3x3",
		"v10 = bn[branch2.dw.bn](v9) 12x3x3",
		"v11 = conv[branch2.pw2.conv k1x1 s1 p0,0 d1 g1](v10) 16x3x3",
		"v12 = bn[branch2.pw2.bn](v11) 16x3x3",
		"v13 = act[relu branch2.pw2.act](v12) 16x3x3",
		"v14 = concat(v5, v13) 32x3x3",
		"v15 = shuffle[g2](v14) 32x3x3",
	}},
}

var ghostLowerCases = []lowerCase{
	{"s1 identity", &Ghost{Mid: 16, Out: 16}, Shape{16, 6, 6}, []string{
		"v1 = conv[ghost1.primary.conv k1x1 s1 p0,0 d1 g1](v0) 8x6x6",
		"v2 = bn[ghost1.primary.bn](v1) 8x6x6",
		"v3 = act[relu ghost1.primary.act](v2) 8x6x6",
		"v4 = conv[ghost1.cheap.conv k3x3 s1 p1,1 d1 g8](v3) 8x6x6",
		"v5 = bn[ghost1.cheap.bn](v4) 8x6x6",
		"v6 = act[relu ghost1.cheap.act](v5) 8x6x6",
		"v7 = concat(v3, v6) 16x6x6",
		"v8 = conv[ghost2.primary.conv k1x1 s1 p0,0 d1 g1](v7) 8x6x6",
		"v9 = bn[ghost2.primary.bn](v8) 8x6x6",
		"v10 = conv[ghost2.cheap.conv k3x3 s1 p1,1 d1 g8](v9) 8x6x6",
		"v11 = bn[ghost2.cheap.bn](v10) 8x6x6",
		"v12 = concat(v9, v11) 16x6x6",
		"v13 = add(v12, v0) 16x6x6",
	}},
	{"s2 SE odd out", &Ghost{Mid: 24, Out: 15, Kernel: 5, Stride: 2, SE: SE{Squeeze: 8}}, Shape{8, 6, 6}, []string{
		"v1 = conv[ghost1.primary.conv k1x1 s1 p0,0 d1 g1](v0) 12x6x6",
		"v2 = bn[ghost1.primary.bn](v1) 12x6x6",
		"v3 = act[relu ghost1.primary.act](v2) 12x6x6",
		"v4 = conv[ghost1.cheap.conv k3x3 s1 p1,1 d1 g12](v3) 12x6x6",
		"v5 = bn[ghost1.cheap.bn](v4) 12x6x6",
		"v6 = act[relu ghost1.cheap.act](v5) 12x6x6",
		"v7 = concat(v3, v6) 24x6x6",
		"v8 = conv[dw.conv k5x5 s2 p2,2 d1 g24](v7) 24x3x3",
		"v9 = bn[dw.bn](v8) 24x3x3",
		"v10 = gap(v9) 24x1x1",
		"v11 = conv[se.reduce k1x1 s1 p0,0 d1 g1 bias](v10) 8x1x1",
		"v12 = act[relu se.act](v11) 8x1x1",
		"v13 = conv[se.expand k1x1 s1 p0,0 d1 g1 bias](v12) 24x1x1",
		"v14 = act[hsigmoid se.gate](v13) 24x1x1",
		"v15 = mul(v9, v14) 24x3x3",
		"v16 = conv[ghost2.primary.conv k1x1 s1 p0,0 d1 g1](v15) 8x3x3",
		"v17 = bn[ghost2.primary.bn](v16) 8x3x3",
		"v18 = conv[ghost2.cheap.conv k3x3 s1 p1,1 d1 g8](v17) 8x3x3",
		"v19 = bn[ghost2.cheap.bn](v18) 8x3x3",
		"v20 = concat(v17, v19) 16x3x3",
		"v21 = slice[0:15](v20) 15x3x3",
		"v22 = conv[shortcut.dw.conv k5x5 s2 p2,2 d1 g8](v0) 8x3x3",
		"v23 = bn[shortcut.dw.bn](v22) 8x3x3",
		"v24 = conv[shortcut.pw.conv k1x1 s1 p0,0 d1 g1](v23) 15x3x3",
		"v25 = bn[shortcut.pw.bn](v24) 15x3x3",
		"v26 = add(v21, v25) 15x3x3",
	}},
	{"ratio 3", &Ghost{Mid: 12, Out: 12, Ratio: 3}, Shape{12, 4, 4}, []string{
		"v1 = conv[ghost1.primary.conv k1x1 s1 p0,0 d1 g1](v0) 4x4x4",
		"v2 = bn[ghost1.primary.bn](v1) 4x4x4",
		"v3 = act[relu ghost1.primary.act](v2) 4x4x4",
		"v4 = conv[ghost1.cheap.conv k3x3 s1 p1,1 d1 g4](v3) 8x4x4",
		"v5 = bn[ghost1.cheap.bn](v4) 8x4x4",
		"v6 = act[relu ghost1.cheap.act](v5) 8x4x4",
		"v7 = concat(v3, v6) 12x4x4",
		"v8 = conv[ghost2.primary.conv k1x1 s1 p0,0 d1 g1](v7) 4x4x4",
		"v9 = bn[ghost2.primary.bn](v8) 4x4x4",
		"v10 = conv[ghost2.cheap.conv k3x3 s1 p1,1 d1 g4](v9) 8x4x4",
		"v11 = bn[ghost2.cheap.bn](v10) 8x4x4",
		"v12 = concat(v9, v11) 12x4x4",
		"v13 = add(v12, v0) 12x4x4",
	}},
}

var eespLowerCases = []lowerCase{
	// Receptive fields 3, 5, 7, 9 over the limit 5 become 3, 5, 3, 3:
	// sorted, dilations 1, 1, 1, 2.
	{"plain residual", &EESP{Out: 16, RLim: 5}, Shape{16, 6, 6}, []string{
		"v1 = conv[proj_1x1.conv k1x1 s1 p0,0 d1 g4](v0) 4x6x6",
		"v2 = bn[proj_1x1.bn](v1) 4x6x6",
		"v3 = act[prelu proj_1x1.act](v2) 4x6x6",
		"v4 = conv[spp_dw.0.conv k3x3 s1 p1,1 d1 g4](v3) 4x6x6",
		"v5 = conv[spp_dw.1.conv k3x3 s1 p1,1 d1 g4](v3) 4x6x6",
		"v6 = add(v5, v4) 4x6x6",
		"v7 = conv[spp_dw.2.conv k3x3 s1 p1,1 d1 g4](v3) 4x6x6",
		"v8 = add(v7, v6) 4x6x6",
		"v9 = conv[spp_dw.3.conv k3x3 s1 p2,2 d2 g4](v3) 4x6x6",
		"v10 = add(v9, v8) 4x6x6",
		"v11 = concat(v4, v6, v8, v10) 16x6x6",
		"v12 = bn[br_after_cat.bn](v11) 16x6x6",
		"v13 = act[prelu br_after_cat.act](v12) 16x6x6",
		"v14 = conv[conv_1x1_exp.conv k1x1 s1 p0,0 d1 g4](v13) 16x6x6",
		"v15 = bn[conv_1x1_exp.bn](v14) 16x6x6",
		"v16 = add(v15, v0) 16x6x6",
		"v17 = act[prelu module_act](v16) 16x6x6",
	}},
	// As layer 0 the unit's input is the network input, which it pools once
	// for the reinforcement.
	{"down reinforced", &EESP{Out: 16, Stride: 2, Branches: 2, Down: true, Reinf: 8}, Shape{8, 8, 8}, []string{
		"v1 = avgpool[k3 s2 p1](v0) 8x4x4",
		"v2 = conv[eesp.proj_1x1.conv k1x1 s1 p0,0 d1 g2](v0) 4x8x8",
		"v3 = bn[eesp.proj_1x1.bn](v2) 4x8x8",
		"v4 = act[prelu eesp.proj_1x1.act](v3) 4x8x8",
		"v5 = conv[eesp.spp_dw.0.conv k3x3 s2 p1,1 d1 g4](v4) 4x4x4",
		"v6 = conv[eesp.spp_dw.1.conv k3x3 s2 p2,2 d2 g4](v4) 4x4x4",
		"v7 = add(v6, v5) 4x4x4",
		"v8 = concat(v5, v7) 8x4x4",
		"v9 = bn[eesp.br_after_cat.bn](v8) 8x4x4",
		"v10 = act[prelu eesp.br_after_cat.act](v9) 8x4x4",
		"v11 = conv[eesp.conv_1x1_exp.conv k1x1 s1 p0,0 d1 g2](v10) 8x4x4",
		"v12 = bn[eesp.conv_1x1_exp.bn](v11) 8x4x4",
		"v13 = concat(v1, v12) 16x4x4",
		"v14 = avgpool[k3 s2 p1](v0) 8x4x4",
		"v15 = conv[inp_reinf.0.conv k3x3 s1 p1,1 d1 g1](v14) 8x4x4",
		"v16 = bn[inp_reinf.0.bn](v15) 8x4x4",
		"v17 = act[prelu inp_reinf.0.act](v16) 8x4x4",
		"v18 = conv[inp_reinf.1.conv k1x1 s1 p0,0 d1 g1](v17) 16x4x4",
		"v19 = bn[inp_reinf.1.bn](v18) 16x4x4",
		"v20 = add(v13, v19) 16x4x4",
		"v21 = act[prelu act](v20) 16x4x4",
	}},
	// The strided unit at stride 1 (small inputs): no residual even though
	// the branch has the input's shape.
	{"down stride 1", &EESP{Out: 16, Branches: 2, Down: true}, Shape{8, 5, 5}, []string{
		"v1 = avgpool[k3 s1 p1](v0) 8x5x5",
		"v2 = conv[eesp.proj_1x1.conv k1x1 s1 p0,0 d1 g2](v0) 4x5x5",
		"v3 = bn[eesp.proj_1x1.bn](v2) 4x5x5",
		"v4 = act[prelu eesp.proj_1x1.act](v3) 4x5x5",
		"v5 = conv[eesp.spp_dw.0.conv k3x3 s1 p1,1 d1 g4](v4) 4x5x5",
		"v6 = conv[eesp.spp_dw.1.conv k3x3 s1 p2,2 d2 g4](v4) 4x5x5",
		"v7 = add(v6, v5) 4x5x5",
		"v8 = concat(v5, v7) 8x5x5",
		"v9 = bn[eesp.br_after_cat.bn](v8) 8x5x5",
		"v10 = act[prelu eesp.br_after_cat.act](v9) 8x5x5",
		"v11 = conv[eesp.conv_1x1_exp.conv k1x1 s1 p0,0 d1 g2](v10) 8x5x5",
		"v12 = bn[eesp.conv_1x1_exp.bn](v11) 8x5x5",
		"v13 = concat(v1, v12) 16x5x5",
		"v14 = act[prelu act](v13) 16x5x5",
	}},
}

func TestLowerDWSep(t *testing.T)     { runLowerCases(t, dwsepLowerCases) }
func TestLowerMBConv(t *testing.T)    { runLowerCases(t, mbconvLowerCases) }
func TestLowerFire(t *testing.T)      { runLowerCases(t, fireLowerCases) }
func TestLowerSqNxt(t *testing.T)     { runLowerCases(t, sqnxtLowerCases) }
func TestLowerShuffleV1(t *testing.T) { runLowerCases(t, shuffleV1LowerCases) }
func TestLowerShuffleV2(t *testing.T) { runLowerCases(t, shuffleV2LowerCases) }
func TestLowerGhost(t *testing.T)     { runLowerCases(t, ghostLowerCases) }
func TestLowerEESP(t *testing.T)      { runLowerCases(t, eespLowerCases) }

// TestLowerCoversEveryType holds that every registered block type has its
// lowering checked op by op above or in graph_test.go.
func TestLowerCoversEveryType(t *testing.T) {
	covered := map[string]bool{"conv": true, "pool": true, "gap": true, "linear": true, "dropout": true} // TestLowerHeadAndConv
	for _, cases := range [][]lowerCase{dwsepLowerCases, mbconvLowerCases, fireLowerCases, sqnxtLowerCases,
		shuffleV1LowerCases, shuffleV2LowerCases, ghostLowerCases, eespLowerCases} {
		for _, c := range cases {
			covered[c.spec.Type()] = true
		}
	}
	for _, typ := range Types() {
		require.True(t, covered[typ], "block type %s has no lowering test", typ)
	}
}

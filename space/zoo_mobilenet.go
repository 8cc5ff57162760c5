package space

import (
	"math"

	"nas/blocks"
)

// The MobileNet family of the zoo: MobileNet V1 (depthwise-separable
// convolutions), MobileNet V2 and V3, MnasNet A1 and B1, EfficientNet-B0 and
// FBNet A/B/C (inverted residual blocks). docs/zoo.md gives the sources and
// the figures each one reproduces.

func init() {
	registerZoo(ZooEntry{Name: "mobilenet_v1", Family: "mobilenet_v1", Widths: []float64{0.25, 0.5, 0.75, 1}, build: buildMobileNetV1})
	registerZoo(ZooEntry{Name: "mobilenet_v2", Family: "mobilenet_v2", Widths: []float64{0.5, 0.75, 1, 1.4}, build: buildMobileNetV2})
	registerZoo(ZooEntry{Name: "mobilenet_v3_large", Family: "mobilenet_v3", Widths: []float64{0.5, 0.75, 1, 1.25}, build: func(o ZooOptions) (*Arch, error) {
		return buildMobileNetV3(o, "mobilenet_v3_large", mobileNetV3Large, 1280)
	}})
	registerZoo(ZooEntry{Name: "mobilenet_v3_small", Family: "mobilenet_v3", Widths: []float64{0.5, 0.75, 1, 1.25}, build: func(o ZooOptions) (*Arch, error) {
		return buildMobileNetV3(o, "mobilenet_v3_small", mobileNetV3Small, 1024)
	}})
	registerZoo(ZooEntry{Name: "mnasnet1_0", Family: "mnasnet", Widths: []float64{0.5, 0.75, 1, 1.3}, build: buildMnasNetB1})
	registerZoo(ZooEntry{Name: "mnasnet_a1", Family: "mnasnet", build: buildMnasNetA1})
	registerZoo(ZooEntry{Name: "efficientnet_b0", Family: "efficientnet", build: buildEfficientNetB0})
	registerZoo(ZooEntry{Name: "fbnet_a", Family: "fbnet", build: func(o ZooOptions) (*Arch, error) {
		return buildFBNet(o, "fbnet_a", fbnetA, 1504)
	}})
	registerZoo(ZooEntry{Name: "fbnet_b", Family: "fbnet", build: func(o ZooOptions) (*Arch, error) {
		return buildFBNet(o, "fbnet_b", fbnetB, 1984)
	}})
	registerZoo(ZooEntry{Name: "fbnet_c", Family: "fbnet", build: func(o ZooOptions) (*Arch, error) {
		return buildFBNet(o, "fbnet_c", fbnetC, 1984)
	}})
}

// roundChannels is the channel rounding of torchvision's MobileNet V2/V3,
// EfficientNet (_make_divisible) and MnasNet (_round_to_multiple_of): v to
// the nearest multiple of divisor, at least divisor, and bumped up by one
// divisor when rounding lost more than 10% of v.
func roundChannels(v float64, divisor int) int {
	n := max(divisor, int(v+float64(divisor)/2)/divisor*divisor)
	if float64(n) < 0.9*v {
		n += divisor
	}
	return n
}

// mobileNetLayers collects the layers of one network and the channel count
// at the end of them.
type mobileNetLayers struct {
	layers   []blocks.Spec
	channels int
	down     *earlyDownsampling
}

func newMobileNetLayers(o ZooOptions) *mobileNetLayers {
	return &mobileNetLayers{channels: o.Input.C, down: newEarlyDownsampling(o)}
}

// stem adds the kxk stride-2 stem convolution (stride 1 for small inputs).
func (l *mobileNetLayers) stem(out int, act blocks.Act) {
	l.add(&blocks.Conv{Out: out, Kernel: 3, Stride: l.down.stride(2), Act: act}, out)
}

// ir adds an inverted residual block; its stride goes through the
// small-input rule.
func (l *mobileNetLayers) ir(m blocks.MBConv) {
	m.Stride = l.down.stride(max(m.Stride, 1))
	if m.Stride == 1 {
		m.Stride = 0 // the default, left out of the arch forms
	}
	l.add(&m, m.Out)
}

// head adds the 1x1 conv to features channels (none when features is 0),
// global pooling, dropout and the classifier.
func (l *mobileNetLayers) head(features int, act blocks.Act, dropout int, classes int) {
	if features > 0 {
		l.add(&blocks.Conv{Out: features, Kernel: 1, Act: act}, features)
	}
	l.add(&blocks.GlobalPool{}, l.channels)
	if dropout > 0 {
		l.add(&blocks.Dropout{P: dropout}, l.channels)
	}
	l.add(&blocks.Linear{Out: classes}, classes)
}

func (l *mobileNetLayers) add(s blocks.Spec, out int) {
	l.layers = append(l.layers, s)
	l.channels = out
}

func (l *mobileNetLayers) arch(name string, o ZooOptions) *Arch {
	return &Arch{Name: name, Input: o.Input, Classes: o.Classes, Layers: l.layers}
}

// buildMobileNetV1 follows Howard et al. (2017), Table 1: a 3x3 stride-2
// conv to 32 channels, 13 depthwise-separable blocks, global pooling and a
// fully connected classifier, ReLU throughout. The width multiplier scales
// every layer as the TensorFlow reference does (int(c*width), at least 8).
func buildMobileNetV1(o ZooOptions) (*Arch, error) {
	l := newMobileNetLayers(o)
	width := func(c int) int { return max(int(float64(c)*o.Width), 8) }
	l.stem(width(32), blocks.ActReLU)
	for _, b := range []struct{ out, stride int }{
		{64, 1}, {128, 2}, {128, 1}, {256, 2}, {256, 1}, {512, 2},
		{512, 1}, {512, 1}, {512, 1}, {512, 1}, {512, 1}, {1024, 2}, {1024, 1},
	} {
		d := &blocks.DWSep{Out: width(b.out), Act: blocks.ActReLU}
		if s := l.down.stride(b.stride); s != 1 {
			d.Stride = s
		}
		l.add(d, d.Out)
	}
	l.head(0, "", 0, o.Classes)
	return l.arch("mobilenet_v1", o), nil
}

// buildMobileNetV2 follows torchvision's mobilenet_v2 (Sandler et al.,
// 2018, Table 2), channels rounded to multiples of 8.
func buildMobileNetV2(o ZooOptions) (*Arch, error) {
	l := newMobileNetLayers(o)
	l.stem(roundChannels(32*o.Width, 8), blocks.ActReLU6)
	for _, st := range []struct{ expand, out, repeat, stride int }{
		{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
		{6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1},
	} {
		out := roundChannels(float64(st.out)*o.Width, 8)
		for i := range st.repeat {
			l.ir(blocks.MBConv{
				Out:    out,
				Mid:    l.channels * st.expand, // torchvision: int(round(in * t)), exact for whole t
				Stride: firstStride(i, st.stride),
				Act:    blocks.ActReLU6,
			})
		}
	}
	l.head(roundChannels(1280*max(1, o.Width), 8), blocks.ActReLU6, 20, o.Classes)
	return l.arch("mobilenet_v2", o), nil
}

// firstStride is the stride of block i of a stage whose first block has
// stride s.
func firstStride(i, s int) int {
	if i == 0 {
		return s
	}
	return 1
}

// mobileNetV3Block is one row of Howard et al. (2019), Tables 1 and 2.
type mobileNetV3Block struct {
	kernel, mid, out int
	se               bool
	hswish           bool
	stride           int
}

var mobileNetV3Large = []mobileNetV3Block{
	{3, 16, 16, false, false, 1},
	{3, 64, 24, false, false, 2},
	{3, 72, 24, false, false, 1},
	{5, 72, 40, true, false, 2},
	{5, 120, 40, true, false, 1},
	{5, 120, 40, true, false, 1},
	{3, 240, 80, false, true, 2},
	{3, 200, 80, false, true, 1},
	{3, 184, 80, false, true, 1},
	{3, 184, 80, false, true, 1},
	{3, 480, 112, true, true, 1},
	{3, 672, 112, true, true, 1},
	{5, 672, 160, true, true, 2},
	{5, 960, 160, true, true, 1},
	{5, 960, 160, true, true, 1},
}

var mobileNetV3Small = []mobileNetV3Block{
	{3, 16, 16, true, false, 2},
	{3, 72, 24, false, false, 2},
	{3, 88, 24, false, false, 1},
	{5, 96, 40, true, true, 2},
	{5, 240, 40, true, true, 1},
	{5, 240, 40, true, true, 1},
	{5, 120, 48, true, true, 1},
	{5, 144, 48, true, true, 1},
	{5, 288, 96, true, true, 2},
	{5, 576, 96, true, true, 1},
	{5, 576, 96, true, true, 1},
}

// buildMobileNetV3 follows torchvision's mobilenet_v3_large/small: a
// 16-channel h-swish stem, the bneck blocks (SE with ReLU inside, an
// h-sigmoid gate and a quarter of the expanded channels rounded to 8), a
// 1x1 conv to six times the last block's channels, global pooling, then
// the classifier: a fully connected layer with h-swish (a 1x1 conv with
// bias on the pooled features here), dropout 0.2 and the last fully
// connected layer. The width scales every block and the penultimate layer.
func buildMobileNetV3(o ZooOptions, name string, table []mobileNetV3Block, penultimate int) (*Arch, error) {
	adjust := func(c int) int { return roundChannels(float64(c)*o.Width, 8) }
	l := newMobileNetLayers(o)
	l.stem(adjust(16), blocks.ActHSwish)
	for _, b := range table {
		m := blocks.MBConv{Out: adjust(b.out), Mid: adjust(b.mid), Kernel: b.kernel, Stride: b.stride, Act: blocks.ActReLU}
		if b.hswish {
			m.Act = blocks.ActHSwish
		}
		if b.se {
			m.SE = blocks.SE{Squeeze: roundChannels(float64(m.Mid/4), 8)}
		}
		l.ir(m)
	}
	l.add(&blocks.Conv{Out: 6 * l.channels, Kernel: 1, Act: blocks.ActHSwish}, 6*l.channels)
	l.add(&blocks.GlobalPool{}, l.channels)
	last := adjust(penultimate)
	l.add(&blocks.Conv{Out: last, Kernel: 1, NoBN: true, Act: blocks.ActHSwish}, last)
	l.add(&blocks.Dropout{P: 20}, last)
	l.add(&blocks.Linear{Out: o.Classes}, o.Classes)
	a := l.arch(name, o)
	a.BNEps = 1e-3 // torchvision's MobileNetV3 BatchNorm2d(eps=0.001)
	return a, nil
}

// buildMnasNetB1 follows torchvision's mnasnet (MnasNet-B1, Tan et al.,
// 2019): a 32-channel stem, a depthwise-separable conv to 16 channels
// without skip, six stacks of inverted residual blocks with ReLU and no SE,
// a 1x1 conv to 1280 channels, dropout 0.2 and the classifier. The width
// scales every layer but the 1280-channel one, rounded to multiples of 8.
func buildMnasNetB1(o ZooOptions) (*Arch, error) {
	var depth [8]int
	for i, d := range []float64{32, 16, 24, 40, 80, 96, 192, 320} {
		depth[i] = roundChannels(d*o.Width, 8)
	}
	l := newMobileNetLayers(o)
	l.stem(depth[0], blocks.ActReLU)
	l.ir(blocks.MBConv{Out: depth[1], Mid: depth[0], Act: blocks.ActReLU, NoSkip: true})
	for i, st := range []struct{ kernel, stride, expand, repeat int }{
		{3, 2, 3, 3}, {5, 2, 3, 3}, {5, 2, 6, 3}, {3, 1, 6, 2}, {5, 2, 6, 4}, {3, 1, 6, 1},
	} {
		for r := range st.repeat {
			l.ir(blocks.MBConv{
				Out:    depth[i+2],
				Mid:    l.channels * st.expand,
				Kernel: st.kernel,
				Stride: firstStride(r, st.stride),
				Act:    blocks.ActReLU,
			})
		}
	}
	l.head(1280, blocks.ActReLU, 20, o.Classes)
	return l.arch("mnasnet1_0", o), nil
}

// buildMnasNetA1 follows MnasNet-A1 (Tan et al., 2019, Figure 7) as the
// TensorFlow TPU reference and timm's mnasnet_a1 define it: ReLU
// throughout, SE (ReLU inside, sigmoid gate, a quarter of the block's input
// channels) in the 40-, 112- and 160-channel stages, a 1x1 conv to 1280
// channels before pooling.
func buildMnasNetA1(o ZooOptions) (*Arch, error) {
	l := newMobileNetLayers(o)
	l.stem(32, blocks.ActReLU)
	l.ir(blocks.MBConv{Out: 16, Mid: 32, Act: blocks.ActReLU, NoSkip: true})
	for _, st := range []struct {
		expand, kernel, stride, out, repeat int
		se                                  bool
	}{
		{6, 3, 2, 24, 2, false},
		{3, 5, 2, 40, 3, true},
		{6, 3, 2, 80, 4, false},
		{6, 3, 1, 112, 2, true},
		{6, 5, 2, 160, 3, true},
		{6, 3, 1, 320, 1, false},
	} {
		for r := range st.repeat {
			m := blocks.MBConv{
				Out:    st.out,
				Mid:    l.channels * st.expand,
				Kernel: st.kernel,
				Stride: firstStride(r, st.stride),
				Act:    blocks.ActReLU,
			}
			if st.se {
				m.SE = blocks.SE{Squeeze: max(1, int(math.Round(float64(l.channels)/4))), Gate: blocks.ActSigmoid}
			}
			l.ir(m)
		}
	}
	l.head(1280, blocks.ActReLU, 20, o.Classes)
	return l.arch("mnasnet_a1", o), nil
}

// buildEfficientNetB0 follows torchvision's efficientnet_b0 (Tan and Le,
// 2019, Table 1): swish throughout, SE in every block (swish inside,
// sigmoid gate, a quarter of the block's input channels), expanded
// channels rounded to multiples of 8, a 1x1 conv to 1280 channels, dropout
// 0.2 and the classifier.
func buildEfficientNetB0(o ZooOptions) (*Arch, error) {
	l := newMobileNetLayers(o)
	l.stem(32, blocks.ActSwish)
	for _, st := range []struct{ expand, kernel, stride, out, repeat int }{
		{1, 3, 1, 16, 1}, {6, 3, 2, 24, 2}, {6, 5, 2, 40, 2}, {6, 3, 2, 80, 3},
		{6, 5, 1, 112, 3}, {6, 5, 2, 192, 4}, {6, 3, 1, 320, 1},
	} {
		for r := range st.repeat {
			l.ir(blocks.MBConv{
				Out:    st.out,
				Mid:    roundChannels(float64(l.channels*st.expand), 8),
				Kernel: st.kernel,
				Stride: firstStride(r, st.stride),
				Act:    blocks.ActSwish,
				SE:     blocks.SE{Squeeze: max(1, l.channels/4), Inner: blocks.ActSwish, Gate: blocks.ActSigmoid},
			})
		}
	}
	l.head(1280, blocks.ActSwish, 20, o.Classes)
	a := l.arch("efficientnet_b0", o)
	a.BNEps = 1e-3 // torchvision's EfficientNet BatchNorm2d(eps=0.001)
	return a, nil
}

// fbnetOp is one searched layer of FBNet (Wu et al., 2019, Figure 4): the
// block the search chose for it. Skip layers are left out of the tables
// (they are identities: every skip of FBNet-A/B/C keeps channels and
// stride).
type fbnetOp struct {
	kernel, expand int
	groups         int // 2 for the ir_k*_s2 (grouped, shuffled) blocks
}

// fbnetStage is one stage of FBNet's macro-architecture (Table 1): output
// channels, the stride of its first layer, and its searched layers.
type fbnetStage struct {
	out, stride int
	ops         []fbnetOp
}

var (
	e1k3, e3k3, e6k3 = fbnetOp{3, 1, 1}, fbnetOp{3, 3, 1}, fbnetOp{3, 6, 1}
	e1k5, e3k5, e6k5 = fbnetOp{5, 1, 1}, fbnetOp{5, 3, 1}, fbnetOp{5, 6, 1}
	g2k3, g2k5       = fbnetOp{3, 1, 2}, fbnetOp{5, 1, 2}
)

var fbnetA = []fbnetStage{
	{16, 1, nil},
	{24, 2, []fbnetOp{e3k3, e1k3}},
	{32, 2, []fbnetOp{e6k5, e3k3, e1k5, e3k3}},
	{64, 2, []fbnetOp{e6k5, e3k5, g2k5, e6k5}},
	{112, 1, []fbnetOp{e6k3, g2k5, e1k5, g2k3}},
	{184, 2, []fbnetOp{e6k5, e6k5, e3k5, e6k5}},
	{352, 1, []fbnetOp{e6k5}},
}

var fbnetB = []fbnetStage{
	{16, 1, []fbnetOp{e1k3}},
	{24, 2, []fbnetOp{e6k3, e1k5, e1k3, e1k3}},
	{32, 2, []fbnetOp{e6k5, e3k5, e6k3, e6k5}},
	{64, 2, []fbnetOp{e6k5, e1k5, e3k5}},
	{112, 1, []fbnetOp{e6k5, e1k3, e1k5, e3k5}},
	{184, 2, []fbnetOp{e6k5, e1k5, e6k5, e6k5}},
	{352, 1, []fbnetOp{e6k3}},
}

var fbnetC = []fbnetStage{
	{16, 1, []fbnetOp{e1k3}},
	{24, 2, []fbnetOp{e6k3, e1k3, e1k3}},
	{32, 2, []fbnetOp{e6k5, e3k5, e6k5, e6k3}},
	{64, 2, []fbnetOp{e6k5, e3k5, e6k5, e6k5}},
	{112, 1, []fbnetOp{e6k5, e6k5, e6k5, e3k5}},
	{184, 2, []fbnetOp{e6k5, e6k5, e6k5, e6k5}},
	{352, 1, []fbnetOp{e6k3}},
}

// buildFBNet follows the FBNet authors' definitions (maskrcnn-benchmark's
// fbnet_modeldef and IRFBlock, with the head width of mobile-vision's
// classification models): a 16-channel stem, inverted residual blocks with
// ReLU whose 1x1 expand conv is kept even at expansion 1, a 1x1 conv to
// features channels, global pooling and the classifier.
func buildFBNet(o ZooOptions, name string, stages []fbnetStage, features int) (*Arch, error) {
	l := newMobileNetLayers(o)
	l.stem(16, blocks.ActReLU)
	for _, st := range stages {
		for i, op := range st.ops {
			g := op.groups
			if g == 1 {
				g = 0
			}
			l.ir(blocks.MBConv{
				Out:          st.out,
				Mid:          l.channels * op.expand,
				Kernel:       op.kernel,
				Stride:       firstStride(i, st.stride),
				Groups:       g,
				Act:          blocks.ActReLU,
				AlwaysExpand: true,
			})
		}
	}
	l.head(features, blocks.ActReLU, 0, o.Classes)
	return l.arch(name, o), nil
}

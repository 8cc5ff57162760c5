package blocks

// Ghost is the Ghost bottleneck of GhostNet (Han et al., 2020, "GhostNet:
// More Features from Cheap Operations"), as the official ghostnet.py builds
// it:
//
//   - a Ghost module expanding to Mid channels, with ReLU;
//   - at stride 2 only, a depthwise kxk convolution with the stride + BN;
//   - an optional squeeze-and-excitation gate on the Mid channels (GhostNet:
//     ReLU inside, hard-sigmoid gate, Squeeze = make_divisible(Mid/4, 4));
//   - a Ghost module projecting to Out channels, without activation;
//   - plus the shortcut: the identity when the shape is kept, otherwise a
//     depthwise kxk convolution with the stride + BN and a 1x1 convolution
//     to Out channels + BN.
//
// A Ghost module from c to n channels is a primary 1x1 convolution to
// ceil(n/Ratio) channels + BN (+ ReLU), a cheap depthwise 3x3 convolution
// making Ratio-1 new channels from each of them + BN (+ ReLU), the two
// concatenated and cut to the first n channels. No convolution has a bias.
type Ghost struct {
	Mid    int `json:"mid" arch:"m"`
	Out    int `json:"out" arch:"o"`
	Kernel int `json:"kernel,omitempty" def:"3" arch:"k"` // depthwise kernel, 0 means 3
	Stride int `json:"stride,omitempty" def:"1" arch:"s"` // 0 means 1
	Ratio  int `json:"ratio,omitempty" def:"2" arch:"r"`  // 0 means 2
	SE
}

func init() { Register("ghost", func() Spec { return &Ghost{} }) }

func (g *Ghost) Type() string { return "ghost" }

func (g *Ghost) stride() int { return max(g.Stride, 1) }

func (g *Ghost) kernel() int {
	if g.Kernel == 0 {
		return 3
	}
	return g.Kernel
}

func (g *Ghost) ratio() int {
	if g.Ratio == 0 {
		return 2
	}
	return g.Ratio
}

func (g *Ghost) OutShape(in Shape) (Shape, error) {
	switch {
	case g.Mid < 1:
		return Shape{}, fieldErr("ghost", "m", "expanded channels %d must be at least 1", g.Mid)
	case g.Out < 1:
		return Shape{}, fieldErr("ghost", "o", "output channels %d must be at least 1", g.Out)
	case g.Stride < 0 || g.Stride > 2:
		return Shape{}, fieldErr("ghost", "s", "stride %d must be 1 or 2", g.Stride)
	case g.Ratio < 0 || g.Ratio == 1:
		return Shape{}, fieldErr("ghost", "r", "ratio %d must be at least 2 (0 means 2): the Ghost module makes ratio-1 cheap channels from each primary one", g.Ratio)
	case g.Kernel < 0 || g.Kernel%2 == 0 && g.Kernel != 0:
		return Shape{}, fieldErr("ghost", "k", "depthwise kernel %d must be odd and positive (0 means 3)", g.Kernel)
	}
	if err := g.SE.check("ghost", g.Mid); err != nil {
		return Shape{}, err
	}
	p := (g.kernel() - 1) / 2
	h, err := convOut(in.H, g.kernel(), g.stride(), p, 1)
	if err != nil {
		return Shape{}, fieldErr("ghost", "k", "%v", err)
	}
	w, err := convOut(in.W, g.kernel(), g.stride(), p, 1)
	if err != nil {
		return Shape{}, fieldErr("ghost", "k", "%v", err)
	}
	return Shape{g.Out, h, w}, nil
}

func (g *Ghost) Cost(in Shape) Cost {
	out, _ := g.OutShape(in)
	hwIn, hwOut := in.H*in.W, out.H*out.W
	kk := g.kernel() * g.kernel()
	c := ghostModuleCost(in.C, g.Mid, g.ratio(), hwIn)
	if g.stride() > 1 {
		c = c.Add(branchConvCost(g.Mid, g.Mid, kk, g.Mid, hwOut, true))
	}
	c = c.Add(g.SE.cost(g.Mid)).Add(ghostModuleCost(g.Mid, g.Out, g.ratio(), hwOut))
	if g.stride() != 1 || in.C != g.Out {
		c = c.Add(branchConvCost(in.C, in.C, kk, in.C, hwOut, true)).
			Add(branchConvCost(in.C, g.Out, 1, 1, hwOut, true))
	}
	return c
}

// ghostModuleCost counts a Ghost module from cin to cout channels at hw
// positions. The cheap channels cut off beyond cout still hold weights.
func ghostModuleCost(cin, cout, ratio, hw int) Cost {
	primary := (cout + ratio - 1) / ratio
	cheap := primary * (ratio - 1)
	return branchConvCost(cin, primary, 1, 1, hw, true).
		Add(branchConvCost(primary, cheap, 3*3, primary, hw, true))
}

// Lower follows the official GhostBottleneck: the Ghost module name.ghost1
// with ReLU; at stride 2 the depthwise conv + BN name.dw.conv, .bn; the SE
// gate name.se; the Ghost module name.ghost2 without activation; plus the
// shortcut, the input itself or name.shortcut.dw (depthwise + BN) and
// name.shortcut.pw (1x1 + BN).
func (g *Ghost) Lower(b *Builder, name string, x Value) Value {
	in := b.Shape(x)
	k, s := g.kernel(), g.stride()
	y := ghostModule(b, name+".ghost1", x, g.Mid, g.ratio(), ActReLU)
	if s > 1 {
		y = b.ConvBNAct(name+".dw", y, g.Mid, k, s, g.Mid, ActNone)
	}
	y = g.SE.lower(b, name+".se", y)
	y = ghostModule(b, name+".ghost2", y, g.Out, g.ratio(), ActNone)
	short := x
	if s != 1 || in.C != g.Out {
		short = b.ConvBNAct(name+".shortcut.dw", x, in.C, k, s, in.C, ActNone)
		short = b.ConvBNAct(name+".shortcut.pw", short, g.Out, 1, 1, 1, ActNone)
	}
	return b.Add(y, short)
}

// ghostModule emits a Ghost module to out channels: the primary 1x1 conv to
// ceil(out/ratio) channels + BN + act (name.primary.conv, .bn, .act), the
// cheap depthwise 3x3 making ratio-1 channels from each primary one + BN +
// act (name.cheap.*), their concatenation (primary first) and the first out
// channels of it.
func ghostModule(b *Builder, name string, x Value, out, ratio int, act Act) Value {
	primary := (out + ratio - 1) / ratio
	p := b.ConvBNAct(name+".primary", x, primary, 1, 1, 1, act)
	c := b.ConvBNAct(name+".cheap", p, primary*(ratio-1), 3, 1, primary, act)
	return b.Slice(b.Concat(p, c), 0, out)
}

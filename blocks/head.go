package blocks

// Pool is a max or average pooling window (SqueezeNet's and ShuffleNet's
// 3x3 stride-2 max pools). Average pooling counts padding in the divisor,
// as PyTorch's default does. Ceil rounds the output size up (SqueezeNet's
// ceil_mode=True).
type Pool struct {
	Avg    bool `json:"avg,omitempty" arch:"avg"`
	Kernel int  `json:"kernel" arch:"k"`
	Stride int  `json:"stride,omitempty" arch:"s"` // 0 means Kernel
	Pad    int  `json:"pad,omitempty" arch:"p"`
	Ceil   bool `json:"ceil,omitempty" arch:"ceil"`
}

func init() {
	Register("pool", func() Spec { return &Pool{} })
	Register("gap", func() Spec { return &GlobalPool{} })
	Register("linear", func() Spec { return &Linear{} })
	Register("dropout", func() Spec { return &Dropout{} })
}

func (p *Pool) Type() string { return "pool" }

func (p *Pool) stride() int {
	if p.Stride == 0 {
		return p.Kernel
	}
	return p.Stride
}

func (p *Pool) OutShape(in Shape) (Shape, error) {
	if p.Kernel < 1 {
		return Shape{}, fieldErr("pool", "k", "kernel %d must be at least 1", p.Kernel)
	}
	if p.Pad < 0 || 2*p.Pad > p.Kernel {
		return Shape{}, fieldErr("pool", "p", "padding %d must be between 0 and half the kernel %d", p.Pad, p.Kernel)
	}
	h, err := p.size(in.H)
	if err != nil {
		return Shape{}, fieldErr("pool", "k", "%v", err)
	}
	w, err := p.size(in.W)
	if err != nil {
		return Shape{}, fieldErr("pool", "k", "%v", err)
	}
	return Shape{in.C, h, w}, nil
}

// size follows PyTorch: with ceil mode the last window may hang over the
// edge, but must start inside the input or left padding.
func (p *Pool) size(in int) (int, error) {
	out, err := convOut(in, p.Kernel, p.stride(), p.Pad, 1)
	if err != nil || !p.Ceil {
		return out, err
	}
	s := p.stride()
	num := in + 2*p.Pad - p.Kernel
	out = (num+s-1)/s + 1
	if (out-1)*s >= in+p.Pad {
		out--
	}
	return out, nil
}

func (p *Pool) Cost(in Shape) Cost { return Cost{} }

// GlobalPool averages each channel over H x W (global average pooling).
type GlobalPool struct{}

func (g *GlobalPool) Type() string                     { return "gap" }
func (g *GlobalPool) OutShape(in Shape) (Shape, error) { return Shape{in.C, 1, 1}, nil }
func (g *GlobalPool) Cost(in Shape) Cost               { return Cost{} }

// Linear is a fully connected layer with bias on the flattened input
// (C*H*W features), the classifier of most families.
type Linear struct {
	Out    int  `json:"out" arch:"o"`
	NoBias bool `json:"no_bias,omitempty" arch:"nobias"`
}

func (l *Linear) Type() string { return "linear" }

func (l *Linear) OutShape(in Shape) (Shape, error) {
	if l.Out < 1 {
		return Shape{}, fieldErr("linear", "o", "outputs %d must be at least 1", l.Out)
	}
	return Shape{l.Out, 1, 1}, nil
}

func (l *Linear) Cost(in Shape) Cost {
	w := int64(in.C*in.H*in.W) * int64(l.Out)
	p := w
	if !l.NoBias {
		p += int64(l.Out)
	}
	return Cost{Params: p, MACs: w}
}

// Dropout zeroes each activation with probability P/100 in training and
// scales the rest by 1/(1-P/100). P is in percent so that arch strings stay
// integers (dropout_p20 is p=0.2).
type Dropout struct {
	P int `json:"p" arch:"p"`
}

func (d *Dropout) Type() string { return "dropout" }

func (d *Dropout) OutShape(in Shape) (Shape, error) {
	if d.P < 0 || d.P >= 100 {
		return Shape{}, fieldErr("dropout", "p", "drop percentage %d must be in [0, 100)", d.P)
	}
	return in, nil
}

func (d *Dropout) Cost(in Shape) Cost { return Cost{} }

// Lower emits the pooling window.
func (p *Pool) Lower(b *Builder, name string, x Value) Value {
	return b.Pool(x, p.Avg, PoolAttr{K: p.Kernel, S: p.stride(), P: p.Pad, Ceil: p.Ceil})
}

// Lower emits global average pooling.
func (g *GlobalPool) Lower(b *Builder, name string, x Value) Value { return b.GAP(x) }

// Lower emits the fully connected layer, named name.fc.
func (l *Linear) Lower(b *Builder, name string, x Value) Value {
	return b.Linear(name+".fc", x, l.Out, !l.NoBias)
}

// Lower emits dropout (nothing at P 0).
func (d *Dropout) Lower(b *Builder, name string, x Value) Value {
	return b.Dropout(x, float64(d.P)/100)
}

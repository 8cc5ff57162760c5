package onnximport

import "nas/blocks"

// The proposals read the ops after a block boundary and guess the specs
// that could start there. A guess may be wrong: try checks it by lowering.

// unit is a convolution (or linear layer) with the BN and activation that
// follow it when nothing else reads the values in between.
type unit struct {
	op   int
	conv blocks.ConvAttr
	bn   bool
	act  blocks.Act
	out  blocks.Value
}

// only returns the one unused op reading v, or -1.
func (m *matcher) only(v blocks.Value) int {
	r := -1
	for _, p := range m.readers[v] {
		if m.used[p] {
			continue
		}
		if r >= 0 {
			return -1
		}
		r = p
	}
	return r
}

// onlyKind returns the one op reading v when it has kind k, else -1.
func (m *matcher) onlyKind(v blocks.Value, k blocks.OpKind) int {
	p := m.only(v)
	if p < 0 || m.g.ops[p].Kind != k {
		return -1
	}
	return p
}

func (m *matcher) unitAt(p int) unit {
	op := m.g.ops[p]
	u := unit{op: p, conv: op.Conv, out: op.Out}
	if op.Kind == blocks.OpLinear {
		u.conv = blocks.ConvAttr{Out: op.Units, KH: 1, KW: 1, Bias: op.Bias}
	}
	if q := m.onlyKind(u.out, blocks.OpBN); q >= 0 {
		u.bn, u.out = true, m.g.ops[q].Out
	}
	if q := m.onlyKind(u.out, blocks.OpAct); q >= 0 {
		u.act, u.out = m.g.ops[q].Act, m.g.ops[q].Out
	}
	return u
}

// unitFrom returns the unit of the one convolution reading v.
func (m *matcher) unitFrom(v blocks.Value) (unit, bool) {
	p := m.onlyKind(v, blocks.OpConv)
	if p < 0 {
		return unit{}, false
	}
	return m.unitAt(p), true
}

func depthwise(a blocks.ConvAttr, c int) bool {
	return a.Groups == c && a.Out == c && a.KH == a.KW && a.SH == a.SW
}

func pointwise(a blocks.ConvAttr) bool {
	return a.KH == 1 && a.KW == 1 && a.SH == 1 && a.SW == 1 && a.PH == 0 && a.PW == 0
}

// propose lists the specs that may start at v, most specific first.
func (m *matcher) propose(v blocks.Value) []blocks.Spec {
	var out []blocks.Spec
	var convs []int
	for _, p := range m.readers[v] {
		if !m.used[p] && m.g.ops[p].Kind == blocks.OpConv {
			convs = append(convs, p)
		}
	}
	for _, p := range convs {
		if s := m.proposeIR(v, p); s != nil {
			out = append(out, s)
		}
	}
	if s := m.proposeShuffleV2(v); s != nil {
		out = append(out, s)
	}
	for _, p := range convs {
		if s := m.proposeFire(p); s != nil {
			out = append(out, s)
		}
		if s := m.proposeDWSep(v, p); s != nil {
			out = append(out, s)
		}
		if s := m.proposeShuffleV1(v, p); s != nil {
			out = append(out, s)
		}
		if s := m.proposeSqNxt(v, p); s != nil {
			out = append(out, s)
		}
		if s := m.proposeGhost(v, p); s != nil {
			out = append(out, s)
		}
	}
	for _, p := range convs {
		out = append(out, m.proposeConv(p)...)
	}
	for _, p := range m.readers[v] {
		if m.used[p] {
			continue
		}
		op := m.g.ops[p]
		switch op.Kind {
		case blocks.OpMaxPool, blocks.OpAvgPool:
			s := &blocks.Pool{Avg: op.Kind == blocks.OpAvgPool, Kernel: op.Pool.K, Pad: op.Pool.P, Ceil: op.Pool.Ceil}
			if op.Pool.S != op.Pool.K {
				s.Stride = op.Pool.S
			}
			out = append(out, s)
		case blocks.OpGAP:
			out = append(out, &blocks.GlobalPool{})
		case blocks.OpLinear:
			lin := &blocks.Linear{Out: op.Units, NoBias: !op.Bias}
			conv := m.linearAsConv(v, p)
			if conv != nil && m.unitAt(p).act != blocks.ActNone {
				out = append(out, conv, lin)
			} else {
				out = append(out, lin)
				if conv != nil {
					out = append(out, conv)
				}
			}
		}
	}
	return out
}

// linearAsConv is a linear layer with bias on C x 1 x 1 seen as a 1x1
// conv without BN (MobileNetV3's classifier: Linear, Hardswish).
func (m *matcher) linearAsConv(v blocks.Value, p int) blocks.Spec {
	s, op := m.g.shapes[v], m.g.ops[p]
	if s.H != 1 || s.W != 1 || !op.Bias {
		return nil
	}
	return &blocks.Conv{Out: op.Units, Kernel: 1, NoBN: true, Act: m.unitAt(p).act}
}

func (m *matcher) proposeConv(p int) []blocks.Spec {
	u := m.unitAt(p)
	a := u.conv
	if a.KH != a.KW || a.SH != a.SW || a.PH != a.PW || max(a.DH, 1) != 1 || max(a.DW, 1) != 1 {
		return nil
	}
	s := blocks.Conv{Out: a.Out, Kernel: a.KH, Stride: a.SH, Groups: a.Groups, Act: u.act, NoBN: !u.bn}
	if s.Groups == 1 {
		s.Groups = 0
	}
	if s.Stride == 1 {
		s.Stride = 0
	}
	switch same := (a.KH - 1) / 2; {
	case a.PH == same:
	case a.PH == 0:
		s.Valid = true
	default:
		s.Pad = a.PH
	}
	// A folded model's conv gets its BN back, except on a 1 x 1 map, where
	// it is a classifier layer (MobileNetV3's) rather than a BN unit.
	if in := m.g.shapes[m.g.ops[p].In[0]]; !u.bn && m.folded && m.unfoldConv && in.H*in.W > 1 {
		withBN := s
		withBN.NoBN = false
		return []blocks.Spec{&withBN, &s}
	}
	return []blocks.Spec{&s}
}

// proposeIR reads an inverted residual: [expand 1x1 [shuffle]] depthwise
// [SE] project 1x1 [add].
func (m *matcher) proposeIR(v blocks.Value, p int) blocks.Spec {
	in := m.g.shapes[v]
	first := m.unitAt(p)
	s := &blocks.MBConv{}
	dw := first
	if pointwise(first.conv) && !depthwise(first.conv, in.C) {
		s.Mid, s.Act = first.conv.Out, first.act
		if g := max(first.conv.Groups, 1); g > 1 {
			s.Groups = g
		}
		y := first.out
		if s.Groups > 1 {
			q := m.onlyKind(y, blocks.OpShuffle)
			if q < 0 {
				return nil
			}
			y = m.g.ops[q].Out
		}
		var ok bool
		if dw, ok = m.unitFrom(y); !ok {
			return nil
		}
		if s.Mid == in.C {
			s.AlwaysExpand = true
		}
	} else {
		s.Mid, s.Act = in.C, first.act
	}
	if !depthwise(dw.conv, s.Mid) {
		return nil
	}
	s.Kernel, s.Stride = dw.conv.KH, dw.conv.SH
	y := dw.out
	if se, out, ok := m.readSE(y); ok {
		s.SE, y = se, out
	}
	proj, ok := m.unitFrom(y)
	if !ok || !pointwise(proj.conv) {
		return nil
	}
	s.Out = proj.conv.Out
	if q := m.onlyKind(proj.out, blocks.OpAdd); q < 0 || (m.g.ops[q].In[0] != v && m.g.ops[q].In[1] != v) {
		if s.Stride == 1 && s.Out == in.C {
			s.NoSkip = true
		}
	}
	canonicalIR(s)
	return s
}

func canonicalIR(s *blocks.MBConv) {
	if s.Kernel == 3 {
		s.Kernel = 0
	}
	if s.Stride == 1 {
		s.Stride = 0
	}
	canonicalSE(&s.SE)
}

func canonicalSE(se *blocks.SE) {
	if se.Inner == blocks.ActReLU {
		se.Inner = ""
	}
	if se.Gate == blocks.ActHSigmoid {
		se.Gate = ""
	}
}

// readSE reads a squeeze-and-excitation gate on y: global pooling, 1x1
// conv, activation, 1x1 conv, gate activation, channel multiply.
func (m *matcher) readSE(y blocks.Value) (blocks.SE, blocks.Value, bool) {
	gap, mul := -1, -1
	for _, p := range m.readers[y] {
		switch m.g.ops[p].Kind {
		case blocks.OpGAP:
			gap = p
		case blocks.OpMul:
			mul = p
		}
	}
	if gap < 0 || mul < 0 || len(m.readers[y]) != 2 {
		return blocks.SE{}, 0, false
	}
	reduce, ok := m.unitFrom(m.g.ops[gap].Out)
	if !ok {
		return blocks.SE{}, 0, false
	}
	expand, ok := m.unitFrom(reduce.out)
	if !ok {
		return blocks.SE{}, 0, false
	}
	return blocks.SE{Squeeze: reduce.conv.Out, Inner: reduce.act, Gate: expand.act}, m.g.ops[mul].Out, true
}

// proposeFire reads SqueezeNet's Fire module: squeeze 1x1, ReLU, then
// 1x1 and 3x3 expands joined.
func (m *matcher) proposeFire(p int) blocks.Spec {
	sq := m.unitAt(p)
	if !pointwise(sq.conv) || sq.bn || sq.act != blocks.ActReLU {
		return nil
	}
	f := &blocks.Fire{Squeeze: sq.conv.Out}
	for _, q := range m.readers[sq.out] {
		if m.g.ops[q].Kind != blocks.OpConv {
			return nil
		}
		switch a := m.g.ops[q].Conv; {
		case pointwise(a):
			f.E1 = a.Out
		case a.KH == 3 && a.KW == 3:
			f.E3 = a.Out
		}
	}
	if f.E1 == 0 && f.E3 == 0 {
		return nil
	}
	return f
}

// proposeDWSep reads a depthwise conv unit followed by a pointwise one.
func (m *matcher) proposeDWSep(v blocks.Value, p int) blocks.Spec {
	in := m.g.shapes[v]
	dw := m.unitAt(p)
	if !depthwise(dw.conv, in.C) {
		return nil
	}
	pw, ok := m.unitFrom(dw.out)
	if !ok || !pointwise(pw.conv) {
		return nil
	}
	s := &blocks.DWSep{Out: pw.conv.Out, Kernel: dw.conv.KH, Stride: dw.conv.SH, Act: dw.act}
	if s.Kernel == 3 {
		s.Kernel = 0
	}
	if s.Stride == 1 {
		s.Stride = 0
	}
	return s
}

// proposeShuffleV2 reads a ShuffleNet V2 unit: a channel split (stride 1)
// or two branches (stride 2), joined and shuffled.
func (m *matcher) proposeShuffleV2(v blocks.Value) blocks.Spec {
	in := m.g.shapes[v]
	var right blocks.Value
	hasRight := false
	for _, p := range m.readers[v] {
		op := m.g.ops[p]
		switch {
		case op.Kind == blocks.OpSlice && op.Start == in.C/2 && op.End == in.C:
			right, hasRight = op.Out, true
		case op.Kind == blocks.OpConv && pointwise(op.Conv):
			right, hasRight = v, true
		}
	}
	if !hasRight {
		return nil
	}
	var pw1 int = -1
	for _, p := range m.readers[right] {
		if op := m.g.ops[p]; op.Kind == blocks.OpConv && pointwise(op.Conv) {
			pw1 = p
		}
	}
	if pw1 < 0 {
		return nil
	}
	u1 := m.unitAt(pw1)
	dw, ok := m.unitFrom(u1.out)
	if !ok || !depthwise(dw.conv, u1.conv.Out) {
		return nil
	}
	pw2, ok := m.unitFrom(dw.out)
	if !ok {
		return nil
	}
	s := &blocks.ShuffleV2{Out: 2 * pw2.conv.Out, Mid: u1.conv.Out, Stride: dw.conv.SH, Kernel: dw.conv.KH}
	if s.Mid == s.Out/2 {
		s.Mid = 0
	}
	if s.Stride == 1 {
		s.Stride = 0
	}
	if s.Kernel == 3 {
		s.Kernel = 0
	}
	return s
}

// proposeShuffleV1 reads a ShuffleNet V1 unit: grouped 1x1, depthwise,
// channel shuffle, grouped 1x1, then a residual sum (stride 1) or a join
// with the average-pooled input (stride 2), and ReLU.
func (m *matcher) proposeShuffleV1(v blocks.Value, p int) blocks.Spec {
	in := m.g.shapes[v]
	pw1 := m.unitAt(p)
	if !pointwise(pw1.conv) || pw1.act != blocks.ActReLU {
		return nil
	}
	dw, ok := m.unitFrom(pw1.out)
	if !ok || !depthwise(dw.conv, pw1.conv.Out) {
		return nil
	}
	y := dw.out
	if q := m.onlyKind(y, blocks.OpShuffle); q >= 0 {
		y = m.g.ops[q].Out
	}
	pw2, ok := m.unitFrom(y)
	if !ok || !pointwise(pw2.conv) {
		return nil
	}
	g := max(pw2.conv.Groups, 1)
	s := &blocks.ShuffleV1{Out: pw2.conv.Out, Mid: pw1.conv.Out, Groups: g, Stride: dw.conv.SH, Kernel: dw.conv.KH,
		DenseFirst: g > 1 && max(pw1.conv.Groups, 1) == 1}
	if s.Stride == 2 {
		s.Out += in.C
	}
	if s.Mid == s.Out/4 {
		s.Mid = 0
	}
	return s
}

// proposeSqNxt reads a SqueezeNext block: five conv-BN-ReLU units (1x1
// reduce, 1x1 squeeze, 3x1 and 1x3 in either order, 1x1 expand), a shortcut, a sum and ReLU.
func (m *matcher) proposeSqNxt(v blocks.Value, p int) blocks.Spec {
	in := m.g.shapes[v]
	var us [5]unit
	us[0] = m.unitAt(p)
	for i := 1; i < 5; i++ {
		var ok bool
		if us[i], ok = m.unitFrom(us[i-1].out); !ok {
			return nil
		}
	}
	heightFirst := us[2].conv.KH == 3 && us[2].conv.KW == 1 && us[3].conv.KH == 1 && us[3].conv.KW == 3
	widthFirst := us[2].conv.KH == 1 && us[2].conv.KW == 3 && us[3].conv.KH == 3 && us[3].conv.KW == 1
	if !heightFirst && !widthFirst {
		return nil
	}
	s := &blocks.SqNxt{Out: us[4].conv.Out, Stride: us[0].conv.SH, Reduce: us[0].conv.Out, Squeeze: us[1].conv.Out, WidthFirst: widthFirst}
	def := in.C / 2 // the reference rule of blocks.SqNxt for Reduce 0
	switch {
	case s.Stride == 2:
		def = in.C
	case in.C > s.Out:
		def = in.C / 4
	}
	if s.Reduce == def {
		s.Reduce = 0
	}
	if s.Squeeze == us[0].conv.Out/2 {
		s.Squeeze = 0
	}
	if s.Stride == 1 {
		s.Stride = 0
	}
	return s
}

// ghostModuleAt reads a Ghost module from its primary 1x1 conv p: the
// cheap depthwise conv on its output, the join, and the slice to out.
func (m *matcher) ghostModuleAt(p int) (out, ratio int, end blocks.Value, ok bool) {
	primary := m.unitAt(p)
	if !pointwise(primary.conv) {
		return 0, 0, 0, false
	}
	var cheap unit
	cat := -1
	for _, q := range m.readers[primary.out] {
		switch m.g.ops[q].Kind {
		case blocks.OpConv:
			cheap = m.unitAt(q)
		case blocks.OpConcat:
			cat = q
		}
	}
	c := primary.conv.Out
	if cat < 0 || cheap.conv.Out == 0 || cheap.conv.Out%c != 0 {
		return 0, 0, 0, false
	}
	ratio = cheap.conv.Out/c + 1
	end, out = m.g.ops[cat].Out, c*ratio
	if q := m.onlyKind(end, blocks.OpSlice); q >= 0 && m.g.ops[q].Start == 0 {
		end, out = m.g.ops[q].Out, m.g.ops[q].End
	}
	return out, ratio, end, true
}

// proposeGhost reads a Ghost bottleneck: Ghost module, [depthwise at
// stride 2], [SE], Ghost module, plus the shortcut.
func (m *matcher) proposeGhost(v blocks.Value, p int) blocks.Spec {
	mid, ratio, y, ok := m.ghostModuleAt(p)
	if !ok {
		return nil
	}
	s := &blocks.Ghost{Mid: mid, Ratio: ratio}
	if dw, ok := m.unitFrom(y); ok && depthwise(dw.conv, mid) && dw.conv.SH > 1 {
		s.Stride, s.Kernel, y = dw.conv.SH, dw.conv.KH, dw.out
	}
	if se, out, ok := m.readSE(y); ok {
		s.SE, y = se, out
	}
	q := m.onlyKind(y, blocks.OpConv)
	if q < 0 {
		return nil
	}
	if s.Out, _, _, ok = m.ghostModuleAt(q); !ok {
		return nil
	}
	// The kernel of a stride-1 block shows only in its shortcut.
	for _, r := range m.readers[v] {
		if a := m.g.ops[r].Conv; m.g.ops[r].Kind == blocks.OpConv && s.Stride == 0 && depthwise(a, m.g.shapes[v].C) {
			s.Kernel = a.KH
		}
	}
	if s.Ratio == 2 {
		s.Ratio = 0
	}
	if s.Kernel == 3 {
		s.Kernel = 0
	}
	canonicalSE(&s.SE)
	return s
}

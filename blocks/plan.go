package blocks

import (
	"fmt"
	"slices"

	"nas/blocks/kernels"
	"nas/internal/workers"
)

// Plan is a Network compiled for fast inference at a fixed batch size and
// thread count:
//
//   - batch norm after a convolution is folded into its weights and bias
//     (a batch norm elsewhere becomes one per-channel affine map);
//   - an activation, and a residual sum, that follow a convolution are
//     applied to its output tiles while they are in cache (kernels.Epilogue);
//   - 1x1 stride-1 convolutions are a GEMM on the input as it lies, no
//     im2col (a matrix-vector product over one position); other dense
//     ones at stride 1 a GEMM whose panels of B are packed from the
//     input's padded planes where the CPU has the packer
//     (kernels.ImplicitB), else im2col and a GEMM; depthwise ones use
//     kernels.DepthwiseConv, a 3x3 stride-2 stem over a few channels
//     kernels.StemConv;
//   - channel slices and dropout are views, not copies;
//   - every buffer is allocated when the plan is made, values whose lives
//     do not overlap share storage, and Run allocates nothing.
//
// Threads: with batch 1 the threads split each operator (output tiles of a
// GEMM, channels of the others; intra-op parallelism); with a larger batch
// each thread runs whole images with a buffer set of its own (batch
// parallelism).
//
// The plan copies the network's weights when it is made: later changes to
// the network do not reach it. It is not safe for concurrent use; Close
// stops its threads.
type Plan struct {
	batch, threads int
	inLen, outLen  int // per image

	steps   []step
	stepOps []int // per step: the graph op it was compiled from
	arenas  []*arena
	pool    *workers.Pool
	out     []float32

	stepJob  stepJob
	batchJob batchJob

	stats PlanStats
}

// PlanStats describes what the compiler made of a network.
type PlanStats struct {
	Ops        int // ops of the graph
	Steps      int // steps of the plan, after fusion and views
	FoldedBN   int // batch norms folded into a convolution
	FusedActs  int // activations applied in an epilogue
	FusedAdds  int // residual sums applied in an epilogue
	Views      int // slices and dropouts that cost nothing
	ArenaBytes int // activation storage of one buffer set (all slots and scratch)
	Arenas     int // buffer sets: 1, or one per thread for batch parallelism
}

// Stats returns what the compiler did.
func (p *Plan) Stats() PlanStats { return p.stats }

// Threads is the number of threads the plan runs on.
func (p *Plan) Threads() int { return p.threads }

// Batch is the number of images per Run.
func (p *Plan) Batch() int { return p.batch }

// InputLen is the number of values Run expects: batch * C * H * W.
func (p *Plan) InputLen() int { return p.batch * p.inLen }

// OutputLen is the number of values Run returns: batch times the size of
// the graph's output.
func (p *Plan) OutputLen() int { return p.batch * p.outLen }

// Close stops the plan's threads. The plan must not be used afterwards.
func (p *Plan) Close() {
	if p.pool != nil {
		p.pool.Close()
		p.pool = nil
	}
}

// Run computes the network on x (batch x C x H x W, NCHW) and returns the
// output (batch x the output's size). The returned slice belongs to the plan
// and is overwritten by the next Run. It allocates nothing.
func (p *Plan) Run(x []float32) ([]float32, error) {
	if len(x) != p.batch*p.inLen {
		return nil, fmt.Errorf("plan input has %d values, want batch %d x %d", len(x), p.batch, p.inLen)
	}
	if p.pool == nil {
		return nil, fmt.Errorf("plan used after Close")
	}
	if len(p.arenas) == 1 {
		a := p.arenas[0]
		for i := 0; i < p.batch; i++ {
			p.runImage(a, x, i, true)
		}
		return p.out, nil
	}
	p.batchJob.x = x
	p.pool.Run(len(p.arenas), &p.batchJob)
	p.batchJob.x = nil
	return p.out, nil
}

// runImage runs image i of x through the steps on arena a, splitting each
// step over the pool when parallel is set.
func (p *Plan) runImage(a *arena, x []float32, i int, parallel bool) {
	a.x = x[i*p.inLen : (i+1)*p.inLen]
	for _, s := range p.steps {
		parts := 1
		if parallel {
			parts = s.parts()
		}
		if parts <= 1 {
			s.run(a, 0, 1)
			continue
		}
		p.stepJob.s, p.stepJob.a = s, a
		p.pool.Run(parts, &p.stepJob)
	}
	copy(p.out[i*p.outLen:(i+1)*p.outLen], a.at(a.output))
	a.x = nil
}

// stepJob runs one step's parts on the pool.
type stepJob struct {
	s step
	a *arena
}

func (j *stepJob) Do(part, parts int) { j.s.run(j.a, part, parts) }

// batchJob runs whole images, one arena per part.
type batchJob struct {
	p *Plan
	x []float32
}

func (j *batchJob) Do(part, parts int) {
	for i := part; i < j.p.batch; i += parts {
		j.p.runImage(j.p.arenas[part], j.x, i, false)
	}
}

// loc is where a value lies: slot -1 is the image being computed.
type loc struct{ slot, off, n int }

// arena is one set of buffers for one image at a time.
type arena struct {
	slots   [][]float32
	scratch [][]float32 // one per part: depthwise padded planes, max pooling rows
	cols    []float32   // im2col matrix, or an implicit B's padded planes, or a stem's
	gemmWS  [][]float32 // one per part: GEMM packing buffers
	x       []float32   // the current image
	output  loc
}

func (a *arena) at(l loc) []float32 {
	if l.slot < 0 {
		return a.x[l.off : l.off+l.n]
	}
	return a.slots[l.slot][l.off : l.off+l.n]
}

// step is one operation of the plan. run computes part part of parts;
// parts is the split chosen at compile time (1 when the step is too small
// to gain from threads).
type step interface {
	parts() int
	run(a *arena, part, parts int)
}

// minParallelWork is the number of multiply-adds (or element operations)
// below which a step runs on one thread: handing parts to the pool costs
// about two microseconds.
const minParallelWork = 200_000

// NewPlan compiles n for batch images per Run on threads threads
// (threads < 1 means 1).
func NewPlan(n *Network, batch, threads int) (*Plan, error) {
	return newPlan(n, batch, threads, minParallelWork)
}

// newPlan is NewPlan with the size below which steps stay on one thread
// (tests set 0 to split every step).
func newPlan(n *Network, batch, threads, minWork int) (*Plan, error) {
	if batch < 1 {
		return nil, fmt.Errorf("plan batch %d: want at least 1", batch)
	}
	threads = max(threads, 1)
	c, err := newPlanCompiler(n, threads, minWork)
	if err != nil {
		return nil, err
	}
	if err := c.compile(); err != nil {
		return nil, err
	}
	g := n.Graph
	p := &Plan{
		batch: batch, threads: threads,
		inLen:   shapeLen(g.Shapes[g.Input]),
		outLen:  shapeLen(g.Shapes[g.Output]),
		steps:   c.steps,
		stepOps: c.stepOps,
		pool:    workers.New(threads),
		stats:   c.stats,
	}
	p.out = make([]float32, batch*p.outLen)
	nArenas := 1
	if batch > 1 {
		nArenas = min(threads, batch)
	}
	scratchParts := threads
	if nArenas > 1 {
		scratchParts = 1
	}
	for range nArenas {
		a := &arena{output: c.locOf(g.Output)}
		for _, sz := range c.slotSize {
			a.slots = append(a.slots, make([]float32, sz))
		}
		for range scratchParts {
			a.scratch = append(a.scratch, make([]float32, c.scratchLen))
		}
		a.cols = make([]float32, c.colsLen)
		for range scratchParts {
			a.gemmWS = append(a.gemmWS, make([]float32, c.gemmWSLen))
		}
		p.arenas = append(p.arenas, a)
	}
	bytes := 0
	for _, sz := range c.slotSize {
		bytes += 4 * sz
	}
	p.stats.ArenaBytes = bytes + 4*(scratchParts*(c.scratchLen+c.gemmWSLen)+c.colsLen)
	p.stats.Arenas = nArenas
	p.stats.Ops = len(g.Ops)
	p.stats.Steps = len(p.steps)
	p.stepJob = stepJob{}
	p.batchJob = batchJob{p: p}
	return p, nil
}

// kernelAct maps an activation to the kernels' kind.
func kernelAct(a Act) (kernels.ActKind, error) {
	switch a {
	case ActNone:
		return kernels.ActIdentity, nil
	case ActReLU:
		return kernels.ActReLU, nil
	case ActReLU6:
		return kernels.ActReLU6, nil
	case ActHSwish:
		return kernels.ActHardSwish, nil
	case ActSwish:
		return kernels.ActSwish, nil
	case ActSigmoid:
		return kernels.ActSigmoid, nil
	case ActHSigmoid:
		return kernels.ActHardSigmoid, nil
	case ActPReLU:
		return kernels.ActPReLU, nil
	}
	return 0, fmt.Errorf("unknown activation %q", string(a))
}

// planCompiler turns the graph's ops into steps and lays out memory.
type planCompiler struct {
	n       *Network
	g       *Graph
	threads int
	minWork int // steps smaller than this stay on one thread
	bns     map[string]*bnParams

	uses     []int // readers of each value (+1 for the graph output)
	consumer []int // the op reading a value read once, else -1
	producer []int // op writing each value, -1 for the input
	done     []bool

	// values: view roots and offsets; lastUse per root (step index)
	root    []Value
	rootOff []int
	// per step, the values it reads and writes (for liveness)
	stepIns  [][]Value
	stepOut  []Value
	inPlace  []int // per step: index into stepIns that may share the output's storage, or -1
	steps    []step
	stepOps  []int                     // per step: the op it was compiled from (the first it fuses)
	cur      int                       // the op being compiled
	pending  []func(l func(Value) loc) // per step: bind locations once memory is laid out
	slotOf   []int                     // per root value
	slotSize []int

	scratchLen, colsLen, gemmWSLen int
	stats                          PlanStats
}

type bnParams struct{ scale, shift []float32 }

func newPlanCompiler(n *Network, threads, minWork int) (*planCompiler, error) {
	g := n.Graph
	c := &planCompiler{n: n, g: g, threads: threads, minWork: minWork, bns: map[string]*bnParams{}}
	for _, bn := range n.BatchNorms() {
		s, t := bn.ScaleShift()
		c.bns[bn.Name] = &bnParams{s, t}
	}
	nv := len(g.Shapes)
	c.uses = make([]int, nv)
	c.consumer = slices.Repeat([]int{-1}, nv)
	c.producer = slices.Repeat([]int{-1}, nv)
	for i, op := range g.Ops {
		for _, v := range op.In {
			c.uses[v]++
			c.consumer[v] = i
		}
		c.producer[op.Out] = i
	}
	c.uses[g.Output]++
	c.done = make([]bool, len(g.Ops))
	c.root = make([]Value, nv)
	c.rootOff = make([]int, nv)
	for v := range c.root {
		c.root[v] = Value(v)
	}
	return c, nil
}

// The split of a step between threads follows its neighbours' where that
// keeps data in the cache of the core that wrote it: the GEMMs on either
// side of a depthwise step split at its channels, the one before by
// output rows and the one after by input channels (gemmKStep). Data that
// one core writes and the other reads crosses between their caches, and
// on a two-core VM that costs as much as the arithmetic of a depthwise
// step (docs/performance.md, "What limits speed").

// localitySplits turns the rules above on (benchmarks compare plans
// without them).
var localitySplits = true

// feedsDepthwise reports whether v is read alone by a depthwise
// convolution that splits into c.threads parts.
func (c *planCompiler) feedsDepthwise(v Value) bool {
	j, ok := c.follower(v, OpConv)
	if !ok || c.threads == 1 || !localitySplits {
		return false
	}
	op := c.g.Ops[j]
	in, out := c.g.Shapes[op.In[0]], c.g.Shapes[op.Out]
	a := op.Conv
	if a.Groups != in.C || a.Out != in.C || in.C < c.threads {
		return false
	}
	return c.parts(shapeLen(out)*a.KH*a.KW) == c.threads
}

// splitsK reports whether the pointwise convolution d of x splits by
// input channels: x is the output of the step just compiled, a depthwise
// step split into c.threads parts.
func (c *planCompiler) splitsK(x Value, d kernels.ConvDims) bool {
	last := len(c.steps) - 1
	if c.threads == 1 || !localitySplits || !d.Pointwise() || d.Groups != 1 || last < 0 || c.stepOut[last] != x {
		return false
	}
	dw, ok := c.steps[last].(*dwStep)
	if !ok || dw.nparts != c.threads || dw.out != d.In {
		return false
	}
	return d.Out*d.In*d.OutH*d.OutW >= c.minWork
}

// addGemmK adds a gemmKStep and the reduceKStep that finishes it.
func (c *planCompiler) addGemmK(d kernels.ConvDims, w []float32, epi kernels.Epilogue, x, y, res Value, ins []Value, inPlace int) {
	s := newGemmKStep(d, w, epi, c.threads)
	c.gemmWSLen = max(c.gemmWSLen, s.workspaceLen())
	c.scratchLen = max(c.scratchLen, s.m*s.n)
	c.addStep(s, ins, y, inPlace, func(l func(Value) loc) {
		s.src, s.dst = l(x), l(y)
		if res >= 0 {
			r := l(res)
			s.res = &r
			s.inPlace = r.slot == s.dst.slot && r.off == s.dst.off && r.slot >= 0
		}
	})
	r := &reduceKStep{g: s, rowAt: alignedSpans(s.m, c.threads, lineRows(s.n))}
	c.addStep(r, []Value{y}, -1, -1, func(func(Value) loc) {})
}

// param returns a copy of the named tensor's values.
func (c *planCompiler) param(name string) ([]float32, error) {
	t, ok := c.n.State()[name]
	if !ok {
		return nil, fmt.Errorf("network has no tensor %q", name)
	}
	return slices.Clone(t.Data), nil
}

// follower returns the op that alone reads v, if it is of kind k and v is
// not the graph output.
func (c *planCompiler) follower(v Value, k OpKind) (int, bool) {
	if c.uses[v] != 1 || v == c.g.Output {
		return -1, false
	}
	i := c.consumer[v]
	if i < 0 || c.g.Ops[i].Kind != k || c.done[i] {
		return -1, false
	}
	return i, true
}

// fuseAct consumes an activation that alone reads v: it returns the
// epilogue's kind and slopes, and the value the activation wrote.
func (c *planCompiler) fuseAct(v Value) (kernels.ActKind, []float32, Value, error) {
	i, ok := c.follower(v, OpAct)
	if !ok {
		return kernels.ActIdentity, nil, v, nil
	}
	op := c.g.Ops[i]
	k, err := kernelAct(op.Act)
	if err != nil {
		return 0, nil, v, fmt.Errorf("op %d (%s): %w", i, op.Name, err)
	}
	var slope []float32
	if op.Act == ActPReLU {
		if slope, err = c.param(op.Name + ".weight"); err != nil {
			return 0, nil, v, err
		}
	}
	c.done[i] = true
	c.stats.FusedActs++
	return k, slope, op.Out, nil
}

// addStep records a step reading ins and writing out; inPlace is the index
// of the input whose storage the output may take over, or -1; bind fills in
// the step's locations once memory is laid out.
func (c *planCompiler) addStep(s step, ins []Value, out Value, inPlace int, bind func(l func(Value) loc)) {
	c.steps = append(c.steps, s)
	c.stepOps = append(c.stepOps, c.cur)
	c.stepIns = append(c.stepIns, ins)
	c.stepOut = append(c.stepOut, out)
	c.inPlace = append(c.inPlace, inPlace)
	c.pending = append(c.pending, bind)
}

func (c *planCompiler) compile() error {
	g := c.g
	for i := range g.Ops {
		if c.done[i] {
			continue
		}
		c.done[i] = true
		c.cur = i
		if err := c.compileOp(i); err != nil {
			op := g.Ops[i]
			return fmt.Errorf("plan: op %d (%s %s): %w", i, op.Kind, op.Name, err)
		}
	}
	c.layout()
	loc := c.locOf
	for _, bind := range c.pending {
		bind(loc)
	}
	return nil
}

func (c *planCompiler) parts(work int) int {
	if c.threads == 1 || work < c.minWork {
		return 1
	}
	return c.threads
}

func (c *planCompiler) compileOp(i int) error {
	g := c.g
	op := g.Ops[i]
	in := g.Shapes[op.In[0]]
	out := g.Shapes[op.Out]
	switch op.Kind {
	case OpConv:
		return c.compileConv(i)
	case OpBN:
		bn := c.bns[op.Name]
		if bn == nil {
			return fmt.Errorf("network has no batch norm %q", op.Name)
		}
		act, slope, y, err := c.fuseAct(op.Out)
		if err != nil {
			return err
		}
		s := &affineStep{scale: bn.scale, shift: bn.shift, c: in.C, hw: in.H * in.W,
			epi: kernels.Epilogue{Act: act, Slope: slope}}
		s.nparts = c.parts(shapeLen(in))
		c.addStep(s, []Value{op.In[0]}, y, 0, func(l func(Value) loc) { s.src, s.dst = l(op.In[0]), l(y) })
	case OpAct:
		k, err := kernelAct(op.Act)
		if err != nil {
			return err
		}
		var slope []float32
		if op.Act == ActPReLU {
			if slope, err = c.param(op.Name + ".weight"); err != nil {
				return err
			}
		}
		s := &affineStep{c: in.C, hw: in.H * in.W, epi: kernels.Epilogue{Act: k, Slope: slope}}
		s.nparts = c.parts(shapeLen(in))
		c.addStep(s, []Value{op.In[0]}, op.Out, 0, func(l func(Value) loc) { s.src, s.dst = l(op.In[0]), l(op.Out) })
	case OpMaxPool, OpAvgPool:
		p := op.Pool
		win := kernels.Window{InH: in.H, InW: in.W, KH: p.K, KW: p.K, StrideH: p.S, StrideW: p.S,
			PadH: p.P, PadW: p.P, DilH: 1, DilW: 1, OutH: out.H, OutW: out.W}
		s := &poolStep{win: win, c: in.C, max: op.Kind == OpMaxPool}
		if s.max {
			c.scratchLen = max(c.scratchLen, kernels.MaxPoolRowsScratchLen(win))
		}
		s.nparts = c.parts(shapeLen(out) * p.K * p.K)
		c.addStep(s, []Value{op.In[0]}, op.Out, -1, func(l func(Value) loc) { s.src, s.dst = l(op.In[0]), l(op.Out) })
	case OpGAP:
		s := &gapStep{c: in.C, hw: in.H * in.W}
		s.nparts = c.parts(shapeLen(in))
		c.addStep(s, []Value{op.In[0]}, op.Out, -1, func(l func(Value) loc) { s.src, s.dst = l(op.In[0]), l(op.Out) })
	case OpLinear:
		return c.compileLinear(i)
	case OpDropout:
		c.view(op.Out, op.In[0], 0)
	case OpSlice:
		c.view(op.Out, op.In[0], op.Start*in.H*in.W)
	case OpShuffle:
		s := &concatStep{hw: in.H * in.W, to: shuffleTargets(in.C, op.Groups), nparts: c.parts(shapeLen(in))}
		c.addStep(s, []Value{op.In[0]}, op.Out, -1, func(l func(Value) loc) { s.srcs, s.out = []loc{l(op.In[0])}, l(op.Out) })
	case OpConcat:
		s := &concatStep{hw: out.H * out.W, nparts: c.parts(shapeLen(out))}
		y := op.Out
		if j, ok := c.follower(y, OpShuffle); ok {
			// Concat then shuffle: copy each channel to its place once.
			s.to = shuffleTargets(out.C, g.Ops[j].Groups)
			c.done[j] = true
			y = g.Ops[j].Out
		}
		ins := slices.Clone(op.In)
		if s.to == nil && c.concatInPlace(ins, y) {
			return nil
		}
		c.addStep(s, ins, y, -1, func(l func(Value) loc) {
			for _, v := range ins {
				s.srcs = append(s.srcs, l(v))
			}
			s.out = l(y)
		})
	case OpAdd:
		act, slope, y, err := c.fuseAct(op.Out)
		if err != nil {
			return err
		}
		s := &addStep{c: out.C, hw: out.H * out.W, epi: kernels.Epilogue{Act: act, Slope: slope}}
		s.nparts = c.parts(shapeLen(out))
		a, b := op.In[0], op.In[1]
		c.addStep(s, []Value{a, b}, y, 0, func(l func(Value) loc) { s.a, s.b, s.dst = l(a), l(b), l(y) })
	case OpMul:
		s := &mulStep{c: out.C, hw: out.H * out.W}
		s.nparts = c.parts(shapeLen(out))
		x, f := op.In[0], op.In[1]
		c.addStep(s, []Value{x, f}, op.Out, 0, func(l func(Value) loc) { s.x, s.s, s.dst = l(x), l(f), l(op.Out) })
	default:
		return fmt.Errorf("no plan for op kind %q", op.Kind)
	}
	return nil
}

// view makes v a window of base starting off values in.
// concatInPlace makes the inputs of a concat parts of its output y, so
// that the steps that compute them write them in place and no copy is
// made, and reports whether it could: each input must be computed by
// steps already added, none of which writes in the storage of one of its
// own inputs, and be read by the concat alone, with no views of it.
func (c *planCompiler) concatInPlace(ins []Value, y Value) bool {
	if c.uses[y] == 0 && y != c.g.Output {
		return false // not read: nothing would keep its storage
	}
	for i, v := range ins {
		if v == c.g.Input || v == c.g.Output || c.root[v] != v || c.uses[v] != 1 || slices.Contains(ins[:i], v) {
			return false
		}
		written := false
		for s, out := range c.stepOut {
			if out == v {
				written = true
				if c.inPlace[s] >= 0 {
					return false
				}
			}
		}
		if !written {
			return false
		}
		for w, r := range c.root {
			if r == v && Value(w) != v {
				return false
			}
		}
	}
	off := 0
	for _, v := range ins {
		c.root[v] = y
		c.rootOff[v] = off
		off += shapeLen(c.g.Shapes[v])
	}
	c.stats.Views += len(ins)
	return true
}

func (c *planCompiler) view(v, base Value, off int) {
	c.root[v] = c.root[base]
	c.rootOff[v] = c.rootOff[base] + off
	c.stats.Views++
}

func (c *planCompiler) compileConv(i int) error {
	g := c.g
	op := g.Ops[i]
	a := op.Conv
	in := g.Shapes[op.In[0]]
	out := g.Shapes[op.Out]
	w, err := c.param(op.Name + ".weight")
	if err != nil {
		return err
	}
	var bias []float32
	if a.Bias {
		if bias, err = c.param(op.Name + ".bias"); err != nil {
			return err
		}
	}
	y := op.Out
	// Fold a batch norm that alone reads the convolution.
	if j, ok := c.follower(y, OpBN); ok {
		bnOp := g.Ops[j]
		bn := c.bns[bnOp.Name]
		if bn == nil {
			return fmt.Errorf("network has no batch norm %q", bnOp.Name)
		}
		per := len(w) / a.Out
		if bias == nil {
			bias = make([]float32, a.Out)
		}
		for o := 0; o < a.Out; o++ {
			s := bn.scale[o]
			for k := range w[o*per : (o+1)*per] {
				w[o*per+k] *= s
			}
			bias[o] = bias[o]*s + bn.shift[o]
		}
		c.done[j] = true
		c.stats.FoldedBN++
		y = bnOp.Out
	}
	act, slope, y2, err := c.fuseAct(y)
	if err != nil {
		return err
	}
	y = y2
	// A residual sum whose other term is ready before the convolution runs.
	res := Value(-1)
	if act == kernels.ActIdentity {
		if j, ok := c.follower(y, OpAdd); ok {
			addOp := g.Ops[j]
			other := addOp.In[0]
			if other == y {
				other = addOp.In[1]
			}
			if other != y && (c.producer[other] < i) {
				res = other
				c.done[j] = true
				c.stats.FusedAdds++
				y = addOp.Out
				if act, slope, y, err = c.fuseAct(y); err != nil {
					return err
				}
			}
		}
	}
	epi := kernels.Epilogue{Bias: bias, Act: act, Slope: slope}
	d := kernels.ConvDims{
		Window: kernels.Window{InH: in.H, InW: in.W, KH: a.KH, KW: a.KW, StrideH: a.SH, StrideW: a.SW,
			PadH: a.PH, PadW: a.PW, DilH: a.DH, DilW: a.DW, OutH: out.H, OutW: out.W},
		In: in.C, Out: a.Out, Groups: a.Groups,
	}
	x := op.In[0]
	if d.Depthwise() && res < 0 {
		dw := kernels.NewDepthwiseConv(d.Window, d.In, d.Out/d.In)
		c.scratchLen = max(c.scratchLen, dw.ScratchLen())
		s := &dwStep{conv: dw, w: w, epi: epi, out: d.Out}
		s.nparts = min(c.parts(shapeLen(out)*a.KH*a.KW), d.Out)
		c.addStep(s, []Value{x}, y, -1, func(l func(Value) loc) { s.src, s.dst = l(x), l(y) })
		return nil
	}
	if d.Pointwise() && d.Groups == 1 && d.OutH*d.OutW == 1 && res < 0 && act != kernels.ActPReLU {
		// One position (squeeze-and-excitation, a head after global
		// pooling): a matrix-vector product, not a GEMM whose micro-kernel
		// would compute a whole panel of columns for one.
		c.addLinear(x, y, w, bias, d.In, d.Out, act)
		return nil
	}
	if d.Groups == 1 && d.In <= maxStemIn && res < 0 {
		if sc := kernels.NewStemConv(d.Window, d.In, d.Out, w, bias); sc != nil {
			c.addStem(x, y, sc, epi)
			return nil
		}
	}
	var ib *kernels.ImplicitB
	if !d.Pointwise() && d.Groups == 1 {
		ib = kernels.NewImplicitB(d.Window, d.In)
	}
	switch {
	case ib != nil:
		// The input's padded planes into the arena's column buffer, then
		// a GEMM that packs its panels of B from them.
		c.colsLen = max(c.colsLen, ib.PaddedLen())
		s := &convPadStep{b: ib}
		s.nparts = min(c.parts(ib.PaddedLen()), d.In)
		c.addStep(s, []Value{x}, -1, -1, func(l func(Value) loc) { s.src = l(x) })
	case !d.Pointwise():
		// im2col into the arena's column matrix, then a GEMM on it.
		k := d.In * d.KH * d.KW
		n := d.OutH * d.OutW
		c.colsLen = max(c.colsLen, k*n)
		s := &im2colStep{win: d.Window, c: d.In}
		s.nparts = min(c.parts(k*n), d.In)
		c.addStep(s, []Value{x}, -1, -1, func(l func(Value) loc) { s.src = l(x) })
	}
	ins := []Value{x}
	if res >= 0 {
		ins = append(ins, res)
	}
	inPlace := -1
	if res >= 0 {
		inPlace = 1 // the GEMM accumulates onto the residual when they share storage
	}
	if ib == nil && c.splitsK(x, d) {
		c.addGemmK(d, w, epi, x, y, res, ins, inPlace)
		return nil
	}
	s := newGemmStep(d, w, epi, ib, c.threads, c.minWork, c.feedsDepthwise(y))
	c.gemmWSLen = max(c.gemmWSLen, s.workspaceLen())
	c.addStep(s, ins, y, inPlace, func(l func(Value) loc) {
		s.dst = l(y)
		if d.Pointwise() {
			s.src = l(x)
		} else {
			s.fromCols = true
		}
		if res >= 0 {
			r := l(res)
			s.res = &r
		}
	})
	return nil
}

// maxStemIn is the most input channels a 3x3 stride-2 convolution may
// have to run as a kernels.StemConv rather than im2col and a GEMM.
const maxStemIn = 4

// addStem adds the steps of a stem convolution: the input's padded planes
// into the arena's column buffer, then the output rows from them.
func (c *planCompiler) addStem(x, y Value, sc *kernels.StemConv, epi kernels.Epilogue) {
	c.colsLen = max(c.colsLen, sc.BufferLen())
	c.scratchLen = max(c.scratchLen, kernels.StemTileLen)
	win := sc.Win
	pad := &stemPadStep{conv: sc}
	pad.nparts = min(c.parts(sc.C*win.InH*win.InW), sc.C)
	c.addStep(pad, []Value{x}, -1, -1, func(l func(Value) loc) { pad.src = l(x) })
	s := &stemStep{conv: sc, epi: epi}
	s.nparts = min(c.parts(sc.Out*win.OutH*win.OutW*sc.C*win.KH*win.KW), win.OutH)
	c.addStep(s, []Value{x}, y, -1, func(l func(Value) loc) { s.dst = l(y) })
}

func (c *planCompiler) compileLinear(i int) error {
	g := c.g
	op := g.Ops[i]
	in := g.Shapes[op.In[0]]
	k := shapeLen(in)
	w, err := c.param(op.Name + ".weight")
	if err != nil {
		return err
	}
	var bias []float32
	if op.Bias {
		if bias, err = c.param(op.Name + ".bias"); err != nil {
			return err
		}
	}
	act, _, y, err := c.fuseAct(op.Out)
	if err != nil {
		return err
	}
	if act == kernels.ActPReLU {
		return fmt.Errorf("PReLU after a linear layer is not planned")
	}
	c.addLinear(op.In[0], y, w, bias, k, op.Units, act)
	return nil
}

// addLinear adds a step y = act(x W^T + bias) for the units x k weight w
// (row-major, as a linear layer or a 1x1 convolution stores it).
func (c *planCompiler) addLinear(x, y Value, w, bias []float32, k, units int, act kernels.ActKind) {
	// Transposed to k x units: the product is then a row vector times a
	// matrix read row by row.
	wt := make([]float32, len(w))
	for u := 0; u < units; u++ {
		for j := 0; j < k; j++ {
			wt[j*units+u] = w[u*k+j]
		}
	}
	s := &linearStep{wt: wt, bias: bias, k: k, units: units, act: act}
	s.nparts = c.parts(k * units)
	c.addStep(s, []Value{x}, y, -1, func(l func(Value) loc) { s.src, s.dst = l(x), l(y) })
}

// locOf returns where v lies after layout.
func (c *planCompiler) locOf(v Value) loc {
	r := c.root[v]
	n := shapeLen(c.g.Shapes[v])
	if r == c.g.Input {
		return loc{slot: -1, off: c.rootOff[v], n: n}
	}
	return loc{slot: c.slotOf[r], off: c.rootOff[v], n: n}
}

// layout gives every root value a slot: a value's storage is reused once
// its last reader has run. Slots keep the largest size they were asked for.
func (c *planCompiler) layout() {
	g := c.g
	nv := len(g.Shapes)
	last := make([]int, nv) // per root: last step that reads it
	for s, ins := range c.stepIns {
		for _, v := range ins {
			last[c.root[v]] = s
		}
	}
	last[c.root[g.Output]] = len(c.steps)
	c.slotOf = slices.Repeat([]int{-1}, nv)
	var free []int // slots not in use
	owner := map[int]Value{}
	release := func(s int) {
		for slot, r := range owner {
			if last[r] <= s && slot != c.slotOfOut(s) {
				delete(owner, slot)
				free = append(free, slot)
			}
		}
		slices.Sort(free)
	}
	for s := range c.steps {
		out := c.stepOut[s]
		if out >= 0 && c.root[out] != out {
			// A part of a root (a concat's input, written in place):
			// the root's storage, taken when its first part is written.
			if r := c.root[out]; c.slotOf[r] < 0 {
				slot := c.takeSlot(&free, shapeLen(g.Shapes[r]))
				c.slotOf[r] = slot
				owner[slot] = r
			}
			release(s)
			continue
		}
		if out >= 0 {
			need := shapeLen(g.Shapes[out])
			slot := -1
			if ip := c.inPlace[s]; ip >= 0 {
				u := c.stepIns[s][ip]
				r := c.root[u]
				if r != g.Input && last[r] == s && c.rootOff[u] == 0 && shapeLen(g.Shapes[u]) == need && shapeLen(c.g.Shapes[r]) == need {
					slot = c.slotOf[r]
				}
			}
			if slot < 0 {
				slot = c.takeSlot(&free, need)
			}
			c.slotOf[out] = slot
			owner[slot] = out
		}
		release(s)
	}
	// A value that no step writes (the output of a view chain over the
	// input, say) needs no slot; views take their root's.
	for v := range c.slotOf {
		if c.slotOf[v] < 0 {
			c.slotOf[v] = c.slotOf[c.root[v]]
		}
	}
}

// slotOfOut is the slot step s wrote, or -1.
func (c *planCompiler) slotOfOut(s int) int {
	if out := c.stepOut[s]; out >= 0 {
		return c.slotOf[out]
	}
	return -1
}

// takeSlot picks the smallest free slot that holds need values, or grows
// the largest free one, or makes a new one.
func (c *planCompiler) takeSlot(free *[]int, need int) int {
	best := -1
	for i, s := range *free {
		if c.slotSize[s] >= need && (best < 0 || c.slotSize[s] < c.slotSize[(*free)[best]]) {
			best = i
		}
	}
	if best < 0 {
		for i, s := range *free {
			if best < 0 || c.slotSize[s] > c.slotSize[(*free)[best]] {
				best = i
			}
		}
	}
	if best < 0 {
		c.slotSize = append(c.slotSize, need)
		return len(c.slotSize) - 1
	}
	s := (*free)[best]
	*free = slices.Delete(*free, best, best+1)
	c.slotSize[s] = max(c.slotSize[s], need)
	return s
}

// shapeLen is the number of values of a tensor of shape s.
func shapeLen(s Shape) int { return s.C * s.H * s.W }

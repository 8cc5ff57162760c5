package blocks

import (
	"fmt"
	"runtime"
	"slices"
	"time"

	"nas/blocks/kernels"
)

// StepInfo describes one step of a Plan for a profile: its kind, its
// geometry, and the multiply-adds (or, for steps without any, the values)
// it computes for one image.
type StepInfo struct {
	Kind string // gemm, reduce, im2col, convpad, stempad, stem, dwconv, affine, pool, gap, linear, add, mul, concat
	Desc string
	MACs int
}

// StepInfos describes the plan's steps in the order Run runs them.
func (p *Plan) StepInfos() []StepInfo {
	infos := make([]StepInfo, len(p.steps))
	for i, s := range p.steps {
		infos[i] = describeStep(s)
	}
	return infos
}

// StepOps returns, for each step in StepInfos' order, the index in the
// graph's Ops of the op it was compiled from (the first of the ops it
// fuses), so that a profile can add steps up by block (Graph.Blocks'
// First and Last bound each block's ops).
func (p *Plan) StepOps() []int { return slices.Clone(p.stepOps) }

// RunTimed is Run for one image on one buffer set that also adds the time
// each step took to ns (one element per step, StepInfos' order), read
// from clock (nanoseconds; nil for wall time) before and after each step.
// A clock of the calling thread's CPU time leaves out the waits of a busy
// machine, but also the work of the plan's other threads. It allocates
// nothing.
func (p *Plan) RunTimed(x []float32, ns []int64, clock func() int64) ([]float32, error) {
	if len(p.arenas) != 1 || p.batch != 1 {
		return nil, fmt.Errorf("RunTimed: plan has batch %d, want 1", p.batch)
	}
	if len(ns) != len(p.steps) {
		return nil, fmt.Errorf("RunTimed: %d times for %d steps", len(ns), len(p.steps))
	}
	if len(x) != p.inLen {
		return nil, fmt.Errorf("plan input has %d values, want %d", len(x), p.inLen)
	}
	if p.pool == nil {
		return nil, fmt.Errorf("plan used after Close")
	}
	if clock == nil {
		clock = wallClock
	}
	a := p.arenas[0]
	a.x = x
	for i, s := range p.steps {
		t0 := clock()
		if parts := s.parts(); parts > 1 {
			p.stepJob.s, p.stepJob.a = s, a
			p.pool.Run(parts, &p.stepJob)
		} else {
			s.run(a, 0, 1)
		}
		ns[i] += clock() - t0
	}
	copy(p.out, a.at(a.output))
	a.x = nil
	return p.out, nil
}

var clockStart = time.Now()

func wallClock() int64 { return int64(time.Since(clockStart)) }

func describeStep(s step) StepInfo {
	switch s := s.(type) {
	case *gemmStep:
		src := "1x1"
		switch {
		case s.implicit != nil:
			src = "implicit"
		case s.fromCols:
			src = "im2col"
		}
		d := fmt.Sprintf("%s m%d k%d n%d", src, s.m, s.k, s.n)
		if s.groups > 1 {
			d += fmt.Sprintf(" g%d", s.groups)
		}
		if s.res != nil {
			d += " +res"
		}
		if slices.ContainsFunc(s.packedT, func(p *kernels.PackedT) bool { return p != nil }) {
			d += " t" // the transposed form (kernels.SgemmPackedT)
		}
		return StepInfo{"gemm", d + actSuffix(s.epi.Act), s.groups * s.m * s.k * s.n}
	case *gemmKStep:
		d := fmt.Sprintf("1x1 m%d k%d n%d", s.m, s.k, s.n)
		if s.packedT[0] != nil {
			d += " t"
		}
		return StepInfo{"gemm", d + " split k" + actSuffix(s.epi.Act), s.m * s.k * s.n}
	case *reduceKStep:
		return StepInfo{"reduce", fmt.Sprintf("c%d hw%d", s.g.m, s.g.n) + actSuffix(s.g.epi.Act), s.g.nparts * s.g.m * s.g.n}
	case *convPadStep:
		w := s.b.Win
		return StepInfo{"convpad", fmt.Sprintf("c%d %dx%d k%dx%d", s.b.C, w.InH, w.InW, w.KH, w.KW), s.b.PaddedLen()}
	case *im2colStep:
		w := s.win
		return StepInfo{"im2col", fmt.Sprintf("c%d %dx%d k%d s%d", s.c, w.InH, w.InW, w.KH, w.StrideH),
			s.c * w.KH * w.KW * w.OutH * w.OutW}
	case *stemPadStep:
		w := s.conv.Win
		return StepInfo{"stempad", fmt.Sprintf("c%d %dx%d", s.conv.C, w.InH, w.InW), s.conv.C * w.InH * w.InW}
	case *stemStep:
		w := s.conv.Win
		return StepInfo{"stem", fmt.Sprintf("c%d->%d %dx%d k%d s%d", s.conv.C, s.conv.Out, w.InH, w.InW, w.KH, w.StrideH) + actSuffix(s.epi.Act),
			s.conv.Out * w.OutH * w.OutW * s.conv.C * w.KH * w.KW}
	case *dwStep:
		w := s.conv.Win
		return StepInfo{"dwconv", fmt.Sprintf("c%d %dx%d k%d s%d", s.out, w.InH, w.InW, w.KH, w.StrideH) + actSuffix(s.epi.Act),
			s.out * w.OutH * w.OutW * w.KH * w.KW}
	case *affineStep:
		return StepInfo{"affine", fmt.Sprintf("c%d hw%d", s.c, s.hw) + actSuffix(s.epi.Act), s.c * s.hw}
	case *poolStep:
		w := s.win
		kind := "avg"
		if s.max {
			kind = "max"
		}
		return StepInfo{"pool", fmt.Sprintf("%s c%d %dx%d k%d s%d", kind, s.c, w.InH, w.InW, w.KH, w.StrideH),
			s.c * w.OutH * w.OutW * w.KH * w.KW}
	case *gapStep:
		return StepInfo{"gap", fmt.Sprintf("c%d hw%d", s.c, s.hw), s.c * s.hw}
	case *linearStep:
		return StepInfo{"linear", fmt.Sprintf("k%d units%d", s.k, s.units) + actSuffix(s.act), s.k * s.units}
	case *addStep:
		return StepInfo{"add", fmt.Sprintf("c%d hw%d", s.c, s.hw) + actSuffix(s.epi.Act), s.c * s.hw}
	case *mulStep:
		return StepInfo{"mul", fmt.Sprintf("c%d hw%d", s.c, s.hw), s.c * s.hw}
	case *concatStep:
		n := 0
		for _, l := range s.srcs {
			n += l.n
		}
		return StepInfo{"concat", fmt.Sprintf("inputs%d hw%d", len(s.srcs), s.hw), n}
	}
	return StepInfo{Kind: fmt.Sprintf("%T", s)}
}

// actSuffix names a fused activation for a step's description.
func actSuffix(a kernels.ActKind) string {
	names := [...]string{kernels.ActIdentity: "", kernels.ActReLU: " relu", kernels.ActReLU6: " relu6",
		kernels.ActHardSwish: " hswish", kernels.ActSwish: " swish", kernels.ActSigmoid: " sigmoid",
		kernels.ActHardSigmoid: " hsigmoid", kernels.ActPReLU: " prelu"}
	if int(a) < len(names) {
		return names[a]
	}
	return fmt.Sprintf(" act%d", a)
}

// Weights returns the memory that the plan's steps read and never write:
// packed weights, biases, per-channel scales. Each slice belongs to one
// step, in StepInfos' order (a step may have several, or none), so that a
// profiler can drop one block's weights from the caches
// (nas/internal/cacheflush) without touching its activations. The slices
// must not be written.
func (p *Plan) Weights() [][][]float32 {
	out := make([][][]float32, len(p.steps))
	for i, s := range p.steps {
		var ws [][]float32
		add := func(v ...[]float32) {
			for _, x := range v {
				if len(x) > 0 {
					ws = append(ws, x)
				}
			}
		}
		epi := func(e *kernels.Epilogue) { add(e.Bias, e.Slope) }
		switch s := s.(type) {
		case *gemmStep:
			add(packedData(s.packed, s.packedT)...)
			epi(&s.epi)
		case *gemmKStep:
			add(packedData(s.packed, s.packedT)...)
		case *reduceKStep:
			epi(&s.g.epi)
		case *stemStep:
			add(s.conv.Weights())
			epi(&s.epi)
		case *dwStep:
			add(s.w)
			epi(&s.epi)
		case *affineStep:
			add(s.scale, s.shift)
			epi(&s.epi)
		case *linearStep:
			add(s.wt, s.bias)
		case *addStep:
			epi(&s.epi)
		}
		out[i] = ws
	}
	return out
}

// packedData returns the packed weights of a GEMM step: per row block or
// part, packed (or packedT where packed is nil).
func packedData(packed []*kernels.PackedA, packedT []*kernels.PackedT) [][]float32 {
	var out [][]float32
	for i, pa := range packed {
		if pa == nil {
			out = append(out, packedT[i].Data())
			continue
		}
		out = append(out, pa.Data())
	}
	return out
}

// RunPartsTimed is RunTimed with each part of a step timed on the goroutine
// that runs it: ns[i*Threads()+part] gets the time of part part of step i
// (a step in one part: part 0), read from clock before and after the
// part. With a clock of the thread's CPU time, the parts' times leave out
// the hand-offs and a busy machine's waits, and show how evenly a step
// splits and what the split adds to its work. Each part runs locked to
// its thread.
//
// With sequential, the parts of each step run one after the other on the
// calling goroutine instead of on the pool: what the split itself adds to
// the work, without the two cores running at once.
func (p *Plan) RunPartsTimed(x []float32, ns []int64, clock func() int64, sequential bool) ([]float32, error) {
	if len(p.arenas) != 1 || p.batch != 1 {
		return nil, fmt.Errorf("RunPartsTimed: plan has batch %d, want 1", p.batch)
	}
	t := p.Threads()
	if len(ns) != len(p.steps)*t {
		return nil, fmt.Errorf("RunPartsTimed: %d times for %d steps of %d parts", len(ns), len(p.steps), t)
	}
	if len(x) != p.inLen {
		return nil, fmt.Errorf("plan input has %d values, want %d", len(x), p.inLen)
	}
	if p.pool == nil {
		return nil, fmt.Errorf("plan used after Close")
	}
	if clock == nil {
		clock = wallClock
	}
	a := p.arenas[0]
	a.x = x
	job := &timedPartJob{a: a, clock: clock}
	for i, s := range p.steps {
		job.s, job.ns = s, ns[i*t:(i+1)*t]
		switch parts := s.parts(); {
		case parts > 1 && !sequential:
			p.pool.Run(parts, job)
		default:
			for i := range parts {
				job.Do(i, parts)
			}
		}
	}
	copy(p.out, a.at(a.output))
	a.x = nil
	return p.out, nil
}

// timedPartJob runs one step's parts, each timed on its own goroutine.
type timedPartJob struct {
	s     step
	a     *arena
	ns    []int64
	clock func() int64
}

func (j *timedPartJob) Do(part, parts int) {
	// The thread's clock holds for the part only if the goroutine stays
	// on its thread meanwhile.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0 := j.clock()
	j.s.run(j.a, part, parts)
	j.ns[part%len(j.ns)] += j.clock() - t0
}

// Command plan generates the amd64 kernels of nas/blocks/kernels that
// the inference plan uses besides GEMM, with avo:
//
//   - epilogue: bias plus activation (clamp, hard swish, hard sigmoid) and
//     bias plus residual over one row of a convolution's output
//     (epilogue_amd64.s);
//   - epilogue also has axpy, the inner step of a fully connected layer on
//     one image (y += a*w over a row of the transposed weight);
//     and maxInto, the vertical step of max pooling (y = max(y, x));
//     and scale, a channel times its squeeze-and-excitation factor;
//     and sumF64, a plane's float64 sum for global average pooling;
//     and maxPool3S2, a row of 3x3 stride-2 max pooling;
//   - dwconv: one output row of a depthwise convolution with a 3x3, 5x5 or
//     7x7 kernel at stride 1 or 2, from zero-padded planes
//     (dwconv_amd64.s), and deinterleave, which splits a padded row into
//     its even and odd columns for the stride-2 kernels; also the stem
//     convolution (infer.go: 3x3 stride 2 over a few input channels, four
//     outputs at a time) on the same even and odd planes; and
//     transposeRows8, the 8x8 transposes of the transposed GEMM form;
//   - train: the reductions, elementwise passes and depthwise weight
//     gradient rows of a training step (train_amd64.s; see train.go).
//
// Every kernel is AVX2+FMA (eight floats per vector) and handles whole
// vectors only: the Go callers finish the last len%8 elements. It lives in
// a module of its own so that avo is a dependency of the generator only.
// Run it through go generate in blocks/kernels:
//
//	cd blocks/kernels && go generate ./...
package main

import (
	"flag"
	"fmt"
	"log"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func main() {
	set := flag.String("set", "", "kernel set to generate: epilogue, dwconv or train")
	flag.Parse()
	ConstraintExpr("!noasm")
	switch *set {
	case "epilogue":
		biasClamp()
		biasHardSwish(false)
		biasHardSwish(true)
		biasResidual()
		axpy()
		axpy4()
		maxInto()
		scale()
		sumF64()
		maxPool3S2()
		maxPool3S2Plane()
	case "dwconv":
		stemBlock(3, false)
		stemBlock(3, true)
		copyRows()
		copyRowsAVX512()
		for _, k := range []int{3, 5, 7} {
			dwRow(k, 1)
			dwRow(k, 2)
			dwRows(k, 1)
			dwRows(k, 2)
		}
		deinterleave()
		dwPack8()
		copyRowsSpill()
		dwUnpack8()
		for _, k := range []int{3, 5, 7} {
			dwNHWC8(k, 1, false)
			dwNHWC8(k, 2, false)
			dwNHWC8(k, 1, true)
		}
		for _, k := range []int{3, 5, 7} {
			dwPlane(k)
		}
		dwPlaneS2(3)
		dwPlaneS2(5)
		for _, nb := range []int{2, 3, 4} {
			dwPlaneS2Wide(3, nb)
		}
		dwPlaneS2Wide(5, 2)
		for nb := 2; nb <= 7; nb++ {
			dwPlaneS1Wide(3, nb)
		}
		for nb := 2; nb <= 4; nb++ {
			dwPlaneS1Wide(5, nb)
		}
		dwPlaneAVX2(3, 1)
		dwPlaneAVX2(5, 1)
		transposeRows8(false)
		transposeRows8(true)
	case "train":
		trainSet()
	default:
		log.Fatalf("plan: -set %q: want epilogue, dwconv or train", *set)
	}
	Generate()
}

// broadcastArg is broadcast in one VEX instruction from the argument's
// stack slot. A legacy-SSE MOVSS at the start of a kernel made every call
// cost far more than a row's arithmetic on AMD's Zen 3 (BenchmarkEpilogueRows
// shows it: biasClampAVX2 over rows of 512 values against one call over
// all of them); every kernel of this generator takes its float arguments
// this way.
func broadcastArg(name string) VecVirtual {
	y := YMM()
	VBROADCASTSS(argAddr(Param(name)), y)
	return y
}

// constant broadcasts a float32 constant.
func constant(name string, v float32) VecVirtual {
	c := GLOBL(name, RODATA|NOPTR)
	DATA(0, F32(v))
	y := YMM()
	VBROADCASTSS(c, y)
	return y
}

// loadPlanes loads the input planes of a depthwise row kernel at stride s:
// the padded plane x at stride 1, its even and odd columns e and o at 2.
func loadPlanes(s int) []Register {
	if s == 1 {
		return []Register{Load(Param("x").Base(), GP64())}
	}
	return []Register{Load(Param("e").Base(), GP64()), Load(Param("o").Base(), GP64())}
}

// rowLoop emits a loop over the whole vectors of the slice argument
// slice, calling body with the byte offset register of each vector.
func rowLoop(slice string, body func(off GPVirtual)) {
	rowLoopBody(slice, body)
	VZEROUPPER()
	RET()
}

func biasClamp() {
	TEXT("biasClampAVX2", NOSPLIT, "func(y []float32, b, lo, hi float32)")
	Pragma("noescape")
	Doc("biasClampAVX2 sets y[i] = min(max(y[i]+b, lo), hi) for the whole vectors of y.")
	y := Load(Param("y").Base(), GP64())
	b, lo, hi := broadcastArg("b"), broadcastArg("lo"), broadcastArg("hi")
	rowLoop("y", func(off GPVirtual) {
		v := YMM()
		VADDPS(Mem{Base: y, Index: off, Scale: 1}, b, v)
		VMAXPS(lo, v, v)
		VMINPS(hi, v, v)
		VMOVUPS(v, Mem{Base: y, Index: off, Scale: 1})
	})
}

// biasHardSwish emits v = y+b; t = min(max(v+3, 0), 6); y = v*t/6 (hard
// swish), or y = t/6 (hard sigmoid) when sigmoid is set, in the order the
// Go kernels compute them.
func biasHardSwish(sigmoid bool) {
	name := "biasHardSwishAVX2"
	what := "v*min(max(v+3, 0), 6)*(1/6)"
	if sigmoid {
		name = "biasHardSigmoidAVX2"
		what = "min(max(v+3, 0), 6)*(1/6)"
	}
	TEXT(name, NOSPLIT, "func(y []float32, b float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets y[i] = %s with v = y[i]+b for the whole vectors of y.", name, what))
	y := Load(Param("y").Base(), GP64())
	b := broadcastArg("b")
	three := constant(name+"Three", 3)
	six := constant(name+"Six", 6)
	sixth := constant(name+"Sixth", float32(1.0/6))
	zero := YMM()
	VXORPS(zero, zero, zero)
	rowLoop("y", func(off GPVirtual) {
		v, t := YMM(), YMM()
		VADDPS(Mem{Base: y, Index: off, Scale: 1}, b, v)
		VADDPS(three, v, t)
		VMAXPS(zero, t, t)
		VMINPS(six, t, t)
		if !sigmoid {
			VMULPS(t, v, t)
		}
		VMULPS(sixth, t, t)
		VMOVUPS(t, Mem{Base: y, Index: off, Scale: 1})
	})
}

func biasResidual() {
	TEXT("biasResidualAVX2", NOSPLIT, "func(y, r []float32, b float32)")
	Pragma("noescape")
	Doc("biasResidualAVX2 sets y[i] += b + r[i] for the whole vectors of y; r is at least as long.")
	y := Load(Param("y").Base(), GP64())
	r := Load(Param("r").Base(), GP64())
	b := broadcastArg("b")
	rowLoop("y", func(off GPVirtual) {
		v := YMM()
		VADDPS(Mem{Base: r, Index: off, Scale: 1}, b, v)
		VADDPS(Mem{Base: y, Index: off, Scale: 1}, v, v)
		VMOVUPS(v, Mem{Base: y, Index: off, Scale: 1})
	})
}

func axpy() {
	TEXT("axpyAVX2", NOSPLIT, "func(y, w []float32, a float32)")
	Pragma("noescape")
	Doc("axpyAVX2 sets y[i] += a*w[i] for the whole vectors of y; w is at least as long.")
	y := Load(Param("y").Base(), GP64())
	w := Load(Param("w").Base(), GP64())
	a := broadcastArg("a")
	rowLoop("y", func(off GPVirtual) {
		v := YMM()
		VMOVUPS(Mem{Base: y, Index: off, Scale: 1}, v)
		VFMADD231PS(Mem{Base: w, Index: off, Scale: 1}, a, v)
		VMOVUPS(v, Mem{Base: y, Index: off, Scale: 1})
	})
}

// axpy4 emits axpy over four rows of w at once: y is loaded and stored
// once for four products instead of once for each, which is what limits
// axpy on a row vector times a matrix (MatVecT) while w streams from the
// caches. The products are added in the rows' order, each fused as
// axpyAVX2 fuses it, so y gets the bits of four axpyAVX2 calls.
func axpy4() {
	TEXT("axpy4AVX2", NOSPLIT, "func(y, w0, w1, w2, w3, a []float32)")
	Pragma("noescape")
	Doc("axpy4AVX2 sets y[i] += a[r]*wr[i] for r = 0 to 3 in turn, each product fused into the sum, for the whole vectors of y; w0 to w3 are at least as long and a holds 4 values.")
	y := Load(Param("y").Base(), GP64())
	var w [4]Register
	for r := range w {
		w[r] = Load(Param(fmt.Sprintf("w%d", r)).Base(), GP64())
	}
	ap := Load(Param("a").Base(), GP64())
	var a [4]VecVirtual
	for r := range a {
		a[r] = YMM()
		VBROADCASTSS(Mem{Base: ap, Disp: 4 * r}, a[r])
	}
	n := Load(Param("y").Len(), GP64())
	SHRQ(U8(3), n)
	SHLQ(U8(5), n) // bytes in whole vectors
	pairs := GP64()
	MOVQ(n, pairs)
	ANDQ(I32(-64), pairs) // bytes in whole pairs of vectors
	off := GP64()
	XORQ(off, off)
	body := func(disp int) {
		v := YMM()
		VMOVUPS(Mem{Base: y, Index: off, Scale: 1, Disp: disp}, v)
		for r := range w {
			VFMADD231PS(Mem{Base: w[r], Index: off, Scale: 1, Disp: disp}, a[r], v)
		}
		VMOVUPS(v, Mem{Base: y, Index: off, Scale: 1, Disp: disp})
	}
	Comment("Pairs of vectors: one cache line of each row, and a prefetch of each row's line axpy4PrefetchBytes ahead.")
	Label("pairs")
	CMPQ(off, pairs)
	JAE(LabelRef("single"))
	for r := range w {
		PREFETCHT0(Mem{Base: w[r], Index: off, Scale: 1, Disp: axpy4PrefetchBytes})
	}
	body(0)
	body(32)
	ADDQ(U8(64), off)
	JMP(LabelRef("pairs"))
	Label("single")
	CMPQ(off, n)
	JAE(LabelRef("done"))
	body(0)
	Label("done")
	VZEROUPPER()
	RET()
}

// axpy4PrefetchBytes is how far ahead axpy4AVX2 prefetches each row.
const axpy4PrefetchBytes = 1024

func maxInto() {
	TEXT("maxIntoAVX2", NOSPLIT, "func(y, x []float32)")
	Pragma("noescape")
	Doc("maxIntoAVX2 sets y[i] = max(y[i], x[i]) for the whole vectors of y; x is at least as long.")
	y := Load(Param("y").Base(), GP64())
	x := Load(Param("x").Base(), GP64())
	rowLoop("y", func(off GPVirtual) {
		v := YMM()
		VMOVUPS(Mem{Base: y, Index: off, Scale: 1}, v)
		VMAXPS(Mem{Base: x, Index: off, Scale: 1}, v, v)
		VMOVUPS(v, Mem{Base: y, Index: off, Scale: 1})
	})
}

func deinterleave() {
	TEXT("deinterleaveAVX2", NOSPLIT, "func(even, odd, x []float32)")
	Pragma("noescape")
	Doc("deinterleaveAVX2 sets even[i] = x[2i] and odd[i] = x[2i+1] for the whole vectors of even; odd and x/2 are at least as long.")
	e := Load(Param("even").Base(), GP64())
	o := Load(Param("odd").Base(), GP64())
	x := Load(Param("x").Base(), GP64())
	rowLoop("even", func(off GPVirtual) {
		a, b, ev, od := YMM(), YMM(), YMM(), YMM()
		VMOVUPS(Mem{Base: x, Index: off, Scale: 2}, a)
		VMOVUPS(Mem{Base: x, Index: off, Scale: 2, Disp: 32}, b)
		// Within each 128-bit lane: x0 x2 x8 x10 | x4 x6 x12 x14, then
		// reorder the 64-bit pairs to x0 x2 x4 x6 x8 x10 x12 x14.
		VSHUFPS(U8(0x88), b, a, ev)
		VSHUFPS(U8(0xDD), b, a, od)
		VPERMPD(U8(0xD8), ev, ev)
		VPERMPD(U8(0xD8), od, od)
		VMOVUPS(ev, Mem{Base: e, Index: off, Scale: 1})
		VMOVUPS(od, Mem{Base: o, Index: off, Scale: 1})
	})
}

// dwRow emits one output row of a k x k depthwise convolution at stride s.
//
// Stride 1 reads one padded plane x (row stride ld floats): output i sums
// w[kh*k+kw] * x[kh*ld + kw + i]. Stride 2 reads the padded plane split
// into its even columns e and odd columns o (row stride ld each; the caller
// passes row 2*oh): output i sums w[kh*k+kw] * p[kh*ld + kw/2 + i] with p = e
// for even kw, o for odd. Outputs are computed 32 at a time (four
// accumulators, each tap's weight broadcast once), then 8 at a time.
func dwRow(k, s int) {
	name := fmt.Sprintf("dwRowK%dS%dAVX2", k, s)
	sig := "func(y, x []float32, ld int, w []float32, b float32)"
	if s == 2 {
		sig = "func(y, e, o []float32, ld int, w []float32, b float32)"
	}
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes the whole vectors of one output row of a %dx%d depthwise convolution at stride %d (see gen/plan).", name, k, k, s))
	y := Load(Param("y").Base(), GP64())
	planes := loadPlanes(s)
	ld := Load(Param("ld"), GP64())
	SHLQ(U8(2), ld) // bytes
	w := Load(Param("w").Base(), GP64())
	bx := broadcastArg("b")
	n := Load(Param("y").Len(), GP64())
	SHRQ(U8(3), n)
	SHLQ(U8(5), n)
	off := GP64()
	XORQ(off, off)
	rows := make([]Register, len(planes))
	for i := range rows {
		rows[i] = GP64()
	}
	wv := YMM()

	// taps accumulates every tap into acc for the vectors at off.
	taps := func(acc []VecVirtual) {
		for i := range planes {
			MOVQ(planes[i], rows[i])
		}
		for kh := 0; kh < k; kh++ {
			for kw := 0; kw < k; kw++ {
				VBROADCASTSS(Mem{Base: w, Disp: 4 * (kh*k + kw)}, wv)
				p, shift := 0, kw
				if s == 2 {
					p, shift = kw%2, kw/2
				}
				for v, a := range acc {
					VFMADD231PS(Mem{Base: rows[p], Index: off, Scale: 1, Disp: 4*shift + 32*v}, wv, a)
				}
			}
			if kh < k-1 {
				for i := range rows {
					ADDQ(ld, rows[i])
				}
			}
		}
	}

	wide := GP64()
	MOVQ(n, wide)
	SUBQ(U8(96), wide) // last offset where four vectors fit
	Label("wide")
	CMPQ(off, wide)
	JGE(LabelRef("narrow"))
	{
		acc := []VecVirtual{YMM(), YMM(), YMM(), YMM()}
		for _, a := range acc {
			VMOVAPS(bx, a)
		}
		taps(acc)
		for v, a := range acc {
			VMOVUPS(a, Mem{Base: y, Index: off, Scale: 1, Disp: 32 * v})
		}
		ADDQ(U8(128), off)
		JMP(LabelRef("wide"))
	}
	Label("narrow")
	CMPQ(off, n)
	JAE(LabelRef("done"))
	{
		acc := []VecVirtual{YMM()}
		VMOVAPS(bx, acc[0])
		taps(acc)
		VMOVUPS(acc[0], Mem{Base: y, Index: off, Scale: 1})
		ADDQ(U8(32), off)
		JMP(LabelRef("narrow"))
	}
	Label("done")
	VZEROUPPER()
	RET()
}

// Command neon generates the arm64 Advanced SIMD (NEON) kernels of package
// nas/blocks/kernels in Go assembly, with their Go prototypes:
//
//   - gemm: the 8x12 GEMM micro-kernel, on packed A and either packed B
//     or B as stored, and the packing of B's 12-wide panels
//     (gemm_kernels_arm64.s; see gemm.go);
//   - epilogue: bias plus activation (clamp, hard swish, hard sigmoid),
//     bias plus residual, axpy, maxInto and scale over one row
//     (epilogue_arm64.s; see epilogue.go);
//   - dwconv: one or four output rows of a depthwise convolution with a
//     3x3, 5x5 or 7x7 kernel at stride 1 or 2 from zero-padded planes, and
//     the even/odd column split of the stride-2 planes (dwconv_arm64.s;
//     see dwconv.go), and the stem convolution (3x3 at stride 2 over a few
//     input channels, four outputs at a time; stem.go), and the copy of
//     an input plane into the padded one;
//   - train: the batch-norm affine pass, input gradient and reductions
//     (statistics, gradient sums), the ReLU, clamp and hard swish
//     gradients, the depthwise weight gradient's row step and the
//     stride-2 depthwise input gradient's interleave of a training step
//     (train_arm64.s; see train.go);
//   - pool: max pooling's 3x3 stride-2 rows and the float64 plane sum of
//     global average pooling (pool_arm64.s; see pool.go).
//
// The kernels compute what their AVX2 namesakes of the amd64 generators
// compute, with the same arguments, so the Go wrappers of both
// architectures share their callers. Go's assembler has no floating-point
// vector add, multiply, max or min, nor multiply-add by element: those are
// emitted as WORD encodings (enc.go) with the instruction in a comment.
//
// The generator has no dependencies; run it through go generate in
// blocks/kernels:
//
//	cd blocks/kernels && go generate ./...
package main

import (
	"flag"
	"log"
	"os"
	"strings"
)

func main() {
	set := flag.String("set", "", "kernel set to generate: gemm, epilogue, dwconv, train or pool")
	out := flag.String("out", "", "assembly file to write")
	stubs := flag.String("stubs", "", "Go prototypes file to write")
	pkg := flag.String("pkg", "kernels", "package of the prototypes")
	flag.Parse()
	f := &file{cmd: "go run . " + strings.Join(os.Args[1:], " "), pkg: *pkg}
	switch *set {
	case "gemm":
		gemmKernel(f, false)
		gemmKernel(f, true)
		packB(f)
	case "epilogue":
		epilogueSet(f)
	case "dwconv":
		dwconvSet(f)
	case "train":
		trainSet(f)
	case "pool":
		poolSet(f)
	default:
		log.Fatalf("neon: -set %q: want gemm, epilogue, dwconv, train or pool", *set)
	}
	if *out == "" || *stubs == "" {
		log.Fatal("neon: -out and -stubs are required")
	}
	if err := f.write(*out, *stubs); err != nil {
		log.Fatal(err)
	}
}

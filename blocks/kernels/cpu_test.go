package kernels

import (
	"runtime"
	"testing"
)

// TestPathMatchesBuild checks that each architecture with assembly takes
// its SIMD path (so that the tests comparing the SIMD kernels with the
// pure-Go loops compare two different things there), and that the noasm
// build tag and other architectures take the pure-Go one.
func TestPathMatchesBuild(t *testing.T) {
	var want []string
	switch {
	case !asmEnabled:
		want = []string{"generic"}
	case runtime.GOARCH == "arm64":
		want = []string{"neon"}
	case runtime.GOARCH == "amd64":
		want = []string{"avx512", "avx2", "generic"} // the CPU decides
	}
	got := Path()
	ok := false
	for _, w := range want {
		ok = ok || got == w
	}
	if !ok {
		t.Fatalf("Path() = %q on %s (asm %v), want one of %q", got, runtime.GOARCH, asmEnabled, want)
	}
	simd := got != "generic"
	if dwSIMD(3, 1) != simd || (simd && gemmKernels()[0] == &genericKernel) {
		t.Errorf("path %q: depthwise SIMD %v, first GEMM kernel %q", got, dwSIMD(3, 1), gemmKernels()[0].name)
	}
	if !simd {
		return
	}
	y := []float32{-1, 2, 7, -4, 5}
	if !biasActRowSIMD(ActReLU6, y, 0.5) {
		t.Fatalf("path %q has no bias+ReLU6 row kernel", got)
	}
	for i, w := range []float32{0, 2.5, 6, 0, 5.5} {
		if y[i] != w {
			t.Fatalf("bias+ReLU6 row kernel: %v, want [0 2.5 6 0 5.5]", y)
		}
	}
}

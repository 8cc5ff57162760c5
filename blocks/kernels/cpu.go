package kernels

import (
	"runtime"

	"golang.org/x/sys/cpu"
)

// Features of this CPU that the SIMD kernels use, read once at start-up.
var (
	hasAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512DQ
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasNEON   = runtime.GOARCH == "arm64" && cpu.ARM64.HasASIMD
)

// Path names the kernel implementation in use: "avx512", "avx2" (amd64),
// "neon" (arm64) or "generic" (pure Go: other architectures, or the noasm
// build tag).
func Path() string {
	switch {
	case !asmEnabled:
		return "generic"
	case hasNEON:
		return "neon"
	case hasAVX512:
		return "avx512"
	case hasAVX2:
		return "avx2"
	}
	return "generic"
}

// Version identifies the kernels' speed. Latency tables record it and refuse
// to be used with another: bump it whenever a change makes any kernel faster
// or slower. It covers every path Path names: the AVX-512 and AVX2 kernels
// on amd64, the NEON kernels on arm64 and the pure-Go path, whose speed
// changes with the code around the kernels too.
const Version = 30

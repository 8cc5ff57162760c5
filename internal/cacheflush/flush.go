package cacheflush

import "unsafe"

// line is the flush stride in bytes: the cache line of every amd64 CPU and
// the smallest data cache line of arm64 ones (CTR_EL0.DminLine is 64 bytes
// on Cortex-A and Neoverse cores; a larger line is flushed whole by any
// address in it, so a smaller stride only costs time).
const line = 64

// Float32s flushes the cache lines that hold s.
func Float32s(s []float32) {
	if !Supported || len(s) == 0 {
		return
	}
	p := unsafe.Pointer(unsafe.SliceData(s))
	lead := int(uintptr(p) & (line - 1)) // bytes of the first line before s
	n := (lead + len(s)*4 + line - 1) / line
	// p+64i lies in the i-th line for every i < n, since lead < 64.
	flushLines(p, n)
}

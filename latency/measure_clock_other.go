//go:build !linux

package latency

// threadCPUClock reports whether the CPU time of the calling thread can
// be read here: only on Linux so far; elsewhere the wall clock is used.
const threadCPUClock = false

func threadCPUNanos() int64 { return -1 }

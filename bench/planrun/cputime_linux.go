package main

import (
	"os"
	"strconv"
	"strings"
)

// threadCPU returns the calling thread's time on a CPU in milliseconds,
// from the scheduler's nanosecond count in /proc/thread-self/schedstat
// (getrusage counts in scheduler ticks, too coarse for one run), or 0
// where it cannot be read.
func threadCPU() float64 {
	b, err := os.ReadFile("/proc/thread-self/schedstat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0
	}
	return float64(ns) / 1e6
}

package latency

import "golang.org/x/sys/unix"

// threadCPUClock reports whether the CPU time of the calling thread can
// be read here.
const threadCPUClock = true

// threadCPUNanos returns the CPU time the calling OS thread has used, user
// and system, in nanoseconds. The caller has locked its goroutine to the
// thread.
func threadCPUNanos() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return -1
	}
	return ts.Nano()
}

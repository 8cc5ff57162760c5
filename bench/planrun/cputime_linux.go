package main

import "golang.org/x/sys/unix"

// threadCPU returns the calling thread's time on a CPU in milliseconds
// (CLOCK_THREAD_CPUTIME_ID, exact to the nanosecond; getrusage and
// schedstat count in scheduler ticks, too coarse for one run), or 0 where
// it cannot be read.
func threadCPU() float64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return float64(ts.Nano()) / 1e6
}

// processCPU returns the process's CPU time, all threads, in milliseconds
// (CLOCK_PROCESS_CPUTIME_ID), or 0 where it cannot be read.
func processCPU() float64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return float64(ts.Nano()) / 1e6
}

package main

import "golang.org/x/sys/unix"

// processCPU returns the CPU time of the process, all threads, in seconds
// (CLOCK_PROCESS_CPUTIME_ID), or 0 where it cannot be read.
func processCPU() float64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return float64(ts.Nano()) / 1e9
}

package main

import "golang.org/x/sys/unix"

// threadCPU returns the calling thread's user and system time in
// milliseconds (0 where the OS does not say).
func threadCPU() float64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
}

//go:build !linux

package main

// threadCPU returns 0: the thread's own time is read on Linux only.
func threadCPU() float64 { return 0 }

// processCPU returns 0: the process's CPU time is read on Linux only.
func processCPU() float64 { return 0 }

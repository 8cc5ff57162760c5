//go:build !linux

package main

// threadCPU returns 0: the thread's own time is read on Linux only.
func threadCPU() float64 { return 0 }

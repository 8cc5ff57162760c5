//go:build !linux

package main

// processCPU returns 0: the process's CPU time is read on Linux only.
func processCPU() float64 { return 0 }

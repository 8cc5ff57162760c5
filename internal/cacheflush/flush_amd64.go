package cacheflush

import "unsafe"

// Supported says whether Float32s flushes on this architecture.
const Supported = true

// flushLines flushes n lines of 64 bytes from p, then fences.
//
//go:noescape
func flushLines(p unsafe.Pointer, n int)

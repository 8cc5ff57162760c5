//go:build !amd64 && !arm64

package cacheflush

import "unsafe"

// Supported says whether Float32s flushes on this architecture.
const Supported = false

func flushLines(p unsafe.Pointer, n int) {}

// Package cacheflush writes memory back and drops it from every level of
// the CPU's caches, so that the next read of it comes from main memory.
//
// The latency profiler uses it to time a block as it runs inside a large
// network, where its weights were pushed out of the caches by the rest of
// the network since the block last ran (docs/latency.md, "The
// network-level overhead").
//
// On amd64 it is CLFLUSH per 64-byte line, then MFENCE; on arm64 DC CIVAC
// per line (Linux lets user space run it), then DSB SY. Elsewhere
// Supported is false and Flush does nothing.
package cacheflush

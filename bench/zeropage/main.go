// Command zeropage shows why the profiler's old memory probe (sessions 5
// and 6: one value read per 64-byte line of a 4 MB buffer) did not
// measure memory: a buffer that was never written maps the kernel's zero
// page, so its read hits L1 whatever ran before, while a written one is
// read from memory after other traffic has evicted it. It prints, three
// times, each buffer's read twice in a row and once after a 64 MB read.
// On the development VM, in two runs (the first pass of each excepted,
// which maps the pages): never written 53 to 64 µs in every case;
// written 56 to 215 µs back to back and 216 to 466 µs after the 64 MB
// read (docs/latency.md, step 6b).
//
//	go run ./bench/zeropage
package main

import (
	"fmt"
	"time"
)

var sink float32

// read is the old probe: one value per 64-byte line, summed.
func read(b []float32) time.Duration {
	t := time.Now()
	var s float32
	for i := 0; i < len(b); i += 16 {
		s += b[i]
	}
	sink += s
	return time.Since(t)
}

func main() {
	fresh := make([]float32, 1<<20) // 4 MB, never written
	written := make([]float32, 1<<20)
	for i := range written {
		written[i] = 1
	}
	evict := make([]float32, 16<<20) // 64 MB
	for i := range evict {
		evict[i] = 1
	}
	for range 3 {
		f1, f2 := read(fresh), read(fresh)
		w1, w2 := read(written), read(written)
		read(evict)
		f3 := read(fresh)
		w3 := read(written)
		fmt.Printf("never written: %v then %v, after a 64 MB read %v | written: %v then %v, after a 64 MB read %v\n", f1, f2, f3, w1, w2, w3)
	}
}

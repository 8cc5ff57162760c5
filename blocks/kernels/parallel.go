package kernels

import (
	"runtime"
	"sync"
)

// parallelMinWork is the number of elements below which a training kernel
// runs on the calling goroutine alone: starting goroutines costs a few
// microseconds.
const parallelMinWork = 1 << 16

// parallelRanges calls fn(lo, hi) for contiguous ranges that split [0, n),
// one per goroutine, on up to GOMAXPROCS goroutines when work (elements
// touched) is large enough, and waits for them. Each index is in exactly
// one range, so kernels that write per index are deterministic whatever
// the split.
func parallelRanges(n, work int, fn func(lo, hi int)) {
	workers := min(n, runtime.GOMAXPROCS(0))
	if workers < 2 || work < parallelMinWork {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for i := 1; i < workers; i++ {
		wg.Go(func() { fn(i*n/workers, (i+1)*n/workers) })
	}
	fn(0, n/workers)
	wg.Wait()
}

// parallelChunks is parallelRanges over [0, n) split at multiples of 16
// elements (whole cache lines of float32), for elementwise kernels.
func parallelChunks(n, work int, fn func(lo, hi int)) {
	parallelRanges((n+15)/16, work, func(b0, b1 int) { fn(min(b0*16, n), min(b1*16, n)) })
}

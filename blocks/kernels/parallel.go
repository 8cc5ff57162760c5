package kernels

import (
	"runtime"
	"sync"
)

// parallelMinWork is the number of elements below which a training kernel
// runs on the calling goroutine alone: starting goroutines costs a few
// microseconds.
const parallelMinWork = 1 << 16

// ParallelRanges calls fn(lo, hi) for contiguous ranges that split [0, n),
// one per goroutine, on up to threads goroutines (GOMAXPROCS when threads
// is 0 or less) when work (elements touched) is large enough, and waits
// for them; the calling goroutine takes the first range. Each index is in
// exactly one range, so kernels that write per index are deterministic
// whatever the split.
//
// The training kernels take their thread count from the caller: a batch
// split into shards (nn.ShardGroup) runs each shard's operators on one
// goroutine, and the operators of an unsharded step split their work.
func ParallelRanges(threads, n, work int, fn func(lo, hi int)) {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	workers := min(n, threads)
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

// ParallelChunks is ParallelRanges over [0, n) split at multiples of 16
// elements (whole cache lines of float32), for elementwise kernels.
func ParallelChunks(threads, n, work int, fn func(lo, hi int)) {
	ParallelRanges(threads, (n+15)/16, work, func(b0, b1 int) { fn(min(b0*16, n), min(b1*16, n)) })
}

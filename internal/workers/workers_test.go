package workers

import (
	"runtime"
	"sync/atomic"
	"testing"
)

// countJob records how often each part ran.
type countJob struct{ hits []atomic.Int32 }

func (j *countJob) Do(part, parts int) {
	if parts != len(j.hits) {
		panic("wrong part count")
	}
	j.hits[part].Add(1)
}

func TestRunEveryPartOnce(t *testing.T) {
	for _, threads := range []int{0, 1, 2, 3, 8} {
		p := New(threads)
		for _, parts := range []int{0, 1, 2, 3, 7, 20} {
			j := &countJob{hits: make([]atomic.Int32, parts)}
			for range 3 {
				p.Run(parts, j)
			}
			for i := range j.hits {
				if got := j.hits[i].Load(); got != 3 {
					t.Errorf("threads %d, parts %d: part %d ran %d times in 3 calls, want 3", threads, parts, i, got)
				}
			}
		}
		p.Close()
	}
}

// With one P the helpers rarely get to run during a call: the caller
// claims their parts, and every part still runs exactly once per call.
func TestRunWithFewerProcsThanThreads(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	p := New(3)
	defer p.Close()
	for _, parts := range []int{2, 3, 5} {
		j := &countJob{hits: make([]atomic.Int32, parts)}
		for range 200 {
			p.Run(parts, j)
		}
		for i := range j.hits {
			if got := j.hits[i].Load(); got != 200 {
				t.Errorf("parts %d: part %d ran %d times in 200 calls, want 200", parts, i, got)
			}
		}
	}
}

func TestRunAllocatesNothing(t *testing.T) {
	p := New(2)
	defer p.Close()
	j := &countJob{hits: make([]atomic.Int32, 5)}
	if a := testing.AllocsPerRun(100, func() { p.Run(5, j) }); a != 0 {
		t.Errorf("Run allocated %v times per call, want 0", a)
	}
}

func BenchmarkRun(b *testing.B) {
	p := New(2)
	defer p.Close()
	j := &countJob{hits: make([]atomic.Int32, 2)}
	for b.Loop() {
		p.Run(2, j)
	}
}

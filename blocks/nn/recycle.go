package nn

import (
	"math/bits"
	"sync"
)

// Storage is the recycled storage that tapes draw their tensors and their
// operators' scratch from (see Tape.Recycle): free slices of float32 and
// float64 by size class, kept between steps. Several tapes may share one
// Storage as long as they never run at the same time, such as the tapes of
// several networks trained one after another on the same shard of a
// batch: the storage then holds what the largest of them needs, not the
// sum. A slice of a size class serves every request that rounds up to
// that class (sizeClass), and a request whose class has no slice free
// takes one of a class up to twice its size, so networks whose tensors
// differ in size reuse each other's storage. (A tape without a Storage
// draws from a private one that keeps exact lengths instead: its one
// network asks for the same ones every step.)
//
// Each class counts the slices handed out and the most that were out at
// once since the last Trim, which drops what that peak did not need. The
// zero Storage is ready to use; its methods are safe for concurrent use
// (operators of one tape may allocate from several goroutines).
type Storage struct {
	mu  sync.Mutex
	f32 shelves[float32]
	f64 shelves[float64]
	// exact makes every length a class of its own: a tape's private
	// storage, whose one network asks for the same lengths every step,
	// gets each tensor its own slice back without rounding.
	exact bool
}

// NewStorage returns an empty Storage.
func NewStorage() *Storage { return &Storage{} }

// shelves are the free slices of one element type, by size class.
type shelves[T float32 | float64] map[int]*shelf[T]

// shelf is one size class: its free slices, how many are handed out, and
// the most handed out at once since the last Trim.
type shelf[T float32 | float64] struct {
	free      [][]T
	out, peak int
}

// sizeClass is the capacity of the slices that serve a request for n
// elements: n itself below 8, else n rounded up to a quarter of the power
// of two at or below it (8, 10, 12, 14, 16, 20, 24, 28, 32, 40, ...), so
// that no slice is more than a quarter larger than what it serves.
func sizeClass(n int) int {
	if n < 8 {
		return n
	}
	step := 1 << (bits.Len(uint(n)) - 3)
	return (n + step - 1) &^ (step - 1)
}

// get returns n elements from the shelf of their class, or when that has
// none free from the next classes up to twice its size (storage that a
// larger network's tensors left, rather than new), or else new storage
// of the class; zeroed clears reused ones.
func get[T float32 | float64](m *shelves[T], n int, zeroed, exact bool) []T {
	if *m == nil {
		*m = make(shelves[T])
	}
	c, larger := sizeClass(n), 4
	if exact {
		c, larger = n, 0
	}
	for k, cc := 0, c; k <= larger; k, cc = k+1, sizeClass(cc+1) {
		sh := (*m)[cc]
		if sh == nil || len(sh.free) == 0 {
			continue
		}
		sh.out++
		sh.peak = max(sh.peak, sh.out)
		last := len(sh.free) - 1
		s := sh.free[last][:n]
		sh.free[last] = nil
		sh.free = sh.free[:last]
		if zeroed {
			clear(s)
		}
		return s
	}
	sh := (*m)[c]
	if sh == nil {
		sh = &shelf[T]{}
		(*m)[c] = sh
	}
	sh.out++
	sh.peak = max(sh.peak, sh.out)
	return make([]T, n, c)
}

// put hands back a slice that get returned.
func put[T float32 | float64](m shelves[T], s []T) {
	sh := m[cap(s)]
	if sh == nil || sh.out == 0 {
		panic("nn.Storage: a slice handed back that the storage did not hand out")
	}
	sh.out--
	sh.free = append(sh.free, s[:cap(s)])
}

// trim keeps on each shelf only the free slices that its peak since the
// last trim needed besides those still out, drops the shelves nothing was
// taken from, and starts the next peak; it returns the bytes still held
// (elem bytes per element).
func trim[T float32 | float64](m shelves[T], elem int) int64 {
	var held int64
	for c, sh := range m {
		keep := max(sh.peak-sh.out, 0)
		if keep < len(sh.free) {
			clear(sh.free[keep:])
			sh.free = sh.free[:keep]
		}
		sh.peak = sh.out
		if sh.out == 0 && len(sh.free) == 0 {
			delete(m, c)
			continue
		}
		held += int64(c*elem) * int64(sh.out+len(sh.free))
	}
	return held
}

// heldBytes is the storage m holds, free and handed out.
func heldBytes[T float32 | float64](m shelves[T], elem int) int64 {
	var held int64
	for c, sh := range m {
		held += int64(c*elem) * int64(sh.out+len(sh.free))
	}
	return held
}

// Trim frees the storage the use since the last Trim did not need: of
// each size class, the free slices beyond the most that were handed out
// at once (none of a class nothing was taken from). Called once per step
// when every tape drawing from s has released its tensors, it keeps what
// a step needs and lets go of what an earlier, larger, step left.
func (s *Storage) Trim() {
	s.mu.Lock()
	defer s.mu.Unlock()
	trim(s.f32, 4)
	trim(s.f64, 8)
}

// Bytes is the storage s holds: free, and handed out to tapes.
func (s *Storage) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return heldBytes(s.f32, 4) + heldBytes(s.f64, 8)
}

func (s *Storage) get(n int, zeroed bool) []float32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return get(&s.f32, n, zeroed, s.exact)
}

func (s *Storage) get64(n int) []float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return get(&s.f64, n, true, s.exact)
}

// put hands back float32 slices (nil ones are skipped).
func (s *Storage) put(sl ...[]float32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range sl {
		if x != nil {
			put(s.f32, x)
		}
	}
}

func (s *Storage) put64(sl []float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	put(s.f64, sl)
}

// tensorPool is a tape's account of what it drew from its Storage since
// its last release: the tensors it made and its operators' scratch.
type tensorPool struct {
	mu      sync.Mutex
	st      *Storage // drawn from this step; nil before the first draw
	private *Storage // the tape's own, when Tape.Storage is nil
	made    []*Tensor
	bufs    [][]float32 // scratch
	bufs64  [][]float64
}

// storage returns the Storage of this step, binding it to shared (the
// tape's private one when nil) at the first draw. p.mu must be held.
func (p *tensorPool) storage(shared *Storage) *Storage {
	if p.st == nil {
		if shared == nil {
			if p.private == nil {
				p.private = &Storage{exact: true}
			}
			shared = p.private
		}
		p.st = shared
	}
	return p.st
}

// get returns n elements of the step's storage (for a gradient), which
// release gives back with the tensor they belong to.
func (p *tensorPool) get(n int, zeroed bool) []float32 {
	p.mu.Lock()
	st := p.st
	p.mu.Unlock()
	return st.get(n, zeroed)
}

// scratch returns n elements of storage, recorded for release; zeroed
// clears reused ones.
func (p *tensorPool) scratch(shared *Storage, n int, zeroed bool) []float32 {
	p.mu.Lock()
	st := p.storage(shared)
	p.mu.Unlock()
	s := st.get(n, zeroed)
	p.mu.Lock()
	p.bufs = append(p.bufs, s)
	p.mu.Unlock()
	return s
}

// scratch64 returns zeroed float64 scratch of n elements, recorded for
// release.
func (p *tensorPool) scratch64(shared *Storage, n int) []float64 {
	p.mu.Lock()
	st := p.storage(shared)
	p.mu.Unlock()
	s := st.get64(n)
	p.mu.Lock()
	p.bufs64 = append(p.bufs64, s)
	p.mu.Unlock()
	return s
}

// tensor returns a tensor of the given shape whose storage (and
// gradient's) comes from the step's storage, recorded for release.
func (p *tensorPool) tensor(shared *Storage, zeroed bool, shape []int) *Tensor {
	p.mu.Lock()
	st := p.storage(shared)
	p.mu.Unlock()
	t := &Tensor{Shape: append([]int(nil), shape...), Data: st.get(numel(shape), zeroed), pool: p}
	p.mu.Lock()
	p.made = append(p.made, t)
	p.mu.Unlock()
	return t
}

// free hands the storage of t, a tensor of this pool, back now; release
// skips it.
func (p *tensorPool) free(t *Tensor) {
	p.mu.Lock()
	st := p.st
	p.mu.Unlock()
	st.put(t.Data, t.Grad)
	t.Data, t.Grad, t.pool = nil, nil, nil
}

// release puts the storage of every tensor made since the last release,
// and every scratch slice, back into the step's storage, and clears those
// tensors' Data and Grad.
func (p *tensorPool) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.st
	if st == nil {
		return // nothing drawn
	}
	for i, t := range p.made {
		if t.pool == p { // not freed already
			st.put(t.Data, t.Grad)
			t.Data, t.Grad, t.pool = nil, nil, nil
		}
		p.made[i] = nil
	}
	p.made = p.made[:0]
	p.putScratch(st)
	p.st = nil
}

// freeScratch hands the scratch drawn since the last release back now.
func (p *tensorPool) freeScratch() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.st != nil {
		p.putScratch(p.st)
	}
}

// putScratch hands the scratch slices back to st. p.mu must be held.
func (p *tensorPool) putScratch(st *Storage) {
	st.put(p.bufs...)
	clear(p.bufs)
	p.bufs = p.bufs[:0]
	for i, s := range p.bufs64 {
		st.put64(s)
		p.bufs64[i] = nil
	}
	p.bufs64 = p.bufs64[:0]
}

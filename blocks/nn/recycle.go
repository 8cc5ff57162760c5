package nn

import "sync"

// tensorPool keeps the storage of a tape's tensors, and its operators'
// scratch, between training steps (see Tape.Recycle): free slices by
// length, and the tensors and scratch handed out since the last release.
type tensorPool struct {
	mu     sync.Mutex
	free   map[int][][]float32
	free64 map[int][][]float64
	made   []*Tensor
	bufs   [][]float32 // scratch
	bufs64 [][]float64
}

// get returns a slice of n elements, reused when one is free; zeroed
// clears a reused one.
func (p *tensorPool) get(n int, zeroed bool) []float32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.free[n]
	if len(list) == 0 {
		return make([]float32, n)
	}
	s := list[len(list)-1]
	list[len(list)-1] = nil
	p.free[n] = list[:len(list)-1]
	if zeroed {
		clear(s)
	}
	return s
}

// scratch is get for an operator's scratch, recorded for release.
func (p *tensorPool) scratch(n int, zeroed bool) []float32 {
	s := p.get(n, zeroed)
	p.mu.Lock()
	p.bufs = append(p.bufs, s)
	p.mu.Unlock()
	return s
}

// scratch64 returns zeroed float64 scratch of n elements, reused when
// some is free, recorded for release.
func (p *tensorPool) scratch64(n int) []float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var s []float64
	if list := p.free64[n]; len(list) > 0 {
		s = list[len(list)-1]
		list[len(list)-1] = nil
		p.free64[n] = list[:len(list)-1]
		clear(s)
	} else {
		s = make([]float64, n)
	}
	p.bufs64 = append(p.bufs64, s)
	return s
}

// tensor returns a tensor of the given shape whose storage (and gradient's)
// comes from the pool, recorded for release.
func (p *tensorPool) tensor(zeroed bool, shape []int) *Tensor {
	t := &Tensor{Shape: append([]int(nil), shape...), Data: p.get(numel(shape), zeroed), pool: p}
	p.mu.Lock()
	p.made = append(p.made, t)
	p.mu.Unlock()
	return t
}

// release puts the storage of every tensor made since the last release
// back on the free lists and clears those tensors' Data and Grad.
func (p *tensorPool) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.free == nil {
		p.free = make(map[int][][]float32)
		p.free64 = make(map[int][][]float64)
	}
	for i, t := range p.made {
		for _, s := range [][]float32{t.Data, t.Grad} {
			if s != nil {
				p.free[len(s)] = append(p.free[len(s)], s)
			}
		}
		t.Data, t.Grad, t.pool = nil, nil, nil
		p.made[i] = nil
	}
	p.made = p.made[:0]
	for i, s := range p.bufs {
		p.free[len(s)] = append(p.free[len(s)], s)
		p.bufs[i] = nil
	}
	p.bufs = p.bufs[:0]
	for i, s := range p.bufs64 {
		p.free64[len(s)] = append(p.free64[len(s)], s)
		p.bufs64[i] = nil
	}
	p.bufs64 = p.bufs64[:0]
}

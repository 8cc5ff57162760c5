package nn

import "sync"

// tensorPool keeps the storage of a tape's tensors between training steps
// (see Tape.Recycle): free slices by length, and the tensors made since
// the last release.
type tensorPool struct {
	mu   sync.Mutex
	free map[int][][]float32
	made []*Tensor
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
}

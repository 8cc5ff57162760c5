package blocks

import (
	"unsafe"

	"nas/blocks/nn"
)

// A forward pass on a tape that records no backward step (nn.Tape.NoGrad)
// and recycles its storage hands each activation back to the tape's
// storage as soon as no later op reads it, so that the pass holds about
// the activations alive at once (an op's inputs and output, and what
// residual, concatenation and shuffle paths carry past it) and one op's
// scratch, rather than all of them: what batch-norm recalibration and
// other forward-only passes need.

// lastReaders returns, for each value of g, the index of the last op that
// reads it: len(g.Ops) for the graph's output, which the caller reads,
// and the index of the op that computes it for a value nothing reads.
// The graph's inputs are never released and get len(g.Ops) too.
func lastReaders(g *Graph) []int {
	last := make([]int, len(g.Shapes))
	for i := range last {
		last[i] = -1
	}
	for i, op := range g.Ops {
		for _, v := range op.In {
			last[v] = i
		}
		if last[op.Out] < i {
			last[op.Out] = i
		}
	}
	last[g.Output] = len(g.Ops)
	last[g.Input] = len(g.Ops)
	last[g.NetworkInput] = len(g.Ops)
	return last
}

// releaseDead frees the values whose last reader is op i, which has just
// run, unless a value still to be read shares their storage: an op may
// pass its input on as its output (a fused activation's run, dropout
// outside training), so a tensor lives as long as any value that holds
// it.
func (n *Network) releaseDead(tp *nn.Tape, vals []*nn.Tensor, i int) {
	op := &n.Graph.Ops[i]
	for _, v := range append(op.In[:len(op.In):len(op.In)], op.Out) {
		t := vals[v]
		if t == nil || n.lastRead[v] != i {
			continue
		}
		vals[v] = nil
		if !n.storageAlive(vals, t, i) {
			tp.Free(t)
		}
	}
}

// storageAlive reports whether a value read after op i shares t's storage.
func (n *Network) storageAlive(vals []*nn.Tensor, t *nn.Tensor, i int) bool {
	for u, o := range vals {
		if o != nil && n.lastRead[u] > i && sharesStorage(o, t) {
			return true
		}
	}
	return false
}

// sharesStorage reports whether a's and b's data lie in the same array
// (the same tensor, or views of one): a slice reaches from its first
// element to the end of its array, so two slices of one array overlap
// there.
func sharesStorage(a, b *nn.Tensor) bool {
	if a == b {
		return true
	}
	if cap(a.Data) == 0 || cap(b.Data) == 0 {
		return false
	}
	pa, pb := uintptr(unsafe.Pointer(unsafe.SliceData(a.Data))), uintptr(unsafe.Pointer(unsafe.SliceData(b.Data)))
	ea, eb := pa+uintptr(cap(a.Data))*4, pb+uintptr(cap(b.Data))*4
	return pa < eb && pb < ea
}

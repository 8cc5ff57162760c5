package trainer

import (
	"fmt"
	"math/rand/v2"

	"nas/blocks/nn"
)

// BatchOptions configures Batches.
type BatchOptions struct {
	// Size is the number of samples per batch (at least 1).
	Size int
	// Shuffle draws a new sample order from the rng at every epoch; off,
	// samples come in dataset order (evaluation).
	Shuffle bool
	// DropLast skips the last batch of an epoch when it has fewer than
	// Size samples.
	DropLast bool
	// Augment is applied to every sample (training); the zero value is
	// no augmentation (evaluation).
	Augment Augmentation
}

// Batches iterates over a dataset in batches of normalised float32 images
// (N x C x H x W) and their labels:
//
//	it, err := trainer.NewBatches(train, trainer.BatchOptions{Size: 64, Shuffle: true, Augment: aug}, rng)
//	for epoch := range epochs {
//		for it.Next() {
//			x, y := it.Images(), it.Labels()
//			...
//		}
//		it.Reset()
//	}
//
// A pixel p of channel c becomes (p/255 - Norm.Mean[c]) / Norm.Std[c], with
// the dataset's Norm. Images and Labels return buffers that the next call to
// Next overwrites: copy what must outlive a batch. In steady state Next
// allocates nothing. A Batches is not safe for concurrent use.
type Batches struct {
	data *Dataset
	opts BatchOptions
	rng  *rand.Rand

	order  []int // sample positions of this epoch, in batch order
	next   int   // position in order of the next batch's first sample
	lut    [][256]float32
	images *nn.Tensor // Data and Shape[0] resized per batch over full
	full   []float32
	labels []int
}

// NewBatches returns an iterator over d at the start of its first epoch.
// rng drives shuffling and augmentation and may be nil only when both are
// off; the same rng state gives the same batches.
func NewBatches(d *Dataset, o BatchOptions, rng *rand.Rand) (*Batches, error) {
	if o.Size < 1 {
		return nil, fmt.Errorf("batches of %s: batch size %d; want at least 1", d.Name, o.Size)
	}
	if d.Len() == 0 {
		return nil, fmt.Errorf("batches of %s: the dataset is empty", d.Name)
	}
	if err := o.Augment.check(d.Shape); err != nil {
		return nil, fmt.Errorf("batches of %s: %w", d.Name, err)
	}
	if rng == nil && (o.Shuffle || o.Augment.Enabled()) {
		return nil, fmt.Errorf("batches of %s: shuffling and augmentation need a seeded *rand.Rand", d.Name)
	}
	if err := d.Norm.check(d.Shape.C); err != nil {
		return nil, fmt.Errorf("batches of %s: %w", d.Name, err)
	}
	lut := make([][256]float32, d.Shape.C)
	for c := range lut {
		mean, std := float64(d.Norm.Mean[c]), float64(d.Norm.Std[c])
		for p := range 256 {
			lut[c][p] = float32((float64(p)/255 - mean) / std)
		}
	}
	b := &Batches{
		data:   d,
		opts:   o,
		rng:    rng,
		order:  make([]int, d.Len()),
		lut:    lut,
		full:   make([]float32, o.Size*d.SampleSize()),
		labels: make([]int, o.Size),
	}
	b.images = nn.FromData(b.full, o.Size, d.Shape.C, d.Shape.H, d.Shape.W)
	for i := range b.order {
		b.order[i] = i
	}
	b.Reset()
	return b, nil
}

// Reset starts a new epoch: a new order when shuffling.
func (b *Batches) Reset() {
	if b.opts.Shuffle {
		b.rng.Shuffle(len(b.order), func(i, j int) { b.order[i], b.order[j] = b.order[j], b.order[i] })
	}
	b.next = 0
}

// Len is the number of batches in an epoch.
func (b *Batches) Len() int {
	n := len(b.order) / b.opts.Size
	if !b.opts.DropLast && len(b.order)%b.opts.Size != 0 {
		n++
	}
	return n
}

// Next fills the next batch and reports whether there was one; false means
// the epoch is over (call Reset to start the next one).
func (b *Batches) Next() bool {
	remaining := len(b.order) - b.next
	n := min(b.opts.Size, remaining)
	if n == 0 || (b.opts.DropLast && n < b.opts.Size) {
		return false
	}
	size := b.data.SampleSize()
	for k := range n {
		i := b.order[b.next+k]
		var dy, dx int
		var flip bool
		if b.opts.Augment.Enabled() {
			dy, dx, flip = b.opts.Augment.draw(b.rng)
		}
		writeSample(b.full[k*size:(k+1)*size], b.data.Pixels(i), b.data.Shape, b.lut, dy, dx, flip)
		b.labels[k] = b.data.Label(i)
	}
	b.next += n
	b.images.Data = b.full[:n*size]
	b.images.Shape[0] = n
	return true
}

// Images is the current batch, N x C x H x W (N is Size except maybe for
// the last batch of an epoch). Next overwrites it.
func (b *Batches) Images() *nn.Tensor { return b.images }

// Labels holds the class of each image of the current batch. Next
// overwrites it.
func (b *Batches) Labels() []int {
	return b.labels[:b.images.Shape[0]]
}

package trainer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// SplitValidation carves a validation set out of a training set: fraction
// of d's samples (rounded to the nearest sample) go to val, the rest to
// train. With stratify, each class gives the same fraction (rounded per
// class), so both parts keep d's class proportions; without, the samples are
// drawn at random from the whole set. The draw depends only on d and rng's
// state: the same seed gives the same split. Both parts are views of d, with
// samples in d's order.
//
// This is the split that search and NetAdapt decide on. The test set that
// OpenDataset returns is for final reports only.
func SplitValidation(d *Dataset, fraction float64, stratify bool, rng *rand.Rand) (train, val *Dataset, err error) {
	if !(fraction > 0 && fraction < 1) {
		return nil, nil, fmt.Errorf("validation split of %s: fraction %v; want a value strictly between 0 and 1 (0.1 is usual)", d.Name, fraction)
	}
	if rng == nil {
		return nil, nil, fmt.Errorf("validation split of %s: a seeded *rand.Rand is required", d.Name)
	}
	held := drawFraction(d, fraction, stratify, rng)
	if len(held) == 0 || len(held) == d.Len() {
		return nil, nil, fmt.Errorf("validation split of %s: fraction %v of %d samples leaves one side empty", d.Name, fraction, d.Len())
	}
	inVal := make([]bool, d.Len())
	for _, i := range held {
		inVal[i] = true
	}
	rest := make([]int, 0, d.Len()-len(held))
	for i, v := range inVal {
		if !v {
			rest = append(rest, i)
		}
	}
	if train, err = d.Select(rest); err != nil {
		return nil, nil, err
	}
	if val, err = d.Select(held); err != nil {
		return nil, nil, err
	}
	train.Name, val.Name = d.Name+"/fit", d.Name+"/val"
	return train, val, nil
}

// Subset returns a seeded random fraction of d (at least one sample), for
// proxy training on part of the data: stratified per class when stratify is
// set. The samples keep d's order; Batches shuffles them.
func Subset(d *Dataset, fraction float64, stratify bool, rng *rand.Rand) (*Dataset, error) {
	if !(fraction > 0 && fraction <= 1) {
		return nil, fmt.Errorf("subset of %s: fraction %v; want a value in (0, 1]", d.Name, fraction)
	}
	if rng == nil {
		return nil, fmt.Errorf("subset of %s: a seeded *rand.Rand is required", d.Name)
	}
	if d.Len() == 0 {
		return nil, fmt.Errorf("subset of %s: the dataset is empty", d.Name)
	}
	picked := drawFraction(d, fraction, stratify, rng)
	if len(picked) == 0 {
		picked = []int{rng.IntN(d.Len())}
	}
	s, err := d.Select(picked)
	if err != nil {
		return nil, err
	}
	s.Name = fmt.Sprintf("%s/subset%g", d.Name, fraction)
	return s, nil
}

// drawFraction returns, in ascending order, the positions of a random
// fraction of d's samples, per class when stratify is set.
func drawFraction(d *Dataset, fraction float64, stratify bool, rng *rand.Rand) []int {
	take := func(n int) int { return int(math.Round(fraction * float64(n))) }
	var picked []int
	if !stratify {
		perm := rng.Perm(d.Len())
		picked = perm[:take(d.Len())]
	} else {
		byClass := make([][]int, d.Classes())
		for i := range d.Len() {
			l := d.Label(i)
			byClass[l] = append(byClass[l], i)
		}
		for _, members := range byClass {
			rng.Shuffle(len(members), func(a, b int) { members[a], members[b] = members[b], members[a] })
			picked = append(picked, members[:take(len(members))]...)
		}
	}
	slices.Sort(picked)
	return picked
}

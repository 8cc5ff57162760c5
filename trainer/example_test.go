package trainer_test

import (
	"fmt"
	"log"
	"math/rand/v2"

	"nas/trainer"
)

// The data side of a training run: open, carve a seeded validation split
// from the training set, iterate over augmented, normalised batches. The
// test set is left for the final report.
func Example() {
	sets, err := trainer.OpenDataset("fashion-mnist", "") // or a folder: --data-dir DIR
	if err != nil {
		log.Fatal(err) // names the file, what is wrong, and the fix
	}
	rng := rand.New(rand.NewPCG(2024, 0))
	fit, val, err := trainer.SplitValidation(sets.Train, 0.1, true, rng)
	if err != nil {
		log.Fatal(err)
	}
	proxy, err := trainer.Subset(fit, 0.25, true, rng) // proxy training on a quarter
	if err != nil {
		log.Fatal(err)
	}
	train, err := trainer.NewBatches(proxy, trainer.BatchOptions{
		Size: 64, Shuffle: true, Augment: trainer.DefaultAugmentation("fashion-mnist"),
	}, rng)
	if err != nil {
		log.Fatal(err)
	}
	for train.Next() {
		x, y := train.Images(), train.Labels() // 64 x 1 x 28 x 28, 64 labels
		_, _ = x, y
	}
	eval, err := trainer.NewBatches(val, trainer.BatchOptions{Size: 256}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sets.Shape(), sets.Classes(), proxy.Len(), train.Len(), eval.Len())
}

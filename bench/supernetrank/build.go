package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"nas/pipeline"
	"nas/space"
	"nas/supernet"
	"nas/trainer"
)

// buildSupernet trains into dir the supernet a search builds
// (pipeline.DefaultSupernetRecipe: the README's main job's recipe) with
// its training drawn from fraction of the training split, on threads
// shards, continuing a run stopped there. It makes the study's curve of
// ranking against supernet training steps: fraction 0.3 is the main
// job's supernet, and 0.6 twice its steps.
func buildSupernet(o options, dir string, fraction float64, threads int, w io.Writer) error {
	sn, err := supernet.Open(dir)
	switch {
	case err == nil && sn.Steps == sn.TotalSteps:
		fmt.Fprintf(w, "%s: a supernet of %d steps, done\n", dir, sn.Steps)
		return nil
	case err != nil && !errors.Is(err, supernet.ErrNoSupernet):
		return err
	}
	resume := err == nil
	if !resume {
		if err := os.Remove(filepath.Join(dir, supernet.ManifestFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	sp, err := space.LoadSpace(o.space)
	if err != nil {
		return err
	}
	sets, err := trainer.OpenDataset(o.data, o.dataDir)
	if err != nil {
		return err
	}
	r := pipeline.DefaultSupernetRecipe()
	r.Fraction = fraction
	if o.buildSampling != "" {
		r.Sampling = o.buildSampling
	}
	if o.buildRandom >= 0 {
		r.Random = o.buildRandom
	}
	if o.buildLR > 0 {
		r.LR = o.buildLR
	}
	cfg := r.Config(o.data, 0, threads)
	cfg.Rule = o.buildRule
	if o.buildSeed != 0 {
		// Another training seed on the study's validation split.
		cfg.Recipe.SplitSeed = cmp.Or(cfg.Recipe.SplitSeed, cfg.Recipe.Seed)
		cfg.Recipe.Seed = o.buildSeed
	}
	res, err := supernet.Train(context.Background(), cfg, sp, o.data, sets, dir, resume)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: %d steps on %d images, %s\n", dir, res.Steps, res.TrainImages, res.WallTime)
	return nil
}

package pipeline

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"nas/results"
	"nas/search"
	"nas/space"
	"nas/supernet"
	"nas/trainer"
)

// Defaults of a search that scores its candidates with a supernet (the
// default; SearchSettings.Proxy scores them by proxy training instead): a
// candidate costs under a CPU-second instead of a proxy training run, so
// the budget is sized for hundreds of them, and evolution's population
// for a budget of that size.
const (
	DefaultSupernetBudget = 300
	// SupernetPopulation is the largest evolution population of a
	// supernet search, and SupernetSample its tournament size: those of
	// regularized evolution (Real et al., AAAI 2019) on its large
	// searches, 100 and 25.
	SupernetPopulation = 100
	SupernetSample     = 25
	// DefaultSupernets is the folder the supernets a search builds are
	// kept in, one folder per space, data and recipe (SupernetFolder).
	DefaultSupernets = "runs/supernets"
)

// SupernetRecipe is how a search builds its supernet when its folder
// holds none: supernet.Config's sandwich-rule training for Epochs on
// Fraction of the training split, with Random networks drawn per step
// besides the largest and the smallest, a peak learning rate LR after
// Warmup epochs, cosine decay, the dataset's augmentation, seed 1.
// Calibration is the number of training images batch norm is
// recalibrated on before a candidate is scored.
type SupernetRecipe struct {
	Epochs   int     `json:"epochs"`
	Fraction float64 `json:"fraction"`
	Random   int     `json:"random"`
	// Sampling is supernet.Config's rule for drawing the random networks;
	// "" is the uniform rule.
	Sampling    string  `json:"sampling,omitempty"`
	LR          float64 `json:"lr"`
	Warmup      float64 `json:"warmup_epochs"`
	Calibration int     `json:"calibration_images"`
	// CheckpointSteps is how often the training checkpoints besides its
	// epoch ends; it changes nothing in the weights.
	CheckpointSteps int `json:"checkpoint_steps,omitempty"`
}

// DefaultSupernetRecipe is the recipe of the README's main job, chosen
// so that building the supernet of small28 on Fashion-MNIST, searching
// it and fine-tuning the winner fit in 20 minutes on two cores
// (docs/search.md, "The main job"): one epoch on 20% of the training
// split, one random network per step drawn uniformly, a short warm-up.
func DefaultSupernetRecipe() SupernetRecipe {
	return SupernetRecipe{Epochs: 1, Fraction: 0.2, Random: 1, LR: 0.1, Warmup: 0.05, Calibration: 500, CheckpointSteps: 50}
}

// withDefaults is r, or DefaultSupernetRecipe when r is zero, with
// DefaultSupernetRecipe's epochs, fraction, learning rate and
// calibration in place of zeros.
func (r SupernetRecipe) withDefaults() SupernetRecipe {
	d := DefaultSupernetRecipe()
	if r == (SupernetRecipe{}) {
		return d
	}
	r.Epochs, r.Fraction, r.LR = cmp.Or(r.Epochs, d.Epochs), cmp.Or(r.Fraction, d.Fraction), cmp.Or(r.LR, d.LR)
	r.Calibration = cmp.Or(r.Calibration, d.Calibration)
	return r
}

// supernetSeed is the seed of a supernet a search builds: one supernet
// serves the searches of every seed.
const supernetSeed = 1

func (r SupernetRecipe) validate() error {
	switch {
	case r.Epochs < 1:
		return settingErr("supernet_epochs", r.Epochs, "train the supernet for at least one epoch")
	case !(r.Fraction > 0 && r.Fraction <= 1):
		return settingErr("supernet_fraction", r.Fraction, "want a fraction in (0, 1]")
	case r.Random < 0:
		return settingErr("supernet_random", r.Random, "want 0 or more random networks per step")
	case r.Sampling != "" && r.Sampling != supernet.SamplingFair && r.Sampling != supernet.SamplingUniform:
		return settingErr("supernet_sampling", r.Sampling, "want "+supernet.SamplingFair+" or "+supernet.SamplingUniform)
	case !(r.LR > 0) || math.IsInf(r.LR, 0):
		return settingErr("supernet_lr", r.LR, "want a positive learning rate")
	case !(r.Warmup >= 0) || math.IsInf(r.Warmup, 0):
		return settingErr("supernet_warmup_epochs", r.Warmup, "want 0 or more epochs")
	case r.Calibration < 2:
		return settingErr("supernet_calibration", r.Calibration, "want at least 2 images (batch norm needs two)")
	case r.CheckpointSteps < 0:
		return settingErr("supernet_checkpoint_steps", r.CheckpointSteps, "want 0 (epoch ends only) or more")
	}
	return nil
}

// Config is the supernet.Config of r for the data named data, in
// batches of batch images (0: supernet.DefaultConfig's) split over
// threads shards.
func (r SupernetRecipe) Config(data string, batch, threads int) supernet.Config {
	c := supernet.DefaultConfig()
	c.Recipe.BatchSize = cmp.Or(batch, c.Recipe.BatchSize)
	c.Recipe.Epochs, c.Recipe.DataFraction, c.Recipe.LR, c.Recipe.WarmupEpochs = r.Epochs, r.Fraction, r.LR, r.Warmup
	c.Recipe.Augment = trainer.DefaultAugmentation(data)
	c.Recipe.Seed, c.Recipe.Threads, c.Recipe.CheckpointSteps = supernetSeed, threads, r.CheckpointSteps
	c.Random, c.Sampling, c.CalibrationImages = r.Random, r.Sampling, r.Calibration
	return c
}

// SupernetFolder is the folder under root of the supernet of sp trained
// on data with cfg: NAME-DATA-HASH, the hash over the space, the data's
// identity, the recipe and the weights layout, so that a search of the
// same space and data with the same recipe finds the supernet the last
// one built, and any other gets a folder of its own.
func SupernetFolder(root string, sp *space.Space, data supernet.DataIdentity, cfg supernet.Config) (string, error) {
	js, err := sp.MarshalJSON()
	if err != nil {
		return "", err
	}
	cfg.OnStep, cfg.OnEpoch = nil, nil
	if cfg.Sampling == supernet.SamplingUniform {
		cfg.Sampling = "" // one folder for the uniform rule, named or not
	}
	if cfg.Rule == supernet.RuleSandwich {
		cfg.Rule = ""
	}
	rc, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "layout %d\n", supernet.LayoutVersion)
	for _, part := range [][]byte{js, []byte(data.Name), []byte(data.Hash), rc} {
		fmt.Fprintf(h, "%d\n", len(part))
		h.Write(part)
	}
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' {
			return r
		}
		return '-'
	}, sp.Name+"-"+data.Name)
	return filepath.Join(root, name+"-"+hex.EncodeToString(h.Sum(nil))[:12]), nil
}

// strategySettings sizes the strategies to the budget. Evolution's
// population is a third of the budget up to 16 for proxy training, so
// that a small budget still breeds after the random start; a supernet
// search, with budgets of hundreds to thousands, keeps a tenth of its
// budget up to SupernetPopulation, with tournaments of a quarter of the
// population.
func (s SearchSettings) strategySettings() search.StrategySettings {
	if s.Proxy {
		return search.StrategySettings{Population: min(16, max(4, s.Budget/3))}
	}
	pop := min(SupernetPopulation, max(4, s.Budget/10))
	return search.StrategySettings{Population: pop, Sample: max(2, min(SupernetSample, pop/4))}
}

// resolveSupernet sets st.Supernet, when empty, to the folder under root
// of the supernet st's recipe builds for sp and data, and refuses a
// folder that holds a supernet of another space or other data before a
// run is stored.
func resolveSupernet(st *SearchSettings, root string, sp *space.Space, sets *trainer.Sets) error {
	if st.Proxy {
		return nil
	}
	if st.Supernet == "" {
		dir, err := SupernetFolder(cmp.Or(root, DefaultSupernets), sp, supernet.IdentifyData(st.Data, sets), st.SupernetRecipe.Config(st.Data, st.Batch, 0))
		if err != nil {
			return err
		}
		st.Supernet = dir
	}
	sn, err := supernet.Open(st.Supernet)
	switch {
	case errors.Is(err, supernet.ErrNoSupernet):
		return nil // built later
	case err != nil:
		return fmt.Errorf("supernet: %w", err)
	}
	if err := sn.CheckSpace(sp); err != nil {
		return fmt.Errorf("supernet: %w", err)
	}
	if err := sn.CheckData(st.Data, sets); err != nil {
		return fmt.Errorf("supernet: %w", err)
	}
	return nil
}

// prepareSupernet makes the supernet of st ready and returns its
// evaluator: it builds the supernet in st.Supernet when the folder holds
// none, continues its training when it stopped before its end (a killed
// or stopped run), and otherwise uses it as it is. A run that recorded a
// supernet's identity refuses a folder whose weights are not those any
// more; a run that had not, records it now.
func (s *Search) prepareSupernet(ctx context.Context, id results.RunID, st *SearchSettings, sp *space.Space, data Dataset, sets *trainer.Sets) (*supernet.Evaluator, error) {
	cfg := st.SupernetRecipe.Config(st.Data, st.Batch, s.Threads)
	cfg.OnStep = func(r trainer.StepReport) {
		if s.SupernetStep != nil {
			s.SupernetStep(r)
		}
		checkpoint(ctx, "supernet")
	}
	cfg.OnEpoch = s.SupernetEpoch
	sn, err := s.buildSupernet(ctx, st.Supernet, cfg, sp, data.Name, sets)
	if err != nil {
		return nil, err
	}
	if err := sn.CheckSpace(sp); err != nil {
		return nil, fmt.Errorf("supernet: %w", err)
	}
	if st.supernetIdentity != "" && st.supernetIdentity != sn.Identity {
		return nil, fmt.Errorf("supernet: the run searched with the supernet in %s whose weights have identity %.12s, and the folder now holds weights %.12s (trained further or replaced): resume with the same supernet, or start a new search with --supernet %s",
			st.Supernet, st.supernetIdentity, sn.Identity, st.Supernet)
	}
	ev, err := supernet.NewEvaluator(sn, data.Name, sets, supernet.EvalOptions{})
	if err != nil {
		return nil, fmt.Errorf("supernet: %w", err)
	}
	if st.supernetIdentity == "" {
		st.supernetIdentity = sn.Identity
		if id != 0 {
			run, err := s.Store.Run(id)
			if err != nil {
				return nil, err
			}
			if err := s.Store.SetSettings(id, st.runConfig(run.Config.Device).Settings); err != nil {
				return nil, err
			}
		}
	}
	return ev, nil
}

// buildSupernet opens the supernet in dir, training it first with cfg
// when dir holds none or an unfinished one.
func (s *Search) buildSupernet(ctx context.Context, dir string, cfg supernet.Config, sp *space.Space, dataName string, sets *trainer.Sets) (*supernet.Supernet, error) {
	sn, err := supernet.Open(dir)
	resume := false
	switch {
	case errors.Is(err, supernet.ErrNoSupernet):
		// No manifest, or a manifest without a checkpoint (a training
		// killed before its first): nothing trained is lost.
		if rerr := os.Remove(filepath.Join(dir, supernet.ManifestFile)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return nil, rerr
		}
		s.log("building the supernet of %s on %s in %s: %d epochs on %.3g of the training split, %d networks per step",
			sp.Name, dataName, dir, cfg.Recipe.Epochs, cfg.Recipe.DataFraction, 2+cfg.Random)
	case err != nil:
		return nil, fmt.Errorf("supernet: %w", err)
	case sn.Steps < sn.TotalSteps:
		if !sameConfig(sn.Manifest.Config, cfg) {
			return nil, fmt.Errorf("supernet: %s holds a supernet whose training stopped at step %d of %d, with other settings than this search's: finish it with nas supernet train --out %s --resume (and its settings, in %s), or give another --supernet",
				dir, sn.Steps, sn.TotalSteps, dir, filepath.Join(dir, supernet.ManifestFile))
		}
		resume = true
		s.log("continuing the supernet in %s from step %d of %d", dir, sn.Steps, sn.TotalSteps)
	default:
		s.log("using the supernet in %s (%d training steps)", dir, sn.Steps)
		return sn, nil
	}
	if _, err := supernet.Train(ctx, cfg, sp, dataName, sets, dir, resume); err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, err
		}
		return nil, fmt.Errorf("supernet: %w", err)
	}
	if sn, err = supernet.Open(dir); err != nil {
		return nil, fmt.Errorf("supernet: %w", err)
	}
	return sn, nil
}

// sameConfig reports whether two supernet configs train the same
// weights (the stored part of the config).
func sameConfig(a, b supernet.Config) bool {
	a.OnStep, a.OnEpoch, b.OnStep, b.OnEpoch = nil, nil, nil, nil
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

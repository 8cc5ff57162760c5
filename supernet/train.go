package supernet

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"time"

	"nas/blocks/nn"
	"nas/space"
	"nas/trainer"
)

// Config is one supernet training run. Start from DefaultConfig.
type Config struct {
	// Recipe is the training recipe of `nas train`, of which the supernet
	// reads Epochs, BatchSize, LR, MinLR, WarmupEpochs, SGDConfig,
	// LabelSmoothing, Augment, ValFraction, DataFraction, Seed, SplitSeed,
	// EvalBatchSize, CheckpointSteps and Threads (the number of shards a
	// batch is split over: results depend on it, and are bit-identical for
	// the same value).
	Recipe trainer.Config `json:"recipe"`
	// Random is the number of networks sampled from the space at every
	// step besides the largest and the smallest (the sandwich rule);
	// BigNAS uses 2.
	Random int `json:"random"`
	// Sampling is how the Random networks are drawn: SamplingUniform
	// (uniform over the space's networks, space.Sample, which draws a
	// family with few options rarely) or SamplingFair (each stage's block
	// families dealt out evenly, space.SampleFair). "" reads as
	// SamplingUniform, and is how a manifest stores it. On small28 the
	// fair rule spreads the same steps over more combinations of
	// families, every mixed network inherits a lower accuracy, and the
	// ranking is worse (docs/search.md).
	Sampling string `json:"sampling,omitempty"`
	// Rule is how a step trains: RuleSandwich ("" reads as it) trains the
	// largest network on the labels and the smallest and Random networks
	// on its outputs; RuleSinglePath (Single-Path One-Shot) trains only
	// the Random networks, each on the labels.
	Rule string `json:"rule,omitempty"`
	// CalibrationImages is the number of training images, drawn with a
	// seed, that batch-norm statistics are recalibrated on before a
	// network is scored (at epoch ends, and by Evaluator by default).
	CalibrationImages int `json:"calibration_images"`

	// OnStep is called after every step (with the loss and accuracy of
	// the step's first network: the largest, or under the single-path
	// rule the first random one); OnEpoch after every epoch's validation.
	OnStep  func(trainer.StepReport) `json:"-"`
	OnEpoch func(EpochStats)         `json:"-"`
}

// DefaultConfig is trainer.DefaultConfig's recipe (SGD with Nesterov
// momentum, one warm-up epoch, cosine decay, label smoothing 0.1) for 10
// epochs with a checkpoint every 100 steps, two random networks per step
// drawn uniformly from the space and 500 calibration images.
func DefaultConfig() Config {
	r := trainer.DefaultConfig()
	r.CheckpointSteps = 100
	return Config{Recipe: r, Random: 2, CalibrationImages: 500}
}

// The rules by which a step draws its random networks (Config.Sampling).
const (
	SamplingFair    = "fair"
	SamplingUniform = "uniform"
)

// The rules by which a step trains (Config.Rule).
const (
	RuleSandwich   = "sandwich"
	RuleSinglePath = "single-path"
)

// sampling is c.Sampling with "" read as SamplingUniform.
func (c Config) sampling() string {
	if c.Sampling == "" {
		return SamplingUniform
	}
	return c.Sampling
}

// rule is c.Rule with "" read as RuleSandwich.
func (c Config) rule() string {
	if c.Rule == "" {
		return RuleSandwich
	}
	return c.Rule
}

// warmupSteps is the linear warm-up of a run of total steps: WarmupEpochs
// of them, but at most a tenth of the run. A supernet trained for one or
// two epochs (a search's budget on two cores) would otherwise warm up for
// all or half of its steps and end at or near the peak learning rate,
// where the shared weights are still moving; ten epochs, DefaultConfig's,
// keep the whole first epoch.
func warmupSteps(epochs float64, perEpoch, total int) int {
	w := int(math.Round(epochs * float64(perEpoch)))
	return max(0, min(w, total/10, total-1))
}

// saved is the config as the manifest stores it, without the callbacks
// (the recipe's fields that trainer.Config keeps out of JSON, Threads and
// CheckpointSteps among them, are not stored; the checkpoint records the
// threads and a resumption must use the same).
func (c Config) saved() Config {
	c.OnStep, c.OnEpoch = nil, nil
	if c.Sampling == SamplingUniform {
		c.Sampling = "" // one manifest for the default rule, named or not
	}
	if c.Rule == RuleSandwich {
		c.Rule = ""
	}
	return c
}

func (c Config) check() error {
	r := c.Recipe
	switch {
	case r.Epochs < 1:
		return fmt.Errorf("epochs %d: want at least 1", r.Epochs)
	case r.BatchSize < 2:
		return fmt.Errorf("batch size %d: want at least 2 (batch normalization needs two images)", r.BatchSize)
	case r.EvalBatchSize < 1:
		return fmt.Errorf("evaluation batch size %d: want at least 1 (256 is usual)", r.EvalBatchSize)
	case !(r.LR > 0) || math.IsInf(r.LR, 0):
		return fmt.Errorf("learning rate %g: want a positive number (0.1 is usual at batch 64)", r.LR)
	case !(r.MinLR >= 0 && r.MinLR <= r.LR):
		return fmt.Errorf("minimum learning rate %g: want 0 to the learning rate %g", r.MinLR, r.LR)
	case !(r.WarmupEpochs >= 0) || math.IsInf(r.WarmupEpochs, 0):
		return fmt.Errorf("warm-up %g epochs: want 0 or more", r.WarmupEpochs)
	case !(r.LabelSmoothing >= 0 && r.LabelSmoothing < 1):
		return fmt.Errorf("label smoothing %g: want a value in [0, 1)", r.LabelSmoothing)
	case !(r.ValFraction > 0 && r.ValFraction < 1):
		return fmt.Errorf("validation fraction %g: want a value strictly between 0 and 1 (0.1 is usual)", r.ValFraction)
	case !(r.DataFraction > 0 && r.DataFraction <= 1):
		return fmt.Errorf("data fraction %g: want a value in (0, 1]", r.DataFraction)
	case r.CheckpointSteps < 0:
		return fmt.Errorf("checkpoint interval %d steps: want 0 (epoch ends only) or more", r.CheckpointSteps)
	case c.Random < 0 || c.Random > 64:
		return fmt.Errorf("random networks per step %d: want 0 to 64 (2 is usual)", c.Random)
	case c.CalibrationImages < 2:
		return fmt.Errorf("calibration images %d: want at least 2 (500 is usual)", c.CalibrationImages)
	case c.Sampling != "" && c.Sampling != SamplingFair && c.Sampling != SamplingUniform:
		return fmt.Errorf("sampling %q: want %q or %q", c.Sampling, SamplingFair, SamplingUniform)
	case c.Rule != "" && c.Rule != RuleSandwich && c.Rule != RuleSinglePath:
		return fmt.Errorf("rule %q: want %q or %q", c.Rule, RuleSandwich, RuleSinglePath)
	case c.Rule == RuleSinglePath && c.Random < 1:
		return fmt.Errorf("random networks per step %d: the %s rule trains only random networks, want at least 1", c.Random, RuleSinglePath)
	}
	_, err := trainer.NewSGD(nil, r.SGDConfig)
	return err
}

// EpochStats is the record of one epoch: the training loss and accuracy
// of each step's first network (the largest, or under the single-path
// rule a random one), and the validation accuracy of the largest and the
// smallest network after batch-norm recalibration.
type EpochStats struct {
	Epoch          int     `json:"epoch"` // 1-based
	Steps          int     `json:"steps"`
	TrainLoss      float64 `json:"train_loss"`
	TrainAcc       float64 `json:"train_acc"`
	LargestValAcc  float64 `json:"largest_val_acc"`
	SmallestValAcc float64 `json:"smallest_val_acc"`
	LR             float64 `json:"lr"`
}

// Result is what a training run did.
type Result struct {
	Steps       int          `json:"steps"`
	TotalSteps  int          `json:"total_steps"`
	TrainImages int          `json:"train_images"`
	Largest     string       `json:"largest"`
	Smallest    string       `json:"smallest"`
	History     []EpochStats `json:"history"`
	// ImagesPerSec counts the batch's images once per step (each step
	// trains 2+Random networks on them), in this process.
	ImagesPerSec float64       `json:"images_per_s"`
	WallTime     time.Duration `json:"wall_time_ns"`
}

// state is the training progress a checkpoint holds.
type state struct {
	Version    int          `json:"version"`
	Step       int          `json:"step"`
	TotalSteps int          `json:"total_steps"`
	LossSum    float64      `json:"loss_sum"` // of the current epoch, per image
	Correct    int          `json:"correct"`
	Seen       int          `json:"seen"`
	LastLR     float64      `json:"last_lr"`
	Threads    int          `json:"threads"`
	History    []EpochStats `json:"history"`
}

const stateVersion = 1

// Streams of the run's PCG generators, one per random choice.
const (
	streamInit   = 101
	streamSubset = 102
	streamSample = 103     // the random networks of a step, reseeded per step
	streamShards = 104     // the shards' dropout seeds, reseeded per step and network
	streamCalib  = 105     // the calibration images
	streamData   = 1 << 32 // + epoch: the sample order and augmentation of each epoch
)

// Train trains a supernet of sp on sets, checkpointing into dir (created
// if needed), and returns what it did. With resume it continues the run
// checkpointed in dir: the space, the data and the config must be those
// of that run, and the result is bit-identical to a run that was never
// interrupted given the same Threads. Without resume, dir must not hold
// a supernet already. dataName names the data in the manifest (the --data
// name).
//
// A cancelled ctx stops the run at the next step boundary after a
// checkpoint.
func Train(ctx context.Context, cfg Config, sp *space.Space, dataName string, sets *trainer.Sets, dir string, resume bool) (*Result, error) {
	start := time.Now()
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("supernet config: %w", err)
	}
	if sets == nil || sets.Train == nil {
		return nil, fmt.Errorf("supernet: no training set")
	}
	if sets.Shape() != sp.Input || sets.Classes() != sp.Classes {
		return nil, fmt.Errorf("dataset %s has %v images in %d classes; space %s takes %v in %d classes: use a space for this data", sets.Train.Name, sets.Shape(), sets.Classes(), sp.Name, sp.Input, sp.Classes)
	}
	id := IdentifyData(dataName, sets)
	_, initRNG := seeded(cfg.Recipe.Seed, streamInit)
	w, err := NewWeights(sp, initRNG)
	if err != nil {
		return nil, err
	}
	man, err := newManifest(sp, id, cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("supernet: %w", err)
	}
	r, err := newRun(cfg, w, sets)
	if err != nil {
		return nil, err
	}
	if resume {
		if err := r.restore(dir, man); err != nil {
			return nil, err
		}
	} else {
		if _, err := os.Stat(filepath.Join(dir, ManifestFile)); err == nil {
			return nil, fmt.Errorf("%s already holds a supernet: continue it with --resume, or give another --out", dir)
		}
		if err := writeManifest(dir, man); err != nil {
			return nil, err
		}
	}
	r.dir = dir
	if err := r.loop(ctx); err != nil {
		return nil, err
	}
	return &Result{Steps: r.st.Step, TotalSteps: r.total, TrainImages: r.fit.Len(),
		Largest: r.largest.arch.String(), Smallest: r.smallest.arch.String(), History: r.st.History,
		ImagesPerSec: r.imagesPerSec(), WallTime: time.Since(start)}, nil
}

func seeded(seed, stream uint64) (*rand.PCG, *rand.Rand) {
	src := rand.NewPCG(seed, stream)
	return src, rand.New(src)
}

// run is one training run.
type run struct {
	cfg    Config
	w      *Weights
	sets   *trainer.Sets
	fit    *trainer.Dataset
	val    *trainer.Dataset
	opt    *trainer.SGD
	sched  trainer.Schedule
	shards int
	dir    string

	largest, smallest *member
	perEpoch, total   int
	st                state
	batches           *trainer.Batches
	batchesEpoch      int // the epoch batches iterates over
	teacher           []float32
	// storages[i] is what shard i of every member's stepper draws its
	// tensors from: the members train one after another.
	storages []*nn.Storage

	trainImages int
	trainTime   time.Duration
}

// member is a network trained in every step: bound to the shared
// weights, with its own stepper, whose dropout source is reseeded per
// step.
type member struct {
	*subnet
	steps *trainer.Stepper
	src   *rand.PCG
}

func (r *run) member(choices []int) (*member, error) {
	s, err := r.w.subnetOf(choices)
	if err != nil {
		return nil, err
	}
	src := rand.NewPCG(0, 0)
	st, err := trainer.NewStepper(s.net, nil, r.shards, rand.New(src))
	if err != nil {
		return nil, err
	}
	st.ShareStorage(r.storages)
	return &member{subnet: s, steps: st, src: src}, nil
}

func newRun(cfg Config, w *Weights, sets *trainer.Sets) (*run, error) {
	rc := cfg.Recipe
	fit, val, err := rc.Split(sets.Train)
	if err != nil {
		return nil, err
	}
	if rc.DataFraction < 1 {
		_, rng := seeded(rc.Seed, streamSubset)
		if fit, err = trainer.Subset(fit, rc.DataFraction, true, rng); err != nil {
			return nil, err
		}
	}
	if fit.Len() < rc.BatchSize {
		return nil, fmt.Errorf("training set %s has %d images, fewer than one batch of %d: lower the batch size or use more data", fit.Name, fit.Len(), rc.BatchSize)
	}
	opt, err := trainer.NewSGD(w.Params(), rc.SGDConfig)
	if err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, w: w, sets: sets, fit: fit, val: val, opt: opt, shards: trainer.ShardsFor(rc.Threads, rc.BatchSize), batchesEpoch: -1}
	r.perEpoch = fit.Len() / rc.BatchSize
	r.total = rc.Epochs * r.perEpoch
	r.sched = trainer.Schedule{Base: rc.LR, Min: rc.MinLR, Warmup: warmupSteps(rc.WarmupEpochs, r.perEpoch, r.total), Total: r.total}
	r.st = state{Version: stateVersion, TotalSteps: r.total, Threads: r.shards}
	for range r.shards {
		r.storages = append(r.storages, nn.NewStorage())
	}
	big, small, err := extremes(w.space)
	if err != nil {
		return nil, err
	}
	if r.largest, err = r.member(big); err != nil {
		return nil, fmt.Errorf("supernet: the largest network: %w", err)
	}
	if r.smallest, err = r.member(small); err != nil {
		return nil, fmt.Errorf("supernet: the smallest network: %w", err)
	}
	r.teacher = make([]float32, rc.BatchSize*w.space.Classes)
	return r, nil
}

// restore loads the checkpoint of dir after checking that it is of the
// same space, data and config.
func (r *run) restore(dir string, want *Manifest) error {
	have, err := readManifest(dir)
	if err != nil {
		return err
	}
	sp := r.w.space
	if err := have.checkSpace(dir, sp); err != nil {
		return err
	}
	if err := have.checkData(dir, want.Data); err != nil {
		return err
	}
	if have.KernelsVersion != want.KernelsVersion {
		return fmt.Errorf("%s was trained with kernels version %d, this nas has version %d: its results would not be bit-identical to an uninterrupted run; train again with nas supernet train --out NEWDIR", dir, have.KernelsVersion, want.KernelsVersion)
	}
	if d := configDiff(have.Config, want.Config); d != "" {
		return fmt.Errorf("resume: the settings differ from those of the run in %s in %s: resume with the same settings, or start a new run in another folder", dir, d)
	}
	vel, st, err := loadCheckpoint(dir, r.w)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("resume: %s has state version %d, this nas reads version %d", dir, st.Version, stateVersion)
	}
	if st.TotalSteps != r.total {
		return fmt.Errorf("resume: the run in %s has %d steps, this one %d: the data or settings differ", dir, st.TotalSteps, r.total)
	}
	if st.Threads != r.shards {
		return fmt.Errorf("resume: the run in %s split each batch over %d threads, this one over %d: resume with --threads %d for a bit-identical result", dir, st.Threads, r.shards, st.Threads)
	}
	if err := r.opt.SetVelocity(vel); err != nil {
		return fmt.Errorf("resume: %s: %w", dir, err)
	}
	r.st = *st
	return nil
}

// configDiff names the first setting in which two saved configs differ,
// or "".
func configDiff(a, b Config) string {
	var ma, mb map[string]any
	ja, _ := json.Marshal(a.Recipe)
	jb, _ := json.Marshal(b.Recipe)
	_ = json.Unmarshal(ja, &ma)
	_ = json.Unmarshal(jb, &mb)
	keys := make([]string, 0, len(ma))
	for k := range ma {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !reflect.DeepEqual(ma[k], mb[k]) {
			return k
		}
	}
	switch {
	case a.Random != b.Random:
		return "random"
	case a.sampling() != b.sampling():
		return "sampling"
	case a.rule() != b.rule():
		return "rule"
	case a.CalibrationImages != b.CalibrationImages:
		return "calibration_images"
	}
	return ""
}

// loop trains until the budget is spent.
func (r *run) loop(ctx context.Context) error {
	rc := r.cfg.Recipe
	for {
		// An epoch whose steps are done but whose validation is not (a run
		// stopped during validation resumes here).
		if r.st.Step > 0 && r.st.Step%r.perEpoch == 0 && len(r.st.History) < r.st.Step/r.perEpoch {
			if err := r.endEpoch(ctx); err != nil {
				return err
			}
		}
		if r.st.Step >= r.total {
			return nil
		}
		if err := ctx.Err(); err != nil {
			if serr := r.save(); serr != nil {
				return fmt.Errorf("supernet training stopped at step %d (%v) and its checkpoint failed: %w", r.st.Step, err, serr)
			}
			return fmt.Errorf("supernet training stopped at step %d of %d; checkpoint in %s (continue with --resume): %w", r.st.Step, r.total, r.dir, err)
		}
		epoch := r.st.Step / r.perEpoch
		if err := r.seek(epoch, r.st.Step%r.perEpoch); err != nil {
			return err
		}
		if !r.batches.Next() {
			return fmt.Errorf("supernet: the data ran out inside epoch %d (internal error)", epoch+1)
		}
		t0 := time.Now()
		lr := r.sched.LR(r.st.Step)
		x, y := r.batches.Images(), r.batches.Labels()
		loss, correct, err := r.step(x, y)
		if err != nil {
			return fmt.Errorf("epoch %d, step %d (learning rate %.4g): %w", epoch+1, r.st.Step+1, lr, err)
		}
		r.opt.Step(lr)
		r.trainTime += time.Since(t0)
		r.trainImages += len(y)
		r.st.Step++
		r.st.LossSum += loss * float64(len(y))
		r.st.Correct += correct
		r.st.Seen += len(y)
		r.st.LastLR = lr
		if r.cfg.OnStep != nil {
			r.cfg.OnStep(trainer.StepReport{Epoch: epoch, Step: r.st.Step, TotalSteps: r.total, StepsPerEpoch: r.perEpoch,
				LR: lr, Loss: loss, EpochLoss: r.st.LossSum / float64(r.st.Seen), EpochAcc: float64(r.st.Correct) / float64(r.st.Seen),
				ImagesPerSec: r.imagesPerSec()})
		}
		if r.st.Step%r.perEpoch != 0 && rc.CheckpointSteps > 0 && r.st.Step%rc.CheckpointSteps == 0 {
			if err := r.save(); err != nil {
				return err
			}
		}
	}
}

// seek makes batches stand before batch pos of epoch: the iterator of
// each epoch draws its order and augmentation from its own generator, so
// a resumed run skips the batches that are done and sees the same ones.
func (r *run) seek(epoch, pos int) error {
	if r.batchesEpoch == epoch && pos > 0 {
		return nil
	}
	_, rng := seeded(r.cfg.Recipe.Seed, streamData+uint64(epoch))
	b, err := trainer.NewBatches(r.fit, trainer.BatchOptions{Size: r.cfg.Recipe.BatchSize, Shuffle: true, DropLast: true, Augment: r.cfg.Recipe.Augment}, rng)
	if err != nil {
		return err
	}
	for range pos {
		b.Next()
	}
	r.batches, r.batchesEpoch = b, epoch
	return nil
}

// step runs the sandwich rule on one batch: the largest network on the
// labels, handing its softmax to the others as their targets, then the
// smallest and Random networks drawn from the space, each adding its
// gradients into the shared tensors. Under the single-path rule only the
// Random networks run, each on the labels. The networks' steppers draw
// their tensors from the run's per-shard storages, trimmed at the end of
// the step. It returns the loss and correct count of the step's first
// network: the largest, or under the single-path rule the first random
// one.
func (r *run) step(x *nn.Tensor, labels []int) (float64, int, error) {
	rc := r.cfg.Recipe
	maxLoss := max(10, 10*math.Log(float64(r.w.space.Classes)))
	r.w.clearGrads()
	teacher := r.teacher[:len(labels)*r.w.space.Classes]
	members := []*member{r.largest, r.smallest}
	single := r.cfg.rule() == RuleSinglePath
	if single {
		members = nil
	}
	sampleSrc, sampleRNG := seeded(rc.Seed, streamSample)
	sampleSrc.Seed(rc.Seed^0x5eed, uint64(r.st.Step))
	drawn, err := r.sample(sampleRNG)
	if err != nil {
		return 0, 0, err
	}
	for _, c := range drawn {
		m, err := r.member(c)
		if err != nil {
			return 0, 0, err
		}
		members = append(members, m)
	}
	var loss float64
	var correct int
	for k, m := range members {
		m.load()
		m.src.Seed(rc.Seed^uint64(r.st.Step), streamShards+uint64(k)<<8)
		t := trainer.Target{Labels: labels, Smoothing: rc.LabelSmoothing}
		switch {
		case single:
		case k == 0:
			t.Probs = teacher
		default:
			t.Soft = teacher
		}
		l, c, err := m.steps.Gradients(x, t, maxLoss)
		if err != nil {
			return 0, 0, fmt.Errorf("network %s: %w", m.arch, err)
		}
		if k == 0 {
			loss, correct = l, c
		}
		m.addGrads()
	}
	// Keep what this step's networks needed: the storage a random
	// network of an earlier step drew beyond that goes.
	for _, s := range r.storages {
		s.Trim()
	}
	return loss, correct, nil
}

// sample draws the step's Random networks by the configured rule.
func (r *run) sample(rng *rand.Rand) ([][]int, error) {
	if r.cfg.sampling() == SamplingFair {
		return r.w.space.SampleFair(rng, r.cfg.Random)
	}
	out := make([][]int, 0, r.cfg.Random)
	for range r.cfg.Random {
		c, _, err := r.w.space.Sample(rng)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// endEpoch validates the largest and the smallest network, records the
// epoch and checkpoints.
func (r *run) endEpoch(ctx context.Context) error {
	ev := &Evaluator{w: r.w, fit: r.fit, val: r.val, calibImages: r.cfg.CalibrationImages, batch: r.cfg.Recipe.EvalBatchSize}
	var acc [2]float64
	for i, m := range []*member{r.largest, r.smallest} {
		e, err := ev.evaluate(ctx, m.subnet, r.cfg.Recipe.Seed)
		if err != nil {
			if ctx.Err() != nil {
				// The epoch's steps are saved; its validation runs again on resume.
				if serr := r.save(); serr != nil {
					return serr
				}
				return fmt.Errorf("supernet training stopped at step %d of %d, in validation; checkpoint in %s (continue with --resume): %w", r.st.Step, r.total, r.dir, ctx.Err())
			}
			return fmt.Errorf("validation after epoch %d: %w", r.st.Step/r.perEpoch, err)
		}
		acc[i] = e.Acc
	}
	s := EpochStats{Epoch: r.st.Step / r.perEpoch, Steps: r.st.Step, TrainLoss: r.st.LossSum / float64(r.st.Seen),
		TrainAcc: float64(r.st.Correct) / float64(r.st.Seen), LargestValAcc: acc[0], SmallestValAcc: acc[1], LR: r.st.LastLR}
	r.st.History = append(r.st.History, s)
	r.st.LossSum, r.st.Correct, r.st.Seen = 0, 0, 0
	if r.cfg.OnEpoch != nil {
		r.cfg.OnEpoch(s)
	}
	return r.save()
}

func (r *run) save() error {
	return saveCheckpoint(r.dir, r.w, r.opt.Velocity(), &r.st)
}

func (r *run) imagesPerSec() float64 {
	if r.trainTime <= 0 {
		return 0
	}
	return float64(r.trainImages) / r.trainTime.Seconds()
}

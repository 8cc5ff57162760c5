package trainer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"nas/blocks"
	"nas/blocks/nn"
	"nas/space"
)

// ErrDiverged is the error of a run whose training loss became NaN or
// infinite, or rose above Config.MaxLoss: the network or its learning rate
// is unusable. Search records such a trial as failed; test with errors.Is.
var ErrDiverged = errors.New("training diverged")

// Config is one training run. Start from DefaultConfig and change what
// differs; Train rejects values out of range with an error naming the
// field. The json names are those of the training-state file.
type Config struct {
	// Epochs is the budget in passes over the training part of the data.
	Epochs int `json:"epochs"`
	// Steps, when above 0, is the budget in optimizer steps instead of
	// Epochs (a run may then end inside an epoch).
	Steps int `json:"steps,omitempty"`
	// BatchSize is the number of images per step. The last incomplete
	// batch of an epoch is dropped (batch statistics of a handful of
	// images are noise).
	BatchSize int `json:"batch_size"`
	// LR is the peak learning rate; MinLR the one the cosine ends at.
	LR    float64 `json:"lr"`
	MinLR float64 `json:"min_lr"`
	// WarmupEpochs is the length of the linear warm-up, in epochs
	// (fractions allowed; rounded to whole steps, at most all but one).
	WarmupEpochs float64 `json:"warmup_epochs"`
	SGDConfig
	// LabelSmoothing is the weight of the uniform part of the target
	// (0.1 is usual; 0 turns it off).
	LabelSmoothing float64 `json:"label_smoothing"`
	// Augment is applied to training images; the zero value is none
	// (DefaultAugmentation gives a dataset's usual one).
	Augment Augmentation `json:"augment"`
	// ValFraction of the training set, drawn per class with the seed, is
	// held out for validation (0.1 is usual). Results report accuracy on
	// it; the test set is touched only with Test.
	ValFraction float64 `json:"val_fraction"`
	// DataFraction of the rest, drawn per class with the seed, is what the
	// run trains on (1 = all of it; less for cheap proxy training).
	DataFraction float64 `json:"data_fraction"`
	// Seed drives every random choice: initial weights, the validation
	// split, the data subset, the sample order, augmentation and dropout.
	Seed uint64 `json:"seed"`
	// SplitSeed, when not 0, draws the validation split (and EvalFraction's
	// part of it) instead of Seed, so that runs with different seeds (the
	// trials of a search) are scored on the same images.
	SplitSeed uint64 `json:"split_seed,omitempty"`
	// EvalFraction of the validation split, drawn per class, is what
	// validation accuracy is measured on (0 or 1: all of it; less makes
	// proxy scoring cheaper). Training never uses the rest.
	EvalFraction float64 `json:"eval_fraction,omitempty"`
	// Test evaluates the final network on the test set as well (final
	// reports only; search never sets it).
	Test bool `json:"test"`
	// EvalBatchSize is the batch size of evaluation (memory only; it does
	// not change results).
	EvalBatchSize int `json:"eval_batch_size"`
	// MaxLoss is the training loss above which the run counts as
	// diverged (ErrDiverged); 0 means 10 times the loss of a uniform guess,
	// 10*ln(classes), at least 10.
	MaxLoss float64 `json:"max_loss,omitempty"`

	// CheckpointDir, when set, receives a checkpoint (see Checkpoint) at
	// the end of every epoch, every CheckpointSteps steps if that is above
	// 0, and when the context is cancelled.
	CheckpointDir   string `json:"-"`
	CheckpointSteps int    `json:"-"`
	// Threads is the number of shards each batch is split into, one
	// goroutine each (0: GOMAXPROCS; see Stepper). Results depend on it, as
	// float32 sums do on their order; the same Threads gives bit-identical
	// results.
	Threads int `json:"-"`
	// Resume continues the run checkpointed in CheckpointDir. The network
	// and Config (apart from the fields that are not saved) must be those
	// of the checkpointed run; the result is bit-identical to a run that
	// was never interrupted, given the same Threads.
	Resume bool `json:"-"`
	// OnStep, when set, is called after every optimizer step; OnEpoch after
	// every validation (at the end of each epoch, and at the end of a run
	// that stops inside an epoch). Both run on the training goroutine.
	OnStep  func(StepReport)  `json:"-"`
	OnEpoch func(EpochReport) `json:"-"`
}

// DefaultConfig is a sensible run for the small networks of nas on
// Fashion-MNIST-sized data: batch 64, SGD with Nesterov momentum 0.9, peak
// learning rate 0.1 after a one-epoch warm-up, cosine to 0, weight decay
// 4e-5 (the MobileNet value), label smoothing 0.1, 10% validation, no
// augmentation (set Augment from DefaultAugmentation), seed 1.
func DefaultConfig() Config {
	return Config{
		Epochs:         10,
		BatchSize:      64,
		LR:             0.1,
		WarmupEpochs:   1,
		SGDConfig:      SGDConfig{Momentum: 0.9, Nesterov: true, WeightDecay: 4e-5},
		LabelSmoothing: 0.1,
		ValFraction:    0.1,
		DataFraction:   1,
		Seed:           1,
		EvalBatchSize:  256,
	}
}

func (c Config) check() error {
	switch {
	case c.Steps < 0:
		return fmt.Errorf("steps %d: want 0 (use epochs) or more", c.Steps)
	case c.Steps == 0 && c.Epochs < 1:
		return fmt.Errorf("epochs %d: want at least 1 (or set a budget in steps)", c.Epochs)
	case c.BatchSize < 1:
		return fmt.Errorf("batch size %d: want at least 1 (64 is usual)", c.BatchSize)
	case c.EvalBatchSize < 1:
		return fmt.Errorf("evaluation batch size %d: want at least 1 (256 is usual)", c.EvalBatchSize)
	case !(c.WarmupEpochs >= 0) || math.IsInf(c.WarmupEpochs, 0):
		return fmt.Errorf("warm-up %g epochs: want 0 or more", c.WarmupEpochs)
	case !(c.LabelSmoothing >= 0 && c.LabelSmoothing < 1):
		return fmt.Errorf("label smoothing %g: want a value in [0, 1) (0.1 is usual)", c.LabelSmoothing)
	case !(c.ValFraction > 0 && c.ValFraction < 1):
		return fmt.Errorf("validation fraction %g: want a value strictly between 0 and 1 (0.1 is usual)", c.ValFraction)
	case !(c.DataFraction > 0 && c.DataFraction <= 1):
		return fmt.Errorf("data fraction %g: want a value in (0, 1]", c.DataFraction)
	case !(c.EvalFraction >= 0 && c.EvalFraction <= 1):
		return fmt.Errorf("evaluation fraction %g: want a value in (0, 1] (0 means all of the validation split)", c.EvalFraction)
	case c.MaxLoss < 0 || math.IsNaN(c.MaxLoss):
		return fmt.Errorf("max loss %g: want 0 (the default) or a positive loss", c.MaxLoss)
	case c.CheckpointSteps < 0:
		return fmt.Errorf("checkpoint interval %d steps: want 0 (epochs only) or more", c.CheckpointSteps)
	case c.Resume && c.CheckpointDir == "":
		return fmt.Errorf("resume needs the checkpoint folder of the run to continue")
	}
	if err := c.SGDConfig.check(); err != nil {
		return err
	}
	return Schedule{Base: c.LR, Min: c.MinLR, Total: 1}.check()
}

// StepReport is the state after one optimizer step.
type StepReport struct {
	Epoch         int     // 0-based epoch the step belongs to
	Step          int     // steps done in the whole run (1-based)
	TotalSteps    int     // steps of the whole run
	StepsPerEpoch int     // steps of one epoch
	LR            float64 // learning rate of the step
	Loss          float64 // training loss of this batch
	EpochLoss     float64 // mean training loss of the epoch so far
	EpochAcc      float64 // training accuracy of the epoch so far
	ImagesPerSec  float64 // training throughput of this run so far
}

// EpochStats is the record of one epoch (or of the part of one that a run
// budgeted in steps ends with).
type EpochStats struct {
	Epoch     int     `json:"epoch"` // 1-based
	Steps     int     `json:"steps"` // steps done in the run at its end
	TrainLoss float64 `json:"train_loss"`
	TrainAcc  float64 `json:"train_acc"`
	ValLoss   float64 `json:"val_loss"`
	ValAcc    float64 `json:"val_acc"`
	LR        float64 `json:"lr"` // of its last step
}

// EpochReport is passed to Config.OnEpoch.
type EpochReport struct {
	EpochStats
	Epochs int // epochs of the whole run (rounded up)
}

// Result is what a training run measured.
type Result struct {
	// Network is the trained network (weights after the last step).
	Network *blocks.Network `json:"-"`
	// ValAcc and ValLoss are of the final network on the validation split
	// (loss without label smoothing); BestValAcc the best seen at any
	// epoch end and BestEpoch that epoch (1-based).
	ValAcc     float64 `json:"val_acc"`
	ValLoss    float64 `json:"val_loss"`
	BestValAcc float64 `json:"best_val_acc"`
	BestEpoch  int     `json:"best_epoch"`
	// TestAcc and TestLoss are set when Config.Test asked for them.
	Tested   bool    `json:"tested"`
	TestAcc  float64 `json:"test_acc"`
	TestLoss float64 `json:"test_loss"`
	// Epochs is the number of epochs done (fractional for a budget in
	// steps), Steps the number of optimizer steps.
	Epochs float64 `json:"epochs"`
	Steps  int     `json:"steps"`
	// TrainImages is the number of images the run trains on per epoch.
	TrainImages int `json:"train_images"`
	// ImagesPerSec is training throughput (forward, backward and update,
	// without evaluation) of this process; WallTime the time this call
	// took, evaluation included.
	ImagesPerSec float64       `json:"images_per_s"`
	WallTime     time.Duration `json:"wall_time_ns"`
	History      []EpochStats  `json:"history"`
}

// Streams of the run's PCG generator, one per random choice, so that each
// draws the same numbers whatever the others do.
const (
	streamInit    = 1
	streamSplit   = 2
	streamSubset  = 3
	streamData    = 4 // sample order and augmentation
	streamDropout = 5
	streamEval    = 6 // EvalFraction's part of the validation split
)

func seeded(seed, stream uint64) (*rand.PCG, *rand.Rand) {
	src := rand.NewPCG(seed, stream)
	return src, rand.New(src)
}

// Train builds arch with weights drawn from cfg.Seed and trains it on
// sets (see TrainNetwork).
func Train(ctx context.Context, cfg Config, arch *space.Arch, sets *Sets) (*Result, error) {
	g, err := arch.Graph()
	if err != nil {
		return nil, fmt.Errorf("arch %s: %w", archLabel(arch), err)
	}
	_, rng := seeded(cfg.Seed, streamInit)
	net, err := blocks.NewNetwork(g, rng)
	if err != nil {
		return nil, fmt.Errorf("arch %s: %w", archLabel(arch), err)
	}
	return trainNetwork(ctx, cfg, net, arch, sets)
}

func archLabel(a *space.Arch) string {
	if a.Name != "" {
		return a.Name
	}
	return fmt.Sprintf("(%d layers)", len(a.Layers))
}

// TrainNetwork trains net in place on sets.Train, with cfg.ValFraction of
// it held out for validation, and returns what it measured. It continues
// from net's current weights (fine-tuning, as NetAdapt does); Train starts
// from fresh ones.
//
// Every random choice comes from cfg.Seed, so two runs with the same
// network, data and Config (Threads included: the number of shards a
// batch is split over) end with bit-identical weights.
//
// A loss that becomes NaN, infinite or larger than cfg.MaxLoss stops the
// run with an error wrapping ErrDiverged. A cancelled ctx stops it at the
// next step with an error wrapping ctx.Err(), after writing a checkpoint
// when cfg.CheckpointDir is set.
func TrainNetwork(ctx context.Context, cfg Config, net *blocks.Network, sets *Sets) (*Result, error) {
	return trainNetwork(ctx, cfg, net, archOf(net), sets)
}

// trainNetwork is TrainNetwork with the arch net was built from (for the
// checkpoint's arch file).
func trainNetwork(ctx context.Context, cfg Config, net *blocks.Network, arch *space.Arch, sets *Sets) (*Result, error) {
	start := time.Now()
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("training config: %w", err)
	}
	r, err := newRun(cfg, net, arch, sets)
	if err != nil {
		return nil, err
	}
	if cfg.Resume {
		if err := r.restore(); err != nil {
			return nil, err
		}
	}
	if err := r.loop(ctx); err != nil {
		return nil, err
	}
	res := r.result()
	if cfg.Test {
		m, err := Evaluate(ctx, net, sets.Test, cfg.EvalBatchSize)
		if err != nil {
			return nil, fmt.Errorf("test set: %w", err)
		}
		res.Tested, res.TestAcc, res.TestLoss = true, m.Acc, m.Loss
	}
	res.WallTime = time.Since(start)
	return res, nil
}

// run is the state of one training run: everything a checkpoint holds.
type run struct {
	cfg   Config
	net   *blocks.Network
	arch  *space.Arch
	sets  *Sets
	fit   *Dataset // what the run trains on
	val   *Dataset
	opt   *SGD
	sched Schedule

	batches    *Batches
	dataSrc    *rand.PCG
	dropoutSrc *rand.PCG
	steps      *Stepper

	stepsPerEpoch int
	maxLoss       float64

	// Progress, saved in checkpoints.
	step       int // optimizer steps done
	epochSteps int // steps done in the current epoch
	lossSum    float64
	correct    int
	seen       int
	lastLR     float64
	bestValAcc float64
	bestEpoch  int
	history    []EpochStats

	// This process's training throughput.
	trainImages int
	trainTime   time.Duration
}

func newRun(cfg Config, net *blocks.Network, arch *space.Arch, sets *Sets) (*run, error) {
	if sets == nil || sets.Train == nil {
		return nil, fmt.Errorf("training: no training set")
	}
	if in := sets.Shape(); in != arch.Input {
		return nil, fmt.Errorf("dataset %s has %v images but the network takes %v: build the arch for the dataset's input shape", sets.Train.Name, in, arch.Input)
	}
	if k := sets.Classes(); k != arch.Classes {
		return nil, fmt.Errorf("dataset %s has %d classes but the network has %d outputs: build the arch for %d classes", sets.Train.Name, k, arch.Classes, k)
	}
	if cfg.Test && sets.Test == nil {
		return nil, fmt.Errorf("training: a test evaluation was asked for but the data has no test set")
	}
	fit, val, err := cfg.Split(sets.Train)
	if err != nil {
		return nil, err
	}
	if cfg.DataFraction < 1 {
		_, subsetRNG := seeded(cfg.Seed, streamSubset)
		if fit, err = Subset(fit, cfg.DataFraction, true, subsetRNG); err != nil {
			return nil, err
		}
	}
	if fit.Len() < cfg.BatchSize {
		return nil, fmt.Errorf("training set %s has %d images, fewer than one batch of %d: lower the batch size or use more data", fit.Name, fit.Len(), cfg.BatchSize)
	}
	dataSrc, dataRNG := seeded(cfg.Seed, streamData)
	batches, err := NewBatches(fit, BatchOptions{Size: cfg.BatchSize, Shuffle: true, DropLast: true, Augment: cfg.Augment}, dataRNG)
	if err != nil {
		return nil, err
	}
	opt, err := NewSGD(net.Params(), cfg.SGDConfig)
	if err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, net: net, arch: arch, sets: sets, fit: fit, val: val, opt: opt,
		batches: batches, dataSrc: dataSrc, stepsPerEpoch: batches.Len(), bestEpoch: 0}
	dropoutSrc, dropoutRNG := seeded(cfg.Seed, streamDropout)
	r.dropoutSrc = dropoutSrc
	if r.steps, err = NewStepper(net, opt, ShardsFor(cfg.Threads, cfg.BatchSize), dropoutRNG); err != nil {
		return nil, err
	}

	total := cfg.Steps
	if total == 0 {
		total = cfg.Epochs * r.stepsPerEpoch
	}
	warmup := int(math.Round(cfg.WarmupEpochs * float64(r.stepsPerEpoch)))
	r.sched = Schedule{Base: cfg.LR, Min: cfg.MinLR, Warmup: min(warmup, total-1), Total: total}
	if err := r.sched.check(); err != nil {
		return nil, fmt.Errorf("training config: %w", err)
	}
	r.maxLoss = cfg.MaxLoss
	if r.maxLoss == 0 {
		r.maxLoss = max(10, 10*math.Log(float64(arch.Classes)))
	}
	return r, nil
}

// Split returns the training and validation parts of train that a run
// with this config uses: ValFraction of each class held out, drawn with
// SplitSeed, or Seed when that is 0 (before DataFraction takes its subset
// of the rest), and of those, EvalFraction of each class. Evaluate a
// trained network on val to reproduce a run's validation accuracy.
func (c Config) Split(train *Dataset) (fit, val *Dataset, err error) {
	seed := c.Seed
	if c.SplitSeed != 0 {
		seed = c.SplitSeed
	}
	_, rng := seeded(seed, streamSplit)
	if fit, val, err = SplitValidation(train, c.ValFraction, true, rng); err != nil {
		return nil, nil, err
	}
	if c.EvalFraction > 0 && c.EvalFraction < 1 {
		_, rng := seeded(seed, streamEval)
		if val, err = Subset(val, c.EvalFraction, true, rng); err != nil {
			return nil, nil, err
		}
	}
	return fit, val, nil
}

// archOf recovers the Arch a network was built from.
func archOf(net *blocks.Network) *space.Arch {
	g := net.Graph
	a := &space.Arch{Input: g.Shapes[g.Input], Classes: g.Shapes[g.Output].C}
	for _, b := range g.Blocks {
		a.Layers = append(a.Layers, b.Spec)
	}
	return a
}

// loop trains until the budget is spent.
func (r *run) loop(ctx context.Context) error {
	for {
		// An epoch whose steps are done but that is not validated yet (a
		// run stopped during validation is resumed here).
		if r.epochSteps > 0 && (r.epochSteps == r.stepsPerEpoch || r.step == r.sched.Total) {
			if err := r.endEpoch(ctx, r.epochSteps == r.stepsPerEpoch); err != nil {
				return err
			}
		}
		if r.step >= r.sched.Total {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return r.interrupted(err)
		}
		if !r.batches.Next() {
			return fmt.Errorf("training: the data ran out inside epoch %d (internal error)", r.epoch()+1)
		}
		t0 := time.Now()
		lr := r.sched.LR(r.step)
		x, y := r.batches.Images(), r.batches.Labels()
		loss, correct, err := r.steps.Step(x, y, lr, r.cfg.LabelSmoothing, r.maxLoss)
		if err != nil {
			return fmt.Errorf("epoch %d, step %d (learning rate %.4g): %w", r.epoch()+1, r.step+1, lr, err)
		}
		r.trainTime += time.Since(t0)
		r.trainImages += len(y)
		r.step++
		r.epochSteps++
		r.lossSum += loss * float64(len(y))
		r.correct += correct
		r.seen += len(y)
		r.lastLR = lr
		if r.cfg.OnStep != nil {
			r.cfg.OnStep(StepReport{
				Epoch: r.epoch(), Step: r.step, TotalSteps: r.sched.Total, StepsPerEpoch: r.stepsPerEpoch,
				LR: lr, Loss: loss, EpochLoss: r.lossSum / float64(r.seen), EpochAcc: float64(r.correct) / float64(r.seen),
				ImagesPerSec: r.imagesPerSec(),
			})
		}
		if r.epochSteps < r.stepsPerEpoch && r.step < r.sched.Total &&
			r.cfg.CheckpointDir != "" && r.cfg.CheckpointSteps > 0 && r.step%r.cfg.CheckpointSteps == 0 {
			if err := r.save(); err != nil {
				return err
			}
		}
	}
}

// epoch is the 0-based epoch the next step belongs to.
func (r *run) epoch() int { return len(r.history) }

// endEpoch validates, records the epoch, and starts the next one (new
// sample order) when full is set; then checkpoints.
func (r *run) endEpoch(ctx context.Context, full bool) error {
	m, err := Evaluate(ctx, r.net, r.val, r.cfg.EvalBatchSize)
	if err != nil {
		if ctx.Err() != nil {
			return r.interrupted(ctx.Err())
		}
		return fmt.Errorf("validation after epoch %d: %w", r.epoch()+1, err)
	}
	s := EpochStats{Epoch: r.epoch() + 1, Steps: r.step, TrainLoss: r.lossSum / float64(r.seen),
		TrainAcc: float64(r.correct) / float64(r.seen), ValLoss: m.Loss, ValAcc: m.Acc, LR: r.lastLR}
	r.history = append(r.history, s)
	if s.ValAcc > r.bestValAcc || r.bestEpoch == 0 {
		r.bestValAcc, r.bestEpoch = s.ValAcc, s.Epoch
	}
	r.epochSteps, r.lossSum, r.correct, r.seen = 0, 0, 0, 0
	if full {
		r.batches.Reset()
	}
	if r.cfg.OnEpoch != nil {
		r.cfg.OnEpoch(EpochReport{EpochStats: s, Epochs: (r.sched.Total + r.stepsPerEpoch - 1) / r.stepsPerEpoch})
	}
	if r.cfg.CheckpointDir != "" {
		return r.save()
	}
	return nil
}

// interrupted saves a checkpoint at the current step boundary, if the run
// has a folder for them, and returns the cancellation.
func (r *run) interrupted(cause error) error {
	if r.cfg.CheckpointDir != "" {
		if err := r.save(); err != nil {
			return fmt.Errorf("training stopped at step %d (%v) and its checkpoint failed: %w", r.step, cause, err)
		}
		return fmt.Errorf("training stopped at step %d of %d; checkpoint in %s (continue with resume): %w", r.step, r.sched.Total, r.cfg.CheckpointDir, cause)
	}
	return fmt.Errorf("training stopped at step %d of %d: %w", r.step, r.sched.Total, cause)
}

func (r *run) imagesPerSec() float64 {
	if r.trainTime <= 0 {
		return 0
	}
	return float64(r.trainImages) / r.trainTime.Seconds()
}

func (r *run) result() *Result {
	res := &Result{
		Network:      r.net,
		BestValAcc:   r.bestValAcc,
		BestEpoch:    r.bestEpoch,
		Steps:        r.step,
		Epochs:       float64(r.step) / float64(r.stepsPerEpoch),
		TrainImages:  r.fit.Len(),
		ImagesPerSec: r.imagesPerSec(),
		History:      r.history,
	}
	if n := len(r.history); n > 0 {
		res.ValAcc, res.ValLoss = r.history[n-1].ValAcc, r.history[n-1].ValLoss
	}
	return res
}

// gradStep runs one forward and backward on a training tape and returns
// the batch's loss and its count of correct predictions (Gradients with
// one shard).
func gradStep(net *blocks.Network, tp *nn.Tape, x *nn.Tensor, t Target, maxLoss float64) (float64, int, error) {
	// Nothing made on the tape outlives the step: a recycling tape reuses
	// the storage in the next one.
	defer tp.Release()
	logits := net.Forward(tp, x)
	loss, err := shardLoss(tp, logits, t, 0, len(t.Labels), 0)
	if err != nil {
		tp.Reset()
		return 0, 0, err
	}
	l := float64(loss.Data[0])
	if math.IsNaN(l) || math.IsInf(l, 0) || l > maxLoss {
		tp.Reset()
		return l, 0, fmt.Errorf("loss %g (limit %g): %w; lower the learning rate or check the network", l, maxLoss, ErrDiverged)
	}
	correct := nn.CountCorrect(logits, t.Labels)
	nn.ZeroGrads(net.Params())
	tp.Backward(loss)
	return l, correct, nil
}

// shardLoss is the loss of samples lo to hi of a batch of batch samples
// (0: the whole batch) against t, and hands their softmax to t.Probs when
// it is set.
func shardLoss(tp *nn.Tape, logits *nn.Tensor, t Target, lo, hi, batch int) (*nn.Tensor, error) {
	k := logits.Shape[len(logits.Shape)-1]
	if t.Probs != nil {
		if len(t.Probs) < hi*k {
			return nil, fmt.Errorf("training: %d values for the probabilities of %d samples of %d classes", len(t.Probs), hi, k)
		}
		nn.Softmax(logits, t.Probs[lo*k:hi*k])
	}
	if t.Soft != nil {
		if len(t.Soft) < hi*k {
			return nil, fmt.Errorf("training: %d soft targets for %d samples of %d classes", len(t.Soft), hi, k)
		}
		return nn.SoftCrossEntropyOf(tp, logits, t.Soft[lo*k:hi*k], batch)
	}
	return nn.SoftmaxCrossEntropyOf(tp, logits, t.Labels[lo:hi], t.Smoothing, batch)
}

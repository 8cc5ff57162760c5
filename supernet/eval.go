package supernet

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"nas/blocks"
	"nas/blocks/nn"
	"nas/space"
	"nas/trainer"
)

// Supernet is a trained supernet read from its folder.
type Supernet struct {
	Dir      string
	Manifest *Manifest
	Space    *space.Space
	Weights  *Weights
	// Steps is the number of training steps its weights have had, of
	// TotalSteps; History the epochs done.
	Steps, TotalSteps int
	History           []EpochStats
	// Identity names these weights: the SHA-256 of the manifest's space,
	// data and config and of every shared tensor, so that a supernet
	// trained further, or another one in the same folder, has another.
	Identity string
}

// Open reads the supernet in dir. A folder of another weights layout is
// refused with the command that trains it again.
func Open(dir string) (*Supernet, error) {
	m, err := readManifest(dir)
	if err != nil {
		return nil, err
	}
	sp, err := m.space()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	w, err := NewWeights(sp, rand.New(rand.NewPCG(0, 0)))
	if err != nil {
		return nil, err
	}
	_, st, err := loadCheckpoint(dir, w)
	if err != nil {
		return nil, err
	}
	return &Supernet{Dir: dir, Manifest: m, Space: sp, Weights: w, Steps: st.Step, TotalSteps: st.TotalSteps, History: st.History,
		Identity: identity(m, w)}, nil
}

// identity hashes what the supernet's scores depend on: its space, data
// and config, and its weights.
func identity(m *Manifest, w *Weights) string {
	h := sha256.New()
	cfg, _ := json.Marshal(m.Config)
	for _, part := range [][]byte{m.Space, []byte(m.Data.Hash), cfg} {
		binary.Write(h, binary.LittleEndian, uint64(len(part)))
		h.Write(part)
	}
	buf := make([]byte, 0, 1<<16)
	for _, name := range w.names {
		buf = append(buf[:0], name...)
		for _, v := range w.params[name].Data {
			if len(buf)+4 > cap(buf) {
				h.Write(buf)
				buf = buf[:0]
			}
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// CheckSpace refuses a space other than the supernet's, naming the first
// part in which they differ and the command that trains a supernet of
// sp.
func (s *Supernet) CheckSpace(sp *space.Space) error {
	return s.Manifest.checkSpace(s.Dir, sp)
}

// CheckData refuses data other than the supernet's, naming the
// difference and the command that trains a supernet for it.
func (s *Supernet) CheckData(name string, sets *trainer.Sets) error {
	return s.Manifest.checkData(s.Dir, IdentifyData(name, sets))
}

// EvalOptions set how an Evaluator scores a network. Zero fields take the
// defaults.
type EvalOptions struct {
	// CalibrationImages is the number of training images batch-norm
	// statistics are recalibrated on (default: the supernet's config,
	// 500 unless set otherwise).
	CalibrationImages int
	// EvalFraction of the validation split, drawn per class with the
	// split seed, is what accuracy is measured on: 1 is all of it, and 0
	// ValidationImages of it (all of it when it has fewer).
	EvalFraction float64
	// ValidationImages is the size of that part when EvalFraction is 0
	// (default DefaultValidationImages).
	ValidationImages int
	// BatchSize is the batch size of recalibration and evaluation
	// (default DefaultEvalBatch; memory only, apart from recalibration,
	// whose statistics are averaged over batches).
	BatchSize int
}

// DefaultEvalBatch is the default batch of an Evaluator: Once-for-All's
// recalibration batch. A recalibration pass holds those of a batch's
// activations that are alive at the same time, so a smaller batch holds
// less memory, for the same CPU time within the noise of its
// measurement.
const DefaultEvalBatch = 100

// DefaultValidationImages is the size of the fixed part of the validation
// split an Evaluator scores on by default, drawn per class with the split
// seed. Every network is scored on the same images, so the ranking of two
// networks depends on the images on which their predictions differ, not
// on the sampling error of each accuracy. Scoring takes about half of an
// evaluation's CPU time, recalibration the rest: 500 images cost two
// thirds of the CPU of 1,000 and rank networks at a Kendall tau-b of 0.88
// against all 6,000 images with 2,000 calibration images, where 1,000
// give 0.90 and another calibration seed moves it by 0.01 (bench/evalsizes,
// docs/benchmarks.md). Against stand-alone training the size hardly
// matters: 20 networks ranked at tau-b 0.263 with the whole split, 0.259
// with 1,000 images.
const DefaultValidationImages = 500

// Evaluator scores networks of a supernet's space with the weights they
// inherit: it binds the network to the shared weights, recalibrates its
// batch-norm statistics on a seeded sample of the training split, and
// measures its accuracy on the run's validation split. Its Accuracy
// method is the accuracy evaluator package search consumes. It is safe
// for concurrent use: each evaluation builds a network of its own, and
// reads the shared weights and the data without changing them.
type Evaluator struct {
	w            *Weights
	fit, val     *trainer.Dataset
	calibImages  int
	batch        int
	evalFraction float64 // the split's EvalFraction, resolved
}

// NewEvaluator returns an evaluator of s on sets, which must be the data
// s was trained on (the same split of it is used).
func NewEvaluator(s *Supernet, dataName string, sets *trainer.Sets, o EvalOptions) (*Evaluator, error) {
	if err := s.CheckData(dataName, sets); err != nil {
		return nil, err
	}
	rc := s.Manifest.Config.Recipe
	rc.EvalFraction = o.EvalFraction
	fit, val, err := rc.Split(sets.Train)
	if err != nil {
		return nil, err
	}
	if n := cmp.Or(o.ValidationImages, DefaultValidationImages); o.EvalFraction == 0 && val.Len() > n {
		rc.EvalFraction = float64(n) / float64(val.Len())
		if fit, val, err = rc.Split(sets.Train); err != nil {
			return nil, err
		}
	}
	e := &Evaluator{w: s.Weights, fit: fit, val: val, calibImages: s.Manifest.Config.CalibrationImages, batch: DefaultEvalBatch, evalFraction: rc.EvalFraction}
	if o.CalibrationImages > 0 {
		e.calibImages = o.CalibrationImages
	}
	if o.BatchSize > 0 {
		e.batch = o.BatchSize
	}
	if e.calibImages < 2 {
		e.calibImages = DefaultConfig().CalibrationImages
	}
	return e, nil
}

// Options are e's options with every default resolved: an evaluator made
// with them on the same supernet and data scores every network exactly as
// e does (a worker's evaluator, for one on the coordinator).
func (e *Evaluator) Options() EvalOptions {
	return EvalOptions{CalibrationImages: e.calibImages, EvalFraction: e.evalFraction, BatchSize: e.batch}
}

// ValidationImages is the number of images accuracy is measured on.
func (e *Evaluator) ValidationImages() int { return e.val.Len() }

// Evaluation is the score of one network.
type Evaluation struct {
	Arch              string        `json:"arch"`
	Acc               float64       `json:"val_acc"`
	Loss              float64       `json:"val_loss"`
	Images            int           `json:"val_images"`
	CalibrationImages int           `json:"calibration_images"`
	Seed              uint64        `json:"seed"`
	Time              time.Duration `json:"time_ns"`
}

// Accuracy is the validation accuracy of a with inherited weights after
// recalibration on the images seed draws (search.Evaluator).
func (e *Evaluator) Accuracy(ctx context.Context, a *space.Arch, seed uint64) (float64, error) {
	ev, err := e.Evaluate(ctx, a, seed)
	return ev.Acc, err
}

// Evaluate scores a (see Evaluator). An arch outside the supernet's space
// is an error naming its first layer outside it.
func (e *Evaluator) Evaluate(ctx context.Context, a *space.Arch, seed uint64) (Evaluation, error) {
	choices, err := e.w.space.Match(a)
	if err != nil {
		return Evaluation{}, err
	}
	s, err := e.w.subnetOf(choices)
	if err != nil {
		return Evaluation{}, err
	}
	return e.evaluate(ctx, s, seed)
}

func (e *Evaluator) evaluate(ctx context.Context, s *subnet, seed uint64) (Evaluation, error) {
	t0 := time.Now()
	if err := e.recalibrated(ctx, s, seed); err != nil {
		return Evaluation{}, err
	}
	m, err := trainer.Evaluate(ctx, s.net, e.val, e.batch)
	if err != nil {
		return Evaluation{}, err
	}
	return Evaluation{Arch: s.arch.String(), Acc: m.Acc, Loss: m.Loss, Images: m.N, CalibrationImages: min(e.calibImages, e.fit.Len()), Seed: seed, Time: time.Since(t0)}, nil
}

// Network returns a with its inherited weights and batch-norm statistics
// recalibrated on the images seed draws: what extraction writes.
func (e *Evaluator) Network(ctx context.Context, a *space.Arch, seed uint64) (*blocks.Network, error) {
	choices, err := e.w.space.Match(a)
	if err != nil {
		return nil, err
	}
	s, err := e.w.subnetOf(choices)
	if err != nil {
		return nil, err
	}
	if err := e.recalibrated(ctx, s, seed); err != nil {
		return nil, err
	}
	return s.net, nil
}

// recalibrated loads the shared weights into s and recalibrates it.
func (e *Evaluator) recalibrated(ctx context.Context, s *subnet, seed uint64) error {
	s.load()
	calib := e.fit
	if n := e.calibImages; n < calib.Len() {
		_, rng := seeded(seed, streamCalib)
		var err error
		if calib, err = trainer.Subset(calib, float64(n)/float64(calib.Len()), false, rng); err != nil {
			return err
		}
	}
	return Recalibrate(ctx, s.net, calib, e.batch)
}

// Recalibrate replaces the batch-norm running statistics of net with
// those of d, taken in batches of batch images in training mode: the
// mean over batches of each batch's mean and unbiased variance
// (PyTorch's momentum=None). Inherited weights come without statistics
// of their own, and those of the supernet's training mix every network's.
func Recalibrate(ctx context.Context, net *blocks.Network, d *trainer.Dataset, batch int) error {
	bns := net.BatchNorms()
	saved := make([]float64, len(bns))
	for i, bn := range bns {
		saved[i] = bn.Momentum
		clear(bn.RunningMean.Data)
		for j := range bn.RunningVar.Data {
			bn.RunningVar.Data[j] = 1
		}
	}
	defer func() {
		for i, bn := range bns {
			bn.Momentum = saved[i]
		}
	}()
	it, err := trainer.NewBatches(d, trainer.BatchOptions{Size: batch, DropLast: d.Len() >= 2*batch}, nil)
	if err != nil {
		return err
	}
	// A forward pass only: nothing is recorded for a backward pass, and
	// each activation goes back to the tape's storage once no later op
	// reads it.
	tp := nn.NewTape(true, nil)
	tp.Recycle = true
	tp.NoGrad = true
	for t := 0; it.Next(); t++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		x := it.Images()
		if x.Shape[0] < 2 {
			break
		}
		for _, bn := range bns {
			bn.Momentum = 1 / float64(t+1)
		}
		net.Forward(tp, x)
		tp.Discard()
	}
	return nil
}

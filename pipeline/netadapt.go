package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"nas/internal/atomicfile"
	"nas/internal/safetensors"
	"nas/latency"
	"nas/results"
	"nas/search"
	"nas/space"
	"nas/trainer"
)

// NetAdaptSettings are what a NetAdapt run decides with. history.json
// keeps them, so that a resumed run continues only a run of the same
// settings. Validate checks them; zero means the default where one is
// named.
type NetAdaptSettings struct {
	Arch             string  `json:"arch"` // the starting network, canonical (required)
	Data             string  `json:"data"` // default fashion-mnist
	TargetMs         float64 `json:"target_ms"`
	InitialReduction float64 `json:"initial_reduction"` // default 0.025
	Decay            float64 `json:"decay"`             // default 0.96
	Criterion        string  `json:"criterion"`         // default search.CriterionAccuracy
	MaxIterations    int     `json:"max_iterations"`    // default 1000
	ShortSteps       int     `json:"short_steps"`       // of each proposal's fine-tune (0: none)
	LongEpochs       int     `json:"long_epochs"`       // of the final fine-tune (0: none, unless LongSteps)
	LongSteps        int     `json:"long_steps"`        // instead of LongEpochs
	Fraction         float64 `json:"fraction"`          // of the training split each fine-tune draws from; default 1
	EvalFraction     float64 `json:"eval_fraction"`     // of the validation split accuracy is measured on; default 1
	Batch            int     `json:"batch"`             // default trainer.DefaultConfig's
	LR               float64 `json:"lr"`                // default 0.01
	ValFraction      float64 `json:"val"`               // the training run's validation fraction; default trainer.DefaultConfig's
	ValSeed          uint64  `json:"val_seed"`          // the training run's seed, which drew its validation split
	Seed             uint64  `json:"seed"`              // of this run's fine-tunes

	DataDir string `json:"-"` // default the dataset's install folder
}

// DefaultNetAdaptLR is the default peak learning rate of fine-tuning.
const DefaultNetAdaptLR = 0.01

func (s NetAdaptSettings) withDefaults() NetAdaptSettings {
	d := trainer.DefaultConfig()
	if s.Data == "" {
		s.Data = DefaultData
	}
	if s.InitialReduction == 0 {
		s.InitialReduction = 0.025
	}
	if s.Decay == 0 {
		s.Decay = 0.96
	}
	if s.Criterion == "" {
		s.Criterion = search.CriterionAccuracy
	}
	if s.MaxIterations == 0 {
		s.MaxIterations = 1000
	}
	if s.Fraction == 0 {
		s.Fraction = 1
	}
	if s.EvalFraction == 0 {
		s.EvalFraction = 1
	}
	if s.Batch == 0 {
		s.Batch = d.BatchSize
	}
	if s.LR == 0 {
		s.LR = DefaultNetAdaptLR
	}
	if s.ValFraction == 0 {
		s.ValFraction = d.ValFraction
	}
	return s
}

// Validate reports the first setting that cannot run, as a *SettingError.
func (s NetAdaptSettings) Validate() error {
	s = s.withDefaults()
	switch {
	case s.Arch == "":
		return settingErr("arch", `""`, "the starting network is required")
	case !slices.Contains(trainer.DatasetNames(), s.Data):
		return settingErr("data", s.Data, "want one of %s", strings.Join(trainer.DatasetNames(), ", "))
	case !(s.TargetMs > 0) || math.IsInf(s.TargetMs, 0):
		return settingErr("target_ms", s.TargetMs, "the latency budget is required and must be a positive number of milliseconds")
	case !(s.InitialReduction > 0 && s.InitialReduction < 1):
		return settingErr("initial_reduction", s.InitialReduction, "want a fraction in (0, 1) (0.025 is the reference)")
	case !(s.Decay > 0 && s.Decay <= 1):
		return settingErr("decay", s.Decay, "want a value in (0, 1] (0.96 is the reference)")
	case s.Criterion != search.CriterionAccuracy && s.Criterion != search.CriterionRatio:
		return settingErr("criterion", s.Criterion, "want %s or %s", search.CriterionAccuracy, search.CriterionRatio)
	case s.MaxIterations < 1:
		return settingErr("max_iterations", s.MaxIterations, "at least 1")
	case s.ShortSteps < 0:
		return settingErr("short_steps", s.ShortSteps, "must not be negative")
	case s.LongSteps < 0:
		return settingErr("long_steps", s.LongSteps, "must not be negative")
	case s.LongEpochs < 0:
		return settingErr("long_epochs", s.LongEpochs, "must not be negative")
	case !(s.Fraction > 0 && s.Fraction <= 1):
		return settingErr("fraction", s.Fraction, "want a fraction in (0, 1]")
	case !(s.EvalFraction > 0 && s.EvalFraction <= 1):
		return settingErr("eval_fraction", s.EvalFraction, "want a fraction in (0, 1]")
	case !(s.ValFraction > 0 && s.ValFraction < 1):
		return settingErr("val", s.ValFraction, "want a fraction strictly between 0 and 1 (that of the training run)")
	case s.Batch < 1:
		return settingErr("batch", s.Batch, "at least 1")
	case !(s.LR > 0):
		return settingErr("lr", s.LR, "must be positive")
	}
	return nil
}

// tuneData is the data of the run's fine-tunes.
func (s NetAdaptSettings) tuneData() TuneData {
	return TuneData{Data: Dataset{Name: s.Data, Dir: s.DataDir}, ValFraction: s.ValFraction, ValSeed: s.ValSeed,
		EvalFraction: s.EvalFraction, EvalSeed: s.Seed, Fraction: s.Fraction, Batch: s.Batch}
}

// The files of a NetAdapt output folder: history.json, and one folder per
// recorded iteration (iter-000 is the starting network) with the network's
// arch.json and weights.safetensors.
const (
	HistoryFile  = "history.json"
	PlotFile     = "netadapt" // .svg and .png: accuracy against latency per iteration
	IterArchFile = "arch.json"
)

// IterDir is the folder of iteration index in the output folder out.
func IterDir(out string, index int) string {
	return filepath.Join(out, fmt.Sprintf("iter-%03d", index))
}

// History is history.json.
type History struct {
	Settings   NetAdaptSettings   `json:"settings"`
	Iterations []search.Iteration `json:"iterations"`
}

// ErrNoHistory means a folder holds no NetAdapt run to resume.
var ErrNoHistory = errors.New("no NetAdapt run to resume there")

// ErrHistoryExists means a folder holds a NetAdapt run already, which a
// new run would overwrite.
var ErrHistoryExists = errors.New("the folder holds a NetAdapt run already")

// MaxHistoryBytes bounds the history.json ReadHistory reads: thousands
// of iterations with their proposals take a few MiB.
const MaxHistoryBytes = 64 << 20

// ReadHistory reads out's history.json and checks it (DecodeHistory).
func ReadHistory(out string) (*History, error) {
	path := filepath.Join(out, HistoryFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", path, ErrNoHistory)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > MaxHistoryBytes {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d MiB a NetAdapt history is allowed: not a history.json of nas netadapt", path, fi.Size(), MaxHistoryBytes>>20)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxHistoryBytes+1))
	if err != nil {
		return nil, err
	}
	h, err := DecodeHistory(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}

// DecodeHistory decodes the bytes of a history.json and checks them: at
// most MaxHistoryBytes, valid settings, iterations numbered in order from
// 0 with only the last one final, archs that parse and finite,
// non-negative figures.
func DecodeHistory(b []byte) (*History, error) {
	if len(b) > MaxHistoryBytes {
		return nil, fmt.Errorf("more than the %d MiB a NetAdapt history is allowed", MaxHistoryBytes>>20)
	}
	var h History
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, err
	}
	if err := h.Settings.Validate(); err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	if _, err := space.ParseArch(h.Settings.Arch); err != nil {
		return nil, fmt.Errorf("settings: arch: %w", err)
	}
	for i, it := range h.Iterations {
		if err := checkIteration(it, i, i == len(h.Iterations)-1); err != nil {
			return nil, fmt.Errorf("iterations[%d]: %w", i, err)
		}
	}
	return &h, nil
}

// checkIteration checks the iteration recorded at position i.
func checkIteration(it search.Iteration, i int, last bool) error {
	if it.Index != i {
		return fmt.Errorf("index %d, want %d: iterations are recorded in order from 0", it.Index, i)
	}
	if it.Final && !last {
		return errors.New("a final iteration before the last one")
	}
	if _, err := space.ParseArch(it.Arch); err != nil {
		return fmt.Errorf("arch: %w", err)
	}
	if it.From < 0 || it.To < 0 {
		return fmt.Errorf("channels from %d to %d: must not be negative", it.From, it.To)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"constraint_ms", it.ConstraintMs}, {"latency_ms", it.LatencyMs}, {"measured_ms", it.MeasuredMs}, {"val_acc", it.Accuracy}} {
		if err := checkFigure(f.name, f.v); err != nil {
			return err
		}
	}
	for j, p := range it.Proposals {
		if p.From < 0 || p.To < 0 {
			return fmt.Errorf("proposals[%d]: channels from %d to %d: must not be negative", j, p.From, p.To)
		}
		if err := checkFigure("latency_ms", p.LatencyMs); err != nil {
			return fmt.Errorf("proposals[%d]: %w", j, err)
		}
		if err := checkFigure("val_acc", p.Accuracy); err != nil {
			return fmt.Errorf("proposals[%d]: %w", j, err)
		}
	}
	return nil
}

// checkFigure refuses a recorded figure that is not a finite, non-negative
// number.
func checkFigure(name string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return fmt.Errorf("%s %v: want a finite, non-negative number", name, v)
	}
	return nil
}

// Tuner fine-tunes networks for NetAdapt. Local runs in this process.
type Tuner interface {
	FineTune(ctx context.Context, task FineTuneTask) (FineTuneResult, error)
}

// NetAdapt runs a NetAdapt job into an output folder. Its collaborators
// default to this machine: the latency table (OpenTableLatency) and
// fine-tuning in this process (Local).
type NetAdapt struct {
	Latency LatencySource // nil: the table LatencyTable (Device's, Protocol)
	Tuner   Tuner         // nil: a Local over Data
	Data    *Datasets     // the datasets of the default Tuner and of the split; nil: a fresh one
	// LatencyTable, Device and Protocol open the default latency source:
	// this machine's table, filled as proposals need entries, or another
	// device's (read as it is).
	LatencyTable string
	Device       string
	Protocol     latency.Protocol
	Threads      int // shards a fine-tuning batch is split over (0: all cores); results depend on it
	// Parallel is how many proposals of an iteration are fine-tuned at
	// once (0 and 1: one at a time): on workers when the Tuner is remote,
	// else in this process. The run's outcome does not depend on it
	// (search.NetAdaptSettings.Parallel), so history.json does not keep it.
	Parallel int

	Out     string // the output folder (required)
	Weights string // the starting network's weights (safetensors); required unless Resume
	Resume  bool   // continue the run recorded in Out

	// Started, when set, is called with the history read back on resume
	// (empty for a new run) and the steps of the long fine-tune.
	Started func(history []search.Iteration, longSteps int)
	// Progress, when set, is called after each recorded iteration, with
	// the accuracy of the one before (NaN for the first).
	Progress func(it search.Iteration, prevAcc float64)
	// UnitDone, when set, is called as each unit of an iteration is
	// considered (search.NetAdaptSettings.UnitDone).
	UnitDone func(iteration, done, units int)
}

// NetAdaptResult is a finished run: the first and the last network.
type NetAdaptResult struct {
	History   []search.Iteration
	Start     *space.Arch
	Final     *space.Arch
	LongSteps int // steps of the long fine-tune
	// InitialMs and FinalMs are the first and the last network timed side
	// by side at the end of the run (SpeedUp is their ratio).
	InitialMs, FinalMs, SpeedUp float64
	InitialParams, FinalParams  int64
	FinalWeights                string // the file of the final network's weights
	FinalArchFile               string // the file of the final network's arch
}

// FinalRounds is how many times the first and the last network are timed,
// alternating, for the speed-up (the best of each): on a shared machine
// single timings of one network move by up to 28% within minutes, while
// the ratio of the best of five alternating rounds stays within a few
// percent (docs/netadapt.md).
const FinalRounds = 5

// Run runs (or with Resume continues) the NetAdapt job of settings st.
func (n *NetAdapt) Run(ctx context.Context, st NetAdaptSettings) (*NetAdaptResult, error) {
	st = st.withDefaults()
	if err := st.Validate(); err != nil {
		return nil, err
	}
	switch {
	case n.Out == "":
		return nil, settingErr("out", `""`, "the output folder is required")
	case n.Weights == "" && !n.Resume:
		return nil, settingErr("weights", `""`, "the starting network's weights are required")
	}
	start, err := space.ParseArch(st.Arch)
	if err != nil {
		return nil, err
	}
	data := n.Data
	if data == nil {
		data = &Datasets{}
	}
	tuner := n.Tuner
	if tuner == nil {
		tuner = &Local{Data: data}
	}
	sp, err := data.tuneSplit(st.tuneData())
	if err != nil {
		return nil, err
	}
	longSteps := st.LongSteps
	if longSteps == 0 {
		longSteps = st.LongEpochs * sp.stepsPerEpoch
	}

	// The network to continue from: the last recorded one on resume, else
	// the starting network with its weights.
	histPath := filepath.Join(n.Out, HistoryFile)
	var history []search.Iteration
	a, weightsPath := start, n.Weights
	if n.Resume {
		h, err := ReadHistory(n.Out)
		if err != nil {
			return nil, err
		}
		if diffs := diffSettings(h.Settings, st, nil); len(diffs) > 0 {
			return nil, &ConflictError{Run: histPath, Diffs: diffs, Fix: "resume it with those, or choose another output folder"}
		}
		if len(h.Iterations) == 0 {
			return nil, fmt.Errorf("%s records no iteration: %w", histPath, ErrNoHistory)
		}
		history = h.Iterations
		dir := IterDir(n.Out, history[len(history)-1].Index)
		if a, err = space.LoadArch(filepath.Join(dir, IterArchFile)); err != nil {
			return nil, err
		}
		weightsPath = filepath.Join(dir, trainer.WeightsFile)
	} else if _, err := os.Stat(histPath); err == nil {
		return nil, fmt.Errorf("%s: %w", n.Out, ErrHistoryExists)
	}
	w, err := LoadWeights(a, weightsPath)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(n.Out, 0o755); err != nil {
		return nil, err
	}

	lat := n.Latency
	if lat == nil {
		tbl, err := OpenTableLatency(n.LatencyTable, latency.PredictorOptions{Device: n.Device, Protocol: n.Protocol})
		if err != nil {
			return nil, err
		}
		defer tbl.Close()
		lat = tbl
	}

	prevAcc := math.NaN()
	if len(history) > 0 {
		prevAcc = history[len(history)-1].Accuracy
	}
	na := &search.NetAdapt{
		Latency: netadaptLatency{src: lat},
		Tuner: &tunerAdapter{tuner: tuner, base: FineTuneTask{LR: st.LR, Data: st.tuneData(), Threads: n.Threads},
			shortSteps: st.ShortSteps, longSteps: longSteps},
		Recorder: &folderRecorder{out: n.Out, settings: st},
		Settings: search.NetAdaptSettings{TargetMs: st.TargetMs, InitialReduction: st.InitialReduction, Decay: st.Decay,
			ShortTermSteps: st.ShortSteps, LongTermSteps: longSteps, Criterion: st.Criterion, MaxIterations: st.MaxIterations, Seed: st.Seed,
			Parallel: n.Parallel, UnitDone: n.UnitDone,
			Progress: func(it search.Iteration) {
				if n.Progress != nil {
					n.Progress(it, prevAcc)
				}
				prevAcc = it.Accuracy
			}},
	}
	if n.Started != nil {
		n.Started(history, longSteps)
	}
	history, final, _, err := na.Run(ctx, a, w, history)
	if err != nil {
		if errors.Is(err, context.Canceled) && len(history) > 0 {
			return nil, &StoppedAfterError{Out: n.Out, Iteration: history[len(history)-1].Index, Err: err}
		}
		return nil, err
	}

	last := history[len(history)-1]
	res := &NetAdaptResult{History: history, Start: start, Final: final, LongSteps: longSteps,
		FinalWeights:  filepath.Join(IterDir(n.Out, last.Index), trainer.WeightsFile),
		FinalArchFile: filepath.Join(IterDir(n.Out, last.Index), IterArchFile)}
	// The speed-up: the first and the last network timed side by side,
	// alternating, the best of FinalRounds each, so that a slow moment of
	// the machine cannot fall on one of them only (the run's own timings
	// are minutes apart).
	ms, err := lat.MeasureMs(ctx, []*space.Arch{start, final}, FinalRounds)
	if err != nil {
		return nil, fmt.Errorf("timing the first and the last network side by side: %w", err)
	}
	res.InitialMs, res.FinalMs, res.SpeedUp = ms[0], ms[1], ms[0]/ms[1]
	if c, err := start.Cost(); err == nil {
		res.InitialParams = c.Params
	}
	if c, err := final.Cost(); err == nil {
		res.FinalParams = c.Params
	}
	return res, nil
}

// StoppedAfterError is a NetAdapt run stopped by its context after
// recording Iteration in Out; resuming continues it. It wraps the
// context's error.
type StoppedAfterError struct {
	Out       string
	Iteration int
	Err       error
}

func (e *StoppedAfterError) Error() string {
	return fmt.Sprintf("stopped after iteration %d (recorded in %s)", e.Iteration, e.Out)
}

func (e *StoppedAfterError) Unwrap() error { return e.Err }

// DropWarning is the accuracy drop of one iteration (a fraction) above
// which FellSharply reports it.
const DropWarning = 0.05

// FellSharply reports whether an iteration's kept proposal lost more than
// DropWarning of validation accuracy against the iteration before
// (prevAcc): the constraint is too far for any unit to meet gracefully,
// so the one that could cut most of its channels is kept (with an initial
// reduction of 0.08, mobilenet_v2 at width 1.0 loses a stage output's
// channels from 64 to 2 and falls from 89% to 20%). The long fine-tune may
// not recover such a cut; a smaller initial reduction keeps more proposals
// to choose from.
func FellSharply(prevAcc float64, it search.Iteration) bool {
	return !it.Final && it.Index > 0 && !math.IsNaN(prevAcc) && prevAcc-it.Accuracy > DropWarning
}

// Local does tasks in this process: Train and FineTune over Data.
type Local struct {
	Data *Datasets
	// OnEpoch, when set, is called after each epoch of a TrainTask with
	// the task's network name.
	OnEpoch func(name string, e trainer.EpochReport)
}

// Train does task here.
func (l *Local) Train(ctx context.Context, task TrainTask) (TrainResult, error) {
	if l.OnEpoch == nil {
		return Train(ctx, task, l.Data)
	}
	return train(ctx, task, l.Data, func(e trainer.EpochReport) { l.OnEpoch(task.Name, e) })
}

// FineTune does task here.
func (l *Local) FineTune(ctx context.Context, task FineTuneTask) (FineTuneResult, error) {
	return FineTune(ctx, task, l.Data)
}

// tunerAdapter is search's FineTuner over a Tuner.
type tunerAdapter struct {
	tuner Tuner
	base  FineTuneTask // all but the arch, weights, steps and seed
	// shortSteps and longSteps tell a proposal's fine-tune from the long
	// one, for the crash tests' hook (checkpoint).
	shortSteps, longSteps int
}

func (t *tunerAdapter) do(ctx context.Context, a *space.Arch, w search.Weights, steps int, seed uint64) (FineTuneResult, error) {
	b, err := EncodeWeights(w, nil)
	if err != nil {
		return FineTuneResult{}, err
	}
	task := t.base
	task.Arch, task.Weights, task.Steps, task.Seed = a.String(), b, steps, seed
	return t.tuner.FineTune(ctx, task)
}

func (t *tunerAdapter) FineTune(ctx context.Context, a *space.Arch, w search.Weights, steps int, seed uint64) (search.Weights, float64, error) {
	switch {
	case steps == t.shortSteps:
		checkpoint(ctx, "proposal")
	case steps == t.longSteps:
		checkpoint(ctx, "long")
	}
	res, err := t.do(ctx, a, w, steps, seed)
	if err != nil {
		return nil, 0, err
	}
	if res.Weights == nil {
		return w, res.ValAcc, nil
	}
	tuned, err := DecodeWeights(res.Weights)
	return tuned, res.ValAcc, err
}

func (t *tunerAdapter) Accuracy(ctx context.Context, a *space.Arch, w search.Weights) (float64, error) {
	res, err := t.do(ctx, a, w, 0, 0)
	return res.ValAcc, err
}

// folderRecorder writes an iteration's network into its folder, then the
// history into history.json, each file atomically: history.json names
// only networks that are complete on disk.
type folderRecorder struct {
	out      string
	settings NetAdaptSettings
}

func (r *folderRecorder) Record(history []search.Iteration, a *space.Arch, w search.Weights) error {
	it := history[len(history)-1]
	dir := IterDir(r.out, it.Index)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := a.MarshalJSON()
	if err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, IterArchFile), append(js, '\n')); err != nil {
		return err
	}
	f := &safetensors.File{Tensors: make(map[string]safetensors.Tensor, len(w)),
		Metadata: map[string]string{"arch": a.String(), "netadapt_iteration": fmt.Sprint(it.Index)}}
	for name, t := range w {
		f.Tensors[name] = safetensors.Tensor{Shape: slices.Clone(t.Shape), F32: t.Data}
	}
	if err := safetensors.Write(filepath.Join(dir, trainer.WeightsFile), f); err != nil {
		return fmt.Errorf("write weights: %w", err)
	}
	if err := writeJSONFile(filepath.Join(r.out, HistoryFile), History{Settings: r.settings, Iterations: history}); err != nil {
		return err
	}
	return writePlot(r.out, r.settings.TargetMs, history)
}

// writePlot draws the run so far, validation accuracy against latency per
// iteration, as netadapt.svg and netadapt.png in out.
func writePlot(out string, targetMs float64, history []search.Iteration) error {
	pts := make([]results.TrajectoryPoint, len(history))
	for i, it := range history {
		pts[i] = results.TrajectoryPoint{Label: fmt.Sprint(it.Index), LatencyMs: it.LatencyMs, MeasuredMs: it.MeasuredMs, Accuracy: it.Accuracy}
		if it.Final {
			pts[i].Label = "final"
		}
	}
	fig, err := results.PlotTrajectory(fmt.Sprintf("NetAdapt: validation accuracy against latency per iteration (target %.3g ms)", targetMs), pts, targetMs)
	if err != nil {
		return err
	}
	for _, w := range []struct {
		name  string
		write func(io.Writer, *results.Figure) error
	}{{PlotFile + ".svg", results.WriteSVG}, {PlotFile + ".png", results.WritePNG}} {
		var buf bytes.Buffer
		if err := w.write(&buf, fig); err != nil {
			return fmt.Errorf("plot %s: %w", w.name, err)
		}
		if err := atomicfile.WriteBytes(filepath.Join(out, w.name), buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

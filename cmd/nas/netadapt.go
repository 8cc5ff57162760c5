package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"nas/blocks"
	"nas/internal/atomicfile"
	"nas/internal/progress"
	"nas/internal/safetensors"
	"nas/latency"
	"nas/results"
	"nas/search"
	"nas/space"
	"nas/trainer"
)

// netadaptOptions are the flags of `nas netadapt`.
type netadaptOptions struct {
	Ref string
	dataOptions
	Width    float64
	Weights  string
	TargetMs float64
	LUT      string
	Out      string
	Resume   bool
	JSON     bool

	InitialReduction float64
	Decay            float64
	Criterion        string
	MaxIterations    int

	ShortSteps   int
	LongEpochs   int
	LongSteps    int
	Fraction     float64
	EvalFraction float64
	Batch        int
	LR           float64
	ValFraction  float64
	ValSeed      uint64
	Seed         uint64
	Threads      int
	Protocol     protocolFlags
}

// The files of a NetAdapt output folder: history.json, and one folder per
// recorded iteration (iter-000 is the starting network) with the network's
// arch.json and weights.safetensors.
const (
	netadaptHistoryFile = "history.json"
	netadaptPlotFile    = "netadapt" // .svg and .png: accuracy against latency per iteration
	netadaptArchFile    = "arch.json"
)

func netadaptIterDir(out string, index int) string {
	return filepath.Join(out, fmt.Sprintf("iter-%03d", index))
}

func newCmdNetAdapt(runF func(*cobra.Command, *netadaptOptions) error) *cobra.Command {
	d := trainer.DefaultConfig()
	opts := &netadaptOptions{}
	cmd := &cobra.Command{
		Use:   "netadapt ARCH --weights FILE --target-ms T --lut FILE",
		Short: "Shrink a trained network channel by channel until it meets a latency target (NetAdapt)",
		Long: `Adapt a trained network to a latency budget with NetAdapt (Yang et al.,
ECCV 2018; see docs/netadapt.md). Each iteration lowers the latency
constraint by --initial-reduction x (starting latency) x --decay^i; for every
prunable unit it takes the largest channel count whose lookup-table latency
(--lut, measured on this machine for blocks the table lacks) meets the
constraint, keeps the filters of largest L2 norm, fine-tunes for
--short-steps and measures validation accuracy; the best proposal
(--criterion) is kept. When the table latency meets --target-ms, a long
fine-tune (--long-epochs or --long-steps) ends the run.

ARCH and --weights are the trained network, as given to 'nas eval' (for a
zoo network, the same --width). Validation accuracy is measured on the
validation split of the training run (--val and --val-seed, nas train's --val
and --seed), which fine-tuning never trains on; --eval-fraction uses a seeded
part of it.

Every iteration's network is written to --out as it is kept: iter-NNN/arch.json
and iter-NNN/weights.safetensors, with the history so far in history.json and
its plot (validation accuracy against latency) in netadapt.svg and netadapt.png,
each atomically. A run that was stopped (Ctrl-C, kill -9) continues with the same
command and --resume, and ends with the history of an uninterrupted run.`,
		Example: `  nas netadapt runs/mbv2/arch.json --weights runs/mbv2/weights.safetensors --target-ms 2 --lut nas-lut.db --out runs/mbv2-na
  nas netadapt mobilenet_v2 --width 0.5 --weights runs/mbv2/weights.safetensors --target-ms 2 --lut nas-lut.db \
      --short-steps 50 --long-epochs 1 --criterion ratio --json
  nas netadapt runs/mbv2/arch.json --weights runs/mbv2/weights.safetensors --target-ms 2 --lut nas-lut.db --out runs/mbv2-na --resume`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			if err := opts.check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd, opts)
			}
			return netadaptRun(cmd, opts)
		},
	}
	f := cmd.Flags()
	opts.dataOptions.addFlags(cmd)
	f.Float64Var(&opts.Width, "width", 0, "width multiplier of a zoo network (default 1.0)")
	f.StringVar(&opts.Weights, "weights", "", "safetensors file of the trained network's weights (required)")
	f.Float64Var(&opts.TargetMs, "target-ms", 0, "latency budget in milliseconds, as the table predicts it (batch 1, one thread, this machine; required)")
	f.StringVar(&opts.LUT, "lut", "", "latency table (bbolt) of this machine; created and filled when entries are missing (required)")
	f.StringVar(&opts.Out, "out", "runs/netadapt", "output folder for the iterations' networks and history.json")
	f.BoolVar(&opts.Resume, "resume", false, "continue the run recorded in --out")
	f.BoolVar(&opts.JSON, "json", false, "print a JSON summary instead of progress")
	f.Float64Var(&opts.InitialReduction, "initial-reduction", 0.025, "latency reduction of the first iteration, as a fraction of the starting latency")
	f.Float64Var(&opts.Decay, "decay", 0.96, "decay of the reduction per iteration")
	f.StringVar(&opts.Criterion, "criterion", search.CriterionAccuracy, "proposal to keep: accuracy (highest) or ratio (largest accuracy change per ms saved)")
	f.IntVar(&opts.MaxIterations, "max-iterations", 1000, "iterations before giving up on the target")
	f.IntVar(&opts.ShortSteps, "short-steps", 50, "fine-tuning steps of each proposal (0: none)")
	f.IntVar(&opts.LongEpochs, "long-epochs", 1, "epochs of the final fine-tune (over --fraction of the data)")
	f.IntVar(&opts.LongSteps, "long-steps", 0, "steps of the final fine-tune instead of --long-epochs (0: use --long-epochs)")
	f.Float64Var(&opts.Fraction, "fraction", 1, "fraction of the training split each fine-tune draws from (seeded per fine-tune)")
	f.Float64Var(&opts.EvalFraction, "eval-fraction", 1, "fraction of the validation split that accuracy is measured on (seeded, the same all run)")
	f.IntVar(&opts.Batch, "batch", d.BatchSize, "images per fine-tuning step")
	f.Float64Var(&opts.LR, "lr", 0.01, "peak learning rate of fine-tuning (cosine to 0, no warm-up)")
	f.Float64Var(&opts.ValFraction, "val", d.ValFraction, "validation fraction of the training run that made the weights")
	f.Uint64Var(&opts.ValSeed, "val-seed", d.Seed, "seed of the training run that made the weights (it drew the validation split)")
	f.Uint64Var(&opts.Seed, "seed", 1, "seed of this run's fine-tuning")
	f.IntVar(&opts.Threads, "threads", 0, "goroutines a training batch is split over (0: all cores); results depend on it; latency is always one thread")
	opts.Protocol.AddFlags(f)
	return cmd
}

func (o *netadaptOptions) check() error {
	switch {
	case o.Weights == "":
		return usageErrorf("--weights FILE is required (the weights.safetensors of a training run)")
	case !(o.TargetMs > 0):
		return usageErrorf("--target-ms is required and must be positive (milliseconds at batch 1 on this machine)")
	case o.LUT == "":
		return usageErrorf("--lut FILE is required (the latency table of this machine; created when missing)")
	case o.Out == "":
		return usageErrorf("--out DIR must not be empty")
	case !(o.InitialReduction > 0 && o.InitialReduction < 1):
		return usageErrorf("--initial-reduction %g: want a fraction in (0, 1) (0.025 is the reference)", o.InitialReduction)
	case !(o.Decay > 0 && o.Decay <= 1):
		return usageErrorf("--decay %g: want a value in (0, 1] (0.96 is the reference)", o.Decay)
	case o.Criterion != search.CriterionAccuracy && o.Criterion != search.CriterionRatio:
		return usageErrorf("--criterion %q: want %s or %s", o.Criterion, search.CriterionAccuracy, search.CriterionRatio)
	case o.MaxIterations < 1:
		return usageErrorf("--max-iterations %d: at least 1", o.MaxIterations)
	case o.ShortSteps < 0 || o.LongSteps < 0 || o.LongEpochs < 0:
		return usageErrorf("--short-steps %d, --long-steps %d and --long-epochs %d must not be negative", o.ShortSteps, o.LongSteps, o.LongEpochs)
	case !(o.Fraction > 0 && o.Fraction <= 1):
		return usageErrorf("--fraction %g: want a fraction in (0, 1]", o.Fraction)
	case !(o.EvalFraction > 0 && o.EvalFraction <= 1):
		return usageErrorf("--eval-fraction %g: want a fraction in (0, 1]", o.EvalFraction)
	case !(o.ValFraction > 0 && o.ValFraction < 1):
		return usageErrorf("--val %g: want a fraction strictly between 0 and 1 (that of the training run)", o.ValFraction)
	case o.Batch < 1:
		return usageErrorf("--batch %d: at least 1", o.Batch)
	case !(o.LR > 0):
		return usageErrorf("--lr %g: must be positive", o.LR)
	case o.Threads < 0:
		return usageErrorf("--threads %d: want 1 or more (0: all cores)", o.Threads)
	}
	if _, err := o.Protocol.protocol(); err != nil {
		return err
	}
	return o.dataOptions.check()
}

// netadaptSettings are what a run decides with; history.json keeps them
// so that --resume continues only a run of the same settings.
type netadaptSettings struct {
	Arch             string  `json:"arch"` // the starting network, canonical
	Data             string  `json:"data"`
	TargetMs         float64 `json:"target_ms"`
	InitialReduction float64 `json:"initial_reduction"`
	Decay            float64 `json:"decay"`
	Criterion        string  `json:"criterion"`
	MaxIterations    int     `json:"max_iterations"`
	ShortSteps       int     `json:"short_steps"`
	LongEpochs       int     `json:"long_epochs"`
	LongSteps        int     `json:"long_steps"`
	Fraction         float64 `json:"fraction"`
	EvalFraction     float64 `json:"eval_fraction"`
	Batch            int     `json:"batch"`
	LR               float64 `json:"lr"`
	ValFraction      float64 `json:"val"`
	ValSeed          uint64  `json:"val_seed"`
	Seed             uint64  `json:"seed"`
}

// netadaptHistory is history.json.
type netadaptHistory struct {
	Settings   netadaptSettings   `json:"settings"`
	Iterations []search.Iteration `json:"iterations"`
}

// netadaptWarning returns a hint when an iteration's kept proposal lost
// more than netadaptDropWarn of validation accuracy: the constraint was
// too far for any unit to meet gracefully, so the one that could cut most
// of its channels (a run with --initial-reduction 0.08 on mobilenet_v2 at
// width 1.0 cut a stage output from 64 channels to 2 and fell from 89% to
// 20%). The long fine-tune may not recover such a cut.
func netadaptWarning(prevAcc float64, it search.Iteration, initialReduction float64) string {
	if it.Final || it.Index == 0 || math.IsNaN(prevAcc) || prevAcc-it.Accuracy <= netadaptDropWarn {
		return ""
	}
	return fmt.Sprintf("  warning: validation accuracy fell %.1f points in this iteration (%s %d -> %d; units that could meet the constraint: %d): the reduction per iteration is large for this network; a run with a smaller --initial-reduction (now %g) keeps more proposals to choose from",
		100*(prevAcc-it.Accuracy), it.Unit, it.From, it.To, len(it.Proposals), initialReduction)
}

// netadaptFinalRounds is how many times the first and the last network
// are timed, alternating, for the summary's speed-up (the best of each).
// On the development VM single timings of one network moved by up to 28%
// within minutes (2.93 to 3.77 ms); seven alternating rounds of five gave
// ratios of 1.65 to 1.79, median 1.68 (docs/netadapt.md).
const netadaptFinalRounds = 5

// netadaptDropWarn is the accuracy drop of one iteration (a fraction)
// above which netadaptWarning speaks.
const netadaptDropWarn = 0.05

// netadaptSummary is what --json prints. Latencies are measured end to end
// unless named table.
type netadaptSummary struct {
	InitialArch string  `json:"initial_arch"`
	FinalArch   string  `json:"final_arch"`
	TargetMs    float64 `json:"target_ms"`
	// InitialMs and FinalMs are the first and last networks timed side by
	// side at the end of the run (SpeedUp is their ratio); the Run figures
	// are the timings the run recorded as it went.
	InitialMs      float64 `json:"initial_ms"`
	FinalMs        float64 `json:"final_ms"`
	SpeedUp        float64 `json:"speedup"`
	InitialRunMs   float64 `json:"initial_run_ms"`
	FinalRunMs     float64 `json:"final_run_ms"`
	InitialTableMs float64 `json:"initial_table_ms"`
	FinalTableMs   float64 `json:"final_table_ms"`
	InitialAcc     float64 `json:"initial_acc"`
	FinalAcc       float64 `json:"final_acc"`
	InitialParams  int64   `json:"initial_params"`
	FinalParams    int64   `json:"final_params"`
	Iterations     int     `json:"iterations"` // pruning iterations kept
	Out            string  `json:"out"`
	FinalWeights   string  `json:"final_weights"`
	History        string  `json:"history"`
}

func netadaptRun(cmd *cobra.Command, opts *netadaptOptions) error {
	if opts.Threads > 0 {
		return withThreads(opts.Threads, func() error { return netadaptRunThreads(cmd, opts) })
	}
	return netadaptRunThreads(cmd, opts)
}

func netadaptRunThreads(cmd *cobra.Command, opts *netadaptOptions) error {
	ctx, stop := signal.NotifyContext(contextOf(cmd), os.Interrupt)
	defer stop()
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	say := func(format string, args ...any) {
		if !opts.JSON {
			fmt.Fprintf(out, format, args...)
		}
	}
	proto, err := opts.Protocol.protocol()
	if err != nil {
		return err
	}

	sets, err := trainer.OpenDataset(opts.Data, opts.DataDir)
	if err != nil {
		return err
	}
	start, err := resolveArch(opts.Ref, opts.Width, sets)
	if err != nil {
		return err
	}
	tuner, err := newNetadaptTuner(opts, sets)
	if err != nil {
		return err
	}
	st := netadaptSettings{Arch: start.String(), Data: opts.Data, TargetMs: opts.TargetMs,
		InitialReduction: opts.InitialReduction, Decay: opts.Decay, Criterion: opts.Criterion, MaxIterations: opts.MaxIterations,
		ShortSteps: opts.ShortSteps, LongEpochs: opts.LongEpochs, LongSteps: opts.LongSteps, Fraction: opts.Fraction,
		EvalFraction: opts.EvalFraction, Batch: opts.Batch, LR: opts.LR, ValFraction: opts.ValFraction, ValSeed: opts.ValSeed, Seed: opts.Seed}
	longSteps := st.LongSteps
	if longSteps == 0 {
		longSteps = st.LongEpochs * tuner.stepsPerEpoch
	}

	// The network to continue from: the last recorded one with --resume,
	// else ARCH with --weights.
	histPath := filepath.Join(opts.Out, netadaptHistoryFile)
	var history []search.Iteration
	a := start
	if opts.Resume {
		h, err := readNetadaptHistory(histPath)
		if err != nil {
			return err
		}
		if diff := settingsDiff(h.Settings, st); diff != "" {
			return fmt.Errorf("%s: the run was started with other settings (%s): resume it with those, or choose another --out", histPath, diff)
		}
		if len(h.Iterations) == 0 {
			return fmt.Errorf("%s records no iteration: run without --resume", histPath)
		}
		history = h.Iterations
		last := history[len(history)-1]
		dir := netadaptIterDir(opts.Out, last.Index)
		if a, err = space.LoadArch(filepath.Join(dir, netadaptArchFile)); err != nil {
			return err
		}
	} else if _, err := os.Stat(histPath); err == nil {
		return fmt.Errorf("%s already holds a NetAdapt run: add --resume to continue it, or choose another --out", opts.Out)
	}
	weightsPath := opts.Weights
	if opts.Resume {
		weightsPath = filepath.Join(netadaptIterDir(opts.Out, history[len(history)-1].Index), trainer.WeightsFile)
	}
	w, err := loadWeights(a, weightsPath)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return err
	}

	// The latency table of this machine, one thread, batch 1 (as nas search).
	tbl, err := latency.Open(opts.LUT, latency.CurrentFingerprint(1), latency.Options{})
	if err != nil {
		return err
	}
	defer tbl.Close()
	lat := &netadaptLatency{proto: proto, table: &tableLatency{ctx: ctx, pred: &latency.Predictor{Table: tbl, Batch: 1,
		Fill: &latency.Profiler{Table: tbl, Compile: compiler(), Protocol: proto, Batch: 1, Threads: 1, Rounds: defaultRounds}}}}

	var bar *progress.Bar
	na := &search.NetAdapt{
		Latency:  lat,
		Tuner:    tuner,
		Recorder: &netadaptRecorder{out: opts.Out, settings: st},
		Settings: search.NetAdaptSettings{TargetMs: st.TargetMs, InitialReduction: st.InitialReduction, Decay: st.Decay,
			ShortTermSteps: st.ShortSteps, LongTermSteps: longSteps, Criterion: st.Criterion, MaxIterations: st.MaxIterations, Seed: st.Seed},
	}
	na.Settings.UnitDone = func(iter, done, units int) {
		if bar == nil {
			bar = progress.New(errOut, fmt.Sprintf("iteration %d", iter), "units", units, 0, opts.JSON)
		}
		bar.Add(1)
	}
	prevAcc := math.NaN()
	if len(history) > 0 {
		prevAcc = history[len(history)-1].Accuracy
	}
	na.Settings.Progress = func(it search.Iteration) {
		if bar != nil {
			bar.Finish()
			bar = nil
		}
		defer func() {
			if w := netadaptWarning(prevAcc, it, st.InitialReduction); w != "" {
				say("%s\n", w)
			}
			prevAcc = it.Accuracy
		}()
		switch {
		case it.Final:
			say("final (after %d fine-tuning steps): table %.4f ms, measured %.4f ms, val acc %.2f%%\n", longSteps, it.LatencyMs, it.MeasuredMs, 100*it.Accuracy)
		case it.Index == 0:
			say("start %s: table %.4f ms, measured %.4f ms, val acc %.2f%% (target %.4g ms)\n", it.Arch, it.LatencyMs, it.MeasuredMs, 100*it.Accuracy, st.TargetMs)
		default:
			say("iteration %d: %s %d -> %d: table %.4f ms (constraint %.4f), measured %.4f ms, val acc %.2f%% (%d proposals)\n",
				it.Index, it.Unit, it.From, it.To, it.LatencyMs, it.ConstraintMs, it.MeasuredMs, 100*it.Accuracy, len(it.Proposals))
		}
	}
	if len(history) > 0 {
		say("resuming %s after iteration %d\n", opts.Out, history[len(history)-1].Index)
	}
	history, final, _, err := na.Run(ctx, a, w, history)
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		if errors.Is(err, context.Canceled) && len(history) > 0 {
			return fmt.Errorf("stopped after iteration %d (recorded in %s): the same command with --resume continues", history[len(history)-1].Index, opts.Out)
		}
		return err
	}

	first, last := history[0], history[len(history)-1]
	sum := netadaptSummary{InitialArch: first.Arch, FinalArch: last.Arch, TargetMs: st.TargetMs,
		InitialRunMs: first.MeasuredMs, FinalRunMs: last.MeasuredMs, InitialTableMs: first.LatencyMs, FinalTableMs: last.LatencyMs,
		InitialAcc: first.Accuracy, FinalAcc: last.Accuracy, Iterations: len(history) - 2, Out: opts.Out,
		FinalWeights: filepath.Join(netadaptIterDir(opts.Out, last.Index), trainer.WeightsFile), History: histPath}
	// The speed-up: the first and the last network timed side by side,
	// alternating, the best of netadaptFinalRounds each, so that a slow
	// moment of the machine cannot fall on one of them only (the run's own
	// timings are minutes apart).
	ms, err := measureNetworksMs(ctx, []*space.Arch{start, final}, proto, netadaptFinalRounds)
	if err != nil {
		return fmt.Errorf("timing the first and the last network side by side: %w", err)
	}
	sum.InitialMs, sum.FinalMs, sum.SpeedUp = ms[0], ms[1], ms[0]/ms[1]
	if c, err := start.Cost(); err == nil {
		sum.InitialParams = c.Params
	}
	if c, err := final.Cost(); err == nil {
		sum.FinalParams = c.Params
	}
	if opts.JSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	say("\n%d iterations: measured side by side %.4f -> %.4f ms (%.2fx), table %.4f -> %.4f ms, val acc %.2f%% -> %.2f%%, %d -> %d params\n",
		sum.Iterations, sum.InitialMs, sum.FinalMs, sum.SpeedUp, sum.InitialTableMs, sum.FinalTableMs, 100*sum.InitialAcc, 100*sum.FinalAcc,
		sum.InitialParams, sum.FinalParams)
	say("final network: %s (%s)\n", filepath.Join(netadaptIterDir(opts.Out, last.Index), netadaptArchFile), sum.FinalWeights)
	return nil
}

// settingsDiff names the settings that differ, or returns "".
func settingsDiff(stored, given netadaptSettings) string {
	var a, b map[string]any
	ja, _ := json.Marshal(stored)
	jb, _ := json.Marshal(given)
	_ = json.Unmarshal(ja, &a)
	_ = json.Unmarshal(jb, &b)
	var diffs []string
	for k, v := range a {
		if fmt.Sprint(v) != fmt.Sprint(b[k]) {
			diffs = append(diffs, fmt.Sprintf("%s %v, now %v", k, v, b[k]))
		}
	}
	slices.Sort(diffs)
	if len(diffs) == 0 {
		return ""
	}
	return fmt.Sprint(diffs)
}

func readNetadaptHistory(path string) (*netadaptHistory, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no NetAdapt run to resume there: run without --resume", path)
	}
	if err != nil {
		return nil, err
	}
	var h netadaptHistory
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return &h, nil
}

// loadWeights reads the weights of network a.
func loadWeights(a *space.Arch, path string) (space.Weights, error) {
	net, err := newNetwork(a)
	if err != nil {
		return nil, err
	}
	if _, err := trainer.LoadWeights(path, net); err != nil {
		return nil, err
	}
	return net.State(), nil
}

// newNetwork builds a; its weights are overwritten by whoever calls it.
func newNetwork(a *space.Arch) (*blocks.Network, error) {
	g, err := a.Graph()
	if err != nil {
		return nil, err
	}
	return blocks.NewNetwork(g, rand.New(rand.NewPCG(0, 0)))
}

// withWeights builds a with the weights w (copied).
func withWeights(a *space.Arch, w space.Weights) (*blocks.Network, error) {
	net, err := newNetwork(a)
	if err != nil {
		return nil, err
	}
	flat := make(map[string][]float32, len(w))
	for k, t := range w {
		flat[k] = t.Data
	}
	if err := net.LoadState(flat); err != nil {
		return nil, fmt.Errorf("network %s: %w", a, err)
	}
	return net, nil
}

// netadaptLatency is NetAdapt's latency model: the lookup table (measuring
// missing entries) and end-to-end measurement, both on one thread.
type netadaptLatency struct {
	table *tableLatency
	proto latency.Protocol
}

func (l *netadaptLatency) PredictMs(_ context.Context, a *space.Arch) (float64, error) {
	return l.table.LatencyMs(a)
}

func (l *netadaptLatency) MeasureMs(ctx context.Context, a *space.Arch) (float64, error) {
	return measureNetworkMs(ctx, a, l.proto)
}

// measureNetworkMs times a end to end on one thread at batch 1 (its latency,
// the 10th percentile of the runs, the best of defaultRounds measurements,
// as the table's entries are).
func measureNetworkMs(ctx context.Context, a *space.Arch, proto latency.Protocol) (float64, error) {
	ms, err := measureNetworksMs(ctx, []*space.Arch{a}, proto, defaultRounds)
	if err != nil {
		return 0, err
	}
	return ms[0], nil
}

// measureNetworksMs is measureNetworkMs for several networks, timed in
// rounds passes over all of them (so side by side), the best of each.
func measureNetworksMs(ctx context.Context, archs []*space.Arch, proto latency.Protocol, rounds int) ([]float64, error) {
	var ms []float64
	err := withThreads(1, func() error {
		m, err := latency.MeasureNetworks(ctx, compiler(), archs, 1, 1, proto, rounds, nil)
		for _, x := range m {
			ms = append(ms, x.LatencyMs())
		}
		return err
	})
	return ms, err
}

// netadaptTuner fine-tunes on the training part of the training run's
// split and measures accuracy on (a seeded part of) its validation part.
type netadaptTuner struct {
	cfg           trainer.Config
	fit           *trainer.Sets // Train: the training run's training part
	val           *trainer.Dataset
	stepsPerEpoch int // of a fine-tune, for --long-epochs
}

// fineTuneHoldout is the part of the training data each fine-tune holds
// out for the trainer's own validation (which NetAdapt does not use): as
// little as leaves every class a sample.
const fineTuneHoldout = 0.02

func newNetadaptTuner(opts *netadaptOptions, sets *trainer.Sets) (*netadaptTuner, error) {
	split := trainer.DefaultConfig()
	split.Seed, split.ValFraction = opts.ValSeed, opts.ValFraction
	fit, val, err := split.Split(sets.Train)
	if err != nil {
		return nil, usageErrorf("--val: %v", err)
	}
	if opts.EvalFraction < 1 {
		if val, err = trainer.Subset(val, opts.EvalFraction, true, rand.New(rand.NewPCG(opts.Seed, 0x6576616c))); err != nil {
			return nil, usageErrorf("--eval-fraction: %v", err)
		}
	}
	holdout := fineTuneHoldout
	for _, n := range fit.ClassCounts() {
		if n > 0 {
			holdout = max(holdout, 0.6/float64(n))
		}
	}
	cfg := trainer.DefaultConfig()
	cfg.BatchSize, cfg.LR, cfg.MinLR, cfg.WarmupEpochs = opts.Batch, opts.LR, 0, 0
	cfg.Augment = trainer.DefaultAugmentation(opts.Data)
	cfg.ValFraction, cfg.DataFraction = min(holdout, 0.5), opts.Fraction
	cfg.EvalBatchSize = 256

	// The size of a fine-tune's training data does not depend on the seed
	// (the draws are stratified), so one draw tells the steps of an epoch.
	rest, _, err := cfg.Split(fit)
	if err != nil {
		return nil, err
	}
	if opts.Fraction < 1 {
		if rest, err = trainer.Subset(rest, opts.Fraction, true, rand.New(rand.NewPCG(0, 0))); err != nil {
			return nil, err
		}
	}
	t := &netadaptTuner{cfg: cfg, fit: &trainer.Sets{Train: fit}, val: val, stepsPerEpoch: rest.Len() / opts.Batch}
	if t.stepsPerEpoch < 1 {
		return nil, usageErrorf("--batch %d: the fine-tuning data has only %d images", opts.Batch, rest.Len())
	}
	return t, nil
}

func (t *netadaptTuner) FineTune(ctx context.Context, a *space.Arch, w space.Weights, steps int, seed uint64) (space.Weights, error) {
	net, err := withWeights(a, w)
	if err != nil {
		return nil, err
	}
	cfg := t.cfg
	cfg.Steps, cfg.Seed = steps, seed
	if _, err := trainer.TrainNetwork(ctx, cfg, net, t.fit); err != nil {
		return nil, err
	}
	return net.State(), nil
}

func (t *netadaptTuner) Accuracy(ctx context.Context, a *space.Arch, w space.Weights) (float64, error) {
	net, err := withWeights(a, w)
	if err != nil {
		return 0, err
	}
	m, err := trainer.Evaluate(ctx, net, t.val, t.cfg.EvalBatchSize)
	return m.Acc, err
}

// netadaptRecorder writes an iteration's network into its folder, then the
// history into history.json, each file atomically: history.json names only
// networks that are complete on disk.
type netadaptRecorder struct {
	out      string
	settings netadaptSettings
}

func (r *netadaptRecorder) Record(history []search.Iteration, a *space.Arch, w space.Weights) error {
	it := history[len(history)-1]
	dir := netadaptIterDir(r.out, it.Index)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := a.MarshalJSON()
	if err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, netadaptArchFile), append(js, '\n')); err != nil {
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
	b, err := json.MarshalIndent(netadaptHistory{Settings: r.settings, Iterations: history}, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(filepath.Join(r.out, netadaptHistoryFile), append(b, '\n')); err != nil {
		return err
	}
	return writeNetadaptPlot(r.out, r.settings.TargetMs, history)
}

// writeNetadaptPlot draws the run so far, validation accuracy against
// latency per iteration, as netadapt.svg and netadapt.png in out.
func writeNetadaptPlot(out string, targetMs float64, history []search.Iteration) error {
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
	}{{netadaptPlotFile + ".svg", results.WriteSVG}, {netadaptPlotFile + ".png", results.WritePNG}} {
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

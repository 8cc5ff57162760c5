package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/spf13/cobra"

	"nas/cluster"
	"nas/internal/progress"
	"nas/pipeline"
	"nas/search"
	"nas/trainer"
)

// netadaptOptions are the flags of `nas netadapt`.
type netadaptOptions struct {
	Ref      string
	Settings pipeline.NetAdaptSettings
	Width    float64
	Weights  string
	LUT      string
	Device   string
	Out      string
	Resume   bool
	JSON     bool
	Quiet    bool
	Threads  int
	Parallel int
	ValSeed  uint64 // the deprecated --val-seed
	Protocol protocolFlags
	NATS     natsOptions
}

// defaultNetadaptOut is the output folder when -o is not given.
const defaultNetadaptOut = "runs/netadapt"

func newCmdNetAdapt(runF func(*cobra.Command, *netadaptOptions) error) *cobra.Command {
	d := trainer.DefaultConfig()
	opts := &netadaptOptions{}
	st := &opts.Settings
	cmd := &cobra.Command{
		Use:   "netadapt ARCH --weights FILE --target-ms T",
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
validation split of the training run (--val and --seed, as given to nas
train), which fine-tuning never trains on; --eval-fraction uses a seeded
part of it. The fine-tunes' seeds derive from --seed too.

The table is this machine's, at one thread, unless --device names another
device in it: NetAdapt then reads that device's entries and measures
nothing into them (the end-to-end timings are still of this machine).

Every iteration's network is written to -o DIR (default runs/netadapt) as it is kept: iter-NNN/arch.json
and iter-NNN/weights.safetensors, with the history so far in history.json and
its plot (validation accuracy against latency) in netadapt.svg and netadapt.png,
each atomically. A run that was stopped (Ctrl-C, kill -9) continues with the same
command and --resume, and ends with the history of an uninterrupted run.`,
		Example: `  nas netadapt runs/mbv2/arch.json --weights runs/mbv2/weights.safetensors --target-ms 2 -o runs/mbv2-na
  nas netadapt mobilenet_v2 --width 0.5 --weights runs/mbv2/weights.safetensors --target-ms 2 --lut nas-lut.db \
      --short-steps 50 --long-epochs 1 --criterion ratio --json
  nas netadapt runs/mbv2/arch.json --weights runs/mbv2/weights.safetensors --target-ms 2 -o runs/mbv2-na --resume`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			opts.Settings.ValSeed = opts.Settings.Seed
			if cmd.Flags().Changed("val-seed") {
				opts.Settings.ValSeed = opts.ValSeed
			}
			if opts.Out == "" {
				opts.Out = defaultNetadaptOut
			}
			if err := refuseTogether(cmd, "long-steps", "long-epochs", "the long fine-tune's length is one or the other"); err != nil {
				return err
			}
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
	addDataFlags(cmd, &st.Data, &st.DataDir)
	addWidthFlag(cmd, &opts.Width)
	addWeightsFlag(cmd, &opts.Weights)
	addTargetFlag(cmd, &st.TargetMs)
	addLUTFlag(cmd, &opts.LUT)
	addDeviceFlag(cmd, &opts.Device)
	addOutFlag(cmd, &opts.Out)
	f.BoolVar(&opts.Resume, "resume", false, "continue the run recorded in -o DIR")
	opts.NATS.addFlags(cmd)
	addJSONFlag(cmd, &opts.JSON)
	addQuietFlag(cmd, &opts.Quiet)
	f.Float64Var(&st.InitialReduction, "initial-reduction", 0.025, "latency reduction of the first iteration, as a fraction of the starting latency")
	f.Float64Var(&st.Decay, "decay", 0.96, "decay of the reduction per iteration")
	f.StringVar(&st.Criterion, "criterion", search.CriterionAccuracy, "proposal to keep: accuracy (highest) or ratio (largest accuracy change per ms saved)")
	f.IntVar(&st.MaxIterations, "max-iterations", 1000, "iterations before giving up on the target")
	f.IntVar(&st.ShortSteps, "short-steps", 50, "fine-tuning steps of each proposal (0: none)")
	f.IntVar(&st.LongEpochs, "long-epochs", 1, "epochs of the final fine-tune (over --fraction of the data)")
	f.IntVar(&st.LongSteps, "long-steps", 0, "steps of the final fine-tune instead of --long-epochs (0: use --long-epochs)")
	addFractionFlag(cmd, &st.Fraction)
	f.Float64Var(&st.EvalFraction, "eval-fraction", 1, "fraction of the validation split that accuracy is measured on (seeded, the same all run)")
	f.IntVar(&st.Batch, "batch", d.BatchSize, "images per fine-tuning step")
	f.Float64Var(&st.LR, "lr", pipeline.DefaultNetAdaptLR, "peak learning rate of fine-tuning (cosine to 0, no warm-up)")
	addValFlag(cmd, &st.ValFraction)
	addSeedFlag(cmd, &st.Seed)
	f.Uint64Var(&opts.ValSeed, "val-seed", 1, "seed of the training run that made the weights, when it differs from --seed")
	_ = f.MarkDeprecated("val-seed", "use --seed, the seed of the training run (the fine-tunes' seeds derive from it)")
	addThreadsFlag(cmd, &opts.Threads)
	addParallelFlag(cmd, &opts.Parallel)
	opts.Protocol.AddFlags(f)
	return cmd
}

// netadaptFlags names the flag of each setting whose flag is not its name.
var netadaptFlags = map[string]string{"arch": "ARCH", "val": "val", "val_seed": "val-seed"}

func (o *netadaptOptions) check() error {
	if err := o.NATS.check(); err != nil {
		return err
	}
	switch {
	case o.Weights == "":
		return usageErrorf("--weights FILE is required (the weights.safetensors of a training run)")
	case o.LUT == "":
		return usageErrorf("--lut FILE must not be empty")
	case o.Threads < 0:
		return checkThreads(o.Threads)
	case o.Parallel < 1:
		return usageErrorf("--parallel %d: want 1 or more proposals fine-tuned at once", o.Parallel)
	}
	if _, err := o.Protocol.protocol(); err != nil {
		return err
	}
	st := o.Settings
	st.Arch = o.Ref // checked for real once the dataset shapes a zoo network
	return flagError(st.Validate(), netadaptFlags)
}

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
	applyThreads(opts.Threads)
	ctx, stop := signal.NotifyContext(contextOf(cmd), os.Interrupt)
	defer stop()
	out := cmd.OutOrStdout()
	say := sayer(out, opts.JSON)
	proto, _ := opts.Protocol.protocol()
	st := opts.Settings
	data := &pipeline.Datasets{}
	sets, err := data.Open(pipeline.Dataset{Name: st.Data, Dir: st.DataDir})
	if err != nil {
		return err
	}
	start, err := resolveArch(opts.Ref, opts.Width, sets)
	if err != nil {
		return err
	}
	st.Arch = start.String()
	na := &pipeline.NetAdapt{Data: data, LatencyTable: opts.LUT, Device: opts.Device, Protocol: proto, Threads: opts.Threads, Parallel: opts.Parallel, Out: opts.Out, Weights: opts.Weights, Resume: opts.Resume}
	remote, closeNATS, err := opts.NATS.remote(ctx, "nas netadapt")
	if err != nil {
		return err
	}
	defer closeNATS()
	if remote != nil {
		remote.Run = cluster.RunName("netadapt", opts.Out)
		na.Tuner = remote
	}
	bar := netadaptProgress(cmd, na, st, opts)
	res, err := na.Run(ctx, st)
	if *bar != nil {
		(*bar).Finish()
	}
	if se := (*pipeline.StoppedAfterError)(nil); errors.As(err, &se) {
		return fmt.Errorf("%w: the same command with --resume continues", err)
	}
	if err != nil {
		return netadaptError(err, opts.Out)
	}
	sum := newNetadaptSummary(res, st.TargetMs, opts.Out)
	if opts.JSON {
		return writeJSON(out, sum)
	}
	say("\n%d iterations: measured side by side %.4f -> %.4f ms (%.2fx), table %.4f -> %.4f ms, val acc %.2f%% -> %.2f%%, %d -> %d params\n",
		sum.Iterations, sum.InitialMs, sum.FinalMs, sum.SpeedUp, sum.InitialTableMs, sum.FinalTableMs, 100*sum.InitialAcc, 100*sum.FinalAcc,
		sum.InitialParams, sum.FinalParams)
	say("final network: %s (%s)\n", res.FinalArchFile, sum.FinalWeights)
	return nil
}

// netadaptProgress sets na's callbacks to print a line per iteration (and
// a warning after a sharp drop of accuracy) and draw a progress bar over
// an iteration's units, made at its first unit.
func netadaptProgress(cmd *cobra.Command, na *pipeline.NetAdapt, st pipeline.NetAdaptSettings, opts *netadaptOptions) **progress.Bar {
	say := sayer(cmd.OutOrStdout(), opts.JSON)
	log := newNetadaptLog(progressLog(cmd, opts.Quiet))
	var bar *progress.Bar
	longSteps := 0
	na.Started = func(h []search.Iteration, long int) {
		longSteps = long
		if len(h) > 0 {
			say("resuming %s after iteration %d\n", opts.Out, h[len(h)-1].Index)
		}
	}
	na.UnitDone = func(iter, done, units int) {
		if bar == nil {
			bar = progress.New(cmd.ErrOrStderr(), fmt.Sprintf("iteration %d", iter), "units", units, 0, opts.JSON || opts.Quiet || log != nil)
		}
		bar.Add(1)
		log.unit(iter, done, units, bar)
	}
	na.Progress = func(it search.Iteration, prevAcc float64) {
		if bar != nil {
			bar.Finish()
			bar = nil
		}
		log.iteration(it, st.TargetMs, longSteps)
		say("%s\n", iterationLine(it, st.TargetMs, longSteps))
		if pipeline.FellSharply(prevAcc, it) {
			say("%s\n", netadaptWarning(prevAcc, it, st.InitialReduction))
		}
	}
	return &bar
}

func newNetadaptSummary(res *pipeline.NetAdaptResult, targetMs float64, out string) netadaptSummary {
	first, last := res.History[0], res.History[len(res.History)-1]
	return netadaptSummary{InitialArch: first.Arch, FinalArch: last.Arch, TargetMs: targetMs,
		InitialMs: res.InitialMs, FinalMs: res.FinalMs, SpeedUp: res.SpeedUp,
		InitialRunMs: first.MeasuredMs, FinalRunMs: last.MeasuredMs, InitialTableMs: first.LatencyMs, FinalTableMs: last.LatencyMs,
		InitialAcc: first.Accuracy, FinalAcc: last.Accuracy, InitialParams: res.InitialParams, FinalParams: res.FinalParams,
		Iterations: len(res.History) - 2, Out: out, FinalWeights: res.FinalWeights, History: filepath.Join(out, pipeline.HistoryFile)}
}

// iterationLine is the line printed for a recorded iteration.
func iterationLine(it search.Iteration, targetMs float64, longSteps int) string {
	switch {
	case it.Final:
		return fmt.Sprintf("final (after %d fine-tuning steps): table %.4f ms, measured %.4f ms, val acc %.2f%%", longSteps, it.LatencyMs, it.MeasuredMs, 100*it.Accuracy)
	case it.Index == 0:
		return fmt.Sprintf("start %s: table %.4f ms, measured %.4f ms, val acc %.2f%% (target %.4g ms)", it.Arch, it.LatencyMs, it.MeasuredMs, 100*it.Accuracy, targetMs)
	}
	return fmt.Sprintf("iteration %d: %s %d -> %d: table %.4f ms (constraint %.4f), measured %.4f ms, val acc %.2f%% (%d proposals)",
		it.Index, it.Unit, it.From, it.To, it.LatencyMs, it.ConstraintMs, it.MeasuredMs, 100*it.Accuracy, len(it.Proposals))
}

// netadaptWarning is the hint printed when an iteration lost much accuracy
// (pipeline.FellSharply).
func netadaptWarning(prevAcc float64, it search.Iteration, initialReduction float64) string {
	if !pipeline.FellSharply(prevAcc, it) {
		return ""
	}
	return fmt.Sprintf("  warning: validation accuracy fell %.1f points in this iteration (%s %d -> %d; units that could meet the constraint: %d): the reduction per iteration is large for this network; a run with a smaller --initial-reduction (now %g) keeps more proposals to choose from",
		100*(prevAcc-it.Accuracy), it.Unit, it.From, it.To, len(it.Proposals), initialReduction)
}

// netadaptError says which flag to change for the pipeline's errors.
func netadaptError(err error, out string) error {
	switch {
	case errors.Is(err, pipeline.ErrHistoryExists):
		return fmt.Errorf("%s already holds a NetAdapt run: add --resume to continue it, or choose another -o DIR", out)
	case errors.Is(err, pipeline.ErrNoHistory):
		return fmt.Errorf("%w: run without --resume", err)
	}
	return conflictError(flagError(err, netadaptFlags), netadaptFlags)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"nas/blocks"
	"nas/internal/progress"
	"nas/space"
	"nas/trainer"
)

// resolveArch loads ARCH for a dataset: a zoo network is built for the
// dataset's input shape and classes (and --width); an arch file or string
// carries its own, which must fit the dataset.
func resolveArch(ref string, width float64, sets *trainer.Sets) (*space.Arch, error) {
	if width < 0 {
		return nil, usageErrorf("--width %v: must be positive", width)
	}
	for _, e := range space.Zoo() {
		if e.Name == ref {
			return space.Resolve(ref, space.ZooOptions{Input: sets.Shape(), Classes: sets.Classes(), Width: width})
		}
	}
	if width != 0 {
		return nil, usageErrorf("--width applies to zoo networks; %q carries its own channel counts", ref)
	}
	return space.Resolve(ref, space.ZooOptions{})
}

type trainOptions struct {
	Ref string
	dataOptions
	Width float64
	Out   string
	Init  string // weights to start from (--init)

	Epochs          int
	Steps           int
	Batch           int
	LR              float64
	MinLR           float64
	Warmup          float64
	Momentum        float64
	Nesterov        bool
	WeightDecay     float64
	LabelSmoothing  float64
	NoAugment       bool
	ValFraction     float64
	DataFraction    float64
	Seed            uint64
	Threads         int
	NoTest          bool
	Resume          bool
	CheckpointSteps int
	JSON            bool
	Quiet           bool
}

func newCmdTrain(runF func(*cobra.Command, *trainOptions) error) *cobra.Command {
	d := trainer.DefaultConfig()
	opts := &trainOptions{}
	cmd := &cobra.Command{
		Use:   "train ARCH -o DIR",
		Short: "Train a network on a dataset and report its accuracy",
		Long: `Train a network with SGD (momentum, optional Nesterov), a linear warm-up and
a cosine learning-rate decay, label smoothing and the dataset's usual
augmentation, holding out a seeded, stratified part of the training set for
validation. At the end the test set is evaluated once, for the report.

ARCH is anything 'nas inspect' accepts: a zoo network (built for the
dataset's input shape and classes, with the small-input rule for small
images; --width sets its width multiplier), an arch JSON file or an arch
string.

The output folder receives a checkpoint at the end of every epoch (and on
Ctrl-C): weights.safetensors (PyTorch state-dict names), arch.json and
train-state.safetensors; --resume continues a stopped run from it and ends
exactly where the uninterrupted run would have. result.json holds the
summary that --json prints.

Training starts from weights drawn from --seed, or with --init FILE from
given weights (safetensors with the network's tensor names and shapes:
'nas import --weights-out', a training run's weights.safetensors, a PyTorch
state dict saved as safetensors); the network with them is evaluated on the
validation split before the first step (init_val_acc in result.json).

Every random choice comes from --seed; results are bit-identical for the
same seed and --threads (the number of goroutines a batch is split over;
default: all cores).`,
		Example: `  nas train mobilenet_v2 --width 0.5 --data fashion-mnist --epochs 10 --out runs/mbv2
  nas train "in1x28x28 cls10 | conv_o16_k3_arelu | ir_e4_o24_k3_s2 | gap | linear_o10" --epochs 2 --out runs/tiny --json
  nas train mobilenet_v2 --width 0.5 --epochs 10 --out runs/mbv2 --resume
  nas train arch.json --init weights.safetensors --lr 0.01 --epochs 3 --out runs/tuned`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			if err := opts.dataOptions.check(); err != nil {
				return err
			}
			if opts.Out == "" {
				return usageErrorf("--out DIR is required: the folder for checkpoints and the result")
			}
			if err := checkThreads(opts.Threads); err != nil {
				return err
			}
			if opts.Nesterov && opts.Momentum == 0 {
				return usageErrorf("--nesterov needs --momentum above 0")
			}
			if err := refuseTogether(cmd, "steps", "epochs", "the training's budget is one or the other"); err != nil {
				return err
			}
			if opts.Init != "" && opts.Resume {
				return usageErrorf("--init with --resume: a resumed run continues from the weights of its checkpoint; drop --init")
			}
			if runF != nil {
				return runF(cmd, opts)
			}
			return trainRun(cmd, opts)
		},
	}
	f := cmd.Flags()
	opts.dataOptions.addFlags(cmd)
	addWidthFlag(cmd, &opts.Width)
	addOutFlag(cmd, &opts.Out)
	f.StringVar(&opts.Init, "init", "", "start from these weights (safetensors; names and shapes of the network's tensors) instead of weights drawn from --seed")
	f.IntVar(&opts.Epochs, "epochs", d.Epochs, "epochs to train")
	f.IntVar(&opts.Steps, "steps", 0, "budget in optimizer steps instead of epochs (0: use --epochs)")
	f.IntVar(&opts.Batch, "batch", d.BatchSize, "images per step")
	f.Float64Var(&opts.LR, "lr", d.LR, "peak learning rate")
	f.Float64Var(&opts.MinLR, "min-lr", d.MinLR, "learning rate at the end of the cosine decay")
	f.Float64Var(&opts.Warmup, "warmup-epochs", d.WarmupEpochs, "linear warm-up of the learning rate in epochs (fractions allowed)")
	deprecatedAlias(cmd, "warmup", "warmup-epochs") // --warmup is the measurement protocol's warm-up time
	f.Float64Var(&opts.Momentum, "momentum", d.Momentum, "SGD momentum (0: plain SGD)")
	f.BoolVar(&opts.Nesterov, "nesterov", d.Nesterov, "Nesterov momentum")
	f.Float64Var(&opts.WeightDecay, "wd", d.WeightDecay, "weight decay of conv and linear weights (not BN, biases)")
	f.Float64Var(&opts.LabelSmoothing, "label-smoothing", d.LabelSmoothing, "label smoothing of the loss (0: off)")
	f.BoolVar(&opts.NoAugment, "no-augment", false, "turn off the dataset's usual augmentation (random crop, flip)")
	addValFlag(cmd, &opts.ValFraction)
	addFractionFlag(cmd, &opts.DataFraction)
	addSeedFlag(cmd, &opts.Seed)
	addThreadsFlag(cmd, &opts.Threads)
	f.BoolVar(&opts.NoTest, "no-test", false, "skip the final test-set evaluation")
	f.BoolVar(&opts.Resume, "resume", false, "continue the run checkpointed in --out")
	f.IntVar(&opts.CheckpointSteps, "checkpoint-steps", 0, "also checkpoint every N steps (0: at epoch ends only)")
	addJSONFlag(cmd, &opts.JSON)
	addQuietFlag(cmd, &opts.Quiet)
	return cmd
}

func (o *trainOptions) config(data string) trainer.Config {
	c := trainer.DefaultConfig()
	c.Epochs, c.Steps, c.BatchSize = o.Epochs, o.Steps, o.Batch
	c.LR, c.MinLR, c.WarmupEpochs = o.LR, o.MinLR, o.Warmup
	c.Momentum, c.Nesterov, c.WeightDecay = o.Momentum, o.Nesterov, o.WeightDecay
	c.LabelSmoothing = o.LabelSmoothing
	if !o.NoAugment {
		c.Augment = trainer.DefaultAugmentation(data)
	}
	c.ValFraction, c.DataFraction, c.Seed = o.ValFraction, o.DataFraction, o.Seed
	c.Test = !o.NoTest
	c.CheckpointDir, c.CheckpointSteps, c.Resume = o.Out, o.CheckpointSteps, o.Resume
	return c
}

func trainRun(cmd *cobra.Command, opts *trainOptions) error {
	applyThreads(opts.Threads)
	sets, err := trainer.OpenDataset(opts.Data, opts.DataDir)
	if err != nil {
		return err
	}
	arch, err := resolveArch(opts.Ref, opts.Width, sets)
	if err != nil {
		return err
	}
	cost, err := arch.Cost()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(contextOf(cmd), os.Interrupt)
	defer stop()
	cfg := opts.config(opts.Data)
	watch := newTrainWatch(cmd, "train", opts.JSON, opts.Quiet, 0)
	watchTraining(watch, &cfg)
	if !opts.JSON {
		fmt.Fprintf(cmd.OutOrStdout(), "training %s on %s: %s params, %s MACs, %d threads\n",
			arch.String(), sets.Train.Name, groupDigits(cost.Params), groupDigits(cost.MACs), runtime.GOMAXPROCS(0))
	}
	var init *trainer.Metrics
	var res *trainer.Result
	if opts.Init != "" {
		var net *blocks.Network
		var m trainer.Metrics
		if net, m, err = trainer.NetworkWithWeights(ctx, arch, opts.Init, cfg, sets); err != nil {
			return fmt.Errorf("--init: %w", err)
		}
		init = &m
		if !opts.JSON {
			fmt.Fprintf(cmd.OutOrStdout(), "initial weights %s: val acc %.2f%%, loss %.4f\n", opts.Init, 100*init.Acc, init.Loss)
		}
		res, err = trainer.TrainNetwork(ctx, cfg, net, sets)
	} else {
		res, err = trainer.Train(ctx, cfg, arch, sets)
	}
	watch.finish()
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("train %s: %w\nnas train ... --out %s --resume continues it", opts.Ref, err, opts.Out)
	} else if err != nil {
		return fmt.Errorf("train %s: %w", opts.Ref, err)
	}
	rep, err := trainer.NewReport(arch, cfg, sets, res, opts.Init, init)
	if err != nil {
		return err
	}
	b, err := trainer.WriteReport(opts.Out, rep)
	if err != nil {
		return err
	}
	if opts.JSON {
		_, err := cmd.OutOrStdout().Write(b)
		return err
	}
	printTrainSummary(cmd.OutOrStdout(), rep)
	return nil
}

// trainWatch shows a training's progress: a bar per step on stderr (unless
// noBar, made on the first step), a log line per epoch and every logSteps
// steps (when log is set), and a line of text per epoch on stdout (unless
// noText).
type trainWatch struct {
	cmd      *cobra.Command
	name     string // of the bar
	noBar    bool
	noText   bool
	log      *slog.Logger
	logSteps int // 0: no step lines
	bar      *progress.Bar
}

// newTrainWatch makes the watch of a training command with --json and
// --quiet: the bar on a terminal, log lines elsewhere (progressLog).
func newTrainWatch(cmd *cobra.Command, name string, jsonOut, quiet bool, logSteps int) *trainWatch {
	log := progressLog(cmd, quiet)
	return &trainWatch{cmd: cmd, name: name, noBar: jsonOut || quiet || log != nil, noText: jsonOut, log: log, logSteps: logSteps}
}

// step advances the bar by s; what names the network the loss is of ("":
// the one trained).
func (w *trainWatch) step(s trainer.StepReport, what string) {
	if w.bar == nil {
		w.bar = progress.New(w.cmd.ErrOrStderr(), w.name, "steps", s.TotalSteps, s.Step-1, w.noBar)
	}
	epochs := (s.TotalSteps + s.StepsPerEpoch - 1) / s.StepsPerEpoch
	w.bar.Status(fmt.Sprintf("epoch %d/%d %sloss %.3f acc %.1f%% %.0f img/s", s.Epoch+1, epochs, what, s.EpochLoss, 100*s.EpochAcc, s.ImagesPerSec))
	w.bar.Add(1)
	if w.log != nil && w.logSteps > 0 && (s.Step%w.logSteps == 0 || s.Step == s.TotalSteps) {
		w.log.Info("step", append([]any{"step", s.Step, "of", s.TotalSteps, "epoch", s.Epoch + 1, "of_epochs", epochs,
			"loss", sig(s.EpochLoss), "acc", sig(s.EpochAcc), "images_per_s", sig(s.ImagesPerSec)}, w.times()...)...)
	}
}

// epoch logs an epoch line with args, and prints line (with a newline
// added) to stdout, clearing the bar's line first.
func (w *trainWatch) epoch(args []any, line string) {
	if w.log != nil {
		w.log.Info("epoch", append(args, w.times()...)...)
	}
	if w.noText {
		return
	}
	if w.bar != nil && w.bar.Enabled() {
		fmt.Fprint(w.cmd.ErrOrStderr(), "\r\x1b[K")
	}
	fmt.Fprintln(w.cmd.OutOrStdout(), line)
}

// times are the elapsed time and the ETA of a log line.
func (w *trainWatch) times() []any {
	if w.bar == nil {
		return nil
	}
	args := []any{"elapsed", roundDuration(w.bar.Elapsed())}
	if eta, ok := w.bar.ETA(); ok {
		args = append(args, "eta", roundDuration(eta))
	}
	return args
}

// finish ends the bar.
func (w *trainWatch) finish() {
	if w.bar != nil {
		w.bar.Finish()
	}
}

// watchTraining sets cfg's callbacks to show a nas train run on w.
func watchTraining(w *trainWatch, cfg *trainer.Config) {
	cfg.OnStep = func(s trainer.StepReport) { w.step(s, "") }
	cfg.OnEpoch = func(e trainer.EpochReport) {
		w.epoch(epochArgs(e), fmt.Sprintf("epoch %d/%d  train loss %.4f acc %.2f%%  val loss %.4f acc %.2f%%  lr %.4g",
			e.Epoch, e.Epochs, e.TrainLoss, 100*e.TrainAcc, e.ValLoss, 100*e.ValAcc, e.LR))
	}
}

func printTrainSummary(w io.Writer, r *trainer.Report) {
	fmt.Fprintf(w, "validation accuracy %.2f%% (best %.2f%% at epoch %d)\n", 100*r.ValAcc, 100*r.BestValAcc, r.BestEpoch)
	if r.TestAcc != nil {
		fmt.Fprintf(w, "test accuracy %.2f%% (loss %.4f)\n", 100**r.TestAcc, *r.TestLoss)
	}
	fmt.Fprintf(w, "%.4g epochs, %d steps, %.0f images/s, %s; weights in %s\n",
		r.Epochs, r.Steps, r.ImagesPerSec, time.Duration(r.WallSeconds*float64(time.Second)).Round(time.Second),
		filepath.Join(r.Out, trainer.WeightsFile))
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"

	"github.com/spf13/cobra"

	"nas/pipeline"
	"nas/space"
	"nas/supernet"
	"nas/trainer"
)

func newCmdSupernet() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "supernet",
		Short: "Train a weight-sharing supernet of a space, and score or extract its networks",
		Long: `A supernet holds the weights of every network of a search space at once
(docs/supernet.md). 'nas supernet train' trains one for a space and a
dataset; 'nas supernet eval' scores a network of the space with the weights
it inherits, after recalibrating its batch normalization, in about a
second; 'nas supernet extract' writes those weights for 'nas eval
--weights', fine-tuning or export.`,
	}
	cmd.AddCommand(newCmdSupernetTrain(nil), newCmdSupernetEval(nil), newCmdSupernetExtract(nil))
	return cmd
}

type supernetTrainOptions struct {
	Space string
	dataOptions
	Out             string
	Epochs          int
	Batch           int
	LR              float64
	Random          int
	Sampling        string
	Rule            string
	Calibration     int
	NoAugment       bool
	DataFraction    float64
	Seed            uint64
	Threads         int
	CheckpointSteps int
	Resume          bool
	JSON            bool
	Quiet           bool
}

func newCmdSupernetTrain(runF func(*cobra.Command, *supernetTrainOptions) error) *cobra.Command {
	d := supernet.DefaultConfig()
	opts := &supernetTrainOptions{}
	cmd := &cobra.Command{
		Use:   "train --space S --data D --epochs E --out DIR",
		Short: "Train a supernet of a space on a dataset",
		Long: `Train a weight-sharing supernet: at every step the largest and the smallest
network of the space and --random networks drawn uniformly from it train on
the same batch (the sandwich rule); the largest learns the labels, the
others its outputs (in-place distillation). With --rule single-path only
the random networks train, each on the labels (Single-Path One-Shot).
The recipe is that of
'nas train' (SGD with Nesterov momentum, warm-up, cosine decay, label
smoothing, the dataset's augmentation, a seeded validation split).

DIR receives supernet.json (the space, the data's identity, the settings)
and supernet.safetensors (the shared weights and the optimizer state),
checkpointed every --checkpoint-steps steps and at every epoch's end;
--resume continues a stopped or killed run and ends bit-identical to an
uninterrupted one for the same --seed and --threads.`,
		Example: `  nas supernet train --space small28 --data fashion-mnist --epochs 10 --out runs/super
  nas supernet train --space small28 --data fashion-mnist --epochs 10 --out runs/super --resume`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.dataOptions.check(); err != nil {
				return err
			}
			switch {
			case opts.Out == "":
				return usageErrorf("--out DIR is required: the supernet's folder")
			case opts.Threads < 0:
				return usageErrorf("--threads %d: want 1 or more (0: all cores)", opts.Threads)
			case opts.Epochs < 1:
				return usageErrorf("--epochs %d: want at least 1", opts.Epochs)
			}
			if opts.Space == "" {
				opts.Space = pipeline.DefaultSpace
			}
			if runF != nil {
				return runF(cmd, opts)
			}
			return supernetTrainRun(cmd, opts)
		},
	}
	f := cmd.Flags()
	opts.dataOptions.addFlags(cmd)
	addSpaceFlag(cmd, &opts.Space)
	addOutFlag(cmd, &opts.Out)
	f.IntVar(&opts.Epochs, "epochs", d.Recipe.Epochs, "epochs to train")
	f.IntVar(&opts.Batch, "batch", d.Recipe.BatchSize, "images per step")
	f.Float64Var(&opts.LR, "lr", d.Recipe.LR, "peak learning rate")
	f.IntVar(&opts.Random, "random", d.Random, "networks drawn at random per step (besides the largest and smallest under the sandwich rule)")
	f.StringVar(&opts.Rule, "rule", supernet.RuleSandwich, "how a step trains: sandwich (the largest on the labels, the smallest and the random networks on its outputs) or single-path (only the random networks, on the labels)")
	f.StringVar(&opts.Sampling, "sampling", supernet.SamplingUniform, "how the random networks are drawn: fair (each stage's block families dealt out evenly) or uniform (uniform over the space's networks)")
	f.IntVar(&opts.Calibration, "calibration", d.CalibrationImages, "training images batch norm is recalibrated on before scoring a network")
	f.BoolVar(&opts.NoAugment, "no-augment", false, "turn off the dataset's usual augmentation (random crop, flip)")
	addFractionFlag(cmd, &opts.DataFraction)
	addSeedFlag(cmd, &opts.Seed)
	addThreadsFlag(cmd, &opts.Threads)
	f.IntVar(&opts.CheckpointSteps, "checkpoint-steps", d.Recipe.CheckpointSteps, "also checkpoint every N steps (0: at epoch ends only)")
	f.BoolVar(&opts.Resume, "resume", false, "continue the run in --out")
	addJSONFlag(cmd, &opts.JSON)
	addQuietFlag(cmd, &opts.Quiet)
	return cmd
}

func (o *supernetTrainOptions) config() supernet.Config {
	c := supernet.DefaultConfig()
	c.Recipe.Epochs, c.Recipe.BatchSize, c.Recipe.LR = o.Epochs, o.Batch, o.LR
	if !o.NoAugment {
		c.Recipe.Augment = trainer.DefaultAugmentation(o.Data)
	}
	c.Recipe.DataFraction, c.Recipe.Seed = o.DataFraction, o.Seed
	c.Recipe.Threads, c.Recipe.CheckpointSteps = o.Threads, o.CheckpointSteps
	c.Random, c.Sampling, c.Rule, c.CalibrationImages = o.Random, o.Sampling, o.Rule, o.Calibration
	return c
}

// supernetLogSteps is how often a supernet training logs a step line
// besides its epoch lines: its epochs are long.
const supernetLogSteps = 50

func supernetTrainRun(cmd *cobra.Command, opts *supernetTrainOptions) error {
	applyThreads(opts.Threads)
	sp, err := space.LoadSpace(opts.Space)
	if err != nil {
		return err
	}
	sets, err := trainer.OpenDataset(opts.Data, opts.DataDir)
	if err != nil {
		return err
	}
	cfg := opts.config()
	ctx, stop := signal.NotifyContext(contextOf(cmd), os.Interrupt)
	defer stop()
	out := cmd.OutOrStdout()
	watch := newTrainWatch(cmd, "supernet", opts.JSON, opts.Quiet, supernetLogSteps)
	// The training loss is the step's first network's: the largest, or
	// under the single-path rule a random one.
	trained := "largest"
	if cfg.Rule == supernet.RuleSinglePath {
		trained = "random"
	}
	cfg.OnStep = func(s trainer.StepReport) { watch.step(s, trained+" ") }
	cfg.OnEpoch = func(e supernet.EpochStats) {
		watch.epoch([]any{"epoch", e.Epoch, "train_loss", sig(e.TrainLoss), "train_acc", sig(e.TrainAcc),
			"largest_val_acc", sig(e.LargestValAcc), "smallest_val_acc", sig(e.SmallestValAcc), "lr", sig(e.LR)},
			fmt.Sprintf("epoch %d  %s: train loss %.4f acc %.2f%%  largest: val acc %.2f%%  smallest: val acc %.2f%%  lr %.4g",
				e.Epoch, trained, e.TrainLoss, 100*e.TrainAcc, 100*e.LargestValAcc, 100*e.SmallestValAcc, e.LR))
	}
	if !opts.JSON {
		fmt.Fprintf(out, "training a supernet of space %s (10^%.1f networks) on %s, %d threads\n", sp.Name, sp.Log10Cardinality(), sets.Train.Name, runtime.GOMAXPROCS(0))
	}
	res, err := supernet.Train(ctx, cfg, sp, opts.Data, sets, opts.Out, opts.Resume)
	watch.finish()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("supernet train: %w\nnas supernet train ... --out %s --resume continues it", err, opts.Out)
		}
		return fmt.Errorf("supernet train: %w", err)
	}
	if opts.JSON {
		return supernetJSON(cmd, res)
	}
	fmt.Fprintf(out, "%d steps, %.0f images/s, %s; supernet in %s\n", res.Steps, res.ImagesPerSec, res.WallTime.Round(1e9), opts.Out)
	return nil
}

// supernetJSON prints v as indented JSON.
func supernetJSON(cmd *cobra.Command, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = cmd.OutOrStdout().Write(append(b, '\n'))
	return err
}

// supernetSubnetOptions are the flags shared by eval and extract.
type supernetSubnetOptions struct {
	Dir, Ref    string
	DataDir     string
	Seed        uint64
	Calibration int
	Threads     int
}

func (o *supernetSubnetOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.DataDir, "data-dir", "", dataDirHelp)
	addSeedFlag(cmd, &o.Seed)
	f.IntVar(&o.Calibration, "calibration", 0, "training images batch norm is recalibrated on (0: the supernet's setting)")
	addThreadsFlag(cmd, &o.Threads)
}

func (o *supernetSubnetOptions) check(args []string) error {
	o.Dir, o.Ref = args[0], args[1]
	if o.Calibration < 0 {
		return usageErrorf("--calibration %d: want 2 or more (0: the supernet's setting)", o.Calibration)
	}
	if o.Threads < 0 {
		return usageErrorf("--threads %d: want 1 or more (0: all cores)", o.Threads)
	}
	return nil
}

// open reads the supernet, its data and ARCH, and returns an evaluator.
func (o *supernetSubnetOptions) open(evalFraction float64) (*supernet.Evaluator, *space.Arch, error) {
	if o.Threads > 0 {
		runtime.GOMAXPROCS(o.Threads)
	}
	sn, err := supernet.Open(o.Dir)
	if err != nil {
		return nil, nil, err
	}
	data := sn.Manifest.Data.Name
	sets, err := trainer.OpenDataset(data, o.DataDir)
	if err != nil {
		return nil, nil, fmt.Errorf("the supernet's data %s: %w", data, err)
	}
	a, err := space.Resolve(o.Ref, space.ZooOptions{})
	if err != nil {
		return nil, nil, err
	}
	ev, err := supernet.NewEvaluator(sn, data, sets, supernet.EvalOptions{CalibrationImages: o.Calibration, EvalFraction: evalFraction})
	if err != nil {
		return nil, nil, err
	}
	return ev, a, nil
}

type supernetEvalOptions struct {
	supernetSubnetOptions
	EvalFraction float64
	JSON         bool
}

func newCmdSupernetEval(runF func(*cobra.Command, *supernetEvalOptions) error) *cobra.Command {
	opts := &supernetEvalOptions{}
	cmd := &cobra.Command{
		Use:   "eval DIR ARCH",
		Short: "Score a network of the space with the weights it inherits",
		Long: `Score ARCH (an arch string or JSON file of a network of the supernet's
space) with the weights it inherits from the supernet in DIR: its batch
normalization is recalibrated on a seeded sample of the training split, and
its accuracy measured on the supernet run's validation split: by default on
a fixed part of it, 1000 images drawn per class, which is what a search
with --supernet scores candidates on.`,
		Example: `  nas supernet eval runs/super "in1x28x28 cls10 | conv_o16_k3_arelu | ..."
  nas supernet eval runs/super best.json --json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.check(args); err != nil {
				return err
			}
			if !(opts.EvalFraction >= 0 && opts.EvalFraction <= 1) {
				return usageErrorf("--eval-fraction %g: want a fraction in (0, 1] (0: %d images of the validation split)", opts.EvalFraction, supernet.DefaultValidationImages)
			}
			if runF != nil {
				return runF(cmd, opts)
			}
			return supernetEvalRun(cmd, opts)
		},
	}
	opts.addFlags(cmd)
	cmd.Flags().Float64Var(&opts.EvalFraction, "eval-fraction", 0, "fraction of the validation split to score on, drawn per class (0: "+strconv.Itoa(supernet.DefaultValidationImages)+" images of it, as a search does; 1: all of it)")
	addJSONFlag(cmd, &opts.JSON)
	return cmd
}

func supernetEvalRun(cmd *cobra.Command, opts *supernetEvalOptions) error {
	ev, a, err := opts.open(opts.EvalFraction)
	if err != nil {
		return err
	}
	e, err := ev.Evaluate(contextOf(cmd), a, opts.Seed)
	if err != nil {
		return fmt.Errorf("supernet eval: %w", err)
	}
	if opts.JSON {
		return supernetJSON(cmd, e)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "validation accuracy %.2f%% (loss %.4f) on %d images, batch norm recalibrated on %d, in %s\n",
		100*e.Acc, e.Loss, e.Images, e.CalibrationImages, e.Time.Round(1e6))
	return nil
}

type supernetExtractOptions struct {
	supernetSubnetOptions
	Out string
}

func newCmdSupernetExtract(runF func(*cobra.Command, *supernetExtractOptions) error) *cobra.Command {
	opts := &supernetExtractOptions{}
	cmd := &cobra.Command{
		Use:   "extract DIR ARCH -o FILE",
		Short: "Write the weights a network inherits from the supernet",
		Long: `Write the weights ARCH inherits from the supernet in DIR, with batch norm
recalibrated as 'nas supernet eval' does, as safetensors with the names of
'nas train' checkpoints: 'nas eval ARCH --weights FILE' reads them.`,
		Example: `  nas supernet extract runs/super best.json -o best.safetensors`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.check(args); err != nil {
				return err
			}
			if opts.Out == "" {
				return usageErrorf("-o FILE is required: where the weights go")
			}
			if runF != nil {
				return runF(cmd, opts)
			}
			return supernetExtractRun(cmd, opts)
		},
	}
	opts.addFlags(cmd)
	addOutFlag(cmd, &opts.Out)
	return cmd
}

func supernetExtractRun(cmd *cobra.Command, opts *supernetExtractOptions) error {
	ev, a, err := opts.open(0)
	if err != nil {
		return err
	}
	net, err := ev.Network(contextOf(cmd), a, opts.Seed)
	if err != nil {
		return fmt.Errorf("supernet extract: %w", err)
	}
	meta := map[string]string{"format": "nas weights", "arch": a.String(), "supernet": opts.Dir, "calibration_seed": strconv.FormatUint(opts.Seed, 10)}
	if err := trainer.SaveWeights(opts.Out, net, meta); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "weights of %s in %s\n", a.String(), opts.Out)
	return nil
}

package main

import (
	"fmt"
	"math/rand/v2"

	"github.com/spf13/cobra"

	"nas/blocks"
	"nas/trainer"
)

type evalOptions struct {
	Ref string
	dataOptions
	Width       float64
	Weights     string
	Split       string
	ValFraction float64
	Seed        uint64
	Batch       int
	Threads     int
	JSON        bool
}

func newCmdEval(runF func(*cobra.Command, *evalOptions) error) *cobra.Command {
	d := trainer.DefaultConfig()
	opts := &evalOptions{}
	cmd := &cobra.Command{
		Use:   "eval ARCH --weights FILE",
		Short: "Evaluate trained weights on the validation or test split",
		Long: `Evaluate a network's weights (a weights.safetensors written by 'nas train',
or a PyTorch state dict saved as safetensors with the same names) in eval
mode: accuracy and mean cross-entropy loss.

ARCH is what the weights were trained for, given as to 'nas train' (for a
zoo network, the same --width). --split val re-creates the validation split
of a training run, which needs that run's --seed and --val; --split test
(the default) uses the test set.`,
		Example: `  nas eval mobilenet_v2 --width 0.5 --weights runs/mbv2/weights.safetensors
  nas eval runs/mbv2/arch.json --weights runs/mbv2/weights.safetensors --split val --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			if err := opts.dataOptions.check(); err != nil {
				return err
			}
			if opts.Weights == "" {
				return usageErrorf("--weights FILE is required (the weights.safetensors of a training run)")
			}
			if opts.Split != "val" && opts.Split != "test" {
				return usageErrorf("--split %q: want val or test", opts.Split)
			}
			if opts.Batch < 1 {
				return usageErrorf("--batch %d: want at least 1", opts.Batch)
			}
			if err := checkThreads(opts.Threads); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd, opts)
			}
			return evalRun(cmd, opts)
		},
	}
	f := cmd.Flags()
	opts.dataOptions.addFlags(cmd)
	addWidthFlag(cmd, &opts.Width)
	addWeightsFlag(cmd, &opts.Weights)
	f.StringVar(&opts.Split, "split", "test", "val (the validation split of a training run, given by --val and --seed) or test")
	addValFlag(cmd, &opts.ValFraction)
	addSeedFlag(cmd, &opts.Seed)
	f.IntVar(&opts.Batch, "batch", d.EvalBatchSize, "images per batch (memory only; results do not change)")
	addThreadsFlag(cmd, &opts.Threads)
	addJSONFlag(cmd, &opts.JSON)
	return cmd
}

// evalReport is the --json output of `nas eval`.
type evalReport struct {
	Arch    string  `json:"arch"`
	Weights string  `json:"weights"`
	Data    string  `json:"data"`
	Split   string  `json:"split"`
	Images  int     `json:"images"`
	Acc     float64 `json:"acc"`
	Loss    float64 `json:"loss"`
}

func evalRun(cmd *cobra.Command, opts *evalOptions) error {
	applyThreads(opts.Threads)
	sets, err := trainer.OpenDataset(opts.Data, opts.DataDir)
	if err != nil {
		return err
	}
	arch, err := resolveArch(opts.Ref, opts.Width, sets)
	if err != nil {
		return err
	}
	g, err := arch.Graph()
	if err != nil {
		return err
	}
	// The initial weights are all overwritten; the seed only fills them.
	net, err := blocks.NewNetwork(g, rand.New(rand.NewPCG(0, 0)))
	if err != nil {
		return err
	}
	if _, err := trainer.LoadWeights(opts.Weights, net); err != nil {
		return err
	}
	d := sets.Test
	if opts.Split == "val" {
		cfg := trainer.DefaultConfig()
		cfg.Seed, cfg.ValFraction = opts.Seed, opts.ValFraction
		if _, d, err = cfg.Split(sets.Train); err != nil {
			return usageErrorf("--val: %v", err)
		}
	}
	m, err := trainer.Evaluate(contextOf(cmd), net, d, opts.Batch)
	if err != nil {
		return err
	}
	rep := evalReport{Arch: arch.String(), Weights: opts.Weights, Data: d.Name, Split: opts.Split, Images: m.N, Acc: m.Acc, Loss: m.Loss}
	out := cmd.OutOrStdout()
	if opts.JSON {
		return writeJSON(out, rep)
	}
	fmt.Fprintf(out, "%s: accuracy %.2f%%, loss %.4f on %d images\n", d.Name, 100*m.Acc, m.Loss, m.N)
	return nil
}

package main

import (
	"runtime"
	"slices"

	"github.com/spf13/cobra"

	"nas/pipeline"
	"nas/space"
	"nas/trainer"
)

// The flags several commands share are declared here, each once, with one
// default and one help text (docs/cli.md lists them; cli_test.go checks
// every command against that list).

// dataOptions are --data and --data-dir.
type dataOptions struct {
	Data    string
	DataDir string
}

func (o *dataOptions) addFlags(cmd *cobra.Command) { addDataFlags(cmd, &o.Data, &o.DataDir) }

func (o *dataOptions) check() error {
	if !slices.Contains(trainer.DatasetNames(), o.Data) {
		return usageErrorf("--data %q: want one of %v", o.Data, trainer.DatasetNames())
	}
	return nil
}

// addDataFlags registers --data and --data-dir.
func addDataFlags(cmd *cobra.Command, data, dir *string) {
	cmd.Flags().StringVar(data, "data", pipeline.DefaultData, "dataset: fashion-mnist, mnist, cifar10 or folder (see docs/data.md)")
	cmd.Flags().StringVar(dir, "data-dir", "", "folder of the dataset files (default: the dataset's install folder; required for folder)")
}

// zooFlags shape a zoo network: --input, --classes, --width.
type zooFlags struct {
	Input   string // CxHxW
	Classes int
	Width   float64
}

func (z *zooFlags) addFlags(cmd *cobra.Command) {
	addInputFlag(cmd, &z.Input)
	cmd.Flags().IntVar(&z.Classes, "classes", 0, "classes of a zoo network (default 1000)")
	addWidthFlag(cmd, &z.Width)
}

// addInputFlag registers --input, the input shape.
func addInputFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "input", "", "input shape CxHxW where the network does not fix it: a zoo network (default 3x224x224), an ONNX model with symbolic dimensions")
}

// resolve loads ARCH, shaping a zoo network with the flags.
func (z *zooFlags) resolve(ref string) (*space.Arch, error) {
	o, err := zooOptions(z.Input, z.Classes, z.Width)
	if err != nil {
		return nil, err
	}
	return space.Resolve(ref, o)
}

// addWidthFlag registers --width.
func addWidthFlag(cmd *cobra.Command, p *float64) {
	cmd.Flags().Float64Var(p, "width", 0, "width multiplier of a zoo network (default 1.0)")
}

// addSeedFlag registers --seed.
func addSeedFlag(cmd *cobra.Command, p *uint64) {
	cmd.Flags().Uint64Var(p, "seed", 1, "seed of every random choice (training, sampling, random weights); for the weights of a training run, that run's seed, which drew its validation split")
}

// addJSONFlag registers --json.
func addJSONFlag(cmd *cobra.Command, p *bool) {
	cmd.Flags().BoolVar(p, "json", false, "print JSON instead of text, and no progress bar")
}

// addQuietFlag registers --quiet.
func addQuietFlag(cmd *cobra.Command, p *bool) {
	cmd.Flags().BoolVar(p, "quiet", false, "no progress bar")
}

// addOutFlag registers -o/--out.
func addOutFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVarP(p, "out", "o", "", "where the command writes: a file or folder (the command's help says which, and its default)")
}

// addThreadsFlag registers --threads.
func addThreadsFlag(cmd *cobra.Command, p *int) {
	cmd.Flags().IntVar(p, "threads", 0, "goroutines for compute: a training batch is split over them, evaluation runs on them (0: all cores); training results depend on it")
}

// checkThreads refuses a negative --threads.
func checkThreads(n int) error {
	if n < 0 {
		return usageErrorf("--threads %d: want 1 or more (0: all cores)", n)
	}
	return nil
}

// applyThreads sets how many goroutines the process computes on
// (--threads; 0 leaves all cores).
func applyThreads(n int) {
	if n > 0 {
		runtime.GOMAXPROCS(n)
	}
}

// addLUTFlag registers --lut.
func addLUTFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "lut", pipeline.DefaultLatencyTable, "latency table (bbolt file); the commands that measure create it and fill this machine's entries")
}

// addDeviceFlag registers --device.
func addDeviceFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "device", "", "use the table's entries of this device (fp-..., see 'nas lut show') instead of this machine's; nothing is measured into them, and end-to-end timings are still of this machine")
}

// addLUTThreadsFlag registers --lut-threads, and --threads as its
// deprecated name.
func addLUTThreadsFlag(cmd *cobra.Command, p *int) {
	cmd.Flags().IntVar(p, "lut-threads", 0, "thread count of the table's device fingerprint, which its measurements run on (0: the table's own for this machine, 1 for a new table)")
	deprecatedAlias(cmd, "threads", "lut-threads")
}

// checkLUTThreads refuses a negative --lut-threads.
func checkLUTThreads(n int) error {
	if n < 0 {
		return usageErrorf("--lut-threads %d: want 1 or more (0: the table's)", n)
	}
	return nil
}

// addStoreFlag registers --store.
func addStoreFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "store", defaultStore, "results store (bbolt file) of search runs and their trials")
}

// addSpaceFlag registers --space.
func addSpaceFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "space", "", "search space: a built-in name (see 'nas space list') or a space JSON file (nas search: small28 when not given)")
}

// addWeightsFlag registers --weights.
func addWeightsFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "weights", "", "safetensors file of the network's weights (nas train's weights.safetensors, or a PyTorch state dict saved as safetensors)")
}

// addTargetFlag registers --target-ms.
func addTargetFlag(cmd *cobra.Command, p *float64) {
	cmd.Flags().Float64Var(p, "target-ms", 0, "latency target in milliseconds at batch 1 on one thread, as the table predicts it (required)")
}

// addValFlag registers --val.
func addValFlag(cmd *cobra.Command, p *float64) {
	cmd.Flags().Float64Var(p, "val", trainer.DefaultConfig().ValFraction, "fraction of the training split held out for validation (for given weights: that of their training run)")
}

// addFractionFlag registers --fraction.
func addFractionFlag(cmd *cobra.Command, p *float64) {
	cmd.Flags().Float64Var(p, "fraction", 1, "fraction of the training data (after --val) that training draws from, seeded")
}

// addRoundsFlag registers --rounds.
func addRoundsFlag(cmd *cobra.Command, p *int) {
	cmd.Flags().IntVar(p, "rounds", pipeline.DefaultRounds, "measure each block or network this many times, in passes over all of them, and keep the best")
}

// deprecatedAlias registers old as a deprecated name of the flag name: it
// sets the same value and says which flag to use.
func deprecatedAlias(cmd *cobra.Command, old, name string) {
	f := cmd.Flags()
	fl := f.Lookup(name)
	if fl == nil {
		panic("deprecatedAlias: no flag --" + name)
	}
	f.VarPF(fl.Value, old, "", fl.Usage).NoOptDefVal = fl.NoOptDefVal
	if err := f.MarkDeprecated(old, "use --"+name); err != nil {
		panic(err)
	}
}

package main

import (
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
	f := cmd.Flags()
	f.StringVar(&z.Input, "input", "", "input shape CxHxW of a zoo network (default 3x224x224)")
	f.IntVar(&z.Classes, "classes", 0, "classes of a zoo network (default 1000)")
	addWidthFlag(cmd, &z.Width)
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
	cmd.Flags().Uint64Var(p, "seed", 1, "seed of every random choice (training, sampling, random weights); for weights of a training run, that run's seed, which drew its validation split")
}

// addJSONFlag registers --json.
func addJSONFlag(cmd *cobra.Command, p *bool) {
	cmd.Flags().BoolVar(p, "json", false, "print JSON instead of text (and no progress)")
}

// addQuietFlag registers --quiet.
func addQuietFlag(cmd *cobra.Command, p *bool) {
	cmd.Flags().BoolVar(p, "quiet", false, "no progress bar")
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

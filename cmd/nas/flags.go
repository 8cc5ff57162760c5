package main

import (
	"fmt"
	"runtime"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"nas/cluster"
	"nas/latency"
	"nas/pipeline"
	"nas/results"
	"nas/search"
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
	cmd.Flags().StringVar(dir, "data-dir", "", dataDirHelp)
}

const dataDirHelp = "folder of the dataset files (default: the dataset's install folder; required for folder)"

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

// parallelHelp is the help of --parallel.
const parallelHelp = "tasks at once: search candidates (their supernet scoring, or proxy training with --proxy), or the proposals of a NetAdapt iteration; on 'nas worker' processes with --nats (give at least the number of workers), else in this process (where a supernet scores one at a time). A search's trials depend on it (except with --strategy random) and a run keeps it; NetAdapt's results do not"

func addParallelFlag(cmd *cobra.Command, p *int) {
	cmd.Flags().IntVar(p, "parallel", 1, parallelHelp)
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
	cmd.Flags().StringVar(p, "device", "", "the device: fp-... (see 'nas lut show') reads the table's entries of that device instead of this machine's, measuring nothing into them (end-to-end timings are still of this machine); with --nats, a NAME served by 'nas agent', measured there")
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

// Values of --log-format.
const (
	logText = "text"
	logJSON = "json"
)

// addLogFormatFlag registers --log-format on the root, for every command.
func addLogFormatFlag(cmd *cobra.Command, p *string) {
	cmd.PersistentFlags().StringVar(p, "log-format", logText, "format of the progress log lines on stderr: text or json (log/slog); long commands log a line per trial, epoch or iteration when stderr is not a terminal, or when this flag is given")
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
	if err := f.SetAnnotation(old, aliasOf, []string{name}); err != nil {
		panic(err)
	}
}

// aliasOf is the annotation of a deprecated name that names its flag.
const aliasOf = "nas-alias-of"

// refuseAliasTogether refuses a deprecated name given together with the
// flag it stands for: the one given last would silently win.
func refuseAliasTogether(cmd *cobra.Command) error {
	var err error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if name := f.Annotations[aliasOf]; len(name) == 1 && err == nil {
			err = refuseTogether(cmd, f.Name, name[0], "--"+f.Name+" is the old name of --"+name[0])
		}
	})
	return err
}

// natsOptions are the connection flags of the commands that talk to a
// NATS server.
type natsOptions struct {
	URL, Creds, User, Password string
	TLSCert, TLSKey, TLSCA     string
	Project                    string
}

func (o *natsOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.URL, "nats", "", "NATS server URL, nats://host:4222: trainings, fine-tunes and a supernet's scoring of candidates run on 'nas worker' processes, device measurements on 'nas agent' ones (see docs/distributed.md)")
	f.StringVar(&o.Creds, "creds", "", "NATS credentials file (user JWT and seed)")
	f.StringVar(&o.User, "user", "", "NATS user")
	f.StringVar(&o.Password, "password", "", "NATS password (with --user)")
	f.StringVar(&o.TLSCert, "tls-cert", "", "client certificate (PEM) for a server that verifies clients")
	f.StringVar(&o.TLSKey, "tls-key", "", "key of --tls-cert (PEM)")
	f.StringVar(&o.TLSCA, "tls-ca", "", "authority (PEM) that signed the server's certificate")
	f.StringVar(&o.Project, "project", cluster.DefaultProject, "prefix of the NATS subjects, streams and buckets")
}

// Completion of flag values and arguments (cobra's __complete, which the
// scripts of `nas completion SHELL` call). The completers are registered
// by flag name over the whole command tree, so that a flag completes the
// same way in every command that takes it.

// completer proposes values for what the user has typed so far.
type completer = func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective)

// fixedValues completes from a closed list.
func fixedValues(values ...string) completer {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// zooNames are the names of the zoo networks.
func zooNames() []string {
	var names []string
	for _, e := range space.Zoo() {
		names = append(names, e.Name)
	}
	return names
}

// completeArch completes ARCH, the first argument or (many) every one: a
// zoo name, or a file (arch JSON, ONNX).
func completeArch(many bool) completer {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 && !many {
			return nil, cobra.ShellCompDirectiveDefault
		}
		return zooNames(), cobra.ShellCompDirectiveDefault
	}
}

// completeBaselines completes the last item of the list --baselines.
func completeBaselines(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	done := ""
	if i := strings.LastIndex(toComplete, ","); i >= 0 {
		done = toComplete[:i+1]
	}
	var out []string
	for _, n := range zooNames() {
		out = append(out, done+n)
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

// completeSpace completes a built-in space; a space JSON file is a file.
func completeSpace(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return space.SpaceNames(), cobra.ShellCompDirectiveDefault
}

// completeRuns completes a run of the store named by --store, with its
// status and trials as the description.
func completeRuns(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if cmd.Flags().Lookup("resume") == nil && len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	path := defaultStore
	if f := cmd.Flag("store"); f != nil {
		path = f.Value.String()
	}
	s, err := results.OpenReadOnly(path)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer s.Close()
	runs, err := s.Runs()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, r := range runs {
		out = append(out, fmt.Sprintf("%s\t%s, %s", r.ID, r.Status, count(r.Trials, "trial")))
	}
	if cmd.Name() == "report" {
		out = append(out, "latest\tthe run created last")
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeDevices completes a device of the table named by --lut.
func completeDevices(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	path := pipeline.DefaultLatencyTable
	if f := cmd.Flag("lut"); f != nil {
		path = f.Value.String()
	}
	sum, err := latency.Inspect(path)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, d := range sum.Devices {
		out = append(out, fmt.Sprintf("%s\t%s", d.ID, count(d.Entries, "entry")))
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeDirs completes folders.
func completeDirs(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveFilterDirs
}

// count is "1 trial", "2 trials", "0 entries".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(noun, "y"))
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// flagCompleters complete flag values by flag name; a name is completed
// only where the flag has the type given.
var flagCompleters = map[string]struct {
	typ string
	fn  completer
}{
	"space":      {"string", completeSpace},
	"data":       {"string", fixedValues(trainer.DatasetNames()...)},
	"data-dir":   {"string", completeDirs},
	"device":     {"string", completeDevices},
	"baselines":  {"stringSlice", completeBaselines},
	"strategy":   {"string", fixedValues(search.Strategies...)},
	"format":     {"string", fixedValues(exportFormats...)},
	"resume":     {"string", completeRuns},
	"criterion":  {"string", fixedValues(search.CriterionAccuracy, search.CriterionRatio)},
	"clock":      {"string", fixedValues(string(latency.ClockWall), string(latency.ClockThreadCPU))},
	"log-format": {"string", fixedValues(logText, logJSON)},
}

// withPrefix keeps the values of fn that start with what is typed.
func withPrefix(fn completer) completer {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		values, dir := fn(cmd, args, toComplete)
		return slices.DeleteFunc(values, func(v string) bool {
			v, _, _ = strings.Cut(v, "\t")
			return !strings.HasPrefix(v, toComplete)
		}), dir
	}
}

// addCompletions registers the completers over the command tree rooted at
// root: flag values by name (flagCompleters), ARCH, RUN and SPACE
// arguments by the command's use line.
func addCompletions(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if cf, ok := flagCompleters[f.Name]; ok && cf.typ == f.Value.Type() && f.Deprecated == "" {
				if err := c.RegisterFlagCompletionFunc(f.Name, withPrefix(cf.fn)); err != nil {
					panic(err)
				}
			}
		})
		if c.ValidArgsFunction == nil {
			switch args := strings.Fields(c.Use)[1:]; {
			case len(args) == 0:
			case args[0] == "ARCH":
				c.ValidArgsFunction = withPrefix(completeArch(false))
			case strings.Contains(c.Use, "ARCH..."):
				c.ValidArgsFunction = withPrefix(completeArch(true))
			case args[0] == "RUN":
				c.ValidArgsFunction = withPrefix(completeRuns)
			case args[0] == "SPACE":
				c.ValidArgsFunction = withPrefix(func(_ *cobra.Command, args []string, s string) ([]string, cobra.ShellCompDirective) {
					if len(args) > 0 {
						return nil, cobra.ShellCompDirectiveNoFileComp
					}
					return completeSpace(nil, nil, s)
				})
			}
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
}

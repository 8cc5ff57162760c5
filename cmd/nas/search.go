package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"nas/latency"
	"nas/pipeline"
	"nas/results"
	"nas/search"
)

// searchOptions are the flags of `nas search`. The defaults make the
// README's first command: a search on Fashion-MNIST that finishes in
// minutes on two cores.
type searchOptions struct {
	Settings pipeline.SearchSettings
	W        float64
	Hard     bool
	Store    string
	Out      string
	Resume   string
	Threads  int
	JSON     bool
	Quiet    bool
	NATS     natsOptions
	Set      []string // the settings given with --resume, checked against the run's
}

func newCmdSearch(runF func(*cobra.Command, *searchOptions) error) *cobra.Command {
	opts := &searchOptions{}
	st := &opts.Settings
	cmd := &cobra.Command{
		Use:   "search --target-ms T",
		Short: "Search the space for the best network under a latency target (MnasNet reward)",
		Long: `Search a space of lightweight-CNN blocks for the network with the best
MnasNet reward  ACC(m) * (LAT(m)/TAR)^w  on this device:

  LAT  the latency predicted by the lookup table (--lut), measured on this
       machine on the fly for blocks the table does not have yet;
  ACC  the validation accuracy the network has with the weights it inherits
       from a weight-sharing supernet of the space, batch norm recalibrated
       (under a CPU-second per candidate); or, with --proxy, its validation
       accuracy after proxy training, as MnasNet scores (--proxy-epochs on
       --proxy-fraction of the training split). The test split is never used
       for a search decision;
  w    --w on both sides of the target (soft constraint, default -0.15), or
       with --hard, 0 below and -1 above it.

The supernet is the one in --supernet DIR, or by default the one kept in
runs/supernets/ for the space, data and supernet recipe: the first search
of a space and dataset builds it there (--supernet-epochs on
--supernet-fraction of the training split; nas supernet train describes
the training), and the next one reuses it. A supernet whose training was
stopped continues where it stopped.

The table is this machine's, at one thread, unless --device names another
device in it (profiled there, see 'nas lut show'): the search then reads
that device's entries and measures nothing into them; the final networks'
end-to-end timings are still of this machine. With --nats, --device NAME
names a device served by 'nas agent': the table is that device's, and the
entries it lacks and the final networks are measured there.

Every trial is committed to the results store (--store) as it finishes; a
killed search continues with --resume RUN and loses at most the trial in
flight. A resumed run keeps its stored settings: a setting flag given with
--resume must have the stored value, else the resume is refused, naming
each that differs. After the budget, the best --final networks are retrained for
--final-epochs on --final-fraction of the training split, evaluated once on
the test set, and timed end to end; --baselines trains and times zoo networks with the
same recipe for comparison. With the supernet, the final training is a
fine-tune that starts from the weights the network inherits from it (default
3 epochs on all of the training split); with --proxy it starts from fresh
weights (default 1 epoch on a quarter). The report (plot, HTML page, best arch) is
written to runs/RUN/, or -o DIR (see nas report).`,
		Example: `  nas search --target-ms 0.5
  nas search --target-ms 1 --budget 2000 --strategy rl --seed 7
  nas search --target-ms 1 --baselines mobilenet_v2@0.5,shufflenet_v2_x0_5
  nas search --target-ms 0.5 --supernet runs/super
  nas search --target-ms 0.5 --proxy --budget 60 --proxy-epochs 2
  nas search --resume run-3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.check(cmd); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd, opts)
			}
			return searchRun(cmd, opts)
		},
	}
	f := cmd.Flags()
	addTargetFlag(cmd, &st.Objective.TargetMs)
	f.IntVar(&st.Budget, "budget", 0, fmt.Sprintf("candidates to score (0: %d with the supernet, %d with --proxy)", pipeline.DefaultSupernetBudget, pipeline.DefaultProxyBudget))
	addParallelFlag(cmd, &st.Parallel)
	f.StringVar(&st.Strategy, "strategy", pipeline.DefaultStrategy, "search strategy: "+strings.Join(search.Strategies, ", "))
	addSpaceFlag(cmd, &st.Space)
	addSeedFlag(cmd, &st.Seed)
	f.Float64Var(&opts.W, "w", search.DefaultW, "reward exponent w of the soft constraint (alpha = beta = w)")
	f.BoolVar(&opts.Hard, "hard", false, "hard constraint: alpha = 0, beta = -1 (networks over the target are penalised, faster ones earn nothing)")
	addDataFlags(cmd, &st.Data, &st.DataDir)
	f.BoolVar(&st.Proxy, "proxy", false, "score candidates by proxy training, as MnasNet does (--proxy-epochs on --proxy-fraction of the training split), instead of with the supernet")
	f.IntVar(&st.ProxyEpochs, "proxy-epochs", 1, "epochs of proxy training per candidate")
	f.Float64Var(&st.ProxyFraction, "proxy-fraction", pipeline.DefaultProxyFraction, "fraction of the training split that proxy training uses")
	f.IntVar(&st.ProxySteps, "proxy-steps", 0, "budget of proxy training in optimizer steps instead of epochs (0: use --proxy-epochs)")
	f.Float64Var(&st.ProxyEval, "proxy-eval-fraction", 1, "fraction of the validation split (per class, the same for every trial) that candidates are scored on")
	f.IntVar(&st.Batch, "batch", pipeline.DefaultBatch, "images per step of the supernet's training (when the search builds it), proxy and final training")
	f.IntVar(&st.Final, "final", 1, "best networks to retrain, test and time after the search (0: none)")
	f.IntVar(&st.FinalEpochs, "final-epochs", 0, fmt.Sprintf("epochs of the final training (0: %d with the supernet, 1 with --proxy)", pipeline.DefaultFinalEpochs))
	f.Float64Var(&st.FinalFraction, "final-fraction", 0, fmt.Sprintf("fraction of the training split the final training uses (0: 1, all of it, with the supernet; %g with --proxy)", pipeline.DefaultFinalFraction))
	f.StringVar(&st.Supernet, "supernet", "", "the supernet's folder: built there if it holds none, continued if its training stopped, used as it is if finished (nas search: default runs/supernets/SPACE-DATA-HASH, reused by the next search of the space and data)")
	d := pipeline.DefaultSupernetRecipe()
	st.SupernetRecipe = d
	f.IntVar(&st.SupernetRecipe.Epochs, "supernet-epochs", d.Epochs, "epochs of the supernet's training when the search builds it")
	f.Float64Var(&st.SupernetRecipe.Fraction, "supernet-fraction", d.Fraction, "fraction of the training split the supernet's training draws from when the search builds it")
	f.StringSliceVar(&st.Baselines, "baselines", nil, "zoo networks to train and time with the final recipe, as NAME or NAME@WIDTH (e.g. mobilenet_v2@0.5)")
	addLUTFlag(cmd, &st.LatencyTable)
	addDeviceFlag(cmd, &st.Device)
	addThreadsFlag(cmd, &opts.Threads)
	addStoreFlag(cmd, &opts.Store)
	addOutFlag(cmd, &opts.Out)
	f.StringVar(&opts.Resume, "resume", "", "continue the stopped run RUN (run-N or N) with its stored settings")
	addJSONFlag(cmd, &opts.JSON)
	addQuietFlag(cmd, &opts.Quiet)
	opts.NATS.addFlags(cmd)
	return cmd
}

// searchFlags names the flag of each setting whose flag is not its name.
var searchFlags = map[string]string{"alpha": "w", "beta": "w", "latency_table": "lut", "target_ms": "target-ms"}

func (o *searchOptions) check(cmd *cobra.Command) error {
	if err := checkThreads(o.Threads); err != nil {
		return err
	}
	if o.Settings.Parallel < 1 {
		return usageErrorf("--parallel %d: want 1 or more candidates trained at once", o.Settings.Parallel)
	}
	if err := o.NATS.check(); err != nil {
		return err
	}
	if err := o.NATS.checkAgentDevice(o.Settings.Device); err != nil {
		return err
	}
	if err := refuseTogether(cmd, "hard", "w", "--hard sets the exponents itself (alpha = 0, beta = -1)"); err != nil {
		return err
	}
	if err := refuseTogether(cmd, "proxy-steps", "proxy-epochs", "the proxy training's budget is one or the other"); err != nil {
		return err
	}
	if err := o.checkAccuracy(cmd); err != nil {
		return err
	}
	o.Settings.Objective = search.SoftObjective(o.Settings.Objective.TargetMs, o.W)
	if o.Hard {
		o.Settings.Objective = search.HardObjective(o.Settings.Objective.TargetMs)
	}
	if o.Resume != "" {
		if _, err := results.ParseRunID(o.Resume); err != nil {
			return usageErrorf("--resume: %v", err)
		}
		// The settings given with --resume are checked against the run's.
		cmd.Flags().Visit(func(f *pflag.Flag) {
			switch f.Name {
			case "w", "hard":
				o.Set = append(o.Set, "alpha", "beta")
			case "lut":
				o.Set = append(o.Set, "latency_table")
			default:
				o.Set = append(o.Set, strings.ReplaceAll(f.Name, "-", "_"))
			}
		})
		return nil
	}
	return flagError(o.Settings.Validate(), searchFlags)
}

// checkAccuracy refuses flags of one accuracy source given with the
// other's: proxy training's without --proxy, the supernet's with it.
func (o *searchOptions) checkAccuracy(cmd *cobra.Command) error {
	if o.Resume != "" {
		return nil // compared with the stored run's settings instead
	}
	for _, name := range []string{"proxy-epochs", "proxy-steps", "proxy-fraction", "proxy-eval-fraction"} {
		if cmd.Flags().Changed(name) && !o.Settings.Proxy {
			return usageErrorf("--%s sets the proxy training, which scores candidates only with --proxy: add --proxy, or drop --%s", name, name)
		}
	}
	for _, name := range []string{"supernet", "supernet-epochs", "supernet-fraction"} {
		if cmd.Flags().Changed(name) && o.Settings.Proxy {
			return usageErrorf("--%s and --proxy cannot be given together: --proxy scores candidates by proxy training, without a supernet; give one of them", name)
		}
	}
	if o.Settings.Proxy {
		o.Settings.SupernetRecipe = pipeline.SupernetRecipe{}
	}
	return nil
}

// refuseTogether refuses the flags a and b given together, with why one
// would silently override the other.
func refuseTogether(cmd *cobra.Command, a, b, why string) error {
	if cmd.Flags().Changed(a) && cmd.Flags().Changed(b) {
		return usageErrorf("--%s and --%s cannot be given together: %s; give one of them", a, b, why)
	}
	return nil
}

// conflictError names the flags of a resume's settings that differ from
// the stored run's (pipeline.ConflictError), with both values.
func conflictError(err error, flags map[string]string) error {
	var ce *pipeline.ConflictError
	if !errors.As(err, &ce) {
		return err
	}
	var parts []string
	for _, d := range ce.Diffs {
		name, ok := flags[d.Setting]
		switch {
		case !ok:
			name = "--" + strings.ReplaceAll(d.Setting, "_", "-")
		case strings.ToLower(name) != name: // an argument: ARCH
		case strings.ReplaceAll(name, "-", "_") != d.Setting:
			name = fmt.Sprintf("--%s (%s)", name, d.Setting)
		default:
			name = "--" + name
		}
		part := fmt.Sprintf("%s: stored %v, given %v", name, d.Stored, d.Given)
		if !slices.Contains(parts, part) {
			parts = append(parts, part)
		}
	}
	return fmt.Errorf("%s was started with other settings (%s): %s", ce.Run, strings.Join(parts, "; "), ce.Fix)
}

// searchSummary is what --json prints.
type searchSummary struct {
	Run       string                 `json:"run"`
	Status    string                 `json:"status"`
	Stopped   string                 `json:"stopped,omitempty"`
	Trials    int                    `json:"trials"`
	Seed      uint64                 `json:"seed"`
	TargetMs  float64                `json:"target_ms"`
	Best      *search.Trial          `json:"best,omitempty"`
	Final     []pipeline.FinalResult `json:"final"`
	ReportDir string                 `json:"report_dir"`
}

func searchRun(cmd *cobra.Command, opts *searchOptions) error {
	applyThreads(opts.Threads)
	ctx, stop := signal.NotifyContext(contextOf(cmd), os.Interrupt)
	defer stop()
	out := cmd.OutOrStdout()
	say := sayer(out, opts.JSON)
	store, err := results.Open(opts.Store)
	if err != nil {
		return err
	}
	defer store.Close()

	remote, agent, closeNATS, err := opts.NATS.remoteWithAgent(ctx, "nas search", opts.Settings.Device)
	if err != nil {
		return err
	}
	defer closeNATS()
	watch := newSearchWatch(cmd, opts)
	s := &pipeline.Search{Store: store, Out: opts.Out, Threads: opts.Threads, Agent: agent}
	watch.attach(s)
	if remote != nil {
		// Tasks are named by run: the run is known once it starts.
		started := s.Started
		s.Started = func(id results.RunID, st pipeline.SearchSettings, done int) {
			remote.Run = id.String()
			started(id, st, done)
		}
		s.Trainer = remote
	}
	var res *pipeline.SearchResult
	if opts.Resume != "" {
		id, _ := results.ParseRunID(opts.Resume)
		res, err = s.Resume(ctx, id, opts.Settings, opts.Set...)
	} else {
		res, err = s.Start(ctx, opts.Settings)
	}
	watch.finish()
	if se := (*pipeline.StoppedError)(nil); errors.As(err, &se) {
		return fmt.Errorf("stopped: %d trials are stored; continue with nas search --resume %s", se.Trials, se.Run)
	}
	if err != nil {
		return conflictError(flagError(searchFillCommand(err, store, opts), searchFlags), searchFlags)
	}
	if res.Stopped != "" {
		say("%s\n", res.Stopped)
	}
	if opts.JSON {
		return writeJSON(out, searchSummary{Run: res.Run.String(), Status: string(results.RunFinished), Stopped: res.Stopped,
			Trials: len(res.Trials), Seed: res.Settings.Seed, TargetMs: res.Settings.Objective.TargetMs, Best: res.Best,
			Final: res.Final, ReportDir: res.Dir})
	}
	printReport(out, res.Report)
	if len(res.Final) > 0 {
		fmt.Fprintln(out, "\nfinal recipe (test set, measured latency):")
		printFinals(out, res.Final)
	}
	fmt.Fprintf(out, "\nreport: %s (open report.html)\n", res.Dir)
	return nil
}

// searchFillCommand names the command that fills another device's table
// with what a search of its space needs.
func searchFillCommand(err error, store *results.Store, opts *searchOptions) error {
	var me *latency.MissingError
	if !errors.As(err, &me) {
		return err
	}
	sp := opts.Settings.Space
	if id, perr := results.ParseRunID(opts.Resume); perr == nil {
		if run, rerr := store.Run(id); rerr == nil {
			sp = run.Config.Space
		}
	}
	if sp == "" {
		sp = pipeline.DefaultSpace
	}
	return fillCommand(err, me.Path, 1, "--space "+shellQuote(sp))
}

func printFinals(w io.Writer, fs []pipeline.FinalResult) {
	fmt.Fprintf(w, "  %-28s %10s %12s %10s %10s %8s %8s\n", "network", "params", "MACs", "pred ms", "meas ms", "val", "test")
	for _, f := range fs {
		fmt.Fprintf(w, "  %-28s %10d %12d %10.3f %10.3f %8.4f %8.4f\n", f.Name, f.Params, f.MACs, f.PredictedMs, f.MeasuredMs, f.ValAcc, f.TestAcc)
	}
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"nas/internal/atomicfile"
	"nas/internal/progress"
	"nas/latency"
	"nas/results"
	"nas/search"
	"nas/space"
	"nas/trainer"
)

// searchOptions are the settings of `nas search`. The defaults make the
// README's first command: a search on Fashion-MNIST that finishes in
// minutes on two cores.
type searchOptions struct {
	TargetMs float64
	Budget   int
	Strategy string
	Space    string
	Seed     uint64
	W        float64
	Hard     bool
	dataOptions

	ProxyEpochs   int
	ProxyFraction float64
	ProxySteps    int
	ProxyEval     float64
	Batch         int

	Final         int
	FinalEpochs   int
	FinalFraction float64
	Baselines     []string

	LUT    string
	Store  string
	Out    string
	Resume string
	JSON   bool
}

// searchSettings are the run's settings as stored with it (RunConfig.Settings),
// so that --resume continues with exactly them.
type searchSettings struct {
	Budget        int     `json:"budget"`
	Alpha         float64 `json:"alpha"`
	Beta          float64 `json:"beta"`
	DataDir       string  `json:"data_dir,omitempty"`
	ProxyEpochs   int     `json:"proxy_epochs"`
	ProxyFraction float64 `json:"proxy_fraction"`
	ProxySteps    int     `json:"proxy_steps,omitempty"`
	// ProxyEval is the fraction of the validation split trials are scored
	// on; FixedSplit, that every trial and final network uses the run's
	// validation split (runs stored before it drew one per trial).
	ProxyEval     float64  `json:"proxy_eval_fraction,omitempty"`
	FixedSplit    bool     `json:"fixed_split,omitempty"`
	Batch         int      `json:"batch"`
	Final         int      `json:"final"`
	FinalEpochs   int      `json:"final_epochs"`
	FinalFraction float64  `json:"final_fraction"`
	Baselines     []string `json:"baselines,omitempty"`
}

func newCmdSearch(runF func(*cobra.Command, *searchOptions) error) *cobra.Command {
	opts := &searchOptions{}
	cmd := &cobra.Command{
		Use:   "search --target-ms T",
		Short: "Search the space for the best network under a latency target (MnasNet reward)",
		Long: `Search a space of lightweight-CNN blocks for the network with the best
MnasNet reward  ACC(m) * (LAT(m)/TAR)^w  on this device:

  LAT  the latency predicted by the lookup table (--lut), measured on this
       machine on the fly for blocks the table does not have yet;
  ACC  the validation accuracy after proxy training (--proxy-epochs on
       --proxy-fraction of the training split; the test split is never used
       for a search decision);
  w    --w on both sides of the target (soft constraint, default -0.15), or
       with --hard, 0 below and -1 above it.

Every trial is committed to the results store (--store) as it finishes; a
killed search continues with --resume RUN and loses at most the trial in
flight. After the budget, the best --final networks are retrained for
--final-epochs on --final-fraction of the training split, evaluated once on
the test set, and timed end to end; --baselines trains and times zoo networks with the
same recipe for comparison. The report (plot, HTML page, best arch) is
written to runs/RUN/ (see nas report).`,
		Example: `  nas search --target-ms 0.5
  nas search --target-ms 1 --strategy rl --budget 60 --proxy-epochs 2 --seed 7
  nas search --target-ms 1 --baselines mobilenet_v2@0.5,shufflenet_v2_x0_5
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
	f.Float64Var(&opts.TargetMs, "target-ms", 0, "latency target TAR in milliseconds (batch 1, one thread, on this machine)")
	f.IntVar(&opts.Budget, "budget", 12, "candidates to train and score")
	f.StringVar(&opts.Strategy, "strategy", "evolution", "search strategy: "+strings.Join(search.Strategies, ", "))
	f.StringVar(&opts.Space, "space", "small28", "search space: a built-in name (nas space list) or a space JSON file")
	f.Uint64Var(&opts.Seed, "seed", 1, "seed of every random choice of the run")
	f.Float64Var(&opts.W, "w", search.DefaultW, "reward exponent w of the soft constraint (alpha = beta = w)")
	f.BoolVar(&opts.Hard, "hard", false, "hard constraint: alpha = 0, beta = -1 (networks over the target are penalised, faster ones earn nothing)")
	opts.dataOptions.addFlags(cmd)
	f.IntVar(&opts.ProxyEpochs, "proxy-epochs", 1, "epochs of proxy training per candidate")
	f.Float64Var(&opts.ProxyFraction, "proxy-fraction", 0.05, "fraction of the training split that proxy training uses")
	f.IntVar(&opts.ProxySteps, "proxy-steps", 0, "budget of proxy training in optimizer steps instead of epochs (0: use --proxy-epochs)")
	f.Float64Var(&opts.ProxyEval, "proxy-eval-fraction", 1, "fraction of the validation split (per class, the same for every trial) that candidates are scored on")
	f.IntVar(&opts.Batch, "batch", 64, "batch size of proxy and final training")
	f.IntVar(&opts.Final, "final", 1, "best networks to retrain, test and time after the search (0: none)")
	f.IntVar(&opts.FinalEpochs, "final-epochs", 1, "epochs of the final training")
	f.Float64Var(&opts.FinalFraction, "final-fraction", 0.25, "fraction of the training split the final training uses (1: all of it)")
	f.StringSliceVar(&opts.Baselines, "baselines", nil, "zoo networks to train and time with the final recipe, as NAME or NAME@WIDTH (e.g. mobilenet_v2@0.5)")
	f.StringVar(&opts.LUT, "lut", "nas-lut.db", "latency table (bbolt); created and filled on this machine when missing")
	f.StringVar(&opts.Store, "store", defaultStore, "results store (bbolt) of runs and trials")
	f.StringVar(&opts.Out, "out", "", "report folder (default runs/RUN)")
	f.StringVar(&opts.Resume, "resume", "", "continue the stopped run RUN (run-N or N) with its stored settings")
	f.BoolVar(&opts.JSON, "json", false, "print a JSON summary instead of progress and tables")
	return cmd
}

func (o *searchOptions) check(cmd *cobra.Command) error {
	if o.Resume != "" {
		if _, err := results.ParseRunID(o.Resume); err != nil {
			return usageErrorf("--resume: %v", err)
		}
		return nil
	}
	switch {
	case !(o.TargetMs > 0):
		return usageErrorf("--target-ms is required and must be positive (milliseconds at batch 1 on this machine)")
	case o.Budget < 1:
		return usageErrorf("--budget %d: train at least one candidate", o.Budget)
	case !slices.Contains(search.Strategies, o.Strategy):
		return usageErrorf("--strategy %q: want one of %s", o.Strategy, strings.Join(search.Strategies, ", "))
	case o.W > 0:
		return usageErrorf("--w %g: the exponent must be <= 0 (a slower network must never score higher)", o.W)
	case o.ProxyEpochs < 1 && o.ProxySteps < 1:
		return usageErrorf("--proxy-epochs %d: at least 1 (or give --proxy-steps)", o.ProxyEpochs)
	case !(o.ProxyFraction > 0 && o.ProxyFraction <= 1):
		return usageErrorf("--proxy-fraction %g: want a fraction in (0, 1]", o.ProxyFraction)
	case !(o.ProxyEval > 0 && o.ProxyEval <= 1):
		return usageErrorf("--proxy-eval-fraction %g: want a fraction in (0, 1]", o.ProxyEval)
	case o.Batch < 1:
		return usageErrorf("--batch %d: at least 1", o.Batch)
	case o.Final < 0 || o.FinalEpochs < 1:
		return usageErrorf("--final %d and --final-epochs %d: want 0 or more, and at least 1", o.Final, o.FinalEpochs)
	case !(o.FinalFraction > 0 && o.FinalFraction <= 1):
		return usageErrorf("--final-fraction %g: want a fraction in (0, 1]", o.FinalFraction)
	}
	for _, b := range o.Baselines {
		if _, _, err := parseBaseline(b); err != nil {
			return usageErrorf("--baselines: %v", err)
		}
	}
	return o.dataOptions.check()
}

// parseBaseline reads NAME or NAME@WIDTH.
func parseBaseline(s string) (string, float64, error) {
	name, w, hasW := strings.Cut(s, "@")
	width := 1.0
	if hasW {
		if _, err := fmt.Sscanf(w, "%g", &width); err != nil || !(width > 0) {
			return "", 0, fmt.Errorf("%q: the width after @ must be a positive number", s)
		}
	}
	for _, e := range space.Zoo() {
		if e.Name == name {
			return name, width, nil
		}
	}
	return "", 0, fmt.Errorf("%q: no zoo network %q (see nas zoo list)", s, name)
}

// searchSummary is what --json prints.
type searchSummary struct {
	Run       string        `json:"run"`
	Status    string        `json:"status"`
	Stopped   string        `json:"stopped,omitempty"`
	Trials    int           `json:"trials"`
	Seed      uint64        `json:"seed"`
	TargetMs  float64       `json:"target_ms"`
	Best      *search.Trial `json:"best,omitempty"`
	Final     []finalResult `json:"final"`
	ReportDir string        `json:"report_dir"`
}

// finalResult is a network trained with the final recipe, tested and timed.
type finalResult struct {
	Name        string  `json:"name"`
	Arch        string  `json:"arch"`
	Params      int64   `json:"params"`
	MACs        int64   `json:"macs"`
	PredictedMs float64 `json:"predicted_ms,omitempty"`
	MeasuredMs  float64 `json:"measured_ms"`
	ValAcc      float64 `json:"val_acc"`
	TestAcc     float64 `json:"test_acc"`
	Weights     string  `json:"weights"` // the trained weights (safetensors)
}

func searchRun(cmd *cobra.Command, opts *searchOptions) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
	defer stop()
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	say := func(format string, args ...any) {
		if !opts.JSON {
			fmt.Fprintf(out, format, args...)
		}
	}

	store, err := results.Open(opts.Store)
	if err != nil {
		return err
	}
	defer store.Close()

	// A new run stores its settings; a resumed one reads them back.
	var id results.RunID
	var cfg results.RunConfig
	var st searchSettings
	var trials []search.Trial
	var state []byte
	if opts.Resume != "" {
		if id, err = results.ParseRunID(opts.Resume); err != nil {
			return usageErrorf("--resume: %v", err)
		}
		run, err := store.Run(id)
		if err != nil {
			return err
		}
		if run.Status == results.RunFinished {
			return fmt.Errorf("%s is finished: nothing to resume (nas report %s shows it)", id, id)
		}
		cfg = run.Config
		if err := json.Unmarshal(cfg.Settings, &st); err != nil {
			return fmt.Errorf("%s: stored settings: %v", id, err)
		}
		stored, err := store.Trials(id)
		if err != nil {
			return err
		}
		for i, t := range stored {
			trials = append(trials, fromStored(i, t))
		}
		if state, _, err = store.LastState(id); err != nil {
			return err
		}
		if err := store.SetStatus(id, results.RunRunning); err != nil {
			return err
		}
	} else {
		st = searchSettings{Budget: opts.Budget, Alpha: opts.W, Beta: opts.W, DataDir: opts.DataDir,
			ProxyEpochs: opts.ProxyEpochs, ProxyFraction: opts.ProxyFraction, ProxySteps: opts.ProxySteps,
			ProxyEval: opts.ProxyEval, FixedSplit: true,
			Batch: opts.Batch, Final: opts.Final, FinalEpochs: opts.FinalEpochs, FinalFraction: opts.FinalFraction, Baselines: opts.Baselines}
		if opts.Hard {
			st.Alpha, st.Beta = 0, -1
		}
		raw, _ := json.Marshal(st)
		cfg = results.RunConfig{Strategy: opts.Strategy, Seed: opts.Seed, TargetMs: opts.TargetMs, Space: opts.Space,
			Dataset: opts.Data, LatencyTable: opts.LUT, Settings: raw}
	}
	obj := search.Objective{TargetMs: cfg.TargetMs, Alpha: st.Alpha, Beta: st.Beta}
	if err := obj.Validate(); err != nil {
		return err
	}

	sp, err := space.LoadSpace(cfg.Space)
	if err != nil {
		return err
	}
	sets, err := trainer.OpenDataset(cfg.Dataset, st.DataDir)
	if err != nil {
		return err
	}
	if sets.Shape() != sp.Input || sets.Classes() != sp.Classes {
		return fmt.Errorf("space %s is for %v images and %d classes, dataset %s has %v and %d: choose a space made for the dataset (nas space list)",
			cfg.Space, sp.Input, sp.Classes, cfg.Dataset, sets.Shape(), sets.Classes())
	}

	// The latency table of this machine, one thread, batch 1: created when
	// missing, filled as candidates need entries.
	tbl, err := latency.Open(cfg.LatencyTable, latency.CurrentFingerprint(1), latency.Options{})
	if err != nil {
		return err
	}
	defer tbl.Close()
	// Its overhead is calibrated on the space's calibration networks, as
	// `nas profile --space` does, not on the first candidate alone: one
	// network's scale was 16% off in one run of the README's main job.
	calib, err := spaceCalibration(sp, defaultCalibrate)
	if err != nil {
		return err
	}
	lat := &tableLatency{ctx: ctx, pred: &latency.Predictor{Table: tbl, Batch: 1,
		Fill: &latency.Profiler{Table: tbl, Compile: compiler(), Batch: 1, Threads: 1, Rounds: defaultRounds, Calibration: calib}}}

	if opts.Resume == "" {
		cfg.Device = tbl.Device().ID()
		if id, err = store.CreateRun(cfg); err != nil {
			return err
		}
	}
	// Evolution's population is a third of the budget up to its default of
	// 16, so that a small budget still breeds after the random start.
	strategy, err := search.NewStrategy(cfg.Strategy, sp.Cardinalities(), cfg.Seed,
		search.StrategySettings{Population: min(16, max(4, st.Budget/3))})
	if err != nil {
		return err
	}
	proxy := proxyConfig(st, cfg.Seed)
	s := &search.Search{
		Space:    sp,
		Strategy: strategy,
		Latency:  lat,
		Accuracy: &proxyTrainer{cfg: proxy, sets: sets},
		Recorder: &storeRecorder{store: store, run: id},
		Settings: search.Settings{Objective: obj, Budget: st.Budget, Seed: cfg.Seed,
			Key: func(a *space.Arch) string { return a.String() }},
	}
	if opts.Resume != "" && len(trials) > 0 {
		if err := s.Resume(trials, state); err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
	}

	say("%s: %s search of %s for %g ms on %s, seed %d, budget %d (store %s, table %s)\n",
		id, cfg.Strategy, cfg.Space, cfg.TargetMs, cfg.Dataset, cfg.Seed, st.Budget, opts.Store, cfg.LatencyTable)
	bar := progress.New(errOut, "search", "trials", st.Budget, len(trials), opts.JSON)
	s.Settings.Progress = func(done int, best search.Trial) {
		bar.Add(1)
		bar.Status(fmt.Sprintf("best reward %.4f (acc %.3f, %.3g ms)", best.Reward, best.Accuracy, best.LatencyMs))
	}
	runErr := s.Run(ctx)
	bar.Finish()
	if runErr != nil {
		status := results.RunFailed
		if errors.Is(runErr, context.Canceled) {
			status = results.RunStopped
			runErr = fmt.Errorf("stopped: %d trials are stored; continue with nas search --resume %s", len(s.Trials()), id)
		}
		if err := store.SetStatus(id, status); err != nil {
			return errors.Join(runErr, err)
		}
		return runErr
	}
	if s.Stopped != "" {
		say("%s\n", s.Stopped)
	}

	dir := opts.Out
	if dir == "" {
		dir = runFolder(id)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}

	// The final recipe: the whole training split, test set once.
	final := trainer.DefaultConfig()
	final.Epochs, final.BatchSize, final.Test = st.FinalEpochs, st.Batch, true
	final.DataFraction = st.FinalFraction
	final.Augment = trainer.DefaultAugmentation(cfg.Dataset)
	final.Seed = cfg.Seed
	if st.FixedSplit {
		final.SplitSeed = runSplitSeed(cfg.Seed)
	}
	var finals []finalResult
	var baselines []results.Baseline
	for i, t := range topTrials(s.Trials(), st.Final) {
		a, err := space.ParseArch(t.Key)
		if err != nil {
			return err
		}
		a.Name = fmt.Sprintf("searched-%d", i+1)
		say("final training of %s (trial %d, reward %.4f): %d epochs\n", a.Name, t.Index+1, t.Reward, final.Epochs)
		fr, err := trainAndTime(ctx, final, a, sets, lat, dir)
		if err != nil {
			return err
		}
		finals = append(finals, fr)
		baselines = append(baselines, fr.baseline())
	}
	for _, b := range st.Baselines {
		name, width, _ := parseBaseline(b)
		a, err := space.ZooArch(name, space.ZooOptions{Input: sp.Input, Classes: sp.Classes, Width: width})
		if err != nil {
			return err
		}
		a.Name = b
		say("final training of baseline %s: %d epochs\n", b, final.Epochs)
		fr, err := trainAndTime(ctx, final, a, sets, lat, dir)
		if err != nil {
			return err
		}
		finals = append(finals, fr)
		baselines = append(baselines, fr.baseline())
	}
	if len(baselines) > 0 {
		if err := store.AddBaselines(id, baselines...); err != nil {
			return err
		}
	}
	if err := store.SetStatus(id, results.RunFinished); err != nil {
		return err
	}

	rep, err := store.Report(id)
	if err != nil {
		return err
	}
	if _, err := rep.WriteDir(dir); err != nil {
		return err
	}
	if err := writeJSONFile(filepath.Join(dir, "final.json"), finals); err != nil {
		return err
	}

	sum := searchSummary{Run: id.String(), Status: string(results.RunFinished), Stopped: s.Stopped, Trials: len(s.Trials()),
		Seed: cfg.Seed, TargetMs: cfg.TargetMs, Final: finals, ReportDir: dir}
	if b, ok := s.Best(); ok {
		sum.Best = &b
	}
	if opts.JSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	printReport(out, rep)
	if len(finals) > 0 {
		fmt.Fprintln(out, "\nfinal recipe (test set, measured latency):")
		printFinals(out, finals)
	}
	fmt.Fprintf(out, "\nreport: %s (open report.html)\n", dir)
	return nil
}

// topTrials returns the n ok trials of highest reward, best first.
func topTrials(trials []search.Trial, n int) []search.Trial {
	var ok []search.Trial
	for _, t := range trials {
		if t.Status == search.StatusOK {
			ok = append(ok, t)
		}
	}
	sort.SliceStable(ok, func(i, j int) bool { return ok[i].Reward > ok[j].Reward })
	return ok[:min(n, len(ok))]
}

// trainAndTime trains a with the final recipe, saves its weights as
// dir/NAME.safetensors (nas export and nas infer read them), and times it.
func trainAndTime(ctx context.Context, cfg trainer.Config, a *space.Arch, sets *trainer.Sets, lat *tableLatency, dir string) (finalResult, error) {
	res, err := trainer.Train(ctx, cfg, a, sets)
	if err != nil {
		return finalResult{}, fmt.Errorf("final training of %s: %w", a.Name, err)
	}
	cost, _ := a.Cost()
	fr := finalResult{Name: a.Name, Arch: a.String(), Params: cost.Params, MACs: cost.MACs, ValAcc: res.ValAcc, TestAcc: res.TestAcc,
		Weights: filepath.Join(dir, strings.ReplaceAll(a.Name, "@", "_")+".safetensors")}
	if err := trainer.SaveWeights(fr.Weights, res.Network, map[string]string{"arch": fr.Arch}); err != nil {
		return fr, err
	}
	if fr.PredictedMs, err = lat.LatencyMs(a); err != nil {
		return fr, err
	}
	fr.MeasuredMs, err = measureNetworkMs(ctx, a, latency.Protocol{})
	return fr, err
}

func (f finalResult) baseline() results.Baseline {
	test := f.TestAcc
	return results.Baseline{Name: f.Name + " (final)", Arch: f.Arch, LatencyMs: f.MeasuredMs, Accuracy: f.ValAcc, TestAccuracy: &test, Params: f.Params, MACs: f.MACs}
}

func printFinals(w interface{ Write([]byte) (int, error) }, fs []finalResult) {
	fmt.Fprintf(w, "  %-28s %10s %12s %10s %10s %8s %8s\n", "network", "params", "MACs", "pred ms", "meas ms", "val", "test")
	for _, f := range fs {
		fmt.Fprintf(w, "  %-28s %10d %12d %10.3f %10.3f %8.4f %8.4f\n", f.Name, f.Params, f.MACs, f.PredictedMs, f.MeasuredMs, f.ValAcc, f.TestAcc)
	}
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, append(b, '\n'))
}

// tableLatency is search's LatencyModel over the lookup table, measuring
// missing entries on one thread (the table's setting) and training on all.
type tableLatency struct {
	ctx  context.Context
	pred *latency.Predictor
}

func (l *tableLatency) LatencyMs(a *space.Arch) (float64, error) {
	var ms float64
	err := withThreads(1, func() error {
		p, err := l.pred.Predict(l.ctx, a)
		ms = p.Ms
		return err
	})
	return ms, err
}

// proxyConfig is the training recipe of a search's trials (the run seed
// runSeed): proxyTrainer sets each trial's own Seed, which draws its
// weights, its part of the training split and its sample order; with
// FixedSplit the validation split, and the part of it that scores, come
// from the run seed, the same for every trial.
func proxyConfig(st searchSettings, runSeed uint64) trainer.Config {
	proxy := trainer.DefaultConfig()
	proxy.Epochs, proxy.Steps, proxy.BatchSize = st.ProxyEpochs, st.ProxySteps, st.Batch
	proxy.DataFraction = st.ProxyFraction
	if st.FixedSplit {
		proxy.SplitSeed, proxy.EvalFraction = runSplitSeed(runSeed), st.ProxyEval
	}
	proxy.WarmupEpochs = 0.1
	if proxy.Steps == 0 {
		proxy.WarmupEpochs = min(1, 0.1*float64(proxy.Epochs))
	}
	return proxy
}

// runSplitSeed is the seed of a run's validation split: the run seed
// (trainer.Config.SplitSeed 0 would mean each trial's own seed).
func runSplitSeed(seed uint64) uint64 {
	if seed == 0 {
		return 1 << 63
	}
	return seed
}

// proxyTrainer is search's Evaluator: proxy training on a seeded part of
// the training split, scored on the validation split.
type proxyTrainer struct {
	cfg  trainer.Config
	sets *trainer.Sets
}

func (p *proxyTrainer) Accuracy(ctx context.Context, a *space.Arch, seed uint64) (float64, error) {
	cfg := p.cfg
	cfg.Seed = seed
	res, err := trainer.Train(ctx, cfg, a, p.sets)
	if err != nil {
		return 0, err
	}
	return res.ValAcc, nil
}

// storeRecorder commits each trial with the search state in one write.
type storeRecorder struct {
	store *results.Store
	run   results.RunID
}

func (r *storeRecorder) Record(t search.Trial, state []byte) error {
	return r.store.AppendTrial(r.run, toStored(t), state)
}

func toStored(t search.Trial) results.Trial {
	rt := results.Trial{Arch: t.Key, Params: t.Params, MACs: t.MACs, PredictedLatencyMs: t.LatencyMs,
		ValAccuracy: t.Accuracy, Reward: t.Reward, Status: results.TrialStatus(t.Status), Reason: t.Reason,
		Seed: t.Seed, WallTime: t.Wall, Finished: time.Now()}
	rt.Started = rt.Finished.Add(-t.Wall)
	if a, err := space.ParseArch(t.Key); err == nil {
		if js, err := a.MarshalJSON(); err == nil {
			rt.ArchJSON = js
		}
	}
	return rt
}

func fromStored(i int, t results.Trial) search.Trial {
	return search.Trial{Index: i, Key: t.Arch, Params: t.Params, MACs: t.MACs, LatencyMs: t.PredictedLatencyMs,
		Accuracy: t.ValAccuracy, Reward: t.Reward, Status: string(t.Status), Reason: t.Reason, Seed: t.Seed, Wall: t.WallTime}
}

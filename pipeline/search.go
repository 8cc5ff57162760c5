package pipeline

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"nas/internal/atomicfile"
	"nas/latency"
	"nas/results"
	"nas/search"
	"nas/space"
	"nas/supernet"
	"nas/trainer"
)

// SearchSettings are the settings of a search run. Validate checks them;
// zero means the default where one is named. A run stores them
// (results.RunConfig), and a resumed run continues with exactly them.
type SearchSettings struct {
	Space    string // a built-in space or a space JSON file; default small28
	Data     string // dataset name (trainer.DatasetNames); default fashion-mnist
	DataDir  string // default the dataset's install folder
	Strategy string // search.Strategies; default evolution
	Seed     uint64 // every random choice of the run derives from it
	// Objective is the reward: its TargetMs is required; use
	// search.SoftObjective or search.HardObjective.
	Objective search.Objective
	Budget    int // candidates to score (default DefaultSupernetBudget, or DefaultProxyBudget with Proxy)
	// Parallel is how many candidates are scored at once (0 and 1: one
	// at a time): on workers when the Trainer is remote (a
	// SupernetScorer, with a supernet), else in this process, where a
	// supernet still scores one at a time. The strategy proposes from the
	// trials committed so far while the others are scored
	// (search.Settings.Parallel), so the trials depend on it, except with
	// the random strategy; a run stores it.
	Parallel int

	// Proxy scores candidates by proxy training, as MnasNet does: a
	// candidate's accuracy is its validation accuracy after ProxyEpochs
	// (or ProxySteps) on ProxyFraction of the training split. Without it,
	// a candidate's accuracy is the one it has with the weights it
	// inherits from the supernet in Supernet, after batch-norm
	// recalibration, on the supernet's validation split
	// (supernet.Evaluator).
	Proxy bool
	// Supernet is the supernet's folder ("": the folder SupernetFolder
	// names under Search.Supernets). A folder without a supernet gets one
	// trained with SupernetRecipe, an unfinished one of that recipe
	// continues its training, and a finished one is used as it is. The
	// run records the supernet's identity, and a resumed run refuses a
	// folder whose weights are not those.
	Supernet string
	// SupernetRecipe is how the supernet is trained when it is built
	// here (zero: DefaultSupernetRecipe).
	SupernetRecipe SupernetRecipe

	ProxyEpochs   int     // epochs of proxy training per candidate; default 1 unless ProxySteps
	ProxySteps    int     // optimizer steps of proxy training instead of epochs
	ProxyFraction float64 // fraction of the training split proxy training uses; default 0.05
	ProxyEval     float64 // fraction of the validation split candidates are scored on; default 1
	Batch         int     // batch size of the supernet's (when built here), proxy and final training; default 64

	// Final is the number of best networks to train, test and time after
	// the search (0: none). With a supernet, a final network starts from
	// the weights it inherits from it (a fine-tune); with Proxy, from
	// fresh weights.
	Final         int
	FinalEpochs   int      // default DefaultFinalEpochs, or 1 with Proxy
	FinalFraction float64  // fraction of the training split the final training uses; default 1, or 0.25 with Proxy
	Baselines     []string // zoo networks trained with the final recipe: NAME or NAME@WIDTH

	LatencyTable string // default DefaultLatencyTable
	// Device reads another device's measurements from the table (a
	// fingerprint ID); "" is this machine, whose table is created and
	// filled as candidates need entries.
	Device string

	// perTrialSplit marks a run stored before runs had one validation
	// split for all trials: each trial then draws its own.
	perTrialSplit bool
	// supernetIdentity is the identity of the Supernet's weights the run
	// searches with (supernet.Supernet.Identity).
	supernetIdentity string
}

// Defaults of SearchSettings.
const (
	DefaultSpace         = "small28"
	DefaultData          = "fashion-mnist"
	DefaultStrategy      = "evolution"
	DefaultProxyFraction = 0.05
	DefaultBatch         = 64
	DefaultFinalFraction = 0.25 // with Proxy
	DefaultProxyBudget   = 12   // with Proxy
	// DefaultFinalEpochs is the length of the fine-tune of a searched
	// network from its inherited weights, on all of the training split,
	// and of the baselines' training beside it.
	DefaultFinalEpochs = 3
	// DefaultFineTuneLR is the peak learning rate of that fine-tune,
	// reached after DefaultFineTuneWarmup epochs of linear warm-up.
	DefaultFineTuneLR     = 0.1
	DefaultFineTuneWarmup = 0.1
)

func (s SearchSettings) withDefaults() SearchSettings {
	if s.Space == "" {
		s.Space = DefaultSpace
	}
	if s.Data == "" {
		s.Data = DefaultData
	}
	if s.Strategy == "" {
		s.Strategy = DefaultStrategy
	}
	if s.ProxyEpochs == 0 && s.ProxySteps == 0 {
		s.ProxyEpochs = 1
	}
	if s.ProxyFraction == 0 {
		s.ProxyFraction = DefaultProxyFraction
	}
	if s.ProxyEval == 0 {
		s.ProxyEval = 1
	}
	if s.Batch == 0 {
		s.Batch = DefaultBatch
	}
	if s.Proxy {
		s.Budget = cmp.Or(s.Budget, DefaultProxyBudget)
		s.FinalEpochs = cmp.Or(s.FinalEpochs, 1)
		s.FinalFraction = cmp.Or(s.FinalFraction, DefaultFinalFraction)
	} else {
		s.FinalEpochs = cmp.Or(s.FinalEpochs, DefaultFinalEpochs)
		s.FinalFraction = cmp.Or(s.FinalFraction, 1)
		s.Budget = cmp.Or(s.Budget, DefaultSupernetBudget)
		s.SupernetRecipe = s.SupernetRecipe.withDefaults()
	}
	if s.LatencyTable == "" {
		s.LatencyTable = DefaultLatencyTable
	}
	return s
}

// Validate reports the first setting that cannot run, as a *SettingError.
func (s SearchSettings) Validate() error {
	s = s.withDefaults()
	o := s.Objective
	switch {
	case !(o.TargetMs > 0) || math.IsInf(o.TargetMs, 0):
		return settingErr("target_ms", o.TargetMs, "the latency target is required and must be a positive number of milliseconds")
	case o.Alpha > 0:
		return settingErr("alpha", o.Alpha, "the reward exponent must be <= 0 (a slower network must never score higher)")
	case o.Beta > 0:
		return settingErr("beta", o.Beta, "the reward exponent must be <= 0 (a slower network must never score higher)")
	case s.Budget < 1:
		return settingErr("budget", s.Budget, "score at least one candidate")
	case s.Proxy && s.Supernet != "":
		return settingErr("supernet", s.Supernet, "proxy training scores candidates without a supernet: give one or the other")
	case s.Parallel < 0:
		return settingErr("parallel", s.Parallel, "want 1 or more candidates trained at once")
	case !slices.Contains(search.Strategies, s.Strategy):
		return settingErr("strategy", s.Strategy, "want one of %s", strings.Join(search.Strategies, ", "))
	case !slices.Contains(trainer.DatasetNames(), s.Data):
		return settingErr("data", s.Data, "want one of %s", strings.Join(trainer.DatasetNames(), ", "))
	case s.ProxyEpochs < 0 || s.ProxySteps < 0:
		return settingErr("proxy_epochs", s.ProxyEpochs, "epochs and steps (%d) of proxy training must not be negative", s.ProxySteps)
	case !(s.ProxyFraction > 0 && s.ProxyFraction <= 1):
		return settingErr("proxy_fraction", s.ProxyFraction, "want a fraction in (0, 1]")
	case !(s.ProxyEval > 0 && s.ProxyEval <= 1):
		return settingErr("proxy_eval_fraction", s.ProxyEval, "want a fraction in (0, 1]")
	case s.Batch < 1:
		return settingErr("batch", s.Batch, "at least 1")
	case s.Final < 0:
		return settingErr("final", s.Final, "want 0 or more networks")
	case s.FinalEpochs < 1:
		return settingErr("final_epochs", s.FinalEpochs, "at least 1")
	case !(s.FinalFraction > 0 && s.FinalFraction <= 1):
		return settingErr("final_fraction", s.FinalFraction, "want a fraction in (0, 1]")
	}
	if !s.Proxy {
		if err := s.SupernetRecipe.validate(); err != nil {
			return err
		}
	}
	for _, b := range s.Baselines {
		if _, _, err := ParseBaseline(b); err != nil {
			return &SettingError{Setting: "baselines", Value: b, Reason: err.Error()}
		}
	}
	return nil
}

// ParseBaseline reads a baseline, NAME or NAME@WIDTH, of the zoo.
func ParseBaseline(s string) (name string, width float64, err error) {
	name, w, hasW := strings.Cut(s, "@")
	width = 1.0
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

// searchValues are SearchSettings by the names SettingError uses, for
// the resume's comparison.
type searchValues struct {
	Space            string   `json:"space"`
	Data             string   `json:"data"`
	DataDir          string   `json:"data_dir"`
	Strategy         string   `json:"strategy"`
	Seed             uint64   `json:"seed"`
	TargetMs         float64  `json:"target_ms"`
	Alpha            float64  `json:"alpha"`
	Beta             float64  `json:"beta"`
	Budget           int      `json:"budget"`
	Parallel         int      `json:"parallel"`
	ProxyEpochs      int      `json:"proxy_epochs"`
	ProxySteps       int      `json:"proxy_steps"`
	ProxyFraction    float64  `json:"proxy_fraction"`
	ProxyEval        float64  `json:"proxy_eval_fraction"`
	Batch            int      `json:"batch"`
	Final            int      `json:"final"`
	FinalEpochs      int      `json:"final_epochs"`
	FinalFraction    float64  `json:"final_fraction"`
	Baselines        []string `json:"baselines"`
	LatencyTable     string   `json:"latency_table"`
	Device           string   `json:"device"`
	Proxy            bool     `json:"proxy"`
	Supernet         string   `json:"supernet"`
	SupernetEpochs   int      `json:"supernet_epochs"`
	SupernetFraction float64  `json:"supernet_fraction"`
}

func (s SearchSettings) values() searchValues {
	return searchValues{Space: s.Space, Data: s.Data, DataDir: s.DataDir, Strategy: s.Strategy, Seed: s.Seed,
		TargetMs: s.Objective.TargetMs, Alpha: s.Objective.Alpha, Beta: s.Objective.Beta, Budget: s.Budget,
		Parallel: max(1, s.Parallel), ProxyEpochs: s.ProxyEpochs, ProxySteps: s.ProxySteps, ProxyFraction: s.ProxyFraction, ProxyEval: s.ProxyEval,
		Batch: s.Batch, Final: s.Final, FinalEpochs: s.FinalEpochs, FinalFraction: s.FinalFraction, Baselines: s.Baselines,
		LatencyTable: s.LatencyTable, Device: s.Device, Proxy: s.Proxy, Supernet: s.Supernet,
		SupernetEpochs: s.SupernetRecipe.Epochs, SupernetFraction: s.SupernetRecipe.Fraction}
}

// storedSettings are the part of SearchSettings a run keeps in
// RunConfig.Settings; the rest are RunConfig's own fields.
type storedSettings struct {
	Budget        int     `json:"budget"`
	Parallel      int     `json:"parallel,omitempty"` // trained at once; 0 (runs stored without it): 1
	Alpha         float64 `json:"alpha"`
	Beta          float64 `json:"beta"`
	DataDir       string  `json:"data_dir,omitempty"`
	ProxyEpochs   int     `json:"proxy_epochs"`
	ProxyFraction float64 `json:"proxy_fraction"`
	ProxySteps    int     `json:"proxy_steps,omitempty"`
	// ProxyEval is the fraction of the validation split trials are scored
	// on; FixedSplit, that every trial and final network uses the run's
	// validation split (runs stored without it drew one per trial).
	ProxyEval     float64  `json:"proxy_eval_fraction,omitempty"`
	FixedSplit    bool     `json:"fixed_split,omitempty"`
	Batch         int      `json:"batch"`
	Final         int      `json:"final"`
	FinalEpochs   int      `json:"final_epochs"`
	FinalFraction float64  `json:"final_fraction"`
	Baselines     []string `json:"baselines,omitempty"`
	Device        string   `json:"device,omitempty"` // the Device setting ("" this machine)
	// Accuracy is where the trials' accuracy comes from: "proxy" or
	// "supernet" (runs stored without it: proxy unless Supernet is set).
	Accuracy string `json:"accuracy,omitempty"`
	// Supernet is the supernet folder trials are scored with,
	// SupernetRecipe the recipe that builds it there, and
	// SupernetIdentity the identity of its weights ("" until it is built).
	Supernet         string          `json:"supernet,omitempty"`
	SupernetRecipe   *SupernetRecipe `json:"supernet_recipe,omitempty"`
	SupernetIdentity string          `json:"supernet_identity,omitempty"`
}

// runConfig is s as a run stores it; device is the table device's ID.
func (s SearchSettings) runConfig(device string) results.RunConfig {
	acc, recipe := "supernet", &s.SupernetRecipe
	if s.Proxy {
		acc, recipe = "proxy", nil
	}
	raw, _ := json.Marshal(storedSettings{Accuracy: acc, SupernetRecipe: recipe, Budget: s.Budget, Parallel: s.Parallel, Alpha: s.Objective.Alpha, Beta: s.Objective.Beta, DataDir: s.DataDir,
		ProxyEpochs: s.ProxyEpochs, ProxyFraction: s.ProxyFraction, ProxySteps: s.ProxySteps, ProxyEval: s.ProxyEval,
		FixedSplit: !s.perTrialSplit, Batch: s.Batch, Final: s.Final, FinalEpochs: s.FinalEpochs, FinalFraction: s.FinalFraction,
		Baselines: s.Baselines, Device: s.Device, Supernet: s.Supernet, SupernetIdentity: s.supernetIdentity})
	return results.RunConfig{Strategy: s.Strategy, Seed: s.Seed, TargetMs: s.Objective.TargetMs, Space: s.Space,
		Dataset: s.Data, LatencyTable: s.LatencyTable, Device: device, Settings: raw}
}

// settingsOf reads back the settings a run stored.
func settingsOf(id results.RunID, c results.RunConfig) (SearchSettings, error) {
	var st storedSettings
	if err := json.Unmarshal(c.Settings, &st); err != nil {
		return SearchSettings{}, fmt.Errorf("%s: stored settings: %v", id, err)
	}
	proxy := st.Accuracy == "proxy" || st.Accuracy == "" && st.Supernet == ""
	var recipe SupernetRecipe
	if st.SupernetRecipe != nil {
		recipe = *st.SupernetRecipe
	}
	return SearchSettings{Space: c.Space, Data: c.Dataset, DataDir: st.DataDir, Strategy: c.Strategy, Seed: c.Seed, Proxy: proxy, SupernetRecipe: recipe,
		Objective: search.Objective{TargetMs: c.TargetMs, Alpha: st.Alpha, Beta: st.Beta}, Budget: st.Budget, Parallel: st.Parallel,
		ProxyEpochs: st.ProxyEpochs, ProxySteps: st.ProxySteps, ProxyFraction: st.ProxyFraction, ProxyEval: st.ProxyEval,
		Batch: st.Batch, Final: st.Final, FinalEpochs: st.FinalEpochs, FinalFraction: st.FinalFraction, Baselines: st.Baselines,
		LatencyTable: c.LatencyTable, Device: st.Device, perTrialSplit: !st.FixedSplit,
		Supernet: st.Supernet, supernetIdentity: st.SupernetIdentity}, nil
}

// Trainer trains networks for a search: candidates' proxy training and
// the final training. Local runs them in this process.
type Trainer interface {
	Train(ctx context.Context, task TrainTask) (TrainResult, error)
}

// AsyncTrainer is a Trainer that can queue a training and wait for it
// apart (cluster.Remote): a search with Parallel above one queues its
// trials in proposal order (search.AsyncEvaluator).
type AsyncTrainer interface {
	Trainer
	SubmitTrain(ctx context.Context, task TrainTask) (wait func() (TrainResult, error), err error)
}

// Search runs search runs against a results store. Its collaborators
// default to this machine: the run's latency table (OpenTableLatency) and
// training in this process (Local).
type Search struct {
	Store   *results.Store
	Latency LatencySource // nil: the run's table
	Trainer Trainer       // nil: a Local
	Threads int           // shards a training batch is split over (0: all cores); results depend on it
	Out     string        // report folder; default RunFolder(run)
	// Agent, when set, is the device the run's table is for, measured
	// through its agents (cluster.Device; Device then is its name): the
	// table is opened for its fingerprint, and missing entries and the
	// final networks are measured there.
	Agent latency.RemoteDevice
	// Supernets is the folder the supernets of searches without a
	// Supernet folder are kept in (default DefaultSupernets).
	Supernets string

	// Started, when set, is called once the run is created or reopened,
	// with the trials it holds already.
	Started func(id results.RunID, s SearchSettings, done int)
	// Trial, when set, is called with each trial once it is committed,
	// before Progress.
	Trial func(t search.Trial)
	// Progress, when set, is called after each recorded trial.
	Progress func(done int, best search.Trial)
	// Log, when set, receives a line for each step besides the trials
	// (building the supernet, final training, baselines).
	Log func(msg string)
	// SupernetStep, when set, is called after each step of the
	// supernet's training, and SupernetEpoch after each of its epochs.
	SupernetStep  func(trainer.StepReport)
	SupernetEpoch func(supernet.EpochStats)
	// Epoch, when set, is called after each epoch of a final training or
	// a baseline's that runs in this process (a Local trainer), with the
	// network's name.
	Epoch func(name string, e trainer.EpochReport)
}

// SearchResult is a finished run.
type SearchResult struct {
	Run      results.RunID
	Settings SearchSettings
	Stopped  string // why the search ended before its budget, if it did
	Trials   []search.Trial
	Best     *search.Trial
	Final    []FinalResult
	Report   *results.Report
	Dir      string // where the report files are
}

// FinalResult is a network trained with the final recipe, tested and
// timed (final.json holds them).
type FinalResult struct {
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

// FinalFile is the file of a run's report folder that holds its final
// results.
const FinalFile = "final.json"

// RunFolder is a run's report folder when none is given.
func RunFolder(id results.RunID) string { return filepath.Join("runs", id.String()) }

// StoppedError is a run stopped by its context; the trials are stored and
// the run continues with Search.Resume. It wraps the context's error.
type StoppedError struct {
	Run    results.RunID
	Trials int
	Err    error
}

func (e *StoppedError) Error() string {
	return fmt.Sprintf("%s stopped: %d trials are stored", e.Run, e.Trials)
}

func (e *StoppedError) Unwrap() error { return e.Err }

// FinishedError is a resume of a run that has finished.
type FinishedError struct{ Run results.RunID }

func (e *FinishedError) Error() string {
	return fmt.Sprintf("%s is finished: nothing to resume (nas report %s shows it)", e.Run, e.Run)
}

// Start creates a run of settings st and runs it.
func (s *Search) Start(ctx context.Context, st SearchSettings) (*SearchResult, error) {
	st = st.withDefaults()
	if err := st.Validate(); err != nil {
		return nil, err
	}
	return s.run(ctx, 0, st, nil, nil)
}

// Resume continues the stopped run id with its stored settings. given
// holds the settings the caller was given, and set names those of them to
// check (as SettingError names them; others are ignored): one that
// differs from the stored run's is refused with a *ConflictError naming
// each, since a resumed run continues with exactly its own.
func (s *Search) Resume(ctx context.Context, id results.RunID, given SearchSettings, set ...string) (*SearchResult, error) {
	run, err := s.Store.Run(id)
	if err != nil {
		return nil, err
	}
	st, err := settingsOf(id, run.Config)
	if err != nil {
		return nil, err
	}
	st = st.withDefaults()
	if diffs := diffSettings(st.values(), given.withDefaults().values(), func(k string) bool { return slices.Contains(set, k) }); len(diffs) > 0 {
		return nil, &ConflictError{Run: id.String(), Diffs: diffs, Fix: "resume it without them (it keeps its own), or start a new run"}
	}
	if run.Status == results.RunFinished {
		return nil, &FinishedError{Run: id}
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("%s: stored settings: %w", id, err)
	}
	stored, err := s.Store.Trials(id)
	if err != nil {
		return nil, err
	}
	trials := make([]search.Trial, len(stored))
	for i, t := range stored {
		trials[i] = fromStored(i, t)
	}
	state, _, err := s.Store.LastState(id)
	if err != nil {
		return nil, err
	}
	if err := s.Store.SetStatus(id, results.RunRunning); err != nil {
		return nil, err
	}
	return s.run(ctx, id, st, trials, state)
}

// run runs the search of id (0: a new run) from trials and state.
func (s *Search) run(ctx context.Context, id results.RunID, st SearchSettings, trials []search.Trial, state []byte) (*SearchResult, error) {
	sp, err := space.LoadSpace(st.Space)
	if err != nil {
		return nil, err
	}
	data := Dataset{Name: st.Data, Dir: st.DataDir}
	tr := s.Trainer
	if tr == nil {
		tr = &Local{Data: &Datasets{}}
	}
	if err := checkDataset(tr, data, sp); err != nil {
		return nil, err
	}
	var sets *trainer.Sets // the data a supernet trains and scores on
	if !st.Proxy {
		ds := &Datasets{}
		if lt, ok := tr.(*Local); ok {
			ds = lt.Data
		}
		if sets, err = ds.Open(data); err != nil {
			return nil, err
		}
		if err := resolveSupernet(&st, s.Supernets, sp, sets); err != nil {
			return nil, err
		}
	}

	lat := s.Latency
	device := ""
	if lat == nil {
		// The table's overhead is calibrated on the space's calibration
		// networks, as profiling a space does, not on the first candidate
		// alone: one network's scale can be off by 16%.
		calib, err := SpaceCalibration(sp, DefaultCalibrate)
		if err != nil {
			return nil, err
		}
		o := latency.PredictorOptions{Device: st.Device, Calibration: calib}
		switch {
		case s.Agent != nil:
			o.Device, o.Remote = "", s.Agent
		case st.Device != "" && !strings.HasPrefix(st.Device, "fp-"):
			return nil, fmt.Errorf("the run's device %s is an agent's: give --nats URL --device %s (the server its 'nas agent' is on)", st.Device, st.Device)
		}
		tbl, err := OpenTableLatency(st.LatencyTable, o)
		if err != nil {
			return nil, err
		}
		defer tbl.Close()
		lat, device = tbl, tbl.Device().ID()
	}
	if id == 0 {
		if id, err = s.Store.CreateRun(st.runConfig(device)); err != nil {
			return nil, err
		}
	}
	if s.Started != nil {
		s.Started(id, st, len(trials))
	}
	var supernetEval *supernet.Evaluator // nil: proxy training
	if !st.Proxy {
		if supernetEval, err = s.prepareSupernet(ctx, id, &st, sp, data, sets); err != nil {
			return nil, s.stopped(id, len(trials), err)
		}
	}
	strategy, err := search.NewStrategy(st.Strategy, sp.Cardinalities(), st.Seed, st.strategySettings())
	if err != nil {
		return nil, err
	}
	srch := &search.Search{
		Space:    sp,
		Strategy: strategy,
		Latency:  searchLatency{ctx: ctx, src: lat},
		Accuracy: &proxyEvaluator{trainer: tr, task: TrainTask{Data: data, Recipe: ProxyRecipe(st), Threads: s.Threads}},
		Recorder: &storeRecorder{store: s.Store, run: id, recorded: s.Trial},
		Settings: search.Settings{Objective: st.Objective, Budget: st.Budget, Seed: st.Seed, Parallel: st.Parallel,
			Key: func(a *space.Arch) string { return a.String() }, Progress: s.Progress},
	}
	if supernetEval != nil {
		gate := &sync.RWMutex{}
		se := &supernetEvaluator{ev: supernetEval, gate: gate}
		if sc, ok := tr.(SupernetScorer); ok {
			se.remote = sc
			se.task = ScoreTask{Supernet: st.Supernet, Identity: st.supernetIdentity, Space: sp.Name, Data: data, Eval: ScoreOptionsOf(supernetEval)}
		}
		srch.Accuracy = se
		srch.Latency = searchLatency{ctx: ctx, src: lat, gate: gate}
	}
	if len(trials) > 0 {
		if err := srch.Resume(trials, state); err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
	}
	if err := srch.Run(ctx); err != nil {
		return nil, s.stopped(id, len(srch.Trials()), err)
	}
	res := &SearchResult{Run: id, Settings: st, Stopped: srch.Stopped, Trials: srch.Trials(), Dir: s.Out}
	if b, ok := srch.Best(); ok {
		res.Best = &b
	}
	if res.Dir == "" {
		res.Dir = RunFolder(id)
	}
	if err := os.MkdirAll(res.Dir, 0o755); err != nil {
		return nil, err
	}
	if res.Final, err = s.finals(ctx, st, sp, tr, lat, supernetEval, res); err != nil {
		if errors.Is(err, context.Canceled) {
			// Stopped during the final training: the trials are all
			// stored, and a resume trains the final networks again.
			if serr := s.Store.SetStatus(id, results.RunStopped); serr != nil {
				return nil, errors.Join(err, serr)
			}
			return nil, &StoppedError{Run: id, Trials: len(res.Trials), Err: err}
		}
		return nil, err
	}
	if err := s.Store.SetStatus(id, results.RunFinished); err != nil {
		return nil, err
	}
	if res.Report, err = s.Store.Report(id); err != nil {
		return nil, err
	}
	if _, err := res.Report.WriteDir(res.Dir); err != nil {
		return nil, err
	}
	if err := writeJSONFile(filepath.Join(res.Dir, FinalFile), res.Final); err != nil {
		return nil, err
	}
	return res, nil
}

// stopped marks run id stopped (err a cancellation: a *StoppedError
// with the trials it holds) or failed, and returns err.
func (s *Search) stopped(id results.RunID, trials int, err error) error {
	status := results.RunFailed
	if errors.Is(err, context.Canceled) {
		status = results.RunStopped
		err = &StoppedError{Run: id, Trials: trials, Err: err}
	}
	if serr := s.Store.SetStatus(id, status); serr != nil {
		return errors.Join(err, serr)
	}
	return err
}

// checkDataset refuses a space made for other images than the dataset's.
func checkDataset(t Trainer, d Dataset, sp *space.Space) error {
	lt, ok := t.(*Local)
	if !ok {
		return nil // a remote trainer's workers check it
	}
	if lt.Data == nil {
		lt.Data = &Datasets{}
	}
	sets, err := lt.Data.Open(d)
	if err != nil {
		return err
	}
	if sets.Shape() != sp.Input || sets.Classes() != sp.Classes {
		return fmt.Errorf("space %s is for %v images and %d classes, dataset %s has %v and %d: choose a space made for the dataset (nas space list)",
			sp.Name, sp.Input, sp.Classes, d.Name, sets.Shape(), sets.Classes())
	}
	return nil
}

// finals trains the best Final networks and the baselines with the final
// recipe, saves their weights into res.Dir, tests and times them, and
// stores them as the run's baselines. With a supernet (ev), a searched
// network starts from the weights it inherits from it.
func (s *Search) finals(ctx context.Context, st SearchSettings, sp *space.Space, t Trainer, lat LatencySource, ev *supernet.Evaluator, res *SearchResult) ([]FinalResult, error) {
	recipe := FinalRecipe(st)
	if lt, ok := t.(*Local); ok && s.Epoch != nil && lt.OnEpoch == nil {
		t = &Local{Data: lt.Data, OnEpoch: s.Epoch}
	}
	var archs []*space.Arch
	var say []string // what to log before each training
	for i, tr := range topTrials(res.Trials, st.Final, st.Objective.TargetMs) {
		a, err := space.ParseArch(tr.Key)
		if err != nil {
			return nil, err
		}
		a.Name = fmt.Sprintf("searched-%d", i+1)
		archs = append(archs, a)
		from := "fresh weights"
		if ev != nil {
			from = "its inherited weights"
		}
		say = append(say, fmt.Sprintf("final training of %s (trial %d, reward %.4f) from %s: %d epochs on %.3g of the training split", a.Name, tr.Index+1, tr.Reward, from, recipe.Epochs, recipe.DataFraction))
	}
	for _, b := range st.Baselines {
		name, width, err := ParseBaseline(b)
		if err != nil {
			return nil, err
		}
		a, err := space.ZooArch(name, space.ZooOptions{Input: sp.Input, Classes: sp.Classes, Width: width})
		if err != nil {
			return nil, err
		}
		a.Name = b
		archs = append(archs, a)
		say = append(say, fmt.Sprintf("final training of baseline %s: %d epochs", b, recipe.Epochs))
	}
	finals := make([]FinalResult, 0, len(archs))
	var baselines []results.Baseline
	searched := len(archs) - len(st.Baselines)
	for i, a := range archs {
		s.log("%s", say[i])
		if i < searched {
			checkpoint(ctx, "final")
		} else {
			checkpoint(ctx, "baseline")
		}
		task := TrainTask{Arch: a.String(), Name: a.Name, Data: Dataset{Name: st.Data, Dir: st.DataDir},
			Recipe: recipe, Threads: s.Threads, Weights: filepath.Join(res.Dir, strings.ReplaceAll(a.Name, "@", "_")+".safetensors")}
		if i < searched && ev != nil {
			net, err := ev.Network(ctx, a, st.Seed)
			if err != nil {
				return nil, fmt.Errorf("the inherited weights of %s: %w", a.Name, err)
			}
			if task.Init, err = EncodeWeights(net.State(), nil); err != nil {
				return nil, err
			}
		}
		fr, err := trainAndTime(ctx, t, lat, task, a)
		if err != nil {
			return nil, err
		}
		finals = append(finals, fr)
		test := fr.TestAcc
		baselines = append(baselines, results.Baseline{Name: fr.Name + " (final)", Arch: fr.Arch, LatencyMs: fr.MeasuredMs,
			Accuracy: fr.ValAcc, TestAccuracy: &test, Params: fr.Params, MACs: fr.MACs})
	}
	if len(baselines) > 0 {
		if err := s.Store.AddBaselines(res.Run, baselines...); err != nil {
			return nil, err
		}
	}
	return finals, nil
}

func (s *Search) log(format string, args ...any) {
	if s.Log != nil {
		s.Log(fmt.Sprintf(format, args...))
	}
}

// trainAndTime trains a with the final recipe (task), saving its weights,
// and times it.
func trainAndTime(ctx context.Context, t Trainer, lat LatencySource, task TrainTask, a *space.Arch) (FinalResult, error) {
	res, err := t.Train(ctx, task)
	if err != nil {
		return FinalResult{}, fmt.Errorf("final training of %s: %w", a.Name, err)
	}
	cost, _ := a.Cost()
	fr := FinalResult{Name: a.Name, Arch: a.String(), Params: cost.Params, MACs: cost.MACs, ValAcc: res.ValAcc, TestAcc: res.TestAcc, Weights: res.Weights}
	if fr.PredictedMs, err = lat.PredictMs(ctx, a); err != nil {
		return fr, err
	}
	fr.MeasuredMs, err = measureOne(ctx, lat, a)
	return fr, err
}

// topTrials returns the n best ok trials, best first (search.Better: those
// that meet the target first, then by reward).
func topTrials(trials []search.Trial, n int, targetMs float64) []search.Trial {
	var ok []search.Trial
	for _, t := range trials {
		if t.Status == search.StatusOK {
			ok = append(ok, t)
		}
	}
	sort.SliceStable(ok, func(i, j int) bool { return search.Better(ok[i], ok[j], targetMs) })
	return ok[:min(n, len(ok))]
}

// ProxyRecipe is the training recipe of a search's trials: each trial
// sets its own Seed, which draws its weights, its part of the training
// split and its sample order; the validation split, and the part of it
// that scores, come from the run seed, the same for every trial.
func ProxyRecipe(st SearchSettings) trainer.Config {
	st = st.withDefaults()
	proxy := trainer.DefaultConfig()
	proxy.Epochs, proxy.Steps, proxy.BatchSize = st.ProxyEpochs, st.ProxySteps, st.Batch
	proxy.DataFraction = st.ProxyFraction
	if !st.perTrialSplit {
		proxy.SplitSeed, proxy.EvalFraction = runSplitSeed(st.Seed), st.ProxyEval
	}
	proxy.WarmupEpochs = 0.1
	if proxy.Steps == 0 {
		proxy.WarmupEpochs = min(1, 0.1*float64(proxy.Epochs))
	}
	return proxy
}

// FinalRecipe is the recipe of a search's final training: FinalEpochs on
// FinalFraction of the training split with the dataset's augmentation,
// tested once. With a supernet it is a fine-tune from the inherited
// weights: a peak learning rate of DefaultFineTuneLR after
// DefaultFineTuneWarmup epochs, cosine decay, on the supernet's
// validation split, so that no image the supernet trained on is
// validated on; with Proxy it is trainer.DefaultConfig's recipe (one
// warm-up epoch) on the run's validation split.
func FinalRecipe(st SearchSettings) trainer.Config {
	st = st.withDefaults()
	final := trainer.DefaultConfig()
	final.Epochs, final.BatchSize, final.Test = st.FinalEpochs, st.Batch, true
	final.DataFraction = st.FinalFraction
	final.Augment = trainer.DefaultAugmentation(st.Data)
	final.Seed = st.Seed
	switch {
	case !st.Proxy:
		final.LR, final.WarmupEpochs = DefaultFineTuneLR, DefaultFineTuneWarmup
		final.SplitSeed = supernetSeed
	case !st.perTrialSplit:
		final.SplitSeed = runSplitSeed(st.Seed)
	}
	return final
}

// runSplitSeed is the seed of a run's validation split: the run seed
// (trainer.Config.SplitSeed 0 would mean each trial's own seed).
func runSplitSeed(seed uint64) uint64 {
	if seed == 0 {
		return 1 << 63
	}
	return seed
}

// proxyEvaluator is search's Evaluator: a TrainTask per candidate.
type proxyEvaluator struct {
	trainer Trainer
	task    TrainTask // all but the arch and the seed
}

func (p *proxyEvaluator) Accuracy(ctx context.Context, a *space.Arch, seed uint64) (float64, error) {
	checkpoint(ctx, "trial")
	res, err := p.trainer.Train(ctx, p.taskOf(a, seed))
	return res.ValAcc, err
}

func (p *proxyEvaluator) taskOf(a *space.Arch, seed uint64) TrainTask {
	task := p.task
	task.Arch, task.Name = a.String(), a.Name
	task.Recipe.Seed = seed
	return task
}

// Submit queues the candidate's training when the trainer can
// (AsyncTrainer); else the returned function trains it.
func (p *proxyEvaluator) Submit(ctx context.Context, a *space.Arch, seed uint64) (func() (float64, error), error) {
	at, ok := p.trainer.(AsyncTrainer)
	if !ok {
		return func() (float64, error) { return p.Accuracy(ctx, a, seed) }, nil
	}
	checkpoint(ctx, "trial")
	wait, err := at.SubmitTrain(ctx, p.taskOf(a, seed))
	if err != nil {
		return nil, err
	}
	return func() (float64, error) {
		res, err := wait()
		return res.ValAcc, err
	}, nil
}

// storeRecorder commits each trial with the search state in one write.
type storeRecorder struct {
	store    *results.Store
	run      results.RunID
	recorded func(search.Trial) // Search.Trial
}

func (r *storeRecorder) Record(t search.Trial, state []byte) error {
	if err := r.store.AppendTrial(r.run, toStored(t), state); err != nil {
		return err
	}
	if r.recorded != nil {
		r.recorded(t)
	}
	return nil
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

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, append(b, '\n'))
}

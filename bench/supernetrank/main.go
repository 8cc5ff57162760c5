// Command supernetrank measures how well a supernet ranks the networks of
// its space against stand-alone training, and how well the search's proxy
// does on the same networks.
//
// It draws -n networks spread over the space's range of multiply-
// accumulates (a seeded pool of -pool networks, sorted by MACs, taken at
// evenly spaced ranks), and trains each of them twice:
//
//   - stand-alone: -epochs on -fraction of the training split, the
//     dataset's augmentation, the trainer's default recipe otherwise
//     (warm-up over a fifth of the run, at most one epoch);
//   - proxy: the search's default proxy trial (pipeline.ProxyRecipe: one
//     epoch on 5% of the training split, no augmentation).
//
// Network i trains with weight seed -seed+i; -spread K trains the network
// of median MACs K more times with other seeds, which measures how much
// the stand-alone recipe alone moves an accuracy. Every accuracy is on
// the validation split that -split-seed draws (the supernet's seed: its
// recipe's seed draws its split), all 6,000 images of it for the
// trainings.
//
// Each finished training is appended to DIR/trainings.jsonl as it ends; a
// run started again skips the trainings already there, so a long study
// can be killed and continued. Trainings do not depend on a supernet: the
// same trainings rank any number of supernets.
//
// With -supernet SN, every network is also scored with SN's inherited
// weights after batch-norm recalibration (the Evaluator's default sizes,
// and with -reference also 2,000 calibration images and the whole
// validation split), and the command writes DIR/table.csv (one row per
// network) and DIR/summary.json, and prints Kendall's tau-b and
// Spearman's rho between the stand-alone accuracy and each score, MACs
// included, over the networks whose stand-alone training is done.
//
// With -predictor N it also fits a ridge regression of inherited
// accuracy on the choice vector (predictor.go) to N other networks the
// supernet scores, and ranks the studied networks by its predictions.
// -build-supernet trains the -supernet folder first with the search's
// recipe, or with the rule, sampling, random networks, peak learning
// rate and training seed that -build-rule, -build-sampling,
// -build-random, -build-lr and -build-seed give.
//
//	go run ./bench/supernetrank -out runs/rank -n 20 -seed 1 -epochs 1 -fraction 0.25 -supernet runs/super
package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"nas/bench/internal/rankcorr"
	"nas/pipeline"
	"nas/space"
	"nas/supernet"
	"nas/trainer"
)

// options are the command's flags.
type options struct {
	space, data, dataDir string
	n, pool              int
	seed, splitSeed      uint64
	epochs               int
	fraction             float64
	threads              int
	spread               int
	shard, shards        int
	only                 string
	train                bool
	supernet             string
	reference            bool
	variants             bool
	variantsMatch        string
	truth                string
	build                float64
	predictor            int
	buildRule            string
	buildSeed            uint64
	buildLR              float64
	buildThreads         int
	buildSampling        string
	buildRandom          int
	list                 bool
	out                  string
}

// training is one finished training run, one line of trainings.jsonl.
type training struct {
	Arch     string  `json:"arch"`
	Kind     string  `json:"kind"` // "standalone" or "proxy"
	Epochs   int     `json:"epochs"`
	Fraction float64 `json:"fraction"`
	Seed     uint64  `json:"seed"`
	Split    uint64  `json:"split_seed"`
	Threads  int     `json:"threads"`
	ValAcc   float64 `json:"val_acc"`
	ValLoss  float64 `json:"val_loss"`
	CPUSec   float64 `json:"cpu_s"`
	WallSec  float64 `json:"wall_s"`
}

func (t training) key() string {
	return fmt.Sprintf("%s|%s|%d|%g|%d|%d|%d", t.Kind, t.Arch, t.Epochs, t.Fraction, t.Seed, t.Split, t.Threads)
}

func main() {
	var o options
	flag.StringVar(&o.space, "space", "small28", "search space")
	flag.StringVar(&o.data, "data", "fashion-mnist", "dataset")
	flag.StringVar(&o.dataDir, "data-dir", "", "folder of the dataset (default: its install folder)")
	flag.IntVar(&o.n, "n", 20, "networks to study")
	flag.IntVar(&o.pool, "pool", 1000, "networks drawn to cover the range of MACs")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the networks drawn and of their training (network i: seed+i)")
	flag.Uint64Var(&o.splitSeed, "split-seed", 1, "seed of the validation split (the supernet's --seed)")
	flag.IntVar(&o.epochs, "epochs", 5, "stand-alone recipe: epochs")
	flag.Float64Var(&o.fraction, "fraction", 1, "stand-alone recipe: fraction of the training split")
	flag.IntVar(&o.threads, "threads", 1, "threads of each training (results depend on it)")
	flag.IntVar(&o.spread, "spread", 0, "train the network of median MACs this many more times, with other seeds")
	shard := flag.String("shard", "0/1", "k/m: run the k-th of every m trainings (0-based), for m processes sharing the study")
	flag.StringVar(&o.only, "only", "", "run only these trainings: standalone, proxy or spread (the median network's other seeds; default: all)")
	flag.BoolVar(&o.train, "train", true, "run the trainings not done yet (false: score and report only)")
	flag.StringVar(&o.supernet, "supernet", "", "supernet folder to score the networks with (nas supernet train --out)")
	flag.BoolVar(&o.reference, "reference", false, "also score with 2,000 calibration images on the whole validation split")
	flag.BoolVar(&o.variants, "variants", false, "also rank the networks by other scorings: calibration seeds and sizes, validation images, cross-entropy (DIR/variants.csv)")
	flag.StringVar(&o.variantsMatch, "variants-match", "", "with -variants, only the scoring of this name, or else those whose names hold it")
	flag.StringVar(&o.truth, "truth", "", "CSV of idx,standalone_val_acc (an earlier study's table.csv) to rank against instead of the trainings")
	flag.Float64Var(&o.build, "build-supernet", 0, "train the -supernet folder first, with the search's supernet recipe on this fraction of the training split (0.3: the README main job's supernet)")
	flag.IntVar(&o.buildThreads, "build-threads", 2, "threads of -build-supernet (its weights depend on them)")
	flag.StringVar(&o.buildSampling, "build-sampling", "", "-build-supernet's rule for drawing random networks: fair or uniform (default: the search's)")
	flag.StringVar(&o.buildRule, "build-rule", "", "-build-supernet's training rule: sandwich or single-path (default: the search's)")
	flag.Uint64Var(&o.buildSeed, "build-seed", 0, "-build-supernet's training seed, on the validation split of -split-seed (default: the search's)")
	flag.Float64Var(&o.buildLR, "build-lr", 0, "-build-supernet's peak learning rate (default: the search's)")
	flag.IntVar(&o.buildRandom, "build-random", -1, "-build-supernet's random networks per step (default: the search's)")
	flag.IntVar(&o.predictor, "predictor", 0, "also rank by a predictor of inherited accuracy fitted on this many networks the supernet scores (drawn uniformly with -seed, apart from the studied ones)")
	flag.BoolVar(&o.list, "list", false, "print the networks drawn (MACs, arch) and exit")
	flag.StringVar(&o.out, "out", "runs/supernetrank", "folder of trainings.jsonl, table.csv and summary.json")
	flag.Parse()
	if _, err := fmt.Sscanf(*shard, "%d/%d", &o.shard, &o.shards); err != nil || o.shards < 1 || o.shard < 0 || o.shard >= o.shards {
		fmt.Fprintf(os.Stderr, "supernetrank: -shard %q: want k/m with 0 <= k < m (0/1: every training)\n", *shard)
		os.Exit(2)
	}
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "supernetrank:", err)
		os.Exit(1)
	}
}

func run(o options, w io.Writer) error {
	if o.only != "" && o.only != "standalone" && o.only != "proxy" && o.only != "spread" {
		return fmt.Errorf("-only %q: want standalone, proxy or spread", o.only)
	}
	if o.n < 3 || o.pool < o.n {
		return fmt.Errorf("-n %d -pool %d: want at least 3 networks and a pool at least as large", o.n, o.pool)
	}
	if o.epochs < 1 || !(o.fraction > 0 && o.fraction <= 1) {
		return fmt.Errorf("-epochs %d -fraction %g: want at least one epoch on a fraction in (0, 1]", o.epochs, o.fraction)
	}
	sp, err := space.LoadSpace(o.space)
	if err != nil {
		return err
	}
	archs, macs, err := spread(sp, o.n, o.pool, o.seed)
	if err != nil {
		return err
	}
	if o.build > 0 {
		if o.supernet == "" {
			return fmt.Errorf("-build-supernet %g: name its folder with -supernet", o.build)
		}
		if err := buildSupernet(o, o.supernet, o.build, o.buildThreads, w); err != nil {
			return err
		}
	}
	if o.list {
		for i, a := range archs {
			fmt.Fprintf(w, "%2d %10d %s\n", i, macs[i], a)
		}
		return nil
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	log := filepath.Join(o.out, "trainings.jsonl")
	done, err := readDone(log)
	if err != nil {
		return err
	}
	jobs := plan(o, archs)
	if o.train {
		if err := trainAll(o, jobs, done, log, w); err != nil {
			return err
		}
	}
	if o.supernet == "" {
		return nil
	}
	return score(o, sp, archs, macs, done, w)
}

// job is one training to run: network idx with the given kind and seed.
type job struct {
	idx   int
	group string // standalone, proxy or spread (-only)
	t     training
}

// plan lists the study's trainings in the order they run: the
// stand-alone trainings in an order that covers the range of MACs early
// (a study cut short still spans it), then the proxies in the same order,
// then the extra seeds of the median network. With -shard k/m the
// process runs every m-th of them from the k-th, so that m processes
// share the trainings.
func plan(o options, archs []*space.Arch) []job {
	var jobs []job
	mk := func(i int, kind string, epochs int, fraction float64, seed uint64) job {
		g := kind
		if seed != o.seed+uint64(i) {
			g = "spread"
		}
		return job{i, g, training{Arch: archs[i].String(), Kind: kind, Epochs: epochs, Fraction: fraction, Seed: seed,
			Split: o.splitSeed, Threads: o.threads}}
	}
	proxy := pipeline.ProxyRecipe(pipeline.SearchSettings{Data: o.data})
	order := coverOrder(len(archs))
	for _, i := range order {
		jobs = append(jobs, mk(i, "standalone", o.epochs, o.fraction, o.seed+uint64(i)))
	}
	for _, i := range order {
		jobs = append(jobs, mk(i, "proxy", proxy.Epochs, proxy.DataFraction, o.seed+uint64(i)))
	}
	mid := len(archs) / 2
	for k := 1; k <= o.spread; k++ {
		jobs = append(jobs, mk(mid, "standalone", o.epochs, o.fraction, o.seed+uint64(1000*k+mid)))
	}
	var mine []job
	n := 0
	for _, j := range jobs {
		if o.only != "" && j.group != o.only {
			continue
		}
		if n%o.shards == o.shard {
			mine = append(mine, j)
		}
		n++
	}
	return mine
}

// coverOrder is 0..n-1 ordered so that every prefix spreads over the
// range: the ends, then the middle, then the middles of the halves, ...
func coverOrder(n int) []int {
	seen := make([]bool, n)
	var out []int
	add := func(i int) {
		if !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	add(0)
	add(n - 1)
	for parts := 2; len(out) < n; parts *= 2 {
		for k := 1; k < parts; k += 2 {
			add(k * (n - 1) / parts)
		}
		if parts > 4*n {
			for i := range n {
				add(i)
			}
		}
	}
	return out
}

func trainAll(o options, jobs []job, done map[string]training, log string, w io.Writer) error {
	sets, err := trainer.OpenDataset(o.data, o.dataDir)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	ctx := context.Background()
	for _, j := range jobs {
		t := j.t
		// Other processes may have finished it meanwhile.
		now, err := readDone(log)
		if err != nil {
			return err
		}
		for k, v := range now {
			done[k] = v
		}
		if _, ok := done[t.key()]; ok {
			continue
		}
		a, err := space.ParseArch(t.Arch)
		if err != nil {
			return err
		}
		c := recipe(o, t)
		cpu0, wall0 := cpuTime(), time.Now()
		res, err := trainer.Train(ctx, c, a, sets)
		if errors.Is(err, trainer.ErrDiverged) {
			res, err = &trainer.Result{ValAcc: 0, ValLoss: math.Inf(1)}, nil // scored as a failed network
		}
		if err != nil {
			return fmt.Errorf("network %d %s: %w", j.idx, t.Kind, err)
		}
		t.ValAcc, t.ValLoss = res.ValAcc, res.ValLoss
		if math.IsInf(t.ValLoss, 0) {
			t.ValLoss = -1
		}
		t.CPUSec, t.WallSec = (cpuTime() - cpu0).Seconds(), time.Since(wall0).Seconds()
		js, err := json.Marshal(t)
		if err != nil {
			return err
		}
		if _, err := f.Write(append(js, '\n')); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		done[t.key()] = t
		fmt.Fprintf(w, "%s network %2d %-10s seed %4d  val %.4f  %6.0f CPU-s %6.0f s\n",
			time.Now().UTC().Format("15:04:05"), j.idx, t.Kind, t.Seed, t.ValAcc, t.CPUSec, t.WallSec)
	}
	return nil
}

// recipe is the trainer config of a training of the study.
func recipe(o options, t training) trainer.Config {
	var c trainer.Config
	if t.Kind == "proxy" {
		c = pipeline.ProxyRecipe(pipeline.SearchSettings{Data: o.data})
	} else {
		c = trainer.DefaultConfig()
		c.Epochs, c.DataFraction = t.Epochs, t.Fraction
		c.WarmupEpochs = min(1, 0.2*float64(t.Epochs))
		c.Augment = trainer.DefaultAugmentation(o.data)
	}
	c.Seed, c.SplitSeed, c.EvalFraction, c.Threads = t.Seed, t.Split, 0, t.Threads
	return c
}

// spread draws pool networks with seed and returns n of them at evenly
// spaced ranks of their MACs (distinct networks only), with their MACs.
func spread(sp *space.Space, n, pool int, seed uint64) ([]*space.Arch, []int64, error) {
	rng := rand.New(rand.NewPCG(seed, 0x5ace))
	type cand struct {
		a    *space.Arch
		macs int64
	}
	seen := map[string]bool{}
	var cands []cand
	for range pool {
		_, a, err := sp.Sample(rng)
		if err != nil {
			return nil, nil, err
		}
		if seen[a.String()] {
			continue
		}
		seen[a.String()] = true
		c, err := a.Cost()
		if err != nil {
			return nil, nil, err
		}
		cands = append(cands, cand{a, c.MACs})
	}
	if len(cands) < n {
		return nil, nil, fmt.Errorf("only %d distinct networks in a pool of %d: raise -pool", len(cands), pool)
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].macs < cands[j].macs })
	archs, macs := make([]*space.Arch, n), make([]int64, n)
	for i := range n {
		c := cands[i*(len(cands)-1)/(n-1)]
		archs[i], macs[i] = c.a, c.macs
	}
	return archs, macs, nil
}

func readDone(path string) (map[string]training, error) {
	done := map[string]training{}
	err := readJSONL(path, "train it again", func(t training) { done[t.key()] = t })
	return done, err
}

// readJSONL calls add with each line of path, a file of JSON lines; a
// file that does not exist has none. A line that does not parse is an
// error naming it, and what deleting it does (again).
func readJSONL[T any](path, again string, add func(T)) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return fmt.Errorf("%s line %d: %v (delete the line to %s)", path, line, err, again)
		}
		add(v)
	}
	return sc.Err()
}

// row is one network of the table.
type row struct {
	Idx        int     `json:"idx"`
	Arch       string  `json:"arch"`
	MACs       int64   `json:"macs"`
	StandAlone float64 `json:"standalone_val_acc"` // NaN: not trained yet
	Proxy      float64 `json:"proxy_val_acc"`
	Supernet   float64 `json:"supernet_val_acc"`
	Reference  float64 `json:"supernet_ref_val_acc"`       // NaN without -reference
	Predicted  float64 `json:"supernet_predicted_val_acc"` // NaN without -predictor
}

// corr is one line of the summary: a score against stand-alone accuracy.
type corr struct {
	Score    string `json:"score"`
	Networks int    `json:"networks"`
	TauB     num    `json:"kendall_tau_b"`
	Rho      num    `json:"spearman_rho"`
}

// num is a figure that JSON writes as null when it is NaN (too few
// networks to rank).
type num float64

func (n num) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(n)) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(n))
}

func score(o options, sp *space.Space, archs []*space.Arch, macs []int64, done map[string]training, w io.Writer) error {
	sn, err := supernet.Open(o.supernet)
	if err != nil {
		return err
	}
	rc := sn.Manifest.Config.Recipe
	split := rc.SplitSeed
	if split == 0 {
		split = rc.Seed
	}
	if split != o.splitSeed || rc.ValFraction != trainer.DefaultConfig().ValFraction {
		return fmt.Errorf("supernet %s holds out %g of the training set with split seed %d; the trainings hold out %g with -split-seed %d: score it with the trainings of its split",
			o.supernet, rc.ValFraction, split, trainer.DefaultConfig().ValFraction, o.splitSeed)
	}
	sets, err := trainer.OpenDataset(o.data, o.dataDir)
	if err != nil {
		return err
	}
	ev, err := supernet.NewEvaluator(sn, o.data, sets, supernet.EvalOptions{})
	if err != nil {
		return err
	}
	var ref *supernet.Evaluator
	if o.reference {
		if ref, err = supernet.NewEvaluator(sn, o.data, sets, supernet.EvalOptions{CalibrationImages: 2000, EvalFraction: 1}); err != nil {
			return err
		}
	}
	var truth []float64
	if o.truth != "" {
		if truth, err = readTruth(o.truth, len(archs)); err != nil {
			return err
		}
	}
	proxy := pipeline.ProxyRecipe(pipeline.SearchSettings{Data: o.data})
	ctx := context.Background()
	rows := make([]row, len(archs))
	cpu0 := cpuTime()
	for i, a := range archs {
		r := row{Idx: i, Arch: a.String(), MACs: macs[i], StandAlone: math.NaN(), Proxy: math.NaN(), Reference: math.NaN(), Predicted: math.NaN()}
		look := func(kind string, epochs int, fraction float64) float64 {
			t := training{Arch: r.Arch, Kind: kind, Epochs: epochs, Fraction: fraction, Seed: o.seed + uint64(i), Split: o.splitSeed, Threads: o.threads}
			if d, ok := done[t.key()]; ok {
				return d.ValAcc
			}
			return math.NaN()
		}
		r.StandAlone, r.Proxy = look("standalone", o.epochs, o.fraction), look("proxy", proxy.Epochs, proxy.DataFraction)
		if truth != nil {
			r.StandAlone = truth[i]
		}
		if r.Supernet, err = ev.Accuracy(ctx, a, o.seed); err != nil {
			return fmt.Errorf("network %d: %w", i, err)
		}
		if ref != nil {
			if r.Reference, err = ref.Accuracy(ctx, a, o.seed); err != nil {
				return fmt.Errorf("network %d: %w", i, err)
			}
		}
		rows[i] = r
	}
	perNet := (cpuTime() - cpu0).Seconds() / float64(len(archs))
	if o.predictor > 0 {
		if err := predictAll(ctx, o, sp, sn, ev, archs, rows, w); err != nil {
			return err
		}
	}
	if err := writeTable(filepath.Join(o.out, "table.csv"), rows); err != nil {
		return err
	}
	fmt.Fprintf(w, "%3s %10s %9s %9s %9s %9s\n", "net", "MACs", "alone", "supernet", "ref", "proxy")
	for _, r := range rows {
		fmt.Fprintf(w, "%3d %10d %9.4f %9.4f %9.4f %9.4f\n", r.Idx, r.MACs, r.StandAlone, r.Supernet, r.Reference, r.Proxy)
	}
	corrs := correlations(rows, o.reference, o.predictor > 0)
	if o.truth != "" {
		fmt.Fprintf(w, "\nagainst the stand-alone validation accuracies of %s:\n", o.truth)
	} else {
		fmt.Fprintf(w, "\nagainst stand-alone validation accuracy (%d epochs on %g of the training split):\n", o.epochs, o.fraction)
	}
	for _, c := range corrs {
		fmt.Fprintf(w, "  %-22s %2d networks  Kendall tau-b %+.3f  Spearman rho %+.3f\n", c.Score, c.Networks, c.TauB, c.Rho)
	}
	spreadAcc := seedSpread(o, archs, done)
	if len(spreadAcc) > 1 {
		fmt.Fprintf(w, "  seed-to-seed: network %d, %d seeds: mean %.4f, standard deviation %.4f, range %.4f\n",
			len(archs)/2, len(spreadAcc), mean(spreadAcc), stddev(spreadAcc), rangeOf(spreadAcc))
	}
	fmt.Fprintf(w, "  supernet scoring: %.2f CPU-s per network\n", perNet)
	sum := struct {
		Supernet       string    `json:"supernet"`
		Epochs         int       `json:"standalone_epochs"`
		Fraction       float64   `json:"standalone_fraction"`
		Seed           uint64    `json:"seed"`
		Correlations   []corr    `json:"correlations"`
		MedianSeedAccs []float64 `json:"median_network_seed_accs"`
		ScoreCPUSec    float64   `json:"supernet_cpu_s_per_network"`
	}{o.supernet, o.epochs, o.fraction, o.seed, corrs, spreadAcc, perNet}
	js, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.out, "summary.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	if o.variants {
		return scoreVariants(ctx, o, sn, sets, archs, rows, w)
	}
	return nil
}

// correlations ranks each score against the stand-alone accuracy, over
// the networks whose stand-alone training is done.
func correlations(rows []row, reference, predicted bool) []corr {
	type score struct {
		name string
		f    func(row) float64
	}
	scores := []score{{"supernet", func(r row) float64 { return r.Supernet }}}
	if reference {
		scores = append(scores, score{"supernet (reference)", func(r row) float64 { return r.Reference }})
	}
	if predicted {
		scores = append(scores, score{"supernet predictor", func(r row) float64 { return r.Predicted }})
	}
	scores = append(scores,
		score{"proxy (1 epoch, 5%)", func(r row) float64 { return r.Proxy }},
		score{"MACs", func(r row) float64 { return float64(r.MACs) }})
	var out []corr
	for _, s := range scores {
		var x, y []float64
		for _, r := range rows {
			if v := s.f(r); !math.IsNaN(v) && !math.IsNaN(r.StandAlone) {
				x, y = append(x, v), append(y, r.StandAlone)
			}
		}
		c := corr{Score: s.name, Networks: len(x), TauB: num(math.NaN()), Rho: num(math.NaN())}
		if len(x) >= 3 {
			c.TauB, c.Rho = num(rankcorr.KendallTauB(x, y)), num(rankcorr.Spearman(x, y))
		}
		out = append(out, c)
	}
	return out
}

// seedSpread is the stand-alone accuracies of the median network over
// its seeds (its own and the -spread ones done).
func seedSpread(o options, archs []*space.Arch, done map[string]training) []float64 {
	mid := len(archs) / 2
	seeds := []uint64{o.seed + uint64(mid)}
	for k := 1; k <= o.spread; k++ {
		seeds = append(seeds, o.seed+uint64(1000*k+mid))
	}
	var accs []float64
	for _, s := range seeds {
		t := training{Arch: archs[mid].String(), Kind: "standalone", Epochs: o.epochs, Fraction: o.fraction, Seed: s, Split: o.splitSeed, Threads: o.threads}
		if d, ok := done[t.key()]; ok {
			accs = append(accs, d.ValAcc)
		}
	}
	return accs
}

// readTruth reads the stand-alone accuracies of n networks from a CSV
// with a header naming the columns idx and standalone_val_acc (an
// earlier study's table.csv); networks it leaves out, or leaves empty,
// are not ranked.
func readTruth(path string, n int) ([]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("-truth %s: %w", path, err)
	}
	col := map[string]int{}
	if len(recs) > 0 {
		for j, h := range recs[0] {
			col[h] = j
		}
	}
	ci, okI := col["idx"]
	ca, okA := col["standalone_val_acc"]
	if !okI || !okA {
		return nil, fmt.Errorf("-truth %s: want a header with the columns idx and standalone_val_acc", path)
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = math.NaN()
	}
	for line, rec := range recs[1:] {
		i, err := strconv.Atoi(rec[ci])
		if err != nil || i < 0 || i >= n {
			return nil, fmt.Errorf("-truth %s line %d: idx %q: want 0 to %d", path, line+2, rec[ci], n-1)
		}
		if rec[ca] == "" {
			continue
		}
		if out[i], err = strconv.ParseFloat(rec[ca], 64); err != nil || !(out[i] >= 0 && out[i] <= 1) {
			return nil, fmt.Errorf("-truth %s line %d: standalone_val_acc %q: want an accuracy in [0, 1]", path, line+2, rec[ca])
		}
	}
	return out, nil
}

func writeTable(path string, rows []row) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(f)
	num := func(v float64) string {
		if math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'f', 4, 64)
	}
	_ = cw.Write([]string{"idx", "macs", "standalone_val_acc", "supernet_val_acc", "supernet_ref_val_acc", "supernet_predicted_val_acc", "proxy_val_acc", "arch"})
	for _, r := range rows {
		_ = cw.Write([]string{strconv.Itoa(r.Idx), strconv.FormatInt(r.MACs, 10), num(r.StandAlone), num(r.Supernet), num(r.Reference), num(r.Predicted), num(r.Proxy), r.Arch})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

func stddev(x []float64) float64 {
	m, s := mean(x), 0.0
	for _, v := range x {
		s += (v - m) * (v - m)
	}
	return math.Sqrt(s / float64(len(x)-1))
}

func rangeOf(x []float64) float64 {
	lo, hi := x[0], x[0]
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	return hi - lo
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

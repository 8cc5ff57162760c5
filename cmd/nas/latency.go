package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"nas/internal/progress"
	"nas/latency"
	"nas/space"
)

// tableFlags say which table and device a prediction reads.
type tableFlags struct {
	LUT     string
	Device  string
	Threads int
	Batch   int
}

func (t *tableFlags) check() error {
	switch {
	case t.LUT == "":
		return usageErrorf("--lut FILE must not be empty")
	case t.Threads < 0:
		return checkLUTThreads(t.Threads)
	case t.Batch < 1:
		return usageErrorf("--batch %d: must be at least 1", t.Batch)
	}
	return nil
}

// openForPrediction opens an existing table (latency.OpenPredictor): with
// --device read-only for that device; otherwise for this machine, writable
// when the file is, so that missing entries can be measured on the spot.
func openForPrediction(t tableFlags, proto latency.Protocol, rounds int) (*latency.Predictor, error) {
	p, err := latency.OpenPredictor(t.LUT, latency.PredictorOptions{Device: t.Device, Threads: t.Threads, Batch: t.Batch, Protocol: proto, Rounds: rounds})
	return p, lutThreadsError(err)
}

type latencyOptions struct {
	Table    tableFlags
	Ref      string
	Measure  bool
	Rounds   int
	JSON     bool
	Zoo      zooFlags
	Protocol protocolFlags
}

// latencyBlockJSON is one layer of `nas latency --json`.
type latencyBlockJSON struct {
	Index    int     `json:"index"`
	Block    string  `json:"block"`
	Input    string  `json:"input"`
	Key      string  `json:"key"`
	Ms       float64 `json:"ms"` // what the block counts for: p10 + beta*(cold - p10)
	P10Ms    float64 `json:"p10_ms"`
	ColdMs   float64 `json:"cold_ms,omitempty"` // p10 with its weights flushed before each run
	MedianMs float64 `json:"median_ms"`
	P90Ms    float64 `json:"p90_ms"`
}

// latencyJSON is the --json output of `nas latency`.
type latencyJSON struct {
	Network     string             `json:"network,omitempty"`
	Arch        string             `json:"arch"`
	LUT         string             `json:"lut"`
	Device      string             `json:"device"`
	Threads     int                `json:"threads"`
	Batch       int                `json:"batch"`
	PredictedMs float64            `json:"predicted_ms"`
	OverheadMs  float64            `json:"overhead_ms"`
	MeasuredNow int                `json:"entries_measured_now"`
	Blocks      []latencyBlockJSON `json:"blocks"`
	MeasuredMs  *float64           `json:"measured_ms,omitempty"`
	MeasuredP10 *float64           `json:"measured_p10_ms,omitempty"`
	MeasuredMed *float64           `json:"measured_median_ms,omitempty"`
	MeasuredP90 *float64           `json:"measured_p90_ms,omitempty"`
	ErrorPct    *float64           `json:"error_pct,omitempty"`
}

func newCmdLatency(runF func(*cobra.Command, *latencyOptions) error, validateRunF func(*cobra.Command, *validateOptions) error) *cobra.Command {
	opts := &latencyOptions{}
	cmd := &cobra.Command{
		Use:   "latency ARCH",
		Short: "Predict a network's latency from a latency table, and check it",
		Long: `Predict the latency of a network as the sum of its blocks' entries in the
latency table FILE, times the scale of the network-level overhead
calibrated there (see docs/latency.md), with a per-block
breakdown. A block counts its latency (p10) plus the calibrated share
(beta) of what it costs more with its weights flushed from the caches
(cold). With --measure, also run the same network end to end here, the
same way the profiler measures, and report the error.

Entries the table lacks are measured on the spot when the table is this
machine's and writable; otherwise the command fails, listing what is
missing and the command that fills it. --device reads a table profiled on
another device (see 'nas lut show'); --measure then times this machine,
not that device.

ARCH is anything 'nas inspect' accepts: a zoo name (shaped by --input,
--classes and --width), an arch JSON file or an arch string.`,
		Example: `  nas latency mobilenet_v2 --lut lut.db
  nas latency mobilenet_v3_small --input 1x28x28 --classes 10 --lut lut.db --measure
  nas latency validate --lut lut.db --space small28 --samples 50`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			if err := opts.Table.check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd, opts)
			}
			return latencyRun(cmd, opts)
		},
	}
	f := cmd.Flags()
	addTableFlags(cmd, &opts.Table)
	f.BoolVar(&opts.Measure, "measure", false, "also measure the network end to end and report the error")
	addRoundsFlag(cmd, &opts.Rounds)
	addJSONFlag(cmd, &opts.JSON)
	opts.Zoo.addFlags(cmd)
	opts.Protocol.AddFlags(f)
	cmd.AddCommand(newCmdLatencyValidate(validateRunF))
	return cmd
}

func addTableFlags(cmd *cobra.Command, t *tableFlags) {
	addLUTFlag(cmd, &t.LUT)
	addDeviceFlag(cmd, &t.Device)
	addLUTThreadsFlag(cmd, &t.Threads)
	cmd.Flags().IntVar(&t.Batch, "batch", 1, "batch size")
}

// fillCommand returns the MissingError in err with the command that fills
// the table as the user would type it (the thread count is the table
// device's), or err as it is.
func fillCommand(err error, lut string, batch int, networkArgs string) error {
	var me *latency.MissingError
	if !errors.As(err, &me) {
		return err
	}
	threads := 1
	if t, err := deviceThreads(lut, me.Device); err == nil {
		threads = t
	}
	me.Command = fmt.Sprintf("nas profile --lut %s --lut-threads %d --batch %d %s", shellQuote(lut), threads, batch, networkArgs)
	return me
}

// deviceThreads is the thread count of device id in the table at path.
func deviceThreads(path, id string) (int, error) {
	sum, err := latency.Inspect(path)
	if err != nil {
		return 0, err
	}
	for _, d := range sum.Devices {
		if d.ID == id {
			return d.Fingerprint.Threads, nil
		}
	}
	return 0, fmt.Errorf("no device %s", id)
}

func latencyRun(cmd *cobra.Command, opts *latencyOptions) error {
	proto, err := opts.Protocol.protocol()
	if err != nil {
		return err
	}
	a, err := opts.Zoo.resolve(opts.Ref)
	if err != nil {
		return err
	}
	pr, err := openForPrediction(opts.Table, proto, opts.Rounds)
	if err != nil {
		return err
	}
	defer pr.Table.Close()
	ctx, stop := signal.NotifyContext(contextOf(cmd), os.Interrupt)
	defer stop()

	pred, err := pr.Predict(ctx, a)
	if err != nil {
		return fillCommand(err, opts.Table.LUT, opts.Table.Batch, zooArgs(cmd, opts.Ref))
	}
	var meas *latency.Measurement
	if opts.Measure {
		ms, err := latency.MeasureNetworks(ctx, compiler(), []*space.Arch{a}, opts.Table.Batch, opts.Table.Threads, proto, opts.Rounds, nil)
		if err != nil {
			return err
		}
		meas = &ms[0]
	}
	r := newLatencyJSON(a, pr.Table, opts.Table, pred, meas)
	if opts.JSON {
		return writeJSON(cmd.OutOrStdout(), r)
	}
	return printLatency(cmd.OutOrStdout(), a, pr.Table, opts.Table, pred, r, meas)
}

// zooArgs is ARCH with the zoo-shaping flags the user gave, for a command
// line that names the same network.
func zooArgs(cmd *cobra.Command, ref string) string {
	args := shellQuote(ref)
	for _, fl := range []string{"input", "classes", "width"} {
		if cmd.Flags().Changed(fl) {
			args += fmt.Sprintf(" --%s %s", fl, cmd.Flags().Lookup(fl).Value)
		}
	}
	return args
}

func newLatencyJSON(a *space.Arch, tbl *latency.Table, t tableFlags, pred latency.Prediction, meas *latency.Measurement) latencyJSON {
	r := latencyJSON{Network: a.Name, Arch: a.String(), LUT: t.LUT, Device: tbl.Device().ID(), Threads: tbl.Device().Threads,
		Batch: pred.Batch, PredictedMs: pred.Ms, OverheadMs: pred.OverheadMs, MeasuredNow: pred.MeasuredNow, Blocks: []latencyBlockJSON{}}
	for _, b := range pred.Blocks {
		r.Blocks = append(r.Blocks, latencyBlockJSON{Index: b.Index, Block: space.BlockString(a.Layers[b.Index]), Input: b.In.String(), Key: b.Key,
			Ms: b.Ms, P10Ms: b.Entry.P10Ns / 1e6, ColdMs: b.Entry.ColdNs / 1e6, MedianMs: b.Entry.MedianMs(), P90Ms: b.Entry.P90Ns / 1e6})
	}
	if meas != nil {
		ms, p10, med, p90 := meas.LatencyMs(), meas.P10Ns/1e6, meas.MedianMs(), meas.P90Ns/1e6
		e := 100 * (pred.Ms - ms) / ms
		r.MeasuredMs, r.MeasuredP10, r.MeasuredMed, r.MeasuredP90, r.ErrorPct = &ms, &p10, &med, &p90, &e
	}
	return r
}

func printLatency(out io.Writer, a *space.Arch, tbl *latency.Table, t tableFlags, pred latency.Prediction, r latencyJSON, meas *latency.Measurement) error {
	name := a.Name
	if name == "" {
		name = "network"
	}
	fmt.Fprintf(out, "%s on %s (%s, batch %d)\n", name, tbl.Device().ID(), tbl.Device(), pred.Batch)
	if pred.MeasuredNow > 0 {
		fmt.Fprintf(out, "%d missing entries measured now and stored in %s\n", pred.MeasuredNow, t.LUT)
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "#\tblock\tinput\tms\tp10\tcold\tmedian\tp90\tshare\t")
	for _, b := range r.Blocks {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.1f%%\t\n", b.Index, b.Block, b.Input, b.Ms, b.P10Ms, b.ColdMs, b.MedianMs, b.P90Ms, 100*b.Ms/pred.Ms)
	}
	fmt.Fprintf(tw, "\toverhead\t\t%.4f\t\t\t\t\t%.1f%%\t\n", pred.OverheadMs, 100*pred.OverheadMs/pred.Ms)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\npredicted  %.3f ms\n", pred.Ms)
	if meas != nil {
		fmt.Fprintf(out, "measured   %.3f ms (p10 of %d samples; median %.3f, p90 %.3f)\nerror      %+.1f%%\n", *r.MeasuredMs, meas.Samples, *r.MeasuredMed, *r.MeasuredP90, *r.ErrorPct)
	}
	return nil
}

type validateOptions struct {
	Table    tableFlags
	Space    string
	Samples  int
	Seed     uint64
	Rounds   int
	JSON     bool
	Quiet    bool
	Protocol protocolFlags
}

// validateJSON is the --json output of `nas latency validate`.
type validateJSON struct {
	Space   string `json:"space"`
	Seed    uint64 `json:"seed"`
	LUT     string `json:"lut"`
	Device  string `json:"device"`
	Threads int    `json:"threads"`
	Batch   int    `json:"batch"`
	latency.Validation
}

func newCmdLatencyValidate(runF func(*cobra.Command, *validateOptions) error) *cobra.Command {
	opts := &validateOptions{}
	cmd := &cobra.Command{
		Use:   "validate --space SPACE --samples N",
		Short: "Check predicted against measured latency on random networks of a space",
		Long: `Sample N networks from the search space (seeded), predict each from the
latency table, measure each end to end on this machine, and report the mean
and 90th-percentile absolute percentage error, the RMSE and the fraction of
networks within ±5% and ±10%, and how closely each network's counted
measurement (the best of its rounds) was reproduced by its next best:
errors smaller than that are the machine's noise, not the table's. It
then measures the table's calibration networks again and reports how
much slower or faster they run than when the table was profiled: the
device's drift, by which every prediction is off. The table must be this machine's: the
measurements are taken here. Missing entries are measured on the spot when
the table is writable.`,
		Example: `  nas latency validate --lut lut.db --space small28 --samples 50 --seed 1`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.Table.check(); err != nil {
				return err
			}
			switch {
			case opts.Space == "":
				return usageErrorf("--space SPACE is required")
			case opts.Samples < 1:
				return usageErrorf("--samples %d: must be at least 1", opts.Samples)
			case opts.Rounds < 1:
				return usageErrorf("--rounds %d: must be at least 1", opts.Rounds)
			}
			if runF != nil {
				return runF(cmd, opts)
			}
			return validateRun(cmd, opts)
		},
	}
	addTableFlags(cmd, &opts.Table)
	f := cmd.Flags()
	addSpaceFlag(cmd, &opts.Space)
	f.IntVar(&opts.Samples, "samples", 20, "number of networks to sample")
	addSeedFlag(cmd, &opts.Seed)
	addRoundsFlag(cmd, &opts.Rounds)
	addJSONFlag(cmd, &opts.JSON)
	addQuietFlag(cmd, &opts.Quiet)
	opts.Protocol.AddFlags(f)
	return cmd
}

func validateRun(cmd *cobra.Command, opts *validateOptions) error {
	proto, err := opts.Protocol.protocol()
	if err != nil {
		return err
	}
	if opts.Table.Device != "" {
		return usageErrorf("--device: validation measures on this machine, so it needs this machine's table; run it on the device")
	}
	s, err := space.LoadSpace(opts.Space)
	if err != nil {
		return err
	}
	archs, err := sampleArchs(s, opts.Samples, opts.Seed)
	if err != nil {
		return err
	}
	pr, err := openForPrediction(opts.Table, proto, opts.Rounds)
	if err != nil {
		return err
	}
	tbl := pr.Table
	defer tbl.Close()
	ctx, stop := signal.NotifyContext(contextOf(cmd), os.Interrupt)
	defer stop()

	bar := progress.New(cmd.ErrOrStderr(), "validate", "measurements", opts.Rounds*len(archs), 0, opts.Quiet || opts.JSON)
	v := &latency.Validator{Predictor: pr, Compile: compiler(), Protocol: proto, Threads: tbl.Device().Threads, Rounds: opts.Rounds,
		Progress: func(done, total int) { bar.SetTotal(total); bar.Add(1) }, // the total grows when measurements are repeated
	}
	res, err := v.Validate(ctx, archs)
	if err == nil {
		// The device's state against the table's: its calibration
		// networks measured again.
		var drift float64
		var ok bool
		drift, ok, err = latency.Drift(ctx, tbl, compiler(), s.Input, opts.Table.Batch, tbl.Device().Threads, proto, opts.Rounds)
		if ok {
			d := 100 * drift
			res.DriftPct = &d
		}
	}
	bar.Finish()
	if err != nil {
		return fillCommand(err, opts.Table.LUT, opts.Table.Batch, "--space "+shellQuote(opts.Space))
	}
	if opts.JSON {
		return writeJSON(cmd.OutOrStdout(), validateJSON{Space: s.Name, Seed: opts.Seed, LUT: opts.Table.LUT, Device: tbl.Device().ID(),
			Threads: tbl.Device().Threads, Batch: opts.Table.Batch, Validation: res})
	}
	return printValidation(cmd.OutOrStdout(), s.Name, opts, tbl.Device().ID(), res)
}

// sampleArchs samples n networks of s with seed, each named by its arch
// string.
func sampleArchs(s *space.Space, n int, seed uint64) ([]*space.Arch, error) {
	rng := rand.New(rand.NewPCG(seed, 0))
	archs := make([]*space.Arch, n)
	for i := range archs {
		_, a, err := s.Sample(rng)
		if err != nil {
			return nil, err
		}
		a.Name = a.String()
		archs[i] = a
	}
	return archs, nil
}

func printValidation(out io.Writer, spaceName string, opts *validateOptions, device string, res latency.Validation) error {
	fmt.Fprintf(out, "space %s, %d networks (seed %d), table %s, device %s\n\n", spaceName, len(res.Samples), opts.Seed, opts.Table.LUT, device)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "#\tpredicted ms\tmeasured ms\terror\tnext round\t")
	for i, smp := range res.Samples {
		fmt.Fprintf(tw, "%d\t%.3f\t%.3f\t%+.1f%%\t%+.1f%%\t\n", i, smp.PredictedMs, smp.MeasuredMs, smp.ErrorPct, smp.RoundGapPct)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nmean |error| %.2f%%, p90 |error| %.2f%%, mean error %+.2f%%, RMSE %.3f ms\n", res.MeanAbsPct, res.P90AbsPct, res.MeanPct, res.RMSEMs)
	fmt.Fprintf(out, "within ±5%%: %.0f%%, within ±10%%: %.0f%%\n", 100*res.Within5, 100*res.Within10)
	fmt.Fprintf(out, "a network's second-best round measured a median %.1f%% above its best (the measurements' own noise)\n", res.MedianRoundGapPct)
	if res.DriftPct != nil {
		fmt.Fprintf(out, "the table's calibration networks ran %+.1f%% against the profile's timings of them (the device's drift since; errors move by about as much, the other way)\n", *res.DriftPct)
		if math.Abs(*res.DriftPct) >= driftHintPct {
			fmt.Fprintf(out, "the device is not in the state the table was profiled in: if it stays so, refit the table's overhead to it (nas profile --lut %s --space %s --recalibrate), or profile again\n",
				shellQuote(opts.Table.LUT), shellQuote(opts.Space))
		}
	}
	if worst := worstSample(res); worst != "" {
		fmt.Fprintf(out, "largest error: %s\n", worst)
	}
	return nil
}

// driftHintPct is the drift (percent) from which validate suggests
// recalibrating: past it, networks at the edge of ±5% cross it.
const driftHintPct = 2.0

// worstSample names the network with the largest absolute error.
func worstSample(v latency.Validation) string {
	best, bi := -1.0, -1
	for i, s := range v.Samples {
		if e := max(s.ErrorPct, -s.ErrorPct); e > best {
			best, bi = e, i
		}
	}
	if bi < 0 {
		return ""
	}
	return fmt.Sprintf("#%d %+.1f%% %s", bi, v.Samples[bi].ErrorPct, strings.TrimSpace(v.Samples[bi].Network))
}

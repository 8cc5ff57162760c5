package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"nas/internal/atomicfile"
	"nas/internal/progress"
	"nas/pipeline"
	"nas/results"
	"nas/search"
	"nas/supernet"
	"nas/trainer"
)

// contextOf is cmd's context, or Background when it has none (tests
// executing a command directly).
func contextOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// sayer prints to out unless quiet.
func sayer(out io.Writer, quiet bool) func(format string, args ...any) {
	return func(format string, args ...any) {
		if !quiet {
			fmt.Fprintf(out, format, args...)
		}
	}
}

// writeJSON prints v as indented JSON.
func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// flagError turns a pipeline.SettingError into a usage error that names
// the flag of the setting: flags[setting], or the setting's name with
// dashes.
func flagError(err error, flags map[string]string) error {
	var se *pipeline.SettingError
	if !errors.As(err, &se) {
		return err
	}
	name, ok := flags[se.Setting]
	if !ok {
		name = strings.ReplaceAll(se.Setting, "_", "-")
	}
	return usageErrorf("--%s %v: %s", name, se.Value, se.Reason)
}

// writeOut writes b to the file path (-o), atomically, or to standard
// output for "-".
func writeOut(cmd *cobra.Command, path string, b []byte) error {
	if path == "-" {
		_, err := cmd.OutOrStdout().Write(b)
		return err
	}
	return atomicfile.WriteBytes(path, b)
}

// progressLog is the logger of a long command's progress lines on stderr
// (--log-format), or nil when there are none: on a terminal, where the
// progress bar shows progress, unless --log-format is given; and with
// --quiet.
func progressLog(cmd *cobra.Command, quiet bool) *slog.Logger {
	f := cmd.Flag("log-format")
	if quiet || f == nil {
		return nil
	}
	w := cmd.ErrOrStderr()
	if progress.IsTerminal(w) && !f.Changed {
		return nil
	}
	return newLogger(w, f.Value.String())
}

// newLogger writes slog records to w as text or JSON lines.
func newLogger(w io.Writer, format string) *slog.Logger {
	if format == logJSON {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// checkLogFormat refuses an unknown --log-format.
func checkLogFormat(format string) error {
	if format != logText && format != logJSON {
		return usageErrorf("--log-format %q: want text or json", format)
	}
	return nil
}

// roundDuration rounds d for a log line: to the second from a minute on,
// to the millisecond below.
func roundDuration(d time.Duration) time.Duration {
	if d >= time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}

// sig rounds x to 4 significant digits for a log line.
func sig(x float64) float64 {
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 4, 64), 64)
	return v
}

// searchWatch shows a search's progress: a bar on a terminal, or a log
// line per trial and per step after the search proper (final training,
// baselines, their epochs).
type searchWatch struct {
	cmd   *cobra.Command
	say   func(format string, args ...any)
	log   *slog.Logger // nil: no log lines
	quiet bool         // no bar
	store string

	run     results.RunID
	bar     *progress.Bar
	done    int          // the trials the run held when it started
	last    search.Trial // the trial recorded last
	super   *trainWatch  // the supernet's training, when the search builds it
	total   int          // the budget
	jsonOut bool
}

func newSearchWatch(cmd *cobra.Command, opts *searchOptions) *searchWatch {
	w := &searchWatch{cmd: cmd, say: sayer(cmd.OutOrStdout(), opts.JSON), log: progressLog(cmd, opts.Quiet), store: opts.Store, jsonOut: opts.JSON}
	w.quiet = opts.JSON || opts.Quiet || w.log != nil
	return w
}

// attach sets the callbacks of s.
func (w *searchWatch) attach(s *pipeline.Search) {
	s.Started, s.Trial, s.Progress, s.Log, s.Epoch = w.started, w.trial, w.progress, w.step, w.epoch
	s.SupernetStep, s.SupernetEpoch = w.supernetStep, w.supernetEpoch
}

func (w *searchWatch) started(id results.RunID, st pipeline.SearchSettings, done int) {
	w.run = id
	w.say("%s: %s search of %s for %g ms on %s, seed %d, budget %d (store %s, table %s)\n",
		id, st.Strategy, st.Space, st.Objective.TargetMs, st.Data, st.Seed, st.Budget, w.store, st.LatencyTable)
	w.done, w.total = done, st.Budget
	w.super = newTrainWatch(w.cmd, "supernet", w.jsonOut, w.quiet, supernetLogSteps)
	if w.log != nil {
		w.super.log = w.log.With("run", id.String(), "network", "supernet")
		w.log.Info("search started", "run", id.String(), "strategy", st.Strategy, "space", st.Space, "target_ms", st.Objective.TargetMs,
			"data", st.Data, "seed", st.Seed, "budget", st.Budget, "done", done, "store", w.store, "lut", st.LatencyTable)
	}
}

func (w *searchWatch) trial(t search.Trial) { w.last = t }

// supernetStep shows a step of the supernet's training.
func (w *searchWatch) supernetStep(s trainer.StepReport) { w.super.step(s, "largest ") }

// supernetEpoch shows an epoch of the supernet's training.
func (w *searchWatch) supernetEpoch(e supernet.EpochStats) {
	w.super.epoch([]any{"epoch", e.Epoch, "train_loss", sig(e.TrainLoss), "train_acc", sig(e.TrainAcc),
		"largest_val_acc", sig(e.LargestValAcc), "smallest_val_acc", sig(e.SmallestValAcc), "lr", sig(e.LR)},
		fmt.Sprintf("supernet epoch %d  largest: train loss %.4f acc %.2f%%  val acc %.2f%%  smallest: val acc %.2f%%",
			e.Epoch, e.TrainLoss, 100*e.TrainAcc, 100*e.LargestValAcc, 100*e.SmallestValAcc))
}

func (w *searchWatch) progress(done int, best search.Trial) {
	if w.bar == nil {
		// The search proper starts: the supernet's bar, if any, ends.
		w.super.finish()
		w.bar = progress.New(w.cmd.ErrOrStderr(), "search", "trials", w.total, w.done, w.quiet)
	}
	w.bar.Add(1)
	w.bar.Status(fmt.Sprintf("best reward %.4f (acc %.3f, %.3g ms)", best.Reward, best.Accuracy, best.LatencyMs))
	if w.log == nil {
		return
	}
	t := w.last
	args := []any{"run", w.run.String(), "trial", t.Index + 1, "of", w.bar.Total(), "status", t.Status, "arch", t.Key,
		"latency_ms", sig(t.LatencyMs), "val_acc", sig(t.Accuracy), "reward", sig(t.Reward), "wall", roundDuration(t.Wall),
		"elapsed", roundDuration(w.bar.Elapsed())}
	if eta, ok := w.bar.ETA(); ok {
		args = append(args, "eta", roundDuration(eta))
	}
	args = append(args, "best_reward", sig(best.Reward))
	if t.Reason != "" {
		args = append(args, "reason", t.Reason)
	}
	w.log.Info("trial", args...)
}

// step is a step after the search proper (pipeline.Search.Log).
func (w *searchWatch) step(msg string) {
	if w.log != nil {
		w.log.Info(msg, "run", w.run.String())
		return
	}
	w.say("%s\n", msg)
}

// epoch is an epoch of a final training or a baseline.
func (w *searchWatch) epoch(name string, e trainer.EpochReport) {
	if w.log == nil {
		return
	}
	w.log.Info("epoch", append([]any{"run", w.run.String(), "network", name}, epochArgs(e)...)...)
}

// epochArgs are the attributes of an epoch's log line.
func epochArgs(e trainer.EpochReport) []any {
	return []any{"epoch", e.Epoch, "of", e.Epochs, "train_loss", sig(e.TrainLoss), "train_acc", sig(e.TrainAcc),
		"val_loss", sig(e.ValLoss), "val_acc", sig(e.ValAcc), "lr", sig(e.LR)}
}

// finish ends the bars.
func (w *searchWatch) finish() {
	if w.super != nil {
		w.super.finish()
	}
	if w.bar != nil {
		w.bar.Finish()
	}
}

// netadaptLog writes NetAdapt's progress lines: one per unit considered
// in an iteration (a proposal made), and at the end of an iteration one
// for it and one per proposal. A nil netadaptLog writes nothing.
type netadaptLog struct {
	log   *slog.Logger
	start time.Time
}

func newNetadaptLog(log *slog.Logger) *netadaptLog {
	if log == nil {
		return nil
	}
	return &netadaptLog{log: log, start: time.Now()}
}

func (l *netadaptLog) unit(iter, done, units int, bar *progress.Bar) {
	if l == nil {
		return
	}
	args := []any{"iteration", iter, "unit", done, "of", units, "elapsed", roundDuration(time.Since(l.start))}
	if eta, ok := bar.ETA(); ok {
		args = append(args, "iteration_eta", roundDuration(eta))
	}
	l.log.Info("netadapt unit", args...)
}

func (l *netadaptLog) iteration(it search.Iteration, targetMs float64, longSteps int) {
	if l == nil {
		return
	}
	for _, p := range it.Proposals {
		l.log.Info("netadapt proposal", "iteration", it.Index, "unit", p.Unit, "from", p.From, "to", p.To,
			"latency_ms", sig(p.LatencyMs), "val_acc", sig(p.Accuracy))
	}
	args := []any{"iteration", it.Index, "arch", it.Arch, "latency_ms", sig(it.LatencyMs), "measured_ms", sig(it.MeasuredMs),
		"val_acc", sig(it.Accuracy), "target_ms", targetMs, "elapsed", roundDuration(time.Since(l.start))}
	switch {
	case it.Final:
		args = append(args, "final", true, "long_steps", longSteps)
	case it.Index > 0:
		args = append(args, "unit", it.Unit, "from", it.From, "to", it.To, "constraint_ms", sig(it.ConstraintMs), "proposals", len(it.Proposals))
	}
	l.log.Info("netadapt iteration", args...)
}

package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"nas/pipeline"
	"nas/results"
)

// defaultStore is the results store nas search writes and nas report reads
// when --store is not given.
const defaultStore = "nas-results.db"

type reportOptions struct {
	Run   string // run-N, N or latest
	Store string
	Out   string // default runs/<run ID>
	JSON  bool
}

func newCmdReport(runF func(*cobra.Command, *reportOptions) error) *cobra.Command {
	opts := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "report RUN",
		Short: "Report a search run: trial table, Pareto front, best network, plot and HTML page",
		Long: `Report a search run from the results store: every trial, the Pareto front of
validation accuracy against latency, the best network by reward, and the
run's baselines.

RUN is a run ID as nas search prints it (run-3, or just 3), or latest.

The report is written into the run's folder (runs/RUN/, or -o DIR):
  report.json   everything below, as JSON (the same as --json prints)
  trials.csv    one row per trial
  pareto.svg    accuracy against latency: trials, front, target, baselines
  pareto.png    the same plot as an image
  report.html   one page with the plot and a sortable trial table; open it
                in a browser, it loads nothing from elsewhere
  best.json     the best network as arch JSON (nas inspect reads it)
  best.txt      the best network as an arch string
It then prints the front and the best network, or with --json the report.
See docs/report.md.`,
		Example: `  nas report run-3
  nas report latest --store ~/exp/nas-results.db -o report/
  nas report 3 --json | jq .best.arch`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Run = args[0]
			if opts.Run != "latest" {
				if _, err := results.ParseRunID(opts.Run); err != nil {
					return usageErrorf("%v, or latest", err)
				}
			}
			if runF != nil {
				return runF(cmd, opts)
			}
			return reportRun(cmd, opts)
		},
	}
	addStoreFlag(cmd, &opts.Store)
	addOutFlag(cmd, &opts.Out)
	addJSONFlag(cmd, &opts.JSON)
	return cmd
}

func reportRun(cmd *cobra.Command, opts *reportOptions) error {
	s, err := results.OpenReadOnly(opts.Store)
	if err != nil {
		if opts.Store == defaultStore {
			return fmt.Errorf("%w (run nas report in the folder where nas search ran, or pass --store FILE)", err)
		}
		return err
	}
	defer s.Close()
	id, err := resolveRun(s, opts.Run)
	if err != nil {
		return err
	}
	r, err := s.Report(id)
	if err != nil {
		return err
	}
	dir := opts.Out
	if dir == "" {
		dir = pipeline.RunFolder(id)
	}
	paths, err := r.WriteDir(dir)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if opts.JSON {
		return r.WriteJSON(out)
	}
	printReport(out, r)
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)
	}
	fmt.Fprintf(out, "\nwrote %s: %s\n", dir, strings.Join(names, " "))
	if s.FromSnapshot() {
		fmt.Fprintf(out, "a search has %s open: this report holds what it has committed so far (its snapshot; docs/results-store.md)\n", opts.Store)
	}
	return nil
}

// resolveRun turns run-N, N or latest into a run ID of the store.
func resolveRun(s *results.Store, ref string) (results.RunID, error) {
	if ref != "latest" {
		return results.ParseRunID(ref)
	}
	runs, err := s.Runs()
	if err != nil {
		return 0, err
	}
	if len(runs) == 0 {
		return 0, fmt.Errorf("results store %s holds no runs yet: start one with nas search", s.Path())
	}
	return runs[len(runs)-1].ID, nil
}

// printReport writes the text summary: the run, the counts, the front, the
// best network and the baselines.
func printReport(out io.Writer, r *results.Report) {
	c := r.Run.Config
	fmt.Fprintf(out, "%s (%s): %s", r.Run.ID, r.Run.Status, c.Strategy)
	for _, part := range []struct{ label, value string }{{"space ", c.Space}, {"", c.Dataset}} {
		if part.value != "" {
			fmt.Fprintf(out, ", %s%s", part.label, part.value)
		}
	}
	fmt.Fprintf(out, ", seed %d", c.Seed)
	if c.TargetMs > 0 {
		fmt.Fprintf(out, ", target %s ms", strconv.FormatFloat(c.TargetMs, 'g', -1, 64))
	}
	sm := r.Summary
	fmt.Fprintf(out, "\ntrials: %d (%d ok, %d failed, %d skipped)", sm.Trials, sm.OK, sm.Failed, sm.Skipped)
	if c.TargetMs > 0 {
		fmt.Fprintf(out, "; %d ok within the target", sm.WithinTarget)
	}
	fmt.Fprintln(out)

	if len(r.Front) == 0 {
		fmt.Fprintln(out, "\nno trial has trained yet: no front, no best network")
	} else {
		fmt.Fprintf(out, "\nPareto front (%d), fastest first:\n", len(r.Front))
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "trial\tlatency ms\tval acc %\treward\tparams\tMACs\t  arch")
		for _, t := range r.Front {
			best := ""
			if r.Best != nil && t.Seq == r.Best.Seq {
				best = " (best)"
			}
			fmt.Fprintf(tw, "%d\t%.3f\t%.2f\t%.4f\t%s\t%s\t  %s%s\n", t.Seq, t.LatencyMs, 100*t.ValAccuracy, t.Reward,
				groupDigits(t.Params), groupDigits(t.MACs), t.Arch, best)
		}
		tw.Flush()
	}
	if b := r.Best; b != nil {
		fmt.Fprintf(out, "\nbest (within the target first, then by reward): trial %d, reward %.4f, val acc %.2f%%, %.3f ms (%s), %s params, %s MACs\n  %s\n",
			b.Seq, b.Reward, 100*b.ValAccuracy, b.LatencyMs, b.LatencySource, groupDigits(b.Params), groupDigits(b.MACs), b.Arch)
	}
	if len(r.Baselines) > 0 {
		fmt.Fprintln(out, "\nbaselines:")
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "network\tlatency ms\tval acc %\ttest acc %\tparams\tMACs")
		for _, b := range r.Baselines {
			test := "-"
			if b.TestAccuracy != nil {
				test = fmt.Sprintf("%.2f", 100**b.TestAccuracy)
			}
			fmt.Fprintf(tw, "%s\t%.3f\t%.2f\t%s\t%s\t%s\n", b.Name, b.LatencyMs, 100*b.Accuracy, test, groupDigits(b.Params), groupDigits(b.MACs))
		}
		tw.Flush()
	}
}

package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"nas/latency"
)

// newCmdLut groups the commands on latency lookup tables.
func newCmdLut() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lut",
		Short: "Look at latency lookup tables",
		Long: `A latency lookup table is a bbolt file with one bucket per device
fingerprint (CPU, SIMD features, kernel path and version, GOOS/GOARCH,
threads, Go version) holding the measured time of each block signature.
See docs/latency-table.md.`,
	}
	cmd.AddCommand(newCmdLutShow(nil))
	return cmd
}

type lutShowOptions struct {
	Path string
	JSON bool
	CSV  bool
}

func newCmdLutShow(runF func(*cobra.Command, *lutShowOptions) error) *cobra.Command {
	opts := &lutShowOptions{}
	cmd := &cobra.Command{
		Use:   "show FILE",
		Short: "Show the devices of a latency table, or dump its entries",
		Long: `Show the devices of a latency table: their fingerprints, how many entries
each holds and when they were measured. With --json or --csv, dump every
entry as well (--json: the devices with their entries).`,
		Example: `  nas lut show lut.db
  nas lut show lut.db --csv > lut.csv`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Path = args[0]
			if opts.JSON && opts.CSV {
				return usageErrorf("--json and --csv cannot be used together")
			}
			if runF != nil {
				return runF(cmd, opts)
			}
			return lutShowRun(cmd, opts)
		},
	}
	addJSONFlag(cmd, &opts.JSON)
	cmd.Flags().BoolVar(&opts.CSV, "csv", false, "print every entry as CSV, one row per device and key")
	return cmd
}

// lutEntryJSON is one entry in the --json dump.
type lutEntryJSON struct {
	Key string `json:"key"`
	latency.Entry
}

type lutDeviceJSON struct {
	ID          string              `json:"id"`
	Fingerprint latency.Fingerprint `json:"fingerprint"`
	Count       int                 `json:"count"`
	Oldest      *time.Time          `json:"oldest,omitempty"`
	Newest      *time.Time          `json:"newest,omitempty"`
	Entries     []lutEntryJSON      `json:"entries"`
}

type lutJSON struct {
	Path    string          `json:"path"`
	Schema  int             `json:"schema"`
	Created time.Time       `json:"created"`
	Devices []lutDeviceJSON `json:"devices"`
}

func lutShowRun(cmd *cobra.Command, opts *lutShowOptions) error {
	sum, err := latency.Inspect(opts.Path)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	switch {
	case opts.CSV:
		return writeLutCSV(out, opts.Path)
	case opts.JSON:
		doc, err := lutDump(opts.Path, sum)
		if err != nil {
			return err
		}
		return writeJSON(out, doc)
	}
	fmt.Fprintf(out, "latency table %s (schema %d, created %s)\n", sum.Path, sum.Schema, fmtTime(sum.Created))
	if len(sum.Devices) == 0 {
		fmt.Fprintln(out, "no devices: profile one with `nas profile --lut FILE`")
		return nil
	}
	for _, d := range sum.Devices {
		if err := printLutDevice(out, d); err != nil {
			return err
		}
	}
	return nil
}

// writeLutCSV writes every entry of the table at path as CSV.
func writeLutCSV(out io.Writer, path string) error {
	w := csv.NewWriter(out)
	_ = w.Write([]string{"device", "key", "median_ns", "p10_ns", "p90_ns", "samples", "rounds", "scale", "cold_ns", "beta", "measured_at", "protocol"})
	err := latency.ReadAll(path, func(dev, key string, e latency.Entry) error {
		return w.Write([]string{dev, key, fmtFloat(e.MedianNs), fmtFloat(e.P10Ns), fmtFloat(e.P90Ns),
			strconv.Itoa(e.Samples), strconv.Itoa(max(e.Rounds, 1)), fmtFloat(e.Scale), fmtFloat(e.ColdNs), fmtFloat(e.Beta), e.MeasuredAt.Format(time.RFC3339Nano), e.Protocol})
	})
	if err != nil {
		return err
	}
	w.Flush()
	return w.Error()
}

// lutDump is the --json document: the devices and every entry.
func lutDump(path string, sum latency.Summary) (lutJSON, error) {
	doc := lutJSON{Path: sum.Path, Schema: sum.Schema, Created: sum.Created}
	index := map[string]int{}
	for _, d := range sum.Devices {
		dj := lutDeviceJSON{ID: d.ID, Fingerprint: d.Fingerprint, Count: d.Entries, Entries: []lutEntryJSON{}}
		if d.Entries > 0 {
			dj.Oldest, dj.Newest = &d.Oldest, &d.Newest
		}
		index[d.ID] = len(doc.Devices)
		doc.Devices = append(doc.Devices, dj)
	}
	err := latency.ReadAll(path, func(dev, key string, e latency.Entry) error {
		d := &doc.Devices[index[dev]]
		d.Entries = append(d.Entries, lutEntryJSON{Key: key, Entry: e})
		return nil
	})
	return doc, err
}

func printLutDevice(out io.Writer, d latency.DeviceSummary) error {
	fp := d.Fingerprint
	here := ""
	if fp.Equal(latency.CurrentFingerprint(fp.Threads)) {
		here = "  (this machine)"
	}
	fmt.Fprintf(out, "\ndevice %s%s\n", d.ID, here)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  cpu\t%s\n", fp.CPUModel)
	fmt.Fprintf(tw, "  cpu features\t%s\n", orNone(strings.Join(fp.CPUFeatures, " ")))
	fmt.Fprintf(tw, "  kernels\t%s, version %d\n", fp.KernelPath, fp.KernelVersion)
	fmt.Fprintf(tw, "  platform\t%s/%s, %s\n", fp.GOOS, fp.GOARCH, fp.GoVersion)
	fmt.Fprintf(tw, "  os release\t%s\n", orNone(fp.OSRelease))
	fmt.Fprintf(tw, "  threads\t%d\n", fp.Threads)
	if d.Entries == 0 {
		fmt.Fprintf(tw, "  entries\t0\n")
	} else {
		fmt.Fprintf(tw, "  entries\t%d, measured %s .. %s\n", d.Entries, fmtTime(d.Oldest), fmtTime(d.Newest))
	}
	return tw.Flush()
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

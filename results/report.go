package results

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"nas/internal/atomicfile"
	"nas/space"
)

// Report is what a run has found so far: every trial as a table row, the
// Pareto front of validation accuracy against latency, the best trial by
// reward, and the run's baselines. Its JSON form is report.json (see
// docs/report.md); build one with NewReport or Store.Report.
type Report struct {
	Run       ReportRun  `json:"run"`
	Summary   Summary    `json:"summary"`
	Best      *Row       `json:"best"`      // null when no trial trained
	Front     []Row      `json:"front"`     // fastest first
	Baselines []Baseline `json:"baselines"` // fastest first
	Trials    []Row      `json:"trials"`    // in the order stored

	bestArchJSON json.RawMessage // the best trial's stored arch JSON, if any
}

// ReportRun is the run a report is about.
type ReportRun struct {
	ID      string    `json:"id"` // "run-3"
	Status  RunStatus `json:"status"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	Config  RunConfig `json:"config"`
}

// Summary counts the trials of a run.
type Summary struct {
	Trials  int `json:"trials"`
	OK      int `json:"ok"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
	// WithinTarget counts the ok trials at or under the run's latency
	// target; it is 0 when the run has no target.
	WithinTarget int     `json:"within_target"`
	FrontSize    int     `json:"front_size"`
	WallSeconds  float64 `json:"wall_s"` // total over the trials
}

// Row is one trial in the report's tables.
type Row struct {
	Seq    uint64      `json:"seq"`
	Status TrialStatus `json:"status"`
	Reason string      `json:"reason,omitempty"`
	Arch   string      `json:"arch"`
	Params int64       `json:"params"`
	MACs   int64       `json:"macs"`
	// LatencyMs is the latency the front uses: measured where there is a
	// measurement, else predicted; LatencySource says which.
	LatencyMs          float64  `json:"latency_ms"`
	LatencySource      string   `json:"latency_source"` // "measured" or "predicted"
	PredictedLatencyMs float64  `json:"predicted_latency_ms"`
	MeasuredLatencyMs  *float64 `json:"measured_latency_ms,omitempty"`
	ValAccuracy        float64  `json:"val_accuracy"`
	// TestAccuracy is the test-split accuracy of the trial's network after
	// the run's final training (nas search --final): stored with the trial,
	// or taken from the run's baseline of the same arch (a final training is
	// stored as a baseline, "searched-1 (final)"), which TestAccuracyFrom
	// then names. Trials whose network had no final training have none.
	TestAccuracy     *float64 `json:"test_accuracy,omitempty"`
	TestAccuracyFrom string   `json:"test_accuracy_from,omitempty"`
	Reward           float64  `json:"reward"`
	OnFront          bool     `json:"on_front"`
	Seed             uint64   `json:"seed"`
	WallSeconds      float64  `json:"wall_s"`
}

func rowOf(t Trial) Row {
	src := "predicted"
	if t.MeasuredLatencyMs != nil {
		src = "measured"
	}
	return Row{
		Seq: t.Seq, Status: t.Status, Reason: t.Reason, Arch: t.Arch, Params: t.Params, MACs: t.MACs,
		LatencyMs: t.LatencyMs(), LatencySource: src,
		PredictedLatencyMs: t.PredictedLatencyMs, MeasuredLatencyMs: t.MeasuredLatencyMs,
		ValAccuracy: t.ValAccuracy, TestAccuracy: t.TestAccuracy, Reward: t.Reward,
		Seed: t.Seed, WallSeconds: t.WallTime.Seconds(),
	}
}

// NewReport builds the report of a run from its trials (in the order
// stored) and baselines. The front is TrialFront's; the best trial is, as
// the search itself picks it, the ok trial with the highest reward among
// those whose latency meets the run's target (among all of them when none
// does), the earliest of equals. A trial without a test accuracy of its own gets the one
// of a tested baseline with the same network (see Row.TestAccuracy).
func NewReport(run Run, trials []Trial, baselines []Baseline) *Report {
	r := &Report{
		Run:       ReportRun{ID: run.ID.String(), Status: run.Status, Created: run.Created, Updated: run.Updated, Config: run.Config},
		Front:     []Row{},
		Baselines: append([]Baseline{}, baselines...),
		Trials:    make([]Row, 0, len(trials)),
	}
	sortBaselines(r.Baselines)
	var okRows []int // indices into r.Trials
	var points []Point
	best := -1
	tested := testedArchs(r.Baselines)
	for _, t := range trials {
		row := rowOf(t)
		if row.TestAccuracy == nil && len(tested) > 0 {
			if b, ok := tested[canonicalArch(row.Arch)]; ok {
				row.TestAccuracy, row.TestAccuracyFrom = b.TestAccuracy, b.Name
			}
		}
		r.Summary.Trials++
		r.Summary.WallSeconds += row.WallSeconds
		switch t.Status {
		case TrialOK:
			r.Summary.OK++
			if target := run.Config.TargetMs; target > 0 && row.LatencyMs <= target {
				r.Summary.WithinTarget++
			}
			okRows = append(okRows, len(r.Trials))
			points = append(points, Point{LatencyMs: row.LatencyMs, Accuracy: row.ValAccuracy})
			if best < 0 || betterTrial(row, r.Trials[best], run.Config.TargetMs) {
				best = len(r.Trials)
				r.bestArchJSON = t.ArchJSON
			}
		case TrialFailed:
			r.Summary.Failed++
		case TrialSkipped:
			r.Summary.Skipped++
		}
		r.Trials = append(r.Trials, row)
	}
	for _, i := range Front(points) {
		r.Trials[okRows[i]].OnFront = true
		r.Front = append(r.Front, r.Trials[okRows[i]])
	}
	r.Summary.FrontSize = len(r.Front)
	if best >= 0 {
		b := r.Trials[best]
		r.Best = &b
	}
	return r
}

// testedArchs maps the canonical arch string of every baseline with a test
// accuracy to that baseline; of baselines with the same network, the first
// in bs.
func testedArchs(bs []Baseline) map[string]Baseline {
	m := map[string]Baseline{}
	for _, b := range bs {
		if b.TestAccuracy == nil || b.Arch == "" {
			continue
		}
		if k := canonicalArch(b.Arch); k != "" {
			if _, ok := m[k]; !ok {
				m[k] = b
			}
		}
	}
	return m
}

// canonicalArch returns the canonical form of an arch string, so that
// equal networks written differently match; a string that does not parse
// is its own form.
func canonicalArch(s string) string {
	if a, err := space.ParseArch(s); err == nil {
		return a.String()
	}
	return s
}

// sortBaselines orders baselines fastest first, then by name.
func sortBaselines(bs []Baseline) {
	slices.SortFunc(bs, func(a, b Baseline) int {
		return cmp.Or(cmp.Compare(a.LatencyMs, b.LatencyMs), strings.Compare(a.Name, b.Name))
	})
}

// Report reads a run, its trials and its baselines and builds their report.
// For a run the store does not hold it returns an *UnknownRunError that
// lists the runs it does.
func (s *Store) Report(id RunID) (*Report, error) {
	run, err := s.Run(id)
	if errors.Is(err, ErrUnknownRun) {
		runs, lerr := s.Runs()
		if lerr != nil {
			return nil, errors.Join(err, lerr)
		}
		return nil, &UnknownRunError{Path: s.path, Run: id, Runs: runs}
	}
	if err != nil {
		return nil, err
	}
	trials, err := s.Trials(id)
	if err != nil {
		return nil, err
	}
	baselines, err := s.Baselines(id)
	if err != nil {
		return nil, err
	}
	return NewReport(run, trials, baselines), nil
}

// BestArch returns the network of the best trial, decoded from its arch
// string, or from its stored arch JSON when the string does not parse. It
// returns an error when the run has no ok trial or neither form decodes.
func (r *Report) BestArch() (*space.Arch, error) {
	if r.Best == nil {
		return nil, fmt.Errorf("%s: no trial trained, so there is no best network", r.Run.ID)
	}
	a, err := space.ParseArch(r.Best.Arch)
	if err == nil {
		return a, nil
	}
	if len(r.bestArchJSON) > 0 {
		if a, jerr := space.ParseArchJSON(r.bestArchJSON); jerr == nil {
			return a, nil
		}
	}
	return nil, fmt.Errorf("%s, best trial %d: arch string %q: %w", r.Run.ID, r.Best.Seq, r.Best.Arch, err)
}

// WriteJSON writes the report as indented JSON (report.json).
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// CSVHeader is the header row of trials.csv.
var CSVHeader = []string{"seq", "status", "arch", "params", "macs", "latency_ms", "latency_source",
	"predicted_latency_ms", "measured_latency_ms", "val_accuracy", "test_accuracy", "reward",
	"on_front", "seed", "wall_s", "reason"}

// WriteCSV writes the trial table (trials.csv), one row per trial in the
// order stored. Optional figures that a trial does not have are empty.
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	opt := func(v *float64) string {
		if v == nil {
			return ""
		}
		return f(*v)
	}
	for _, t := range r.Trials {
		rec := []string{strconv.FormatUint(t.Seq, 10), string(t.Status), t.Arch,
			strconv.FormatInt(t.Params, 10), strconv.FormatInt(t.MACs, 10), f(t.LatencyMs), t.LatencySource,
			f(t.PredictedLatencyMs), opt(t.MeasuredLatencyMs), f(t.ValAccuracy), opt(t.TestAccuracy), f(t.Reward),
			strconv.FormatBool(t.OnFront), strconv.FormatUint(t.Seed, 10), f(t.WallSeconds), t.Reason}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// The files WriteDir writes into a run's folder.
const (
	FileReport   = "report.json"
	FileTrials   = "trials.csv"
	FilePlotSVG  = "pareto.svg"
	FilePlotPNG  = "pareto.png"
	FileHTML     = "report.html"
	FileBestJSON = "best.json" // the best network, canonical indented arch JSON
	FileBestArch = "best.txt"  // the best network, one-line arch string
)

// WriteDir writes the report's files into dir, creating it if needed, and
// returns their paths. Each file is written to a temporary name and renamed,
// so a reader never sees half a file. best.json and best.txt are written
// only when a trial trained.
func (r *Report) WriteDir(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report folder: %w", err)
	}
	plot, err := r.Plot()
	if err != nil {
		return nil, err
	}
	var svg bytes.Buffer
	if err := WriteSVG(&svg, plot); err != nil {
		return nil, fmt.Errorf("%s: %w", FilePlotSVG, err)
	}
	files := []reportFile{
		{FileReport, r.WriteJSON},
		{FileTrials, r.WriteCSV},
		{FilePlotSVG, func(w io.Writer) error { _, err := w.Write(svg.Bytes()); return err }},
		{FilePlotPNG, func(w io.Writer) error { return WritePNG(w, plot) }},
		{FileHTML, func(w io.Writer) error { return r.WriteHTML(w, svg.Bytes()) }},
	}
	if r.Best != nil {
		a, err := r.BestArch()
		if err != nil {
			return nil, err
		}
		js, err := a.IndentedJSON()
		if err != nil {
			return nil, fmt.Errorf("%s, best trial %d: %w", r.Run.ID, r.Best.Seq, err)
		}
		files = append(files,
			reportFile{FileBestJSON, func(w io.Writer) error { _, err := w.Write(js); return err }},
			reportFile{FileBestArch, func(w io.Writer) error { _, err := io.WriteString(w, a.String()+"\n"); return err }})
	}
	var paths []string
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if err := atomicfile.Write(path, f.write); err != nil {
			return paths, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// reportFile is one file of a report's folder and how to write it.
type reportFile struct {
	name  string
	write func(io.Writer) error
}

// betterTrial is search.Better on report rows: a trial whose predicted
// latency meets the target ranks above one that does not (with no target, all do), then the
// higher reward.
func betterTrial(a, b Row, targetMs float64) bool {
	if targetMs > 0 {
		if ina, inb := a.PredictedLatencyMs <= targetMs, b.PredictedLatencyMs <= targetMs; ina != inb {
			return ina
		}
	}
	return a.Reward > b.Reward
}

package results

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
)

// Sentinel errors of the results store. Functions wrap them with the file,
// run or field concerned; test for them with errors.Is.
var (
	// ErrNotStore is returned when a file is not a bbolt file, or is a bbolt
	// file without the store's meta bucket (some other store).
	ErrNotStore = errors.New("not a results store")

	// ErrCorrupt is returned when a store file is damaged: truncated, bytes
	// overwritten, or a record whose checksum does not match.
	ErrCorrupt = errors.New("results store is corrupt")

	// ErrSchema is returned when a store was written with a schema version
	// this build of nas does not know.
	ErrSchema = errors.New("unsupported results store schema")

	// ErrUnknownRun is returned for a run ID the store does not hold.
	// Store.Report returns it as an *UnknownRunError, which lists the runs
	// the store holds.
	ErrUnknownRun = errors.New("no such run")

	// ErrInvalidConfig is returned by CreateRun for a configuration that
	// cannot describe a run (no strategy, a negative target).
	ErrInvalidConfig = errors.New("invalid run configuration")

	// ErrInvalidTrial is returned by AppendTrial for a trial that cannot be
	// stored: no arch, unknown status, a failure without a reason, accuracy
	// outside [0, 1], NaN or infinite figures.
	ErrInvalidTrial = errors.New("invalid trial")

	// ErrInvalidBaseline is returned by AddBaselines for a baseline that
	// cannot be stored: no name, accuracy outside [0, 1], NaN or negative
	// figures.
	ErrInvalidBaseline = errors.New("invalid baseline")

	// ErrRunFinished is returned by AppendTrial when the run's status is
	// finished: a finished run's trials are final.
	ErrRunFinished = errors.New("run is finished")

	// ErrReadOnly is returned by writes to a store opened read-only.
	ErrReadOnly = errors.New("results store is open read-only")

	// ErrRecordTooLarge is returned by a write whose record (a trial, a
	// run, a baseline or a strategy state) is above the size limit that
	// reading checks.
	ErrRecordTooLarge = errors.New("record too large")

	// ErrLocked is returned when another process holds the store open for
	// writing.
	ErrLocked = errors.New("results store is locked by another process")
)

// UnknownRunError is returned by Store.Report for a run ID the store does
// not hold. Its message lists the runs the store holds, so that a command
// can print it as it is. It unwraps to ErrUnknownRun.
type UnknownRunError struct {
	Path string // the store file
	Run  RunID  // the run asked for
	Runs []Run  // the runs the store holds, oldest first
}

// Error names the store and the run asked for, then lists the runs, one a
// line with ID, status, start time and number of trials, and says how to
// report one.
func (e *UnknownRunError) Error() string {
	if len(e.Runs) == 0 {
		return fmt.Sprintf("results store %s: no such run %s: the store holds no runs yet; start one with nas search", e.Path, e.Run)
	}
	var b strings.Builder
	n := fmt.Sprintf("%d runs", len(e.Runs))
	if len(e.Runs) == 1 {
		n = "1 run"
	}
	fmt.Fprintf(&b, "results store %s: no such run %s; it holds %s:\n", e.Path, e.Run, n)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, r := range e.Runs {
		trials := fmt.Sprintf("%d trials", r.Trials)
		if r.Trials == 1 {
			trials = "1 trial"
		}
		fmt.Fprintf(tw, "  %s\t%s\tstarted %s\t%s\n", r.ID, r.Status, r.Created.UTC().Format("2006-01-02 15:04 MST"), trials)
	}
	tw.Flush()
	b.WriteString("report one of them with nas report RUN (run-N, N or latest)")
	return b.String()
}

// Unwrap returns ErrUnknownRun.
func (e *UnknownRunError) Unwrap() error { return ErrUnknownRun }

package results

import "errors"

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

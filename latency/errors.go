package latency

import "errors"

// Sentinel errors of the latency table. Functions wrap them with the file,
// key or field concerned; test for them with errors.Is.
var (
	// ErrNotTable is returned when a file is not a bbolt file at all, or is a
	// bbolt file without the table's meta bucket (some other store).
	ErrNotTable = errors.New("not a latency table")

	// ErrCorrupt is returned when a table file is damaged: truncated, bytes
	// overwritten, or an entry whose checksum does not match.
	ErrCorrupt = errors.New("latency table is corrupt")

	// ErrSchema is returned when a table was written with a schema version
	// this build of nas does not know (newer, or unknown).
	ErrSchema = errors.New("unsupported latency table schema")

	// ErrFingerprintMismatch is returned when a table holds no device whose
	// fingerprint equals this machine's, and none was named explicitly. The
	// error is a *MismatchError that lists the fields that differ.
	ErrFingerprintMismatch = errors.New("latency table was profiled on another device")

	// ErrUnknownDevice is returned when Options.Device names no device of
	// the table.
	ErrUnknownDevice = errors.New("no such device in latency table")

	// ErrStaleKernels is returned when the device named by Options.Device
	// was profiled with another kernel version than this build's: its
	// figures describe kernels that no longer exist.
	ErrStaleKernels = errors.New("latency table was profiled with another kernel version")

	// ErrForeignDevice is returned by Put when the table's device is not
	// this machine: measurements may only be added on the device itself.
	ErrForeignDevice = errors.New("cannot measure into a table of another device")

	// ErrReadOnly is returned by Put on a table opened read-only.
	ErrReadOnly = errors.New("latency table is open read-only")

	// ErrInvalidEntry is returned by Put for an entry or key that cannot be
	// stored: empty key, NaN or negative times, p10 > median > p90, no
	// samples.
	ErrInvalidEntry = errors.New("invalid latency entry")

	// ErrLocked is returned when another process holds the table open for
	// writing.
	ErrLocked = errors.New("latency table is locked by another process")

	// ErrMissingEntries is returned by the predictor when the table lacks
	// entries a network needs and they cannot be measured here (the table
	// is another device's, or read-only). The error is a *MissingError that
	// lists them.
	ErrMissingEntries = errors.New("latency table lacks entries")
)

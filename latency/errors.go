package latency

import (
	"errors"
	"fmt"
	"strings"
)

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
	// the table. The error is an *UnknownDeviceError that lists the devices
	// the table holds.
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

// UnknownDeviceError is returned by Open when Options.Device names no device
// of the table. It unwraps to ErrUnknownDevice.
type UnknownDeviceError struct {
	Path    string        // the table file
	Device  string        // the ID asked for
	Devices []Fingerprint // the devices the table holds, in ID order
}

// Error names the file and the device asked for, lists the devices the
// table holds, one a line with its ID and what it is, and says what to do.
func (e *UnknownDeviceError) Error() string {
	profile := fmt.Sprintf("run `nas profile --lut %s` on the device you mean", e.Path)
	if len(e.Devices) == 0 {
		return fmt.Sprintf("latency table %s has no device %s: it holds no device yet; %s", e.Path, e.Device, profile)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "latency table %s has no device %s; it holds %s:\n", e.Path, e.Device, plural(len(e.Devices), "device"))
	for _, d := range e.Devices {
		fmt.Fprintf(&b, "  %s  %s\n", d.ID(), deviceSummary(d))
	}
	fmt.Fprintf(&b, "pass one of these IDs as --device ID, or %s", profile)
	return b.String()
}

// Unwrap returns ErrUnknownDevice.
func (e *UnknownDeviceError) Unwrap() error { return ErrUnknownDevice }

// unknownDevice returns the *UnknownDeviceError of a table at path that
// holds the devices ds and not id.
func unknownDevice(path, id string, ds []storedDevice) error {
	e := &UnknownDeviceError{Path: path, Device: id}
	for _, d := range ds {
		e.Devices = append(e.Devices, d.fp)
	}
	return e
}

// deviceSummary describes a device for people choosing among a table's
// devices: "AMD EPYC 9R14, linux/amd64, 1 thread, avx512 kernels".
func deviceSummary(f Fingerprint) string {
	return fmt.Sprintf("%s, %s/%s, %s, %s kernels", f.CPUModel, f.GOOS, f.GOARCH, plural(f.Threads, "thread"), f.KernelPath)
}

// plural writes a count and a noun, with an s unless the count is one.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

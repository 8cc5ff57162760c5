package latency

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"nas/space"
)

// PredictorOptions say which table a prediction reads and how it fills
// the entries the table lacks.
type PredictorOptions struct {
	// Device, a fingerprint ID ("fp-..."), reads the measurements of that
	// device instead of this machine's (read-only: this machine cannot
	// measure another device, so a prediction that needs a missing entry
	// fails with a *MissingError naming the command that fills it there).
	Device string
	// Threads is the thread count of this machine's fingerprint and of the
	// measurements that fill the table; 0 reads it from the table
	// (TableThreads).
	Threads int
	// Batch is the batch the predictions are for; default 1.
	Batch int
	// Create creates the file (and this machine's device in it) when it
	// is missing, for a command that measures as it goes. Without it a
	// missing file is an error that names `nas profile`, and a file this
	// process may not write (permissions, another writer's lock) is read
	// without filling.
	Create bool
	// Protocol, Rounds and Calibration are the filling Profiler's.
	Protocol    Protocol
	Rounds      int
	Calibration []*space.Arch
	// Remote, when set, is the device the predictions are for, measured
	// from here (an agent, cluster.Device): the table is opened for its
	// fingerprint (created with it when Create is set), and missing
	// entries are measured there. Device and Threads are then not used.
	Remote RemoteDevice
}

// OpenPredictor opens the table at path for prediction on this machine,
// measuring missing entries into it on the spot (one Profiler with the
// plan compiler), or, with o.Device, for another device's measurements.
// Close the table (Predictor.Table) when done.
func OpenPredictor(path string, o PredictorOptions) (*Predictor, error) {
	batch := max(o.Batch, 1)
	if o.Remote != nil {
		return openRemotePredictor(path, o, batch)
	}
	if !o.Create || o.Device != "" {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("latency table %s: %w; create it on the device with `nas profile --lut %s`", path, err, path)
		}
	}
	threads := o.Threads
	if threads == 0 && o.Device == "" {
		var err error
		if threads, err = TableThreads(path); err != nil {
			return nil, err
		}
	}
	threads = max(threads, 1)
	this := CurrentFingerprint(threads)
	var tbl *Table
	var err error
	switch {
	case o.Device != "":
		tbl, err = Open(path, this, Options{ReadOnly: true, Device: o.Device})
	default:
		tbl, err = Open(path, this, Options{})
		if !o.Create && (errors.Is(err, fs.ErrPermission) || errors.Is(err, ErrLocked)) {
			tbl, err = Open(path, this, Options{ReadOnly: true})
		}
	}
	if err != nil {
		return nil, err
	}
	return &Predictor{Table: tbl, Batch: batch,
		Fill: &Profiler{Table: tbl, Compile: PlanCompiler(1), Protocol: o.Protocol, Batch: batch, Threads: threads,
			Rounds: o.Rounds, Calibration: o.Calibration}}, nil
}

// ThreadsError is a table that holds this machine at several thread
// counts, when a command asked for the table's own.
type ThreadsError struct {
	Path   string
	Counts []int
}

func (e *ThreadsError) Error() string {
	return fmt.Sprintf("latency table %s holds this machine at %v threads: name the thread count to use", e.Path, e.Counts)
}

// TableThreads is the thread count of this machine in the table at path:
// the one thread count at which the table holds this machine's
// fingerprint; 1 when the file is missing or holds this machine at none.
// A table that holds it at several is a *ThreadsError.
func TableThreads(path string) (int, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return 1, nil
	}
	sum, err := Inspect(path)
	if err != nil {
		return 0, err
	}
	var counts []int
	for _, d := range sum.Devices {
		fp := d.Fingerprint
		if fp.Equal(CurrentFingerprint(fp.Threads)) && !slices.Contains(counts, fp.Threads) {
			counts = append(counts, fp.Threads)
		}
	}
	switch len(counts) {
	case 0:
		return 1, nil
	case 1:
		return counts[0], nil
	}
	slices.Sort(counts)
	return 0, &ThreadsError{Path: path, Counts: counts}
}

// openRemotePredictor is OpenPredictor for o.Remote's device.
func openRemotePredictor(path string, o PredictorOptions, batch int) (*Predictor, error) {
	dev := o.Remote.Fingerprint()
	if !o.Create {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("latency table %s: %w; fill it with `nas profile --nats URL --device NAME --lut %s`", path, err, path)
		}
	}
	tbl, err := OpenRemote(path, dev, Options{})
	if err != nil {
		return nil, err
	}
	return &Predictor{Table: tbl, Batch: batch,
		Fill: &Profiler{Table: tbl, Measurer: o.Remote, Protocol: o.Protocol, Batch: batch, Threads: dev.Threads,
			Rounds: o.Rounds, Calibration: o.Calibration}}, nil
}

// OpenRemote opens the table at path for device dev, measured from this
// process through a Measurer (Profiler.Measurer): as Open does for this
// machine, but with dev's fingerprint, so that its entries land in dev's
// bucket. dev must run this build's kernels (KernelVersion): a table
// whose entries this build could not read is refused before anything is
// measured. opts.Device is not used.
func OpenRemote(path string, dev Fingerprint, opts Options) (*Table, error) {
	if dev.KernelVersion != CurrentFingerprint(1).KernelVersion {
		return nil, fmt.Errorf("latency table %s: device %s: %w (device: kernel version %d, this build: %d): run the same nas release on both sides",
			path, dev.ID(), ErrStaleKernels, dev.KernelVersion, CurrentFingerprint(1).KernelVersion)
	}
	opts.Device = ""
	tbl, err := Open(path, dev, opts)
	var me *MismatchError
	if errors.As(err, &me) {
		return nil, fmt.Errorf("latency table %s holds other devices (%s), not %s (%s): give another --lut, or --add-device to add it: %w",
			path, strings.Join(me.Devices, ", "), dev.ID(), dev, ErrFingerprintMismatch)
	}
	if err != nil {
		return nil, err
	}
	tbl.remote = !dev.Equal(CurrentFingerprint(dev.Threads))
	return tbl, nil
}

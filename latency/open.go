package latency

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

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
	// measurements that fill the table; default 1.
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
}

// OpenPredictor opens the table at path for prediction on this machine,
// measuring missing entries into it on the spot (one Profiler with the
// plan compiler), or, with o.Device, for another device's measurements.
// Close the table (Predictor.Table) when done.
func OpenPredictor(path string, o PredictorOptions) (*Predictor, error) {
	threads, batch := max(o.Threads, 1), max(o.Batch, 1)
	if !o.Create || o.Device != "" {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("latency table %s: %w; create it on the device with `nas profile --lut %s`", path, err, path)
		}
	}
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

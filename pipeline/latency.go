package pipeline

import (
	"context"
	"math/rand/v2"
	"sync"

	"nas/latency"
	"nas/space"
)

// DefaultRounds is how many times a block or network is measured, in
// passes over all of them, keeping the best: on a shared machine (load 6
// on 2 cores), the best of 3 measurements of a small28 network spread over
// a minute moves by 0.3% (median over 40 networks) between two such sets,
// a single measurement by 10% (docs/latency.md).
const DefaultRounds = 3

// DefaultCalibrate is the number of calibration networks sampled from a
// space (SpaceCalibration).
const DefaultCalibrate = 8

// DefaultLatencyTable is the latency table a run reads when none is named.
const DefaultLatencyTable = "nas-lut.db"

// calibrationStream is the PCG stream of the calibration networks'
// sampling; validation samples on stream 0.
const calibrationStream = 0xca11b

// SpaceCalibration samples the n networks of space s that a table's
// overhead is calibrated on (profiling a space, and a search filling its
// table): seed 1 on a stream of its own, so that a validation seeded with
// any seed never validates on them.
func SpaceCalibration(s *space.Space, n int) ([]*space.Arch, error) {
	rng := rand.New(rand.NewPCG(1, calibrationStream))
	calib := make([]*space.Arch, n)
	for i := range calib {
		var err error
		if _, calib[i], err = s.Sample(rng); err != nil {
			return nil, err
		}
	}
	return calib, nil
}

// LatencySource is the latency of networks on the target device at batch
// 1: the lookup table's prediction, and end-to-end measurement.
type LatencySource interface {
	PredictMs(ctx context.Context, a *space.Arch) (float64, error)
	// MeasureMs times the networks end to end in rounds passes over all of
	// them (so side by side) and returns the best of each.
	MeasureMs(ctx context.Context, archs []*space.Arch, rounds int) ([]float64, error)
}

// TableLatency is the LatencySource of a latency table: predictions from
// its entries (measuring the missing ones into it when it is this
// machine's), and measurement on this machine, one thread, batch 1, with
// the protocol the table is filled with.
type TableLatency struct {
	Predictor *latency.Predictor
	Protocol  latency.Protocol
}

// OpenTableLatency opens the table at path for a run at batch 1 on one
// thread: created when missing and filled as predictions need entries,
// or, with o.Device, another device's table read as it is (see
// latency.OpenPredictor). o.Batch and o.Threads are ignored.
func OpenTableLatency(path string, o latency.PredictorOptions) (*TableLatency, error) {
	o.Batch, o.Threads, o.Create = 1, 1, true
	if o.Rounds == 0 {
		o.Rounds = DefaultRounds
	}
	p, err := latency.OpenPredictor(path, o)
	if err != nil {
		return nil, err
	}
	return &TableLatency{Predictor: p, Protocol: o.Protocol}, nil
}

// Device is the fingerprint of the device the table's entries are of.
func (l *TableLatency) Device() latency.Fingerprint { return l.Predictor.Table.Device() }

// Close closes the table.
func (l *TableLatency) Close() error { return l.Predictor.Table.Close() }

// PredictMs is the table's prediction of a.
func (l *TableLatency) PredictMs(ctx context.Context, a *space.Arch) (float64, error) {
	p, err := l.Predictor.Predict(ctx, a)
	return p.Ms, err
}

// MeasureMs times archs on this machine, one thread, batch 1 (the 10th
// percentile of the runs, the best of rounds measurements, as the table's
// entries are).
func (l *TableLatency) MeasureMs(ctx context.Context, archs []*space.Arch, rounds int) ([]float64, error) {
	if l.Predictor.Fill != nil && l.Predictor.Fill.Measurer != nil {
		return measureOnDevice(ctx, l.Predictor.Fill.Measurer, archs, rounds, l.Protocol)
	}
	m, err := latency.MeasureNetworks(ctx, latency.PlanCompiler(1), archs, 1, 1, l.Protocol, rounds, nil)
	if err != nil {
		return nil, err
	}
	ms := make([]float64, len(m))
	for i, x := range m {
		ms[i] = x.LatencyMs()
	}
	return ms, nil
}

// measureOne times a alone, the best of DefaultRounds.
func measureOne(ctx context.Context, l LatencySource, a *space.Arch) (float64, error) {
	ms, err := l.MeasureMs(ctx, []*space.Arch{a}, DefaultRounds)
	if err != nil {
		return 0, err
	}
	return ms[0], nil
}

// Complete reports whether the table holds every entry the prediction
// of a reads, so that predicting a measures nothing.
func (l *TableLatency) Complete(a *space.Arch) (bool, error) {
	items, err := latency.ArchItems(a, max(l.Predictor.Batch, 1))
	if err != nil {
		return false, err
	}
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.Key
	}
	missing, err := l.Predictor.Table.Missing(keys)
	return len(missing) == 0, err
}

// completer is a LatencySource that can tell whether a prediction would
// measure (TableLatency).
type completer interface {
	Complete(a *space.Arch) (bool, error)
}

// searchLatency is search's LatencyModel over a LatencySource. With a
// gate, a prediction that measures blocks into the table holds it
// exclusively: the supernet's evaluations, which hold it shared, finish
// first and wait, so that a block is timed on a machine this process
// leaves idle, as a profile times it, however many evaluations run at
// once (see supernetEvaluator).
type searchLatency struct {
	ctx  context.Context
	src  LatencySource
	gate *sync.RWMutex
}

func (l searchLatency) LatencyMs(a *space.Arch) (float64, error) {
	if c, ok := l.src.(completer); ok && l.gate != nil {
		done, err := c.Complete(a)
		if err != nil {
			return 0, err
		}
		if !done {
			l.gate.Lock()
			defer l.gate.Unlock()
		}
	}
	return l.src.PredictMs(l.ctx, a)
}

// netadaptLatency is search's NetAdaptLatency over a LatencySource.
type netadaptLatency struct{ src LatencySource }

func (l netadaptLatency) PredictMs(ctx context.Context, a *space.Arch) (float64, error) {
	return l.src.PredictMs(ctx, a)
}

func (l netadaptLatency) MeasureMs(ctx context.Context, a *space.Arch) (float64, error) {
	return measureOne(ctx, l.src, a)
}

// measureOnDevice times archs on a remote device (an agent), batch 1, in
// rounds passes over all of them, and returns the best of each: what
// MeasureMs does here, without the measuring again of contended networks.
func measureOnDevice(ctx context.Context, m latency.Measurer, archs []*space.Arch, rounds int, p latency.Protocol) ([]float64, error) {
	ms := make([]float64, len(archs))
	for r := range max(rounds, 1) {
		for i, a := range archs {
			got, _, err := m.MeasureNetwork(ctx, a, 1, p, false)
			if err != nil {
				return nil, err
			}
			if r == 0 || got.LatencyMs() < ms[i] {
				ms[i] = got.LatencyMs()
			}
		}
	}
	return ms, nil
}

package latency

import (
	"context"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat"

	"nas/blocks"
	"nas/space"
)

// ValidationSample is one network's predicted and measured latency.
type ValidationSample struct {
	Network     string  `json:"network"`
	PredictedMs float64 `json:"predicted_ms"`
	MeasuredMs  float64 `json:"measured_ms"` // the end-to-end latency: the 10th percentile of the runs (LatencyQuantile)
	// MeasuredMedianMs is the median of the same runs, for comparison.
	MeasuredMedianMs float64 `json:"measured_median_ms"`
	ErrorPct         float64 `json:"error_pct"` // (predicted - measured) / measured * 100
	Stable           bool    `json:"stable"`    // the end-to-end latency met the protocol's tolerance
	// ProbeDropped counts the samples of the counted measurement that
	// were dropped for a slow probe: how busy the machine was meanwhile.
	ProbeDropped int `json:"probe_dropped"`
	// ProbeWaitedMs is how long the counted measurement spent on those
	// samples and their probes (Measurement.Waited).
	ProbeWaitedMs float64 `json:"probe_waited_ms"`
	// Contended says that even the counted measurement, after the extra
	// passes MeasureNetworks gives such networks, was taken while the
	// probe found the machine busy: it is probably too slow.
	Contended bool `json:"contended"`
	// RoundGapPct is how closely the counted measurement (the lowest of
	// the rounds) was reproduced: the second-lowest over it, minus 1, in
	// percent. An error smaller than it is within the measurement's own
	// noise.
	RoundGapPct float64 `json:"round_gap_pct"`
}

// Validation summarises how well predictions match end-to-end
// measurements.
type Validation struct {
	Samples    []ValidationSample `json:"samples"`
	MeanAbsPct float64            `json:"mean_abs_pct"` // mean absolute percentage error
	P90AbsPct  float64            `json:"p90_abs_pct"`  // 90th percentile of the absolute percentage error
	RMSEMs     float64            `json:"rmse_ms"`      // root mean squared error, milliseconds
	MeanPct    float64            `json:"mean_pct"`     // mean signed percentage error: the bias
	Within5    float64            `json:"within_5pct"`  // fraction of networks with |error| <= 5%
	Within10   float64            `json:"within_10pct"` // fraction with |error| <= 10%
	// MedianRoundGapPct is the median over the networks of RoundGapPct:
	// how reproducible the measurements were while validating.
	MedianRoundGapPct float64 `json:"median_round_gap_pct"`
	// DriftPct, when set, is how much slower (positive) or faster the
	// device ran the table's calibration networks during the validation
	// than when the table was profiled (Drift), in percent: the part of
	// the errors that is the device's state, not the table.
	DriftPct *float64 `json:"drift_pct,omitempty"`
}

// Summarize computes the error statistics of the samples.
func Summarize(samples []ValidationSample) Validation {
	v := Validation{Samples: samples}
	n := float64(len(samples))
	if n == 0 {
		return v
	}
	pct := make([]float64, len(samples))
	abs := make([]float64, len(samples))
	var sq float64
	for i, s := range samples {
		pct[i], abs[i] = s.ErrorPct, math.Abs(s.ErrorPct)
		d := s.PredictedMs - s.MeasuredMs
		sq += d * d
		if abs[i] <= 5 {
			v.Within5 += 1 / n
		}
		if abs[i] <= 10 {
			v.Within10 += 1 / n
		}
	}
	v.MeanAbsPct, v.MeanPct = stat.Mean(abs, nil), stat.Mean(pct, nil)
	v.RMSEMs = math.Sqrt(sq / n)
	slices.Sort(abs)
	v.P90AbsPct = quantile(abs, 0.9)
	gaps := make([]float64, len(samples))
	for i, s := range samples {
		gaps[i] = s.RoundGapPct
	}
	slices.Sort(gaps)
	v.MedianRoundGapPct = quantile(gaps, 0.5)
	return v
}

// Validator predicts and measures networks to check the table against
// end-to-end runs.
type Validator struct {
	Predictor *Predictor
	Compile   Compiler // as the table was profiled
	Protocol  Protocol
	Threads   int // default the table device's
	// Rounds is the number of times each network is measured, in rounds
	// over all of them; the best (lowest latency) counts, as the profiler
	// keeps for blocks (default 1).
	Rounds int
	// Progress, when set, is called after each measurement with the count
	// done and the total (networks times Rounds).
	Progress func(done, total int)
}

// Validate predicts each network, then measures them, and summarises the
// errors. Predictions follow the Predictor's rules on missing entries.
func (v *Validator) Validate(ctx context.Context, archs []*space.Arch) (Validation, error) {
	threads := v.Threads
	if threads < 1 {
		threads = v.Predictor.Table.Device().Threads
	}
	preds := make([]Prediction, len(archs))
	for i, a := range archs {
		var err error
		if preds[i], err = v.Predictor.Predict(ctx, a); err != nil {
			return Validation{}, err
		}
	}
	meas, err := MeasureNetworks(ctx, v.Compile, archs, max(v.Predictor.Batch, 1), threads, v.Protocol, v.Rounds, v.Progress)
	if err != nil {
		return Validation{}, err
	}
	samples := make([]ValidationSample, 0, len(archs))
	for i, a := range archs {
		pred, m := preds[i].Ms, meas[i].LatencyMs()
		samples = append(samples, ValidationSample{Network: archName(a), PredictedMs: pred, MeasuredMs: m, MeasuredMedianMs: meas[i].MedianMs(),
			ErrorPct: 100 * (pred - m) / m, Stable: meas[i].Stable, ProbeDropped: meas[i].ProbeDropped, Contended: meas[i].Contended,
			ProbeWaitedMs: float64(meas[i].Waited) / 1e6, RoundGapPct: 100 * meas[i].RoundGap})
	}
	return Summarize(samples), nil
}

// Drift measures again, end to end, the calibration networks of the
// overhead entry of networks with input in (Entry.CalibrationArchs), as
// MeasureNetworks does with rounds rounds, and returns the median over
// them of (now ÷ as the profile measured them) − 1: how much faster
// (negative) or slower the device runs than when the table was made.
// Every prediction from the table is off by about as much. ok is false
// when the table holds no such networks for that input (an uncalibrated
// overhead, or a table of schema 4 made before they were kept).
func Drift(ctx context.Context, tbl *Table, compile Compiler, in blocks.Shape, batch, threads int, p Protocol, rounds int) (drift float64, ok bool, err error) {
	e, found, err := tbl.Get(OverheadKey(in, max(batch, 1)))
	if err != nil || !found || len(e.CalibrationArchs) == 0 {
		return 0, false, err
	}
	archs := make([]*space.Arch, len(e.CalibrationArchs))
	for i, s := range e.CalibrationArchs {
		if archs[i], err = space.ParseArch(s); err != nil {
			return 0, false, fmt.Errorf("latency table %s: calibration network %d: %w", tbl.Path(), i, err)
		}
	}
	ms, err := MeasureNetworks(ctx, compile, archs, batch, threads, p, rounds, nil)
	if err != nil {
		return 0, false, err
	}
	ratios := make([]float64, len(ms))
	for i, m := range ms {
		ratios[i] = m.P10Ns / e.CalibrationNs[i]
	}
	slices.Sort(ratios)
	return quantile(ratios, 0.5) - 1, true, nil
}

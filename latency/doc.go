// Package latency measures how long blocks and networks take on this device
// and keeps the measurements in a lookup table (a bbolt file with one bucket
// per device fingerprint), predicts a network's latency as the sum over its
// blocks, and validates those predictions against end-to-end runs.
//
// A table made on another device, with another thread count or an older
// kernel version is refused, never silently used.
//
// One file a concept:
//   - keys.go: the items a table entry times and their keys;
//   - runner.go: compiling a graph into a Runner to time;
//   - protocol.go: how a Runner is timed (measure_clock_*.go: the thread's
//     CPU clock); probe.go: the probe that finds the core busy; measure.go: timing one Runner (Measure) and the
//     blocks inside a network (MeasureBlocks); stats.go: quantiles;
//   - profiler.go: filling a table, pass after pass; calibration.go: the
//     overhead entry, beta and the scale, fitted on calibration networks;
//     networks.go: whole networks measured end to end;
//   - table.go, entry.go, fingerprint.go, inspect.go, errors.go: the file;
//   - predict.go and validate.go: what a table is for;
//   - remote.go: a profile whose measurements another device takes
//     (Measurer; cluster's agents), and keys read back into items (ParseKey).
package latency

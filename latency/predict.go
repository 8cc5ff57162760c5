package latency

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"nas/blocks"
	"nas/space"
)

// Prediction is a network's latency: the sum over its blocks' table
// entries (each its latency plus the calibrated share of its cold excess,
// Entry.BlockNs), plus the overhead of networks of its input, which a
// calibrated table scales with that sum (Entry.Scale).
type Prediction struct {
	Network    string
	Batch      int
	Ms         float64 // the sum: blocks and overhead
	OverheadMs float64
	Blocks     []BlockTime // in layer order
	// MeasuredNow counts the entries that were missing and measured on the
	// spot for this prediction.
	MeasuredNow int
}

// BlockTime is one layer's share of a prediction.
type BlockTime struct {
	Index int
	Type  string
	In    blocks.Shape
	Key   string
	Ms    float64 // what the entry counts for: Entry.BlockNs of the overhead's Beta, in ms
	Entry Entry
}

// MissingError is a prediction that needs entries the table lacks, where
// they cannot be measured (another device's table, or a read-only one). It
// wraps ErrMissingEntries.
type MissingError struct {
	Path    string
	Device  string   // the table device's ID
	Network string   // the network predicted
	Keys    []string // the missing entries, in layer order
	// Command fills the table: run it on the table's device.
	Command string
}

func (e *MissingError) Error() string {
	const show = 5
	keys := e.Keys
	more := ""
	if len(keys) > show {
		keys, more = keys[:show], fmt.Sprintf(" and %d more", len(e.Keys)-show)
	}
	return fmt.Sprintf("latency table %s (device %s) lacks %d entries of network %s: %s%s: fill them on that device with `%s`",
		e.Path, e.Device, len(e.Keys), e.Network, strings.Join(keys, ", "), more, e.Command)
}

func (e *MissingError) Unwrap() error { return ErrMissingEntries }

// Predictor predicts network latencies from a table. With Fill set and a
// table this machine may write (Table.CanMeasure), entries that are
// missing are measured on the spot and stored; otherwise a prediction that
// needs them fails with a *MissingError. A missing overhead entry is
// calibrated on Fill.Calibration, or on the network predicted if that is
// empty.
type Predictor struct {
	Table *Table
	Batch int       // default 1
	Fill  *Profiler // nil: never measure
}

// Predict returns the predicted latency of a, with a per-block breakdown.
func (p *Predictor) Predict(ctx context.Context, a *space.Arch) (Prediction, error) {
	batch := max(p.Batch, 1)
	pred := Prediction{Network: archName(a), Batch: batch}
	items, err := ArchItems(a, batch)
	if err != nil {
		return pred, err
	}
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.Key
	}
	missing, err := p.Table.Missing(keys)
	if err != nil {
		return pred, err
	}
	if len(missing) > 0 {
		if p.Fill == nil || !p.Table.CanMeasure() {
			dev := p.Table.Device()
			return pred, &MissingError{Path: p.Table.Path(), Device: dev.ID(), Network: pred.Network, Keys: missing,
				Command: fmt.Sprintf("nas profile --lut %s --lut-threads %d --batch %d %s", p.Table.Path(), dev.Threads, batch, commandArg(a))}
		}
		fill := *p.Fill
		if len(fill.Calibration) == 0 {
			fill.Calibration = []*space.Arch{a}
		}
		// Only what is missing: entries present with fewer rounds than
		// fill.Rounds are not refined by a prediction.
		todo := make([]Item, 0, len(missing))
		for _, it := range items {
			if slices.Contains(missing, it.Key) {
				todo = append(todo, it)
			}
		}
		if _, err := fill.Profile(ctx, todo); err != nil {
			return pred, err
		}
		pred.MeasuredNow = len(missing)
	}
	entries := make([]Entry, len(items))
	var overhead Entry
	for i, it := range items {
		e, ok, err := p.Table.Get(it.Key)
		if err != nil {
			return pred, err
		}
		if !ok {
			return pred, fmt.Errorf("latency table %s: entry %s vanished while predicting", p.Table.Path(), it.Key)
		}
		entries[i] = e
		if it.IsOverhead() {
			overhead = e
		}
	}
	// A block counts its latency plus the calibrated share (Beta) of what
	// it costs with its weights out of the caches.
	for i, it := range items {
		if it.IsOverhead() {
			continue
		}
		e := entries[i]
		ms := e.BlockNs(overhead.Beta) / 1e6
		pred.Ms += ms
		pred.Blocks = append(pred.Blocks, BlockTime{Index: i, Type: it.Spec.Type(), In: it.In, Key: it.Key, Ms: ms, Entry: e})
	}
	// A calibrated overhead scales the sum (Entry.Scale); one from before
	// scales were calibrated, or the empty graph's, adds its median (over
	// the calibration networks, for a calibrated one).
	if overhead.Scale > 0 {
		pred.OverheadMs = pred.Ms * (overhead.Scale - 1)
	} else {
		pred.OverheadMs = overhead.MedianMs()
	}
	pred.Ms += pred.OverheadMs
	return pred, nil
}

// commandArg is how a network is named on the command line: its name when
// it has one (a zoo name), else a placeholder. Commands that know what the
// user typed replace MissingError.Command.
func commandArg(a *space.Arch) string {
	if a.Name != "" {
		return a.Name
	}
	return "ARCH"
}

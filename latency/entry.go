package latency

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"time"
	"unicode/utf8"
)

// Entry is the timing of one block signature on one device: the median and
// the 10th and 90th percentiles of the samples, in nanoseconds. The 10th
// percentile is what predictions sum (LatencyMs).
type Entry struct {
	MedianNs   float64   `json:"median_ns"`
	P10Ns      float64   `json:"p10_ns"`
	P90Ns      float64   `json:"p90_ns"`
	Samples    int       `json:"samples"`
	MeasuredAt time.Time `json:"measured_at"`
	// Protocol notes how it was measured (warm-up, repeats, timer), free text.
	Protocol string `json:"protocol,omitempty"`
	// Rounds is the number of measurements, taken in separate passes over
	// the table, of which this is the one of lowest latency (0 means 1).
	Rounds int `json:"rounds,omitempty"`
	// Scale, on a calibrated overhead entry, is the median over the
	// calibration networks of their end-to-end latency divided by the sum
	// of their blocks' entries: a prediction is the sum times Scale (the
	// overhead grows with the network; see docs/latency.md). Zero on
	// other entries and on tables written before it: the prediction then
	// adds the overhead's median instead.
	Scale float64 `json:"scale,omitempty"`
	// ColdNs, on a block entry, is the block's latency (10th percentile,
	// boundary taken out, best of its rounds) with its weights dropped from
	// the caches before every run (Protocol.FlushWeights): what it costs
	// inside a network that pushed them out since it last ran. Zero where
	// it was not measured (a block the plan does not run); the prediction
	// then takes P10Ns.
	ColdNs float64 `json:"cold_ns,omitempty"`
	// Beta, on a calibrated overhead entry, is how much of each block's
	// cold-minus-warm difference a prediction adds: a block counts
	// P10Ns + Beta*(ColdNs-P10Ns), before the sum is scaled by Scale.
	// Fitted on every block of the calibration networks, timed inside
	// them (MeasureBlocks); see docs/latency.md, "Weights from memory".
	Beta float64 `json:"beta,omitempty"`
	// CalibrationArchs and CalibrationNs, on a calibrated overhead entry,
	// are its calibration networks (arch strings) and their end-to-end
	// latencies as the profile measured them, in the same order: a
	// reference for the device's state, which Drift measures again.
	CalibrationArchs []string  `json:"calibration_archs,omitempty"`
	CalibrationNs    []float64 `json:"calibration_ns,omitempty"`
}

// BlockNs is the time a block entry counts for in a prediction whose
// overhead entry has beta (Entry.Beta): its latency plus beta times its
// cold entry's excess, at least 0.
func (e Entry) BlockNs(beta float64) float64 {
	if e.ColdNs <= 0 || beta == 0 {
		return e.P10Ns
	}
	return max(0, e.P10Ns+beta*(e.ColdNs-e.P10Ns))
}

// rounds is the number of measurements the entry is the best of.
func (e Entry) rounds() int { return max(e.Rounds, 1) }

// MedianMs returns the median in milliseconds.
func (e Entry) MedianMs() float64 { return e.MedianNs / 1e6 }

// LatencyMs returns the latency the entry stands for, in milliseconds: its
// 10th percentile (see LatencyQuantile). Predictions sum it, and
// end-to-end measurements report it.
func (e Entry) LatencyMs() float64 { return e.P10Ns / 1e6 }

// maxKeyLen bounds a block signature; real ones are under 100 bytes.
const maxKeyLen = 1024

// validateKey checks a block signature used as a key.
func validateKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrInvalidEntry)
	case len(key) > maxKeyLen:
		return fmt.Errorf("%w: key of %d bytes, at most %d", ErrInvalidEntry, len(key), maxKeyLen)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: key %q is not UTF-8", ErrInvalidEntry, key)
	}
	return nil
}

// Validate checks that the entry is a plausible measurement: finite,
// non-negative times with p10 <= median <= p90, at least one sample and a
// measurement time.
func (e Entry) Validate() error {
	for _, v := range []float64{e.MedianNs, e.P10Ns, e.P90Ns} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("%w: times must be finite and non-negative (median %v, p10 %v, p90 %v ns)", ErrInvalidEntry, e.MedianNs, e.P10Ns, e.P90Ns)
		}
	}
	switch {
	case !(e.P10Ns <= e.MedianNs && e.MedianNs <= e.P90Ns):
		return fmt.Errorf("%w: want p10 <= median <= p90, have %v, %v, %v ns", ErrInvalidEntry, e.P10Ns, e.MedianNs, e.P90Ns)
	case e.Rounds < 0:
		return fmt.Errorf("%w: %d rounds", ErrInvalidEntry, e.Rounds)
	case math.IsNaN(e.Scale) || math.IsInf(e.Scale, 0) || e.Scale < 0:
		return fmt.Errorf("%w: scale %v, want finite and non-negative", ErrInvalidEntry, e.Scale)
	case math.IsNaN(e.ColdNs) || math.IsInf(e.ColdNs, 0) || e.ColdNs < 0:
		return fmt.Errorf("%w: cold latency %v ns, want finite and non-negative", ErrInvalidEntry, e.ColdNs)
	case math.IsNaN(e.Beta) || math.IsInf(e.Beta, 0) || e.Beta < 0:
		return fmt.Errorf("%w: beta %v, want finite and non-negative", ErrInvalidEntry, e.Beta)
	case len(e.CalibrationArchs) != len(e.CalibrationNs):
		return fmt.Errorf("%w: %d calibration networks with %d latencies", ErrInvalidEntry, len(e.CalibrationArchs), len(e.CalibrationNs))
	case slices.ContainsFunc(e.CalibrationNs, func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 }):
		return fmt.Errorf("%w: calibration latencies %v, want finite and positive", ErrInvalidEntry, e.CalibrationNs)
	case e.Samples < 1:
		return fmt.Errorf("%w: %d samples, want at least 1", ErrInvalidEntry, e.Samples)
	case e.MeasuredAt.IsZero():
		return fmt.Errorf("%w: measurement time is not set", ErrInvalidEntry)
	}
	return nil
}

// Stored values are sealed: a format byte, the JSON payload, and a CRC-32C
// of key, format byte and payload, big-endian. The checksum catches bytes
// damaged inside a value, which bbolt itself does not check, and a value
// moved under another key.
const valueFormat byte = 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func seal(key []byte, v any) ([]byte, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 1+len(payload)+4)
	out = append(out, valueFormat)
	out = append(out, payload...)
	crc := crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, out)
	return binary.BigEndian.AppendUint32(out, crc), nil
}

// unseal checks and decodes a sealed value into v. Errors describe the
// damage; the caller adds the file and key.
func unseal(key, val []byte, v any) error {
	if len(val) < 1+4 {
		return fmt.Errorf("value of %d bytes is too short", len(val))
	}
	body, sum := val[:len(val)-4], binary.BigEndian.Uint32(val[len(val)-4:])
	if crc := crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, body); crc != sum {
		return fmt.Errorf("checksum mismatch (stored %08x, computed %08x)", sum, crc)
	}
	if body[0] != valueFormat {
		return fmt.Errorf("unknown value format %d", body[0])
	}
	dec := json.NewDecoder(bytes.NewReader(body[1:]))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

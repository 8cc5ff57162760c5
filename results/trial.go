package results

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TrialStatus says how a trial ended.
type TrialStatus string

// The ways a trial ends. Failed and skipped trials carry a reason.
const (
	TrialOK      TrialStatus = "ok"
	TrialFailed  TrialStatus = "failed"  // training or measurement went wrong
	TrialSkipped TrialStatus = "skipped" // not evaluated, e.g. over a hard latency limit
)

// Trial is one evaluated candidate of a run.
type Trial struct {
	// Seq numbers the trials of a run from 1 in the order stored; the store
	// sets it.
	Seq      uint64          `json:"seq"`
	Arch     string          `json:"arch"`                // one-line arch string
	ArchJSON json.RawMessage `json:"arch_json,omitempty"` // canonical JSON of the arch
	Params   int64           `json:"params"`
	MACs     int64           `json:"macs"`

	PredictedLatencyMs float64  `json:"predicted_latency_ms"`          // sum over the latency table
	MeasuredLatencyMs  *float64 `json:"measured_latency_ms,omitempty"` // end to end, when measured
	ValAccuracy        float64  `json:"val_accuracy"`                  // in [0, 1]
	TestAccuracy       *float64 `json:"test_accuracy,omitempty"`       // final retrain only
	Reward             float64  `json:"reward"`

	Status TrialStatus `json:"status"`
	Reason string      `json:"reason,omitempty"` // why failed or skipped

	Seed     uint64        `json:"seed"`
	WallTime time.Duration `json:"wall_time_ns"`
	Started  time.Time     `json:"started"`
	Finished time.Time     `json:"finished"`
}

// LatencyMs returns the measured latency where there is one, else the
// predicted latency.
func (t Trial) LatencyMs() float64 {
	if t.MeasuredLatencyMs != nil {
		return *t.MeasuredLatencyMs
	}
	return t.PredictedLatencyMs
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Validate checks that a trial can be stored.
func (t Trial) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidTrial, fmt.Sprintf(format, args...))
	}
	switch t.Status {
	case TrialOK:
	case TrialFailed, TrialSkipped:
		if t.Reason == "" {
			return bad("a %s trial needs a reason", t.Status)
		}
	default:
		return bad("status %q, want ok, failed or skipped", t.Status)
	}
	if t.Arch == "" {
		return bad("no arch")
	}
	if len(t.ArchJSON) > 0 && !json.Valid(t.ArchJSON) {
		return bad("arch JSON is not valid JSON")
	}
	if t.Params < 0 || t.MACs < 0 {
		return bad("params %d and MACs %d must be non-negative", t.Params, t.MACs)
	}
	if !finite(t.PredictedLatencyMs) || t.PredictedLatencyMs < 0 {
		return bad("predicted latency %v ms, want a finite non-negative number", t.PredictedLatencyMs)
	}
	if m := t.MeasuredLatencyMs; m != nil && (!finite(*m) || *m < 0) {
		return bad("measured latency %v ms, want a finite non-negative number", *m)
	}
	if !finite(t.ValAccuracy) || t.ValAccuracy < 0 || t.ValAccuracy > 1 {
		return bad("validation accuracy %v, want a fraction in [0, 1]", t.ValAccuracy)
	}
	if a := t.TestAccuracy; a != nil && (!finite(*a) || *a < 0 || *a > 1) {
		return bad("test accuracy %v, want a fraction in [0, 1]", *a)
	}
	if !finite(t.Reward) {
		return bad("reward %v is not finite", t.Reward)
	}
	if t.WallTime < 0 {
		return bad("wall time %v is negative", t.WallTime)
	}
	if !t.Started.IsZero() && !t.Finished.IsZero() && t.Finished.Before(t.Started) {
		return bad("finished %v before started %v", t.Finished, t.Started)
	}
	return nil
}

// AppendTrial stores a finished trial of a running or stopped run and, if
// strategyState is not nil, the strategy's state after it, in one committed
// transaction: after a crash the store holds both or neither, so a resumed
// search restarts from a state that matches its trials. A nil state leaves
// the run's last state as it was.
func (s *Store) AppendTrial(run RunID, t Trial, strategyState []byte) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("%s: %w", run, err)
	}
	t.Started, t.Finished = t.Started.UTC(), t.Finished.UTC()
	return s.update(func(tx *bolt.Tx) error {
		rb, r, err := s.runBucket(tx, run)
		if err != nil {
			return err
		}
		if r.Status == RunFinished {
			return fmt.Errorf("results store %s: %s: %w", s.path, run, ErrRunFinished)
		}
		tb := rb.Bucket(bucketTrials)
		seq, err := tb.NextSequence()
		if err != nil {
			return err
		}
		t.Seq = seq
		key := u64(seq)
		v, err := sealJSON(key, t)
		if err != nil {
			return err
		}
		if err := tb.Put(key, v); err != nil {
			return err
		}
		if strategyState != nil {
			payload := append(u64(seq), strategyState...)
			sealed := seal(keyState, payload)
			if err := checkRecordSize(sealed); err != nil {
				return fmt.Errorf("results store %s: %s: strategy state: %w", s.path, run, err)
			}
			if err := rb.Put(keyState, sealed); err != nil {
				return err
			}
		}
		r.Updated = time.Now().UTC()
		return putRun(rb, r)
	})
}

// decodeTrial checks and decodes a stored trial: size, checksum, JSON, its
// key against its sequence number, and the values AppendTrial checks
// (Trial.Validate).
func decodeTrial(key, val []byte) (Trial, error) {
	var t Trial
	if err := unsealJSON(key, val, &t); err != nil {
		return Trial{}, err
	}
	if len(key) != 8 || binary.BigEndian.Uint64(key) != t.Seq {
		return Trial{}, fmt.Errorf("trial key %x holds trial %d", key, t.Seq)
	}
	if err := t.Validate(); err != nil {
		return Trial{}, err
	}
	return t, nil
}

// Trials returns the trials of a run in the order they were stored.
func (s *Store) Trials(run RunID) ([]Trial, error) {
	var trials []Trial
	err := s.view(func(tx *bolt.Tx) error {
		rb, _, err := s.runBucket(tx, run)
		if err != nil {
			return err
		}
		return rb.Bucket(bucketTrials).ForEach(func(k, v []byte) error {
			t, err := decodeTrial(k, v)
			if err != nil {
				return s.corrupt("%s, trial %x: %v", run, k, err)
			}
			trials = append(trials, t)
			return nil
		})
	})
	return trials, err
}

// LastState returns the strategy state stored with the latest trial that
// carried one, and that trial's sequence number; nil and 0 if none did.
func (s *Store) LastState(run RunID) (state []byte, seq uint64, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		rb, _, err := s.runBucket(tx, run)
		if err != nil {
			return err
		}
		v := rb.Get(keyState)
		if v == nil {
			return nil
		}
		payload, err := unseal(keyState, v)
		if err != nil {
			return s.corrupt("%s: strategy state: %v", run, err)
		}
		if len(payload) < 8 {
			return s.corrupt("%s: strategy state of %d bytes has no trial number", run, len(payload))
		}
		seq = binary.BigEndian.Uint64(payload)
		state = append([]byte{}, payload[8:]...) // copy: bbolt's memory is only valid in the tx
		return nil
	})
	return state, seq, err
}

package results

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// bucketBaselines is, in a run bucket, name -> sealed JSON Baseline. It is
// created by the first AddBaselines; runs without one have no baselines.
var bucketBaselines = []byte("baselines")

// Baseline is a reference network (a zoo network such as mobilenet_v3_small)
// measured the way the run measures its trials: the same latency table or
// device and the same accuracy proxy. Reports draw baselines next to the
// trials so that a front can be read against known networks.
type Baseline struct {
	Name      string  `json:"name"`           // e.g. "mobilenet_v3_small"
	Arch      string  `json:"arch,omitempty"` // one-line arch string, when known
	LatencyMs float64 `json:"latency_ms"`
	Accuracy  float64 `json:"accuracy"` // validation accuracy in [0, 1], comparable with the trials'
	// TestAccuracy is the test-split accuracy of a network trained with the
	// run's final recipe, when it was tested; reports show it in tables but
	// never plot it against the trials' validation accuracies.
	TestAccuracy *float64 `json:"test_accuracy,omitempty"`
	Params       int64    `json:"params"`
	MACs         int64    `json:"macs"`
}

// Validate checks that a baseline can be stored.
func (b Baseline) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: baseline %q: %s", ErrInvalidBaseline, b.Name, fmt.Sprintf(format, args...))
	}
	switch {
	case b.Name == "":
		return fmt.Errorf("%w: a baseline needs a name", ErrInvalidBaseline)
	case !finite(b.LatencyMs) || b.LatencyMs < 0:
		return bad("latency %v ms, want a finite non-negative number", b.LatencyMs)
	case !finite(b.Accuracy) || b.Accuracy < 0 || b.Accuracy > 1:
		return bad("accuracy %v, want a fraction in [0, 1]", b.Accuracy)
	case b.TestAccuracy != nil && (!finite(*b.TestAccuracy) || *b.TestAccuracy < 0 || *b.TestAccuracy > 1):
		return bad("test accuracy %v, want a fraction in [0, 1]", *b.TestAccuracy)
	case b.Params < 0 || b.MACs < 0:
		return bad("params %d and MACs %d must be non-negative", b.Params, b.MACs)
	}
	return nil
}

// AddBaselines stores baselines of a run in one committed transaction,
// replacing any stored under the same name. Baselines are reference points,
// not trials, so a finished run accepts them too. Either all are stored or,
// if one is invalid, none.
func (s *Store) AddBaselines(run RunID, baselines ...Baseline) error {
	for _, b := range baselines {
		if err := b.Validate(); err != nil {
			return fmt.Errorf("%s: %w", run, err)
		}
	}
	return s.update(func(tx *bolt.Tx) error {
		rb, _, err := s.runBucket(tx, run)
		if err != nil {
			return err
		}
		bb, err := rb.CreateBucketIfNotExists(bucketBaselines)
		if err != nil {
			return err
		}
		for _, b := range baselines {
			key := []byte(b.Name)
			v, err := sealJSON(key, b)
			if err != nil {
				return err
			}
			if err := bb.Put(key, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Baselines returns the baselines of a run ordered by name; none (and no
// error) if it has none.
func (s *Store) Baselines(run RunID) ([]Baseline, error) {
	var out []Baseline
	err := s.view(func(tx *bolt.Tx) error {
		rb, _, err := s.runBucket(tx, run)
		if err != nil {
			return err
		}
		bb := rb.Bucket(bucketBaselines)
		if bb == nil {
			return nil
		}
		return bb.ForEach(func(k, v []byte) error {
			var b Baseline
			if err := unsealJSON(k, v, &b); err != nil {
				return s.corrupt("%s, baseline %q: %v", run, k, err)
			}
			if b.Name != string(k) {
				return s.corrupt("%s: baseline key %q holds baseline %q", run, k, b.Name)
			}
			out = append(out, b)
			return nil
		})
	})
	return out, err
}

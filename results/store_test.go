package results

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// trialFor is the i-th trial of a test run (i from 1, as sequence numbers).
func trialFor(i int) Trial {
	acc := 0.5 + float64(i%40)/100
	tr := Trial{
		Seq:                uint64(i),
		Arch:               fmt.Sprintf("ir_k3_e6_c%d|ir_k5_e3_c40", 16+i%8),
		ArchJSON:           json.RawMessage(fmt.Sprintf(`{"version":1,"layers":[{"type":"ir","c":%d}]}`, 16+i%8)),
		Params:             int64(100000 + i),
		MACs:               int64(2000000 + 7*i),
		PredictedLatencyMs: 1 + float64(i%13)/10,
		ValAccuracy:        acc,
		Reward:             acc * 0.98,
		Status:             TrialOK,
		Seed:               uint64(1000 + i),
		WallTime:           time.Duration(i) * time.Second,
		Started:            t0.Add(time.Duration(i) * time.Minute),
		Finished:           t0.Add(time.Duration(i)*time.Minute + time.Duration(i)*time.Second),
	}
	if i%5 == 0 {
		m := tr.PredictedLatencyMs * 1.1
		tr.MeasuredLatencyMs = &m
	}
	if i%7 == 0 {
		tr.Status, tr.Reason, tr.ValAccuracy, tr.Reward = TrialFailed, "loss became NaN at epoch 2", 0, 0
	}
	return tr
}

func stateFor(i int) []byte { return []byte(fmt.Sprintf(`{"population_after":%d}`, i)) }

var testConfig = RunConfig{Strategy: "evolution", Seed: 42, TargetMs: 2.5, Space: "mbconv-7stage", Dataset: "fashion-mnist", Settings: json.RawMessage(`{"population":50,"sample":10}`)}

func openTest(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRunsAndTrials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.db")
	s := openTest(t, path)
	id, err := s.CreateRun(testConfig)
	require.NoError(t, err)
	require.Equal(t, RunID(1), id)
	other, err := s.CreateRun(RunConfig{Strategy: "random", Seed: 1, TargetMs: 1})
	require.NoError(t, err)
	require.Equal(t, RunID(2), other)

	state, seq, err := s.LastState(id)
	require.NoError(t, err)
	require.Nil(t, state)
	require.Zero(t, seq)

	for i := 1; i <= 20; i++ {
		var st []byte
		if i%3 != 0 { // some trials carry no state: the last one stays
			st = stateFor(i)
		}
		require.NoError(t, s.AppendTrial(id, trialFor(i), st))
	}
	require.NoError(t, s.AppendTrial(other, trialFor(1), nil))
	require.NoError(t, s.SetStatus(id, RunStopped))
	require.NoError(t, s.Close())

	s, err = OpenReadOnly(path)
	require.NoError(t, err)
	defer s.Close()
	runs, err := s.Runs()
	require.NoError(t, err)
	require.Len(t, runs, 2)
	r := runs[0]
	require.Equal(t, id, r.ID)
	require.Equal(t, RunStopped, r.Status)
	require.Equal(t, 20, r.Trials)
	require.JSONEq(t, string(testConfig.Settings), string(r.Config.Settings))
	r.Config.Settings = nil
	want := testConfig
	want.Settings = nil
	require.Equal(t, want, r.Config)
	require.False(t, r.Updated.Before(r.Created))
	require.Equal(t, 1, runs[1].Trials)

	trials, err := s.Trials(id)
	require.NoError(t, err)
	require.Len(t, trials, 20)
	for i, tr := range trials {
		w := trialFor(i + 1)
		require.JSONEq(t, string(w.ArchJSON), string(tr.ArchJSON))
		tr.ArchJSON, w.ArchJSON = nil, nil
		require.Equal(t, w, tr)
	}
	state, seq, err = s.LastState(id)
	require.NoError(t, err)
	require.Equal(t, uint64(20), seq)
	require.Equal(t, stateFor(20), state)

	_, err = s.Run(99)
	require.ErrorIs(t, err, ErrUnknownRun)
	_, err = s.Trials(99)
	require.ErrorIs(t, err, ErrUnknownRun)
	require.ErrorIs(t, s.AppendTrial(id, trialFor(21), nil), ErrReadOnly)
	_, err = s.CreateRun(testConfig)
	require.ErrorIs(t, err, ErrReadOnly)
}

func TestLastStateFollowsTrials(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "results.db"))
	id, err := s.CreateRun(testConfig)
	require.NoError(t, err)
	require.NoError(t, s.AppendTrial(id, trialFor(1), stateFor(1)))
	require.NoError(t, s.AppendTrial(id, trialFor(2), nil))
	state, seq, err := s.LastState(id)
	require.NoError(t, err)
	require.Equal(t, uint64(1), seq, "a trial without state keeps the last state and its trial number")
	require.Equal(t, stateFor(1), state)
	require.NoError(t, s.AppendTrial(id, trialFor(3), []byte{}))
	state, seq, err = s.LastState(id)
	require.NoError(t, err)
	require.Equal(t, uint64(3), seq)
	require.Empty(t, state)
	require.NotNil(t, state, "an empty state is a state")

	// A failing trial stores neither itself nor its state.
	bad := trialFor(4)
	bad.ValAccuracy = 1.5
	require.ErrorIs(t, s.AppendTrial(id, bad, stateFor(4)), ErrInvalidTrial)
	_, seq, err = s.LastState(id)
	require.NoError(t, err)
	require.Equal(t, uint64(3), seq)

	require.NoError(t, s.SetStatus(id, RunFinished))
	require.ErrorIs(t, s.AppendTrial(id, trialFor(4), nil), ErrRunFinished)
	require.Error(t, s.SetStatus(id, "paused"))
}

func TestTrialValidation(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "results.db"))
	id, err := s.CreateRun(testConfig)
	require.NoError(t, err)
	neg, nan, big := -1.0, math.NaN(), 1.01
	tests := []struct {
		name string
		edit func(*Trial)
	}{
		{"no arch", func(t *Trial) { t.Arch = "" }},
		{"unknown status", func(t *Trial) { t.Status = "done" }},
		{"failed without reason", func(t *Trial) { t.Status, t.Reason = TrialFailed, "" }},
		{"skipped without reason", func(t *Trial) { t.Status, t.Reason = TrialSkipped, "" }},
		{"bad arch JSON", func(t *Trial) { t.ArchJSON = json.RawMessage(`{"layers":`) }},
		{"negative params", func(t *Trial) { t.Params = -1 }},
		{"NaN latency", func(t *Trial) { t.PredictedLatencyMs = math.NaN() }},
		{"negative measured latency", func(t *Trial) { t.MeasuredLatencyMs = &neg }},
		{"accuracy above 1", func(t *Trial) { t.ValAccuracy = 1.2 }},
		{"NaN test accuracy", func(t *Trial) { t.TestAccuracy = &nan }},
		{"test accuracy above 1", func(t *Trial) { t.TestAccuracy = &big }},
		{"infinite reward", func(t *Trial) { t.Reward = math.Inf(-1) }},
		{"negative wall time", func(t *Trial) { t.WallTime = -time.Second }},
		{"finished before started", func(t *Trial) { t.Finished = t.Started.Add(-time.Second) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := trialFor(1)
			tt.edit(&tr)
			require.ErrorIs(t, s.AppendTrial(id, tr, nil), ErrInvalidTrial)
		})
	}
	trials, err := s.Trials(id)
	require.NoError(t, err)
	require.Empty(t, trials)

	for _, cfg := range []RunConfig{{}, {Strategy: "random"}, {Strategy: "random", TargetMs: -1}, {Strategy: "random", TargetMs: math.Inf(1)}, {Strategy: "random", TargetMs: math.NaN()}, {Strategy: "random", TargetMs: 1, Settings: json.RawMessage("{")}} {
		_, err := s.CreateRun(cfg)
		require.ErrorIs(t, err, ErrInvalidConfig)
	}
}

func TestParseRunID(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want RunID
		ok   bool
	}{{"run-3", 3, true}, {"12", 12, true}, {"run-0", 0, false}, {"run-", 0, false}, {"three", 0, false}, {"-1", 0, false}} {
		got, err := ParseRunID(tt.in)
		if !tt.ok {
			require.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.want, got)
		require.Equal(t, got, must(ParseRunID(got.String())))
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	_, err := OpenReadOnly(missing)
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.Contains(t, err.Error(), missing)

	other := filepath.Join(dir, "other.db")
	db, err := bolt.Open(other, 0o644, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("devices")); return err }))
	require.NoError(t, db.Close())
	_, err = Open(other)
	require.ErrorIs(t, err, ErrNotStore)
	require.Contains(t, err.Error(), other)

	newer := filepath.Join(dir, "newer.db")
	s, err := Open(newer)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	db, err = bolt.Open(newer, 0o644, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, []byte("7")) }))
	require.NoError(t, db.Close())
	_, err = Open(newer)
	require.ErrorIs(t, err, ErrSchema)
	require.Contains(t, err.Error(), "schema version 7")
}

func TestConcurrentAppends(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "results.db"))
	const runs, perRun = 4, 20
	ids := make([]RunID, runs)
	for r := range ids {
		var err error
		ids[r], err = s.CreateRun(testConfig)
		require.NoError(t, err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*runs*perRun)
	for _, id := range ids {
		wg.Go(func() {
			for i := 1; i <= perRun; i++ {
				errs <- s.AppendTrial(id, trialFor(i), stateFor(i))
			}
		})
		wg.Go(func() {
			for range perRun {
				trials, err := s.Trials(id)
				if err == nil {
					for j, tr := range trials {
						if tr.Seq != uint64(j+1) || tr.Arch != trialFor(j+1).Arch {
							err = fmt.Errorf("%s: trial %d read as %d %q", id, j+1, tr.Seq, tr.Arch)
						}
					}
				}
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, id := range ids {
		r, err := s.Run(id)
		require.NoError(t, err)
		require.Equal(t, perRun, r.Trials)
	}
}

// BenchmarkAppendTrial commits one trial with a 4 KiB strategy state to a
// store that holds trials already: the commit (one fsync), and the
// snapshot for readers that a writer keeps (snapshot=on, as Open does) or
// not (docs/results-store.md).
func BenchmarkAppendTrial(b *testing.B) {
	for _, held := range []int{100, 1000, 5000} {
		for _, snap := range []bool{false, true} {
			b.Run(fmt.Sprintf("held=%d/snapshot=%v", held, snap), func(b *testing.B) {
				s, err := Open(filepath.Join(b.TempDir(), "results.db"))
				require.NoError(b, err)
				defer s.Close()
				path := s.snapshot
				s.snapshot = "" // filled without
				id, err := s.CreateRun(testConfig)
				require.NoError(b, err)
				state := make([]byte, 4096)
				for i := 1; i <= held; i++ {
					require.NoError(b, s.AppendTrial(id, trialFor(i), state))
				}
				if snap {
					s.snapshot = path
				}
				i := held
				for b.Loop() {
					i++
					if err := s.AppendTrial(id, trialFor(i), state); err != nil {
						b.Fatal(err)
					}
				}
				fi, err := os.Stat(s.Path())
				require.NoError(b, err)
				b.ReportMetric(float64(fi.Size())/(1<<20), "MiB")
			})
		}
	}
}

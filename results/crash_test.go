package results

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/internal/crashtest"
)

// crashWriterEnv names the store file the crash writer subprocess appends to.
const crashWriterEnv = "NAS_RESULTS_CRASH_WRITER"

// TestCrashWriterProcess is not a test on its own: run by TestKillNine in a
// subprocess, it appends trials with their strategy state to run 1, one
// for each byte read from stdin, printing "begin" before each trial and
// the trial's sequence number once it has committed.
func TestCrashWriterProcess(t *testing.T) {
	path := os.Getenv(crashWriterEnv)
	if path == "" {
		t.Skip("run as a subprocess by TestKillNine")
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	s, err := Open(path)
	if err != nil {
		fail(err)
	}
	r, err := s.Run(1)
	if err != nil {
		fail(err)
	}
	i := r.Trials
	crashtest.Serve(func() (int, error) {
		i++
		return i, s.AppendTrial(1, trialFor(i), stateFor(i))
	})
}

// TestKillNine kills a process appending trials with SIGKILL at a random
// moment, several times, and checks that the store opens, that every trial
// the writer saw committed is there and whole, numbered without gaps, and
// that the strategy state is the one stored with the last trial.
func TestKillNine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.db")
	s, err := Open(path)
	require.NoError(t, err)
	_, err = s.CreateRun(testConfig)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	rng := rand.New(rand.NewPCG(9, 10))
	for round := range 4 {
		killAfter := 1 + rng.IntN(60)
		acked := crashtest.KillInCommit(t, "TestCrashWriterProcess", crashWriterEnv, path, killAfter)

		s, err := OpenReadOnly(path)
		require.NoError(t, err, "round %d: the store must open after a kill", round)
		trials, err := s.Trials(1)
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(trials), acked, "round %d: committed trials lost", round)
		require.LessOrEqual(t, len(trials), acked+1, "round %d: more than the trial in flight", round)
		for i, tr := range trials {
			w := trialFor(i + 1)
			require.True(t, bytes.Equal(w.ArchJSON, tr.ArchJSON))
			tr.ArchJSON, w.ArchJSON = nil, nil
			require.Equal(t, w, tr, "round %d", round)
		}
		state, seq, err := s.LastState(1)
		require.NoError(t, err)
		require.Equal(t, uint64(len(trials)), seq, "round %d: state and trials out of step", round)
		require.Equal(t, stateFor(len(trials)), state)
		require.NoError(t, s.Close())
		t.Logf("round %d: killed after %d commits; %d trials stored", round, killAfter, len(trials))
	}
}

func TestCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	goodPath := filepath.Join(dir, "good.db")
	s, err := Open(goodPath)
	require.NoError(t, err)
	id, err := s.CreateRun(testConfig)
	require.NoError(t, err)
	for i := 1; i <= 100; i++ {
		require.NoError(t, s.AppendTrial(id, trialFor(i), stateFor(i)))
	}
	require.NoError(t, s.Close())
	good, err := os.ReadFile(goodPath)
	require.NoError(t, err)

	readAll := func(path string) error {
		s, err := OpenReadOnly(path)
		if err != nil {
			return err
		}
		defer s.Close()
		runs, err := s.Runs()
		if err != nil {
			return err
		}
		for _, r := range runs {
			if _, err := s.Trials(r.ID); err != nil {
				return err
			}
			if _, _, err := s.LastState(r.ID); err != nil {
				return err
			}
		}
		return nil
	}
	requireFileError := func(t *testing.T, err error, path string) {
		t.Helper()
		require.Error(t, err)
		require.Contains(t, err.Error(), path)
		require.True(t, errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNotStore), "unexpected kind of error: %v", err)
	}

	t.Run("value byte flipped", func(t *testing.T) {
		path := filepath.Join(dir, "flipped.db")
		b := bytes.Clone(good)
		at := bytes.Index(b, []byte(`"seed":1042`))
		require.Positive(t, at)
		b[at+len(`"seed":104`)] = '3'
		require.NoError(t, os.WriteFile(path, b, 0o644))
		err := readAll(path)
		requireFileError(t, err, path)
		require.Contains(t, err.Error(), "checksum mismatch")
	})
	for _, size := range []int{0, 100, 4096, len(good) / 3} {
		t.Run(fmt.Sprintf("truncated to %d", size), func(t *testing.T) {
			path := filepath.Join(dir, "truncated.db")
			require.NoError(t, os.WriteFile(path, good[:size], 0o644))
			requireFileError(t, readAll(path), path)
		})
	}
	t.Run("random damage", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(11, 12))
		path := filepath.Join(dir, "damaged.db")
		for range 40 {
			b := bytes.Clone(good)
			at := rng.IntN(len(b) - 16)
			for j := range 1 + rng.IntN(16) {
				b[at+j] = byte(rng.Uint32())
			}
			require.NoError(t, os.WriteFile(path, b, 0o644))
			if err := readAll(path); err != nil {
				requireFileError(t, err, path)
			}
		}
	})
}

package results

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"nas/internal/crashtest"
)

// lockHolderEnv is "ro:PATH" or "rw:PATH": the store the lock holder
// subprocess opens, read-only or for writing.
const lockHolderEnv = "NAS_RESULTS_LOCK_HOLDER"

// TestLockHolderProcess is not a test on its own: run by TestLocked in a
// subprocess, it opens the store named by lockHolderEnv and holds it until
// its stdin closes.
func TestLockHolderProcess(t *testing.T) {
	v := os.Getenv(lockHolderEnv)
	if v == "" {
		t.Skip("run as a subprocess by TestLocked")
	}
	mode, path, _ := strings.Cut(v, ":")
	crashtest.Hold(func() (io.Closer, error) {
		if mode == "ro" {
			return OpenReadOnly(path)
		}
		return Open(path)
	})
}

// TestLocked opens a store that another process holds: a writer shuts out
// writers, and readers read its snapshot; a reader shuts out writers only.
// The error names the file, says another nas process holds it and what to
// do.
func TestLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.db")
	s, err := Open(path)
	require.NoError(t, err)
	_, err = s.CreateRun(testConfig)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoFileExists(t, path+SnapshotSuffix, "a writer removes its snapshot when it closes")
	requireLocked := func(err error) {
		t.Helper()
		require.ErrorIs(t, err, ErrLocked)
		require.ErrorContains(t, err, "results store "+path+": ")
		require.ErrorContains(t, err, "another nas process")
		require.ErrorContains(t, err, "wait until that process ends, or give another store file")
	}

	release := crashtest.HoldFile(t, "TestLockHolderProcess", lockHolderEnv, "rw:"+path)
	_, err = Open(path)
	requireLocked(err)
	require.ErrorContains(t, err, "not released within 2s")
	r, err := OpenReadOnly(path)
	require.NoError(t, err, "a reader reads the writer's snapshot")
	require.True(t, r.FromSnapshot())
	runs, err := r.Runs()
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.NoError(t, r.Close())
	release()
	require.NoFileExists(t, path+SnapshotSuffix)
	s, err = Open(path)
	require.NoError(t, err, "the file is free once the other process ends")
	runs, err = s.Runs()
	require.NoError(t, err)
	require.Len(t, runs, 1, "nothing stored is lost")
	require.NoError(t, s.Close())

	defer func(d time.Duration) { lockTimeout = d }(lockTimeout)
	lockTimeout = 100 * time.Millisecond
	release = crashtest.HoldFile(t, "TestLockHolderProcess", lockHolderEnv, "ro:"+path)
	s, err = OpenReadOnly(path)
	require.NoError(t, err, "two readers share the file")
	require.False(t, s.FromSnapshot())
	require.NoError(t, s.Close())
	_, err = Open(path)
	requireLocked(err)
	release()
}

// TestReaderSeesEachCommit reads a store while a writer has it open: each
// reader sees every trial committed before it opened, from the snapshot,
// and reads the live file once the writer has closed it.
func TestReaderSeesEachCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.db")
	w, err := Open(path)
	require.NoError(t, err)
	id, err := w.CreateRun(testConfig)
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, w.AppendTrial(id, trialFor(i+1), []byte{byte(i)}))
		r, err := OpenReadOnly(path)
		require.NoError(t, err)
		require.True(t, r.FromSnapshot(), "the writer holds the live file")
		trials, err := r.Trials(id)
		require.NoError(t, err)
		require.Len(t, trials, i+1)
		state, seq, err := r.LastState(id)
		require.NoError(t, err)
		require.Equal(t, []byte{byte(i)}, state)
		require.EqualValues(t, i+1, seq)
		require.NoError(t, r.Close())
	}
	require.NoError(t, w.Close())
	r, err := OpenReadOnly(path)
	require.NoError(t, err)
	require.False(t, r.FromSnapshot())
	trials, err := r.Trials(id)
	require.NoError(t, err)
	require.Len(t, trials, 3)
	require.NoError(t, r.Close())
}

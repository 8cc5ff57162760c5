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
// readers and writers, a reader shuts out writers only, and the error
// names the file, says another nas process holds it and what to do.
func TestLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.db")
	s, err := Open(path)
	require.NoError(t, err)
	_, err = s.CreateRun(testConfig)
	require.NoError(t, err)
	require.NoError(t, s.Close())
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
	// The other cases wait less: what they test is which opens conflict.
	defer func(d time.Duration) { lockTimeout = d }(lockTimeout)
	lockTimeout = 100 * time.Millisecond
	_, err = OpenReadOnly(path)
	requireLocked(err)
	release()
	s, err = Open(path)
	require.NoError(t, err, "the file is free once the other process ends")
	runs, err := s.Runs()
	require.NoError(t, err)
	require.Len(t, runs, 1, "nothing stored is lost")
	require.NoError(t, s.Close())

	release = crashtest.HoldFile(t, "TestLockHolderProcess", lockHolderEnv, "ro:"+path)
	s, err = OpenReadOnly(path)
	require.NoError(t, err, "two readers share the file")
	require.NoError(t, s.Close())
	_, err = Open(path)
	requireLocked(err)
	release()
}

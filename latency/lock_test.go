package latency

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

// lockHolderEnv is "ro:PATH" or "rw:PATH": the table the lock holder
// subprocess opens, read-only or for writing.
const lockHolderEnv = "NAS_LATENCY_LOCK_HOLDER"

// TestLockHolderProcess is not a test on its own: run by TestLocked in a
// subprocess, it opens the table named by lockHolderEnv and holds it until
// its stdin closes.
func TestLockHolderProcess(t *testing.T) {
	v := os.Getenv(lockHolderEnv)
	if v == "" {
		t.Skip("run as a subprocess by TestLocked")
	}
	mode, path, _ := strings.Cut(v, ":")
	crashtest.Hold(func() (io.Closer, error) {
		return Open(path, testFingerprint(1), Options{ReadOnly: mode == "ro"})
	})
}

// TestLocked opens a table that another process holds: a writer shuts out
// readers and writers, a reader shuts out writers only, and the error
// names the file, says another nas process holds it and what to do.
func TestLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lut.db")
	writeTable(t, path, 3)
	requireLocked := func(err error) {
		t.Helper()
		require.ErrorIs(t, err, ErrLocked)
		require.ErrorContains(t, err, "latency table "+path+": ")
		require.ErrorContains(t, err, "another nas process")
		require.ErrorContains(t, err, "wait until that process ends, or give another table file")
	}

	release := crashtest.HoldFile(t, "TestLockHolderProcess", lockHolderEnv, "rw:"+path)
	_, err := Open(path, testFingerprint(1), Options{})
	requireLocked(err)
	require.ErrorContains(t, err, "not released within 2s")
	// The other cases wait less: what they test is which opens conflict.
	defer func(d time.Duration) { lockTimeout = d }(lockTimeout)
	lockTimeout = 100 * time.Millisecond
	_, err = Open(path, testFingerprint(1), Options{ReadOnly: true})
	requireLocked(err)
	release()
	tbl, err := Open(path, testFingerprint(1), Options{})
	require.NoError(t, err, "the file is free once the other process ends")
	require.NoError(t, tbl.Close())

	release = crashtest.HoldFile(t, "TestLockHolderProcess", lockHolderEnv, "ro:"+path)
	tbl, err = Open(path, testFingerprint(1), Options{ReadOnly: true})
	require.NoError(t, err, "two readers share the file")
	require.NoError(t, tbl.Close())
	_, err = Open(path, testFingerprint(1), Options{})
	requireLocked(err)
	release()
}

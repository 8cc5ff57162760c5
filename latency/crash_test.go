package latency

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/internal/crashtest"
)

// crashWriterEnv names the table file the crash writer subprocess writes to.
const crashWriterEnv = "NAS_LATENCY_CRASH_WRITER"

// crashBatch is how many entries the writer puts per transaction.
const crashBatch = 3

// TestCrashWriterProcess is not a test on its own: run by TestKillNine in a
// subprocess, it appends one batch of entries to a table for each byte read
// from stdin, printing "begin" before each batch and its last index once
// its transaction has committed.
func TestCrashWriterProcess(t *testing.T) {
	path := os.Getenv(crashWriterEnv)
	if path == "" {
		t.Skip("run as a subprocess by TestKillNine")
	}
	tbl, err := Open(path, testFingerprint(1), Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	n, err := tbl.Len()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	i := n
	crashtest.Serve(func() (int, error) {
		batch := map[string]Entry{}
		for j := i; j < i+crashBatch; j++ {
			batch[key(j)] = entryFor(j)
		}
		i += crashBatch
		return i - 1, tbl.PutMany(batch)
	})
}

// TestKillNine kills a writing process with SIGKILL at a random moment,
// several times, and checks that the table opens, that every entry the
// writer saw committed is there, and that every entry present is whole:
// bbolt commits whole transactions or nothing.
func TestKillNine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lut.db")
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 4 {
		killAfter := 1 + rng.IntN(60)
		acked := crashtest.KillInCommit(t, "TestCrashWriterProcess", crashWriterEnv, path, killAfter)
		t.Logf("round %d: killed after %d commits, last committed index %d", round, killAfter, acked)

		tbl, err := Open(path, testFingerprint(1), Options{ReadOnly: true})
		require.NoError(t, err, "round %d: the table must open after a kill", round)
		n, err := tbl.Len()
		require.NoError(t, err)
		require.GreaterOrEqual(t, n, acked+1, "round %d: committed entries lost", round)
		require.LessOrEqual(t, n, acked+1+crashBatch, "round %d: more than the batch in flight", round)
		require.Zero(t, n%crashBatch, "round %d: a batch was stored in part (%d entries)", round, n)
		for i := range n {
			e, ok, err := tbl.Get(key(i))
			require.NoError(t, err)
			require.True(t, ok, "round %d: entry %d missing", round, i)
			require.Equal(t, entryFor(i), e)
		}
		require.NoError(t, tbl.Close())
	}
}

package latency

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// crashWriterEnv names the table file the crash writer subprocess writes to.
const crashWriterEnv = "NAS_LATENCY_CRASH_WRITER"

// crashBatch is how many entries the writer puts per transaction.
const crashBatch = 3

// TestCrashWriterProcess is not a test on its own: run by TestKillNine in a
// subprocess, it appends batches of entries to a table for ever, printing
// the last index of each batch once its transaction has committed.
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
	for i := n; ; i += crashBatch {
		batch := map[string]Entry{}
		for j := i; j < i+crashBatch; j++ {
			batch[key(j)] = entryFor(j)
		}
		if err := tbl.PutMany(batch); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		fmt.Println(i + crashBatch - 1) // unbuffered: one write per commit
	}
}

// TestKillNine kills a writing process with SIGKILL at a random moment,
// several times, and checks that the table opens, that every entry the
// writer saw committed is there, and that every entry present is whole:
// bbolt commits whole transactions or nothing.
func TestKillNine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lut.db")
	rng := rand.New(rand.NewPCG(1, 2))
	acked := -1
	for round := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashWriterProcess$")
		cmd.Env = append(os.Environ(), crashWriterEnv+"="+path)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		// Kill after a random number of commits: the kill lands wherever the
		// writer is, usually inside the next transaction.
		killAfter := 1 + rng.IntN(60)
		sc := bufio.NewScanner(stdout)
		for range killAfter {
			if !sc.Scan() {
				break
			}
			i, err := strconv.Atoi(sc.Text())
			require.NoError(t, err, "writer said %q", sc.Text())
			acked = i
		}
		require.NoError(t, cmd.Process.Kill())
		_ = cmd.Wait()
		t.Logf("round %d: killed after %d commits, last committed index %d", round, killAfter, acked)

		tbl, err := Open(path, testFingerprint(1), Options{ReadOnly: true})
		require.NoError(t, err, "round %d: the table must open after a kill", round)
		n, err := tbl.Len()
		require.NoError(t, err)
		require.GreaterOrEqual(t, n, acked+1, "round %d: committed entries lost", round)
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

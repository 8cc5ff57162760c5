package latency

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/internal/crashtest"
	"nas/space"
)

// profileWriterEnv names the table file the profiling subprocess fills.
const profileWriterEnv = "NAS_LATENCY_PROFILE_WRITER"

// crashArchs are the networks the profiling subprocess profiles.
func crashArchs() []*space.Arch {
	var out []*space.Arch
	for w := 1; w <= 6; w++ {
		out = append(out, tinyArch(fmt.Sprintf("tiny%d", w), w))
	}
	return out
}

// TestProfileWriterProcess is not a test on its own: run by
// TestProfileKillNine in a subprocess, it profiles crashArchs into a table,
// printing "start PRESENT TOTAL" before measuring and "stored N" after each
// committed entry.
func TestProfileWriterProcess(t *testing.T) {
	path := os.Getenv(profileWriterEnv)
	if path == "" {
		t.Skip("run as a subprocess by TestProfileKillNine")
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	tbl, err := Open(path, testFingerprint(1), Options{})
	if err != nil {
		fail(err)
	}
	items, err := DistinctItems(crashArchs(), 1)
	if err != nil {
		fail(err)
	}
	first := true
	p := &Profiler{Table: tbl, Compile: NetworkCompiler(1), Protocol: fastProtocol, Progress: func(done, total int) {
		if first {
			fmt.Println("start", done, total)
			first = false
			return
		}
		fmt.Println("stored", done)
	}}
	if _, err := p.Profile(context.Background(), items); err != nil {
		fail(err)
	}
	os.Exit(0)
}

// TestProfileKillNine kills a profiling process with SIGKILL at random
// moments and checks, each time, that the table opens, that every entry
// the profiler reported stored is there and valid, and that the next run
// starts from exactly what is stored; a last run completes the table with
// one entry per distinct item.
func TestProfileKillNine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lut.db")
	items, err := DistinctItems(crashArchs(), 1)
	require.NoError(t, err)
	valid := map[string]bool{}
	for _, it := range items {
		valid[it.Key] = true
	}
	rng := rand.New(rand.NewPCG(3, 4))
	stored := 0
	for round := 0; ; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestProfileWriterProcess$")
		cmd.Env = append(os.Environ(), profileWriterEnv+"="+path)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		crashtest.Start(t, cmd)
		sc := bufio.NewScanner(stdout)
		require.True(t, sc.Scan(), "round %d: profiler said nothing", round)
		var present, total int
		_, err = fmt.Sscanf(sc.Text(), "start %d %d", &present, &total)
		require.NoError(t, err, "round %d: profiler said %q", round, sc.Text())
		require.Equal(t, len(items), total)
		require.GreaterOrEqual(t, present, stored, "round %d: entries reported stored were lost", round)
		require.LessOrEqual(t, present, stored+1, "round %d: more than the entry in flight appeared", round)
		stored = present
		last := present == total || total-present <= 2
		killAfter := 1 + rng.IntN(3)
		for acks := 0; sc.Scan(); {
			line := sc.Text()
			if !strings.HasPrefix(line, "stored ") {
				continue
			}
			_, err := fmt.Sscanf(line, "stored %d", &stored)
			require.NoError(t, err)
			if acks++; !last && acks == killAfter {
				break
			}
		}
		if last {
			require.NoError(t, cmd.Wait(), "round %d: the final run failed", round)
		} else {
			require.NoError(t, cmd.Process.Kill())
			_ = cmd.Wait()
		}
		t.Logf("round %d: started with %d of %d stored, %d when it ended", round, present, total, stored)

		tbl, err := Open(path, testFingerprint(1), Options{ReadOnly: true})
		require.NoError(t, err, "round %d: the table must open after a kill", round)
		n := 0
		require.NoError(t, tbl.ForEach(func(k string, e Entry) error {
			n++
			require.True(t, valid[k], "round %d: unknown key %q", round, k)
			return e.Validate()
		}))
		require.NoError(t, tbl.Close())
		require.GreaterOrEqual(t, n, stored, "round %d: entries reported stored were lost", round)
		require.LessOrEqual(t, n, stored+1, "round %d: more than the entry in flight", round)
		if last {
			require.Equal(t, len(items), n, "one entry per distinct item, no more")
			require.Greater(t, round, 0, "the profiler was never killed")
			return
		}
		require.Less(t, round, 100, "no progress")
	}
}

package main

import (
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/results"
	"nas/supernet"
)

// mainJobFixture is the README's main job in miniature: a small MNIST
// folder, the space supernetTestSpace and a latency table profiled for
// it, so that every search of the test reads its latencies.
type mainJobFixture struct {
	data, spacePath, lut string
}

func newMainJobFixture(t *testing.T) mainJobFixture {
	t.Helper()
	data, spacePath, tmp := supernetFixture(t)
	f := mainJobFixture{data: data, spacePath: spacePath, lut: filepath.Join(tmp, "lut.db")}
	code, _, errOut := runNas(t, "profile", "--lut", f.lut, "--space", spacePath, "--quiet",
		"--cap", "5ms", "--warmup", "1ms", "--tolerance", "0.5", "--calibrate", "2")
	require.Equal(t, 0, code, errOut)
	return f
}

// args is a search of the fixture with the default accuracy source, a
// supernet the search builds: two epochs of 16 steps, one final network
// fine-tuned from its inherited weights.
func (f mainJobFixture) args(dir string, extra ...string) []string {
	return append([]string{"search", "--target-ms", "0.05", "--space", f.spacePath, "--data", "mnist", "--data-dir", f.data,
		"--lut", f.lut, "--store", filepath.Join(dir, "store.db"), "--out", filepath.Join(dir, "report"),
		"--budget", "4", "--batch", "16", "--supernet-epochs", "2", "--supernet-fraction", "1",
		"--final", "1", "--final-epochs", "1", "--final-fraction", "0.3", "--threads", "1", "--seed", "5", "--json"}, extra...)
}

// supernetFolders lists the supernets under runs/supernets of the
// current folder.
func supernetFolders(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("runs", "supernets", "*"))
	require.NoError(t, err)
	return dirs
}

// runSupernet reads the supernet folder and identity a search run stored.
func runSupernet(t *testing.T, store string, id results.RunID) (dir, identity string) {
	t.Helper()
	s, err := results.OpenReadOnly(store)
	require.NoError(t, err)
	defer s.Close()
	run, err := s.Run(id)
	require.NoError(t, err)
	var st struct {
		Accuracy string `json:"accuracy"`
		Supernet string `json:"supernet"`
		Identity string `json:"supernet_identity"`
	}
	require.NoError(t, json.Unmarshal(run.Config.Settings, &st))
	require.Equal(t, "supernet", st.Accuracy)
	return st.Supernet, st.Identity
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return sha256.Sum256(b)
}

// The main job's default path: a search without --supernet or --proxy
// builds the supernet of its space and data in runs/supernets, searches
// with it and fine-tunes the winner from its inherited weights; the next
// search of the same space and data reuses that supernet without training
// it; another space or other data get a supernet of their own, and a
// supernet given with --supernet for other data is refused.
func TestSearchBuildsSupernet(t *testing.T) {
	if testing.Short() {
		t.Skip("trains tiny supernets")
	}
	f := newMainJobFixture(t)
	work := t.TempDir()
	t.Chdir(work)

	code, out, errOut := runNas(t, f.args(work)...)
	require.Equal(t, 0, code, errOut)
	var sum searchSummary
	require.NoError(t, json.Unmarshal([]byte(out), &sum), out)
	require.Equal(t, 4, sum.Trials)
	require.Len(t, sum.Final, 1)
	require.FileExists(t, sum.Final[0].Weights)
	require.Positive(t, sum.Final[0].TestAcc)

	folders := supernetFolders(t)
	require.Len(t, folders, 1, "the search built one supernet")
	require.Regexp(t, `^mini-mnist-[0-9a-f]{12}$`, filepath.Base(folders[0]))
	sn, err := supernet.Open(folders[0])
	require.NoError(t, err)
	require.Equal(t, sn.TotalSteps, sn.Steps, "its training is finished")
	require.Equal(t, 2*(270/16), sn.Steps)
	store := filepath.Join(work, "store.db")
	dir, identity := runSupernet(t, store, 1)
	require.Equal(t, folders[0], dir, "the run records the folder")
	require.Equal(t, sn.Identity, identity, "and the identity of its weights")

	// The next search of the space and data (another seed, budget and
	// target) reuses it as it is: the checkpoint is not rewritten.
	ckpt := filepath.Join(folders[0], supernet.CheckpointFile)
	before := fileHash(t, ckpt)
	info, err := os.Stat(ckpt)
	require.NoError(t, err)
	code, out, errOut = runNas(t, f.args(work, "--seed", "6", "--budget", "3", "--target-ms", "0.08", "--final", "0")...)
	require.Equal(t, 0, code, errOut)
	require.NoError(t, json.Unmarshal([]byte(out), &sum), out)
	require.Equal(t, 3, sum.Trials)
	require.Equal(t, folders, supernetFolders(t), "no other supernet was built")
	require.Equal(t, before, fileHash(t, ckpt))
	again, err := os.Stat(ckpt)
	require.NoError(t, err)
	require.Equal(t, info.ModTime(), again.ModTime(), "the supernet was not trained again")
	dir, identity = runSupernet(t, store, 2)
	require.Equal(t, folders[0], dir)
	require.Equal(t, sn.Identity, identity)

	// Another space, or other data, gets a supernet of its own; the first
	// one stays as it was.
	other := filepath.Join(work, "other.json")
	require.NoError(t, os.WriteFile(other, []byte(strings.Replace(supernetTestSpace, `"widths": [8, 12]`, `"widths": [8, 16]`, 1)), 0o644))
	code, _, errOut = runNas(t, f.args(work, "--space", other, "--final", "0", "--budget", "2")...)
	require.Equal(t, 0, code, errOut)
	require.Len(t, supernetFolders(t), 2, "another space: another supernet")
	otherData := writeMNISTDir(t, 200, 60)
	code, _, errOut = runNas(t, f.args(work, "--data-dir", otherData, "--final", "0", "--budget", "2")...)
	require.Equal(t, 0, code, errOut)
	require.Len(t, supernetFolders(t), 3, "other data: another supernet")
	require.Equal(t, before, fileHash(t, ckpt))

	// A supernet named with --supernet is used as it is: for other data
	// or another space, it is refused with the fix.
	code, _, errOut = runNas(t, f.args(work, "--data-dir", otherData, "--supernet", folders[0], "--final", "0")...)
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "holds a supernet trained on mnist")
	require.Contains(t, errOut, "nas supernet train --data mnist --out NEWDIR")
	code, _, errOut = runNas(t, f.args(work, "--space", other, "--supernet", folders[0], "--final", "0")...)
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "holds a supernet of space mini")
}

// A search killed (SIGKILL) during its supernet's training, after the
// supernet's first checkpoint, continues with nas search --resume: the
// supernet's training resumes from that checkpoint and ends bit-identical
// to that of a search that was never interrupted, and so do the trials
// and the fine-tuned network. Stopped by Ctrl-C, the search says how to
// continue.
func TestSearchSupernetKillResume(t *testing.T) {
	if testing.Short() {
		t.Skip("trains tiny supernets, three times over")
	}
	f := newMainJobFixture(t)
	ref := t.TempDir()
	t.Chdir(ref)
	code, out, errOut := runNas(t, f.args(ref)...)
	require.Equal(t, 0, code, errOut)
	var want searchSummary
	require.NoError(t, json.Unmarshal([]byte(out), &want), out)
	wantTrials := storedTrials(t, filepath.Join(ref, "store.db"))
	_, wantIdentity := runSupernet(t, filepath.Join(ref, "store.db"), 1)

	for _, kp := range []struct {
		name, at string
		sigint   bool
	}{
		{"supernet-step-24-SIGKILL", "supernet:24", false},
		{"supernet-step-20-SIGINT", "supernet:20:int", true},
	} {
		t.Run(kp.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			store := filepath.Join(dir, "store.db")
			c := runKilled(t, "TestSearchChild", "NAS_SEARCH_ARGS", kp.at, f.args(dir))
			requireStopped(t, c, kp.sigint, "stopped: 0 trials are stored; continue with nas search --resume run-1")

			// The kill landed in the supernet's training: the run is stored
			// with no trial, and the supernet's folder holds the checkpoint
			// of its first epoch (16 steps), or with Ctrl-C of the step it
			// stopped at.
			require.Empty(t, storedTrials(t, store))
			folders := supernetFolders(t)
			require.Len(t, folders, 1)
			sn, err := supernet.Open(folders[0])
			require.NoError(t, err)
			if kp.sigint {
				require.Equal(t, 20, sn.Steps)
			} else {
				require.Equal(t, 16, sn.Steps)
			}

			code, out, errOut := runNas(t, "search", "--resume", "run-1", "--store", store, "--out", filepath.Join(dir, "report"), "--threads", "1", "--json")
			require.Equal(t, 0, code, "the resume: %s", errOut)
			var got searchSummary
			require.NoError(t, json.Unmarshal([]byte(out), &got), out)
			_, identity := runSupernet(t, store, 1)
			require.Equal(t, wantIdentity, identity, "the supernet ends bit-identical to the uninterrupted one")
			requireSameTrials(t, wantTrials, storedTrials(t, store))
			require.Len(t, got.Final, 1)
			require.Equal(t, want.Final[0].Arch, got.Final[0].Arch)
			require.Equal(t, want.Final[0].ValAcc, got.Final[0].ValAcc, "the fine-tune is deterministic")
			require.Equal(t, want.Final[0].TestAcc, got.Final[0].TestAcc)
		})
	}
}

package latency

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// writeTable writes a table of n entries and returns its bytes.
func writeTable(t *testing.T, path string, n int) []byte {
	t.Helper()
	tbl, err := Open(path, testFingerprint(1), Options{})
	require.NoError(t, err)
	batch := map[string]Entry{}
	for i := range n {
		batch[key(i)] = entryFor(i)
	}
	require.NoError(t, tbl.PutMany(batch))
	require.NoError(t, tbl.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// readEverything opens a table and reads all of it, as `nas lut show
// --json` and a search would.
func readEverything(path string) error {
	tbl, err := Open(path, testFingerprint(1), Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tbl.Close()
	if err := tbl.ForEach(func(string, Entry) error { return nil }); err != nil {
		return err
	}
	return ReadAll(path, func(string, string, Entry) error { return nil })
}

// requireFileError checks that err is one of ours and names the file.
func requireFileError(t *testing.T, err error, path string) {
	t.Helper()
	require.Error(t, err)
	require.Contains(t, err.Error(), path)
	require.True(t, errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNotTable), "unexpected kind of error: %v", err)
}

func TestCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	good := writeTable(t, filepath.Join(dir, "good.db"), 200)

	t.Run("value byte flipped", func(t *testing.T) {
		path := filepath.Join(dir, "flipped.db")
		b := bytes.Clone(good)
		at := bytes.Index(b, []byte("repeats=50 #123"))
		require.Positive(t, at)
		b[at+len("repeats=50 #1")] = '9' // still valid JSON: only the checksum can tell
		require.NoError(t, os.WriteFile(path, b, 0o644))
		err := readEverything(path)
		requireFileError(t, err, path)
		require.Contains(t, err.Error(), "checksum mismatch")
		require.Contains(t, err.Error(), key(123))
	})
	t.Run("random bytes", func(t *testing.T) {
		path := filepath.Join(dir, "random.db")
		rng := rand.New(rand.NewPCG(3, 4))
		b := make([]byte, len(good))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		require.NoError(t, os.WriteFile(path, b, 0o644))
		requireFileError(t, readEverything(path), path)
		_, err := Inspect(path)
		requireFileError(t, err, path)
	})
	t.Run("text file", func(t *testing.T) {
		path := filepath.Join(dir, "notes.txt")
		require.NoError(t, os.WriteFile(path, bytes.Repeat([]byte("not a table\n"), 1000), 0o644))
		requireFileError(t, readEverything(path), path)
	})
	// The pages in use end at need; bbolt grows files ahead of use.
	db, err := bolt.Open(filepath.Join(dir, "good.db"), 0o644, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	var need int64
	require.NoError(t, db.View(func(tx *bolt.Tx) error { need = tx.Size(); return nil }))
	require.NoError(t, db.Close())
	for _, size := range []int64{0, 1, 100, 4096, 4096 * 3, need / 2, need - 1} {
		t.Run(fmt.Sprintf("truncated to %d", size), func(t *testing.T) {
			path := filepath.Join(dir, "truncated.db")
			require.NoError(t, os.WriteFile(path, good[:size], 0o644))
			requireFileError(t, readEverything(path), path)
		})
	}
	t.Run("cut after the last page in use", func(t *testing.T) {
		path := filepath.Join(dir, "cut.db")
		require.NoError(t, os.WriteFile(path, good[:need], 0o644))
		require.NoError(t, readEverything(path))
	})
	// Damage at random places must give our error or, where the bytes hit
	// nothing in use, a table that reads back intact: never a panic, never
	// a wrong entry.
	t.Run("random damage", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		path := filepath.Join(dir, "damaged.db")
		detected := 0
		const trials = 60
		for range trials {
			b := bytes.Clone(good)
			at := rng.IntN(len(b) - 16)
			for j := range 1 + rng.IntN(16) {
				b[at+j] = byte(rng.Uint32())
			}
			require.NoError(t, os.WriteFile(path, b, 0o644))
			err := readEverything(path)
			if err != nil {
				requireFileError(t, err, path)
				detected++
				continue
			}
			tbl, err := Open(path, testFingerprint(1), Options{ReadOnly: true})
			require.NoError(t, err)
			require.NoError(t, tbl.ForEach(func(k string, e Entry) error {
				require.Equal(t, entryFor(indexOf(t, k)), e)
				return nil
			}))
			require.NoError(t, tbl.Close())
		}
		t.Logf("%d of %d damaged files refused, the others read back intact", detected, trials)
	})
}

func indexOf(t *testing.T, k string) int {
	for i := range 200 {
		if key(i) == k {
			return i
		}
	}
	t.Fatalf("unexpected key %q", k)
	return -1
}

package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWriteReplacesAndLeavesNoTemporaries(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.json")
	require.NoError(t, WriteBytes(path, []byte("1")))
	require.NoError(t, WriteBytes(path, []byte("22")))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "22", string(b))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
}

func TestWriteMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "arch.json")
	require.NoError(t, WriteBytes(path, []byte("{}")))
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, Mode, st.Mode().Perm())
}

func TestFailedWriteKeepsTheOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "history.json")
	require.NoError(t, WriteBytes(path, []byte("old")))
	boom := errors.New("boom")
	err := Write(path, func(w io.Writer) error {
		if _, err := w.Write([]byte("half of the new")); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	require.ErrorContains(t, err, path)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "old", string(b))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "the temporary file is removed")
}

func TestWriteIntoMissingFolderNamesThePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "w.safetensors")
	err := WriteBytes(path, []byte("x"))
	require.Error(t, err)
	require.ErrorContains(t, err, path)
}

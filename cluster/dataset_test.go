package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"nas/internal/natstest"
)

func TestHashDataset(t *testing.T) {
	dir := writeStripes(t, 60, 1)
	id, err := HashDataset("stripes", dir)
	require.NoError(t, err)
	require.Equal(t, 4, id.Count)
	require.Len(t, id.Files, 4)
	require.Equal(t, "t10k-images-idx3-ubyte", id.Files[0].Path)
	require.Equal(t, int64(16+15*64), id.Files[0].Size)

	// The same files elsewhere are the same dataset.
	copyDir := t.TempDir()
	for _, f := range id.Files {
		b, err := os.ReadFile(filepath.Join(dir, f.Path))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(copyDir, f.Path), b, 0o644))
	}
	same, err := HashDataset("stripes", copyDir)
	require.NoError(t, err)
	require.Equal(t, id, same)
	require.Empty(t, Mismatch(id, same))

	other, err := HashDataset("stripes", writeStripes(t, 60, 2))
	require.NoError(t, err)
	m := Mismatch(id, other)
	require.Contains(t, m, "the task wants dataset stripes (4 files, sha256 "+id.Digest[:12]+")")
	require.Contains(t, m, "this worker has stripes (4 files, sha256 "+other.Digest[:12]+")")
	require.Contains(t, m, "t10k-images-idx3-ubyte has sha256")

	renamed := id
	renamed.Name = "fashion-mnist"
	require.Contains(t, Mismatch(renamed, id), "wants dataset fashion-mnist")

	require.NoError(t, os.Remove(filepath.Join(copyDir, "t10k-labels-idx1-ubyte")))
	fewer, err := HashDataset("stripes", copyDir)
	require.NoError(t, err)
	require.Contains(t, Mismatch(id, fewer), "t10k-labels-idx1-ubyte is missing here")
	require.Contains(t, Mismatch(fewer, id), "t10k-labels-idx1-ubyte is here only")

	_, err = HashDataset("x", t.TempDir())
	require.ErrorContains(t, err, "no files")
	_, err = HashDataset("x", "/nonexistent/dir")
	require.ErrorContains(t, err, "/nonexistent/dir")
}

// TestDatasetMismatchRefused: a worker whose data differs from the task's
// refuses it at the first delivery, with a reason naming both sides; a
// worker without data refuses tasks that name a dataset.
func TestDatasetMismatchRefused(t *testing.T) {
	srv := natstest.Start(t)
	q := testQueue(t, srv)
	mine := loadStripes(t, writeStripes(t, 200, 1))
	theirs := loadStripes(t, writeStripes(t, 200, 2))
	runWorker(t, srv, &Worker{Name: "w-other-data", Tasks: Registry{kindTrain: stripesTask(theirs.sets)}, Dataset: &theirs.id})
	got := collect(t, q, stripesTasks(t, "run-6", 1, &mine.id), 30*time.Second)
	r := got["t0"]
	require.Equal(t, StatusFailed, r.Status)
	require.Equal(t, 1, r.Attempt)
	require.Contains(t, r.Error, "task refused: worker w-other-data: the task wants dataset "+mine.id.String()+", this worker has "+theirs.id.String())

	srv2 := natstest.Start(t)
	q2 := testQueue(t, srv2)
	runWorker(t, srv2, &Worker{Name: "w-no-data", Tasks: Registry{kindTrain: stripesTask(theirs.sets)}})
	got = collect(t, q2, stripesTasks(t, "run-6", 1, &mine.id), 30*time.Second)
	require.True(t, strings.HasSuffix(got["t0"].Error, "worker w-no-data has no dataset (--data)"), got["t0"].Error)
}

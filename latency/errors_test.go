package latency

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUnknownDeviceError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lut.db")
	workstation := testFingerprint(4)
	board := testFingerprint(1)
	board.CPUModel, board.GOARCH, board.KernelPath, board.CPUFeatures = "Cortex-A72", "arm64", "generic", []string{"asimd"}
	for _, fp := range []Fingerprint{workstation, board} {
		tbl, err := Open(path, fp, Options{AddDevice: true})
		require.NoError(t, err)
		require.NoError(t, tbl.Close())
	}

	_, err := Open(path, workstation, Options{ReadOnly: true, Device: "fp-deadbeef"})
	require.ErrorIs(t, err, ErrUnknownDevice)
	var ue *UnknownDeviceError
	require.True(t, errors.As(err, &ue))
	require.Equal(t, path, ue.Path)
	require.Equal(t, "fp-deadbeef", ue.Device)
	require.Len(t, ue.Devices, 2)

	lines := strings.Split(err.Error(), "\n")
	require.Equal(t, "latency table "+path+" has no device fp-deadbeef; it holds 2 devices:", lines[0])
	// One line a device, in ID order, with what it is.
	want := map[string]string{
		workstation.ID(): "AMD EPYC 9R14 96-Core Processor, linux/amd64, 4 threads, avx512 kernels",
		board.ID():       "Cortex-A72, linux/arm64, 1 thread, generic kernels",
	}
	require.Len(t, lines, 4)
	var ids []string
	for _, line := range lines[1:3] {
		id, summary, ok := strings.Cut(strings.TrimSpace(line), "  ")
		require.True(t, ok, "line %q", line)
		require.Equal(t, want[id], summary, "line %q", line)
		ids = append(ids, id)
	}
	require.IsIncreasing(t, ids)
	require.Equal(t, "pass one of these IDs as --device ID, or run `nas profile --lut "+path+"` on the device you mean", lines[3])

	// An ID from the list opens the table.
	tbl, err := Open(path, workstation, Options{ReadOnly: true, Device: board.ID()})
	require.NoError(t, err)
	require.NoError(t, tbl.Close())
}

func TestUnknownDeviceErrorEmptyTable(t *testing.T) {
	err := error(&UnknownDeviceError{Path: "nas-lut.db", Device: "fp-deadbeef"})
	require.ErrorIs(t, err, ErrUnknownDevice)
	require.Equal(t, "latency table nas-lut.db has no device fp-deadbeef: it holds no device yet; "+
		"run `nas profile --lut nas-lut.db` on the device you mean", err.Error())
}

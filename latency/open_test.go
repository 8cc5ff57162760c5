package latency

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/space"
)

func TestTableThreads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lut.db")
	n, err := TableThreads(path)
	require.NoError(t, err)
	require.Equal(t, 1, n, "a missing table: one thread")

	tbl, err := Open(path, CurrentFingerprint(2), Options{})
	require.NoError(t, err)
	require.NoError(t, tbl.Close())
	n, err = TableThreads(path)
	require.NoError(t, err)
	require.Equal(t, 2, n, "the table's own thread count")

	tbl, err = Open(path, CurrentFingerprint(1), Options{AddDevice: true})
	require.NoError(t, err)
	require.NoError(t, tbl.Close())
	_, err = TableThreads(path)
	var te *ThreadsError
	require.ErrorAs(t, err, &te)
	require.Equal(t, []int{1, 2}, te.Counts)
}

// With Device, OpenPredictor reads another device's table and never
// measures into it: a prediction that needs a missing entry fails with
// the command that fills it on that device.
func TestOpenPredictorDevice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lut.db")
	other := CurrentFingerprint(2) // this machine at two threads: another fingerprint
	tbl, err := Open(path, other, Options{})
	require.NoError(t, err)
	require.NoError(t, tbl.Close())

	_, err = OpenPredictor(path, PredictorOptions{Threads: 1})
	require.ErrorIs(t, err, ErrFingerprintMismatch, "this machine at one thread is not in the table")

	p, err := OpenPredictor(path, PredictorOptions{Device: other.ID()})
	require.NoError(t, err)
	defer p.Table.Close()
	require.False(t, p.Table.CanMeasure())
	a, err := space.ParseArch("in1x8x8 cls2 | conv_o4_k3_arelu | gap | linear_o2")
	require.NoError(t, err)
	_, err = p.Predict(context.Background(), a)
	var me *MissingError
	require.ErrorAs(t, err, &me)
	require.Equal(t, other.ID(), me.Device)
	sum, err := Inspect(path)
	require.NoError(t, err)
	require.Zero(t, sum.Devices[0].Entries, "nothing was measured into the other device's table")

	_, err = OpenPredictor(filepath.Join(t.TempDir(), "none.db"), PredictorOptions{})
	require.ErrorContains(t, err, "nas profile --lut")
}

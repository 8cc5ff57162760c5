package latency

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func entryFor(i int) Entry {
	m := 1000 + 10*float64(i)
	return Entry{MedianNs: m, P10Ns: m * 0.9, P90Ns: m * 1.2, Samples: 50 + i%7, MeasuredAt: t0.Add(time.Duration(i) * time.Second), Protocol: fmt.Sprintf("warmup=5 repeats=50 #%d", i)}
}

func key(i int) string { return fmt.Sprintf("ir_k3_e6_i%d_o24|in16x56x56|b1", i) }

func openTest(t *testing.T, path string, fp Fingerprint, opts Options) *Table {
	t.Helper()
	tbl, err := Open(path, fp, opts)
	require.NoError(t, err)
	t.Cleanup(func() { tbl.Close() })
	return tbl
}

func TestPutGetReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lut.db")
	fp := testFingerprint(1)
	tbl, err := Open(path, fp, Options{})
	require.NoError(t, err)
	require.True(t, tbl.CanMeasure())
	require.Equal(t, fp, tbl.Device())

	_, ok, err := tbl.Get(key(0))
	require.NoError(t, err)
	require.False(t, ok)

	require.NoError(t, tbl.Put(key(0), entryFor(0)))
	batch := map[string]Entry{}
	for i := 1; i < 10; i++ {
		batch[key(i)] = entryFor(i)
	}
	require.NoError(t, tbl.PutMany(batch))
	require.NoError(t, tbl.Close())

	tbl = openTest(t, path, fp, Options{ReadOnly: true})
	require.False(t, tbl.CanMeasure())
	n, err := tbl.Len()
	require.NoError(t, err)
	require.Equal(t, 10, n)
	for i := range 10 {
		e, ok, err := tbl.Get(key(i))
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, entryFor(i), e)
	}
	missing, err := tbl.Missing([]string{key(3), "nope", key(11), "nope", key(0)})
	require.NoError(t, err)
	require.Equal(t, []string{"nope", key(11)}, missing)
	keys, err := tbl.Keys()
	require.NoError(t, err)
	require.Len(t, keys, 10)
	require.IsIncreasing(t, keys)
	require.ErrorIs(t, tbl.Put(key(0), entryFor(0)), ErrReadOnly)
}

func TestInvalidEntries(t *testing.T) {
	tbl := openTest(t, filepath.Join(t.TempDir(), "lut.db"), testFingerprint(1), Options{})
	good := entryFor(1)
	tests := []struct {
		name string
		key  string
		edit func(*Entry)
	}{
		{"empty key", "", func(*Entry) {}},
		{"long key", string(make([]byte, maxKeyLen+1)), func(*Entry) {}},
		{"bad utf8", "\xff\xfe", func(*Entry) {}},
		{"nan median", "k", func(e *Entry) { e.MedianNs = math.NaN() }},
		{"inf p90", "k", func(e *Entry) { e.P90Ns = math.Inf(1) }},
		{"negative", "k", func(e *Entry) { e.P10Ns = -1 }},
		{"p10 above median", "k", func(e *Entry) { e.P10Ns = e.MedianNs + 1 }},
		{"median above p90", "k", func(e *Entry) { e.MedianNs = e.P90Ns + 1 }},
		{"no samples", "k", func(e *Entry) { e.Samples = 0 }},
		{"no time", "k", func(e *Entry) { e.MeasuredAt = time.Time{} }},
		{"nan scale", "k", func(e *Entry) { e.Scale = math.NaN() }},
		{"negative scale", "k", func(e *Entry) { e.Scale = -1 }},
		{"nan cold", "k", func(e *Entry) { e.ColdNs = math.NaN() }},
		{"negative beta", "k", func(e *Entry) { e.Beta = -0.5 }},
		{"calibration lengths differ", "k", func(e *Entry) { e.CalibrationArchs = []string{"a", "b"}; e.CalibrationNs = []float64{1} }},
		{"zero calibration latency", "k", func(e *Entry) { e.CalibrationArchs = []string{"a"}; e.CalibrationNs = []float64{0} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := good
			tt.edit(&e)
			require.ErrorIs(t, tbl.Put(tt.key, e), ErrInvalidEntry)
			// A bad entry in a batch stores none of the batch.
			require.ErrorIs(t, tbl.PutMany(map[string]Entry{"fine": good, tt.key: e}), ErrInvalidEntry)
			_, ok, err := tbl.Get("fine")
			require.NoError(t, err)
			require.False(t, ok)
		})
	}
}

func TestFingerprintRefusal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lut.db")
	board := testFingerprint(2)
	tbl, err := Open(path, board, Options{})
	require.NoError(t, err)
	require.NoError(t, tbl.Put(key(1), entryFor(1)))
	require.NoError(t, tbl.Close())

	t.Run("threads only", func(t *testing.T) {
		_, err := Open(path, testFingerprint(1), Options{})
		require.ErrorIs(t, err, ErrFingerprintMismatch)
		var me *MismatchError
		require.ErrorAs(t, err, &me)
		require.Equal(t, []FieldDiff{{Field: "threads", Table: "2", This: "1"}}, me.Diffs)
		msg := err.Error()
		for _, want := range []string{path, "table has threads=2", "this run has threads=1", "nas profile --lut " + path, "--lut-threads 2", "--device " + board.ID()} {
			require.Contains(t, msg, want)
		}
	})
	t.Run("several fields", func(t *testing.T) {
		ws := testFingerprint(1)
		ws.CPUModel, ws.KernelVersion = "Intel Xeon", 2
		_, err := Open(path, ws, Options{ReadOnly: true})
		require.ErrorIs(t, err, ErrFingerprintMismatch)
		msg := err.Error()
		require.Contains(t, msg, "cpu=AMD EPYC 9R14 96-Core Processor, kernel_version=1, threads=2")
		require.Contains(t, msg, "cpu=Intel Xeon, kernel_version=2, threads=1")
		require.NotContains(t, msg, "--lut-threads")
	})
	t.Run("add device explicitly", func(t *testing.T) {
		laptop := testFingerprint(1)
		tbl := openTest(t, path, laptop, Options{AddDevice: true})
		require.True(t, tbl.CanMeasure())
		n, err := tbl.Len()
		require.NoError(t, err)
		require.Zero(t, n, "a new device starts empty: entries never cross devices")
		require.NoError(t, tbl.Put(key(2), entryFor(2)))
		require.NoError(t, tbl.Close())
		// Now the file holds both and each opens its own bucket.
		for _, fp := range []Fingerprint{board, laptop} {
			tbl := openTest(t, path, fp, Options{ReadOnly: true})
			n, err := tbl.Len()
			require.NoError(t, err)
			require.Equal(t, 1, n)
		}
	})
	t.Run("read another device by name", func(t *testing.T) {
		ws := testFingerprint(1)
		ws.CPUModel = "Workstation CPU"
		tbl := openTest(t, path, ws, Options{ReadOnly: true, Device: board.ID()})
		require.Equal(t, board, tbl.Device())
		require.False(t, tbl.CanMeasure())
		e, ok, err := tbl.Get(key(1))
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, entryFor(1), e)
		require.NoError(t, tbl.Close())

		// Even writable, no measurement of this machine goes into the board's bucket.
		tbl = openTest(t, path, ws, Options{Device: board.ID()})
		require.False(t, tbl.CanMeasure())
		require.ErrorIs(t, tbl.Put(key(9), entryFor(9)), ErrForeignDevice)
	})
	t.Run("unknown device", func(t *testing.T) {
		_, err := Open(path, board, Options{ReadOnly: true, Device: "fp-0000000000000000"})
		require.ErrorIs(t, err, ErrUnknownDevice)
		require.Contains(t, err.Error(), board.ID())
	})
	t.Run("stale kernels", func(t *testing.T) {
		newer := testFingerprint(1)
		newer.KernelVersion = 2
		_, err := Open(path, newer, Options{ReadOnly: true, Device: board.ID()})
		require.ErrorIs(t, err, ErrStaleKernels)
		require.Contains(t, err.Error(), "kernel version 1, this build: 2")
	})
	t.Run("read-only empty", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "empty.db")
		tbl, err := Open(empty, board, Options{})
		require.NoError(t, err)
		require.NoError(t, tbl.Close())
		tbl, err = Open(empty, board, Options{ReadOnly: true})
		require.NoError(t, err, "the device bucket was created by the writable open")
		require.NoError(t, tbl.Close())
		_, err = Open(empty, testFingerprint(1), Options{ReadOnly: true})
		require.ErrorIs(t, err, ErrFingerprintMismatch)
	})
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	fp := testFingerprint(1)

	missing := filepath.Join(dir, "missing.db")
	_, err := Open(missing, fp, Options{ReadOnly: true})
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.Contains(t, err.Error(), missing)
	_, err = Inspect(missing)
	require.ErrorIs(t, err, fs.ErrNotExist)

	// A bbolt file of something else.
	other := filepath.Join(dir, "other.db")
	db, err := bolt.Open(other, 0o644, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("runs")); return err }))
	require.NoError(t, db.Close())
	_, err = Open(other, fp, Options{})
	require.ErrorIs(t, err, ErrNotTable)
	require.Contains(t, err.Error(), other)

	// A table file whose meta says schema version v.
	withSchema := func(name string, v int) string {
		path := filepath.Join(dir, name)
		tbl, err := Open(path, fp, Options{})
		require.NoError(t, err)
		require.NoError(t, tbl.Close())
		db, err := bolt.Open(path, 0o644, nil)
		require.NoError(t, err)
		require.NoError(t, db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, []byte(strconv.Itoa(v))) }))
		require.NoError(t, db.Close())
		return path
	}

	// A newer schema.
	newer := withSchema("newer.db", SchemaVersion+1)
	_, err = Open(newer, fp, Options{ReadOnly: true})
	require.ErrorIs(t, err, ErrSchema)
	require.Contains(t, err.Error(), fmt.Sprintf("schema version %d, this nas reads version %d", SchemaVersion+1, SchemaVersion))
	_, err = Inspect(newer)
	require.ErrorIs(t, err, ErrSchema)

	// An older schema: its entries mean something else; re-profile.
	_, err = Open(withSchema("older.db", SchemaVersion-1), fp, Options{})
	require.ErrorIs(t, err, ErrSchema)
	require.Contains(t, err.Error(), fmt.Sprintf("schema version %d, this nas reads version %d", SchemaVersion-1, SchemaVersion))
	require.Contains(t, err.Error(), "re-profile")

	// An invalid fingerprint is a programmer's error, reported not panicked.
	_, err = Open(filepath.Join(dir, "x.db"), Fingerprint{}, Options{})
	require.Error(t, err)
}

func TestConcurrentGetPut(t *testing.T) {
	tbl := openTest(t, filepath.Join(t.TempDir(), "lut.db"), testFingerprint(1), Options{})
	const writers, perWriter = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers*perWriter)
	for w := range writers {
		wg.Go(func() {
			for j := range perWriter {
				i := w*perWriter + j
				errs <- tbl.Put(key(i), entryFor(i))
			}
		})
		wg.Go(func() {
			for j := range perWriter {
				i := w*perWriter + j
				e, ok, err := tbl.Get(key(i))
				if err == nil && ok && !reflect.DeepEqual(e, entryFor(i)) {
					err = fmt.Errorf("key %d: read %+v", i, e)
				}
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	n, err := tbl.Len()
	require.NoError(t, err)
	require.Equal(t, writers*perWriter, n)
	err = tbl.ForEach(func(k string, e Entry) error {
		var i int
		if _, err := fmt.Sscanf(k, "ir_k3_e6_i%d_o24", &i); err != nil {
			return err
		}
		if !reflect.DeepEqual(e, entryFor(i)) {
			return errors.New("entry differs from what was written: " + k)
		}
		return nil
	})
	require.NoError(t, err)
}

// BenchmarkOpen measures Open of a table of 10,000 entries, which includes
// bbolt's check of every page.
func BenchmarkOpen(b *testing.B) {
	path := filepath.Join(b.TempDir(), "lut.db")
	tbl, err := Open(path, testFingerprint(1), Options{})
	require.NoError(b, err)
	batch := map[string]Entry{}
	for i := range 10000 {
		batch[key(i)] = entryFor(i)
	}
	require.NoError(b, tbl.PutMany(batch))
	require.NoError(b, tbl.Close())
	for b.Loop() {
		tbl, err := Open(path, testFingerprint(1), Options{ReadOnly: true})
		require.NoError(b, err)
		require.NoError(b, tbl.Close())
	}
}

// BenchmarkPut measures one committed Put (one fsync).
func BenchmarkPut(b *testing.B) {
	tbl, err := Open(filepath.Join(b.TempDir(), "lut.db"), testFingerprint(1), Options{})
	require.NoError(b, err)
	defer tbl.Close()
	i := 0
	for b.Loop() {
		require.NoError(b, tbl.Put(key(i), entryFor(i)))
		i++
	}
}

package latency

import (
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSimulation runs random Put, PutMany, Get and Missing operations from
// several goroutines, each on its own keys, against an in-memory oracle,
// then reopens the file and compares the whole table with the oracle.
func TestSimulation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lut.db")
	tbl, err := Open(path, testFingerprint(1), Options{})
	require.NoError(t, err)
	const workers, ops, keysPerWorker = 4, 150, 30
	oracles := make([]map[string]Entry, workers)
	var wg sync.WaitGroup
	failures := make(chan string, workers*ops)
	for w := range workers {
		oracle := map[string]Entry{}
		oracles[w] = oracle
		rng := rand.New(rand.NewPCG(uint64(w), 99))
		wg.Go(func() {
			k := func() (string, int) { i := w*keysPerWorker + rng.IntN(keysPerWorker); return key(i), i }
			for range ops {
				switch rng.IntN(4) {
				case 0:
					name, i := k()
					e := entryFor(i + rng.IntN(1000))
					if err := tbl.Put(name, e); err != nil {
						failures <- err.Error()
						continue
					}
					oracle[name] = e
				case 1:
					batch := map[string]Entry{}
					for range 1 + rng.IntN(5) {
						name, i := k()
						batch[name] = entryFor(i + rng.IntN(1000))
					}
					if err := tbl.PutMany(batch); err != nil {
						failures <- err.Error()
						continue
					}
					for name, e := range batch {
						oracle[name] = e
					}
				case 2:
					name, _ := k()
					e, ok, err := tbl.Get(name)
					want, wantOK := oracle[name]
					if err != nil || ok != wantOK || !reflect.DeepEqual(e, want) {
						failures <- "get " + name
					}
				case 3:
					var names, want []string
					for range 1 + rng.IntN(5) {
						name, _ := k()
						if _, ok := oracle[name]; !ok && !slices.Contains(want, name) {
							want = append(want, name)
						}
						names = append(names, name)
					}
					got, err := tbl.Missing(names)
					if err != nil || !slices.Equal(got, want) {
						failures <- "missing"
					}
				}
			}
		})
	}
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
	require.NoError(t, tbl.Close())

	all := map[string]Entry{}
	for _, o := range oracles {
		for k, e := range o {
			all[k] = e
		}
	}
	got := map[string]Entry{}
	require.NoError(t, ReadAll(path, func(dev, k string, e Entry) error {
		require.Equal(t, testFingerprint(1).ID(), dev)
		got[k] = e
		return nil
	}))
	require.Equal(t, all, got)
}

package latency

import (
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Summary describes a table file as a whole, whatever machine reads it.
type Summary struct {
	Path    string
	Schema  int
	Created time.Time
	Devices []DeviceSummary
}

// DeviceSummary describes one device of a table file.
type DeviceSummary struct {
	ID             string
	Fingerprint    Fingerprint
	Entries        int
	Oldest, Newest time.Time // of the measurements; zero without entries
}

// Inspect opens the table file at path read-only, checks it, and describes
// its devices. Unlike Open it does not compare fingerprints: it is for
// looking at a table, not for using it.
func Inspect(path string) (Summary, error) {
	s := Summary{Path: path, Schema: SchemaVersion}
	err := viewFile(path, func(tx *bolt.Tx) error {
		if c, err := time.Parse(time.RFC3339, string(tx.Bucket(bucketMeta).Get(keyCreated))); err == nil {
			s.Created = c
		}
		devices, err := readDevices(tx, path)
		if err != nil {
			return err
		}
		for _, d := range devices {
			ds := DeviceSummary{ID: d.id, Fingerprint: d.fp}
			err := forEachStored(tx, path, []byte(d.id), func(_ string, e Entry) error {
				ds.Entries++
				if ds.Oldest.IsZero() || e.MeasuredAt.Before(ds.Oldest) {
					ds.Oldest = e.MeasuredAt
				}
				if e.MeasuredAt.After(ds.Newest) {
					ds.Newest = e.MeasuredAt
				}
				return nil
			})
			if err != nil {
				return err
			}
			s.Devices = append(s.Devices, ds)
		}
		return nil
	})
	return s, err
}

// ReadAll calls fn for every entry of every device of the table file at
// path, devices in ID order and entries in key order, stopping at the
// first error. Like Inspect it does not compare fingerprints.
func ReadAll(path string, fn func(deviceID, key string, e Entry) error) error {
	return viewFile(path, func(tx *bolt.Tx) error {
		devices, err := readDevices(tx, path)
		if err != nil {
			return err
		}
		for _, d := range devices {
			if err := forEachStored(tx, path, []byte(d.id), func(k string, e Entry) error { return fn(d.id, k, e) }); err != nil {
				return err
			}
		}
		return nil
	})
}

// viewFile opens the table file at path read-only and runs fn in a read
// transaction of it (safeView), then closes it.
func viewFile(path string, fn func(*bolt.Tx) error) error {
	db, err := openFile(path, true)
	if err != nil {
		return err
	}
	defer db.Close()
	return safeView(db, path, fn)
}

// String gives a device summary's measurement range for people.
func (d DeviceSummary) String() string {
	if d.Entries == 0 {
		return d.ID + ": no entries"
	}
	return fmt.Sprintf("%s: %s entries, measured %s .. %s", d.ID, strconv.Itoa(d.Entries), d.Oldest.Format(time.RFC3339), d.Newest.Format(time.RFC3339))
}

package latency

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout of table files this build writes and reads,
// and the meaning of their entries. See docs/latency-table.md.
//
// Version 2: an entry's latency is its 10th percentile, sampled until that
// is stable, and a block's times leave out the run's boundary (the
// executor's call and output copy, docs/latency.md); version 1 entries were
// medians that included it.
//
// Version 3: a calibrated overhead entry has a scale (Entry.Scale), and a
// prediction is the sum of the blocks times it; version 2 added the
// overhead's median, which undercounted large networks.
//
// Version 4: a block entry also has its latency with its weights flushed
// from the caches (Entry.ColdNs), and a calibrated overhead entry the share
// of it a block shows inside a network (Entry.Beta); version 3 entries
// lack both, and predicted networks whose large weights do not stay in the
// caches as much as 10% too low.
const SchemaVersion = 4

// Names of buckets and keys in a table file.
var (
	bucketMeta     = []byte("meta")        // schema, created
	bucketDevices  = []byte("devices")     // one bucket per fingerprint ID
	bucketEntries  = []byte("entries")     // in a device bucket: signature -> Entry
	keySchema      = []byte("schema")      // decimal ASCII
	keyCreated     = []byte("created")     // RFC 3339
	keyFingerprint = []byte("fingerprint") // in a device bucket: sealed Fingerprint
)

// lockTimeout is how long Open waits for another process to release the
// file before giving up with ErrLocked (docs/reliability.md, Locking).
var lockTimeout = 2 * time.Second // a variable so that tests can shorten it

// maxValueBytes bounds a stored value (an entry or a fingerprint), checked
// before it is decoded; Put refuses to store a larger one. Real entries are
// under a kilobyte; a calibrated overhead entry with its calibration
// networks a few tens.
const maxValueBytes = 1 << 20

// Options say how to open a table. The zero value opens this machine's
// device for reading and writing, creating the file if needed.
type Options struct {
	// ReadOnly opens the file with a shared lock and refuses Put.
	ReadOnly bool
	// Device, a fingerprint ID ("fp-..." as shown by `nas lut show`),
	// reads the measurements of that device instead of this machine's: a
	// search on a workstation uses a table profiled on the target board
	// this way. The device must have been profiled with this build's
	// kernel version. Put is refused unless the device is this machine.
	Device string
	// AddDevice allows adding this machine's fingerprint to a file that
	// already holds other devices. Without it, such a file is refused, so
	// that measurements of two devices are never mixed by accident.
	AddDevice bool
}

// Table is the lookup table of one device in a table file. It is safe for
// concurrent use by several goroutines; every Put is one committed bbolt
// transaction, so a crash loses at most the Put in flight.
type Table struct {
	db       *bolt.DB
	path     string
	device   Fingerprint
	deviceID []byte
	local    bool // the device is this machine, or one measured from here (remote)
	remote   bool // opened by OpenRemote: measured through a Measurer
	readOnly bool
}

// MismatchError is returned by Open when no device of the file has this
// machine's fingerprint. It wraps ErrFingerprintMismatch.
type MismatchError struct {
	Path    string
	Closest Fingerprint // the table's device that differs in the fewest fields
	This    Fingerprint
	Diffs   []FieldDiff // Closest against This
	Devices []string    // the IDs of all devices in the file
}

func (e *MismatchError) Error() string {
	var tbl, this []string
	threads := ""
	for _, d := range e.Diffs {
		tbl = append(tbl, d.Field+"="+d.Table)
		this = append(this, d.Field+"="+d.This)
		if d.Field == "threads" {
			threads = d.Table
		}
	}
	fix := fmt.Sprintf("re-profile on this machine with `nas profile --lut %s`", e.Path)
	if threads != "" && len(e.Diffs) == 1 {
		fix += " or pass --lut-threads " + threads
	}
	fix += fmt.Sprintf(", or read it as another device's table with --device %s", e.Closest.ID())
	return fmt.Sprintf("latency table %s was profiled on another device (%s): table has %s; this run has %s: %s",
		e.Path, e.Closest.ID(), strings.Join(tbl, ", "), strings.Join(this, ", "), fix)
}

func (e *MismatchError) Unwrap() error { return ErrFingerprintMismatch }

// Open opens the table file at path for the device this (this machine's
// fingerprint, see CurrentFingerprint) or, with opts.Device, for a device
// profiled elsewhere.
//
// Without opts.Device, the file must hold a device with this fingerprint;
// a new or empty file gets one unless opts.ReadOnly. A file that only holds
// other devices is refused with a *MismatchError that says which fields
// differ, unless opts.AddDevice.
//
// A file that is not a table, is damaged, or was written by a newer schema
// is refused with an error naming the file.
//
// A process that has the file open locks it: exclusively when it writes,
// shared when it only reads. Open waits up to 2 seconds for a lock it
// cannot take, then returns an error wrapping ErrLocked that names the file
// and says what to do.
func Open(path string, this Fingerprint, opts Options) (*Table, error) {
	if err := this.validate(); err != nil {
		return nil, fmt.Errorf("latency table %s: %w", path, err)
	}
	db, err := openFile(path, opts.ReadOnly)
	if err != nil {
		return nil, err
	}
	t := &Table{db: db, path: path, readOnly: opts.ReadOnly}
	if err := t.selectDevice(this, opts); err != nil {
		db.Close()
		return nil, err
	}
	return t, nil
}

// openFile opens a bbolt file as a table: it creates the meta bucket of a
// new file, checks the schema version and the integrity of every page.
func openFile(path string, readOnly bool) (db *bolt.DB, err error) {
	if readOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("latency table %s: %w", path, err)
		}
	}
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("latency table %s: %w: %v", path, ErrCorrupt, r)
		}
	}()
	db, err = bolt.Open(path, 0o644, &bolt.Options{Timeout: lockTimeout, ReadOnly: readOnly})
	if err != nil {
		return nil, classifyOpenError(path, err)
	}
	if err := prepare(db, path, readOnly); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// classifyOpenError turns an error of bolt.Open into one of ours.
func classifyOpenError(path string, err error) error {
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return fmt.Errorf("latency table %s: %w: another nas process (a profile, search or prediction) has it open, and it was not released within %v; wait until that process ends, or give another table file", path, ErrLocked, lockTimeout)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch):
		return fmt.Errorf("latency table %s: %w: %v", path, ErrNotTable, err)
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("latency table %s: %w", path, err)
	}
	return fmt.Errorf("latency table %s: %w: %v", path, ErrCorrupt, err)
}

// prepare initialises a new file, or checks an existing one's schema and
// pages.
func prepare(db *bolt.DB, path string, readOnly bool) error {
	var fresh bool
	err := safeView(db, path, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) != nil {
			return nil
		}
		empty := true
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
		if !empty || readOnly {
			return fmt.Errorf("latency table %s: %w: no %q bucket", path, ErrNotTable, bucketMeta)
		}
		fresh = true
		return nil
	})
	if err != nil {
		return err
	}
	if fresh {
		return safeUpdate(db, path, func(tx *bolt.Tx) error {
			meta, err := tx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			if _, err := tx.CreateBucket(bucketDevices); err != nil {
				return err
			}
			if err := meta.Put(keySchema, []byte(strconv.Itoa(SchemaVersion))); err != nil {
				return err
			}
			return meta.Put(keyCreated, []byte(time.Now().UTC().Format(time.RFC3339)))
		})
	}
	return safeView(db, path, func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketMeta).Get(keySchema)
		v, err := strconv.Atoi(string(raw))
		if err != nil {
			return fmt.Errorf("latency table %s: %w: schema version %q is not a number", path, ErrCorrupt, raw)
		}
		switch {
		case v < SchemaVersion:
			return fmt.Errorf("latency table %s: %w: schema version %d, this nas reads version %d: the table was measured with an older protocol whose figures this nas would sum wrongly; re-profile it on its device with `nas profile --lut NEWFILE`", path, ErrSchema, v, SchemaVersion)
		case v != SchemaVersion:
			return fmt.Errorf("latency table %s: %w: schema version %d, this nas reads version %d: use the nas release that wrote it, or re-profile with `nas profile --lut NEWFILE`", path, ErrSchema, v, SchemaVersion)
		}
		if tx.Bucket(bucketDevices) == nil {
			return fmt.Errorf("latency table %s: %w: no %q bucket", path, ErrCorrupt, bucketDevices)
		}
		if err := checkSize(tx, path); err != nil {
			return err
		}
		return checkPages(tx, path)
	})
}

// checkSize refuses a file shorter than the pages its meta page claims:
// bbolt maps the file without checking, and reading a page past the end of
// the file would fault.
func checkSize(tx *bolt.Tx, path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("latency table %s: %w", path, err)
	}
	if need := tx.Size(); info.Size() < need {
		return fmt.Errorf("latency table %s: %w: the file is truncated: %d bytes, its pages need %d", path, ErrCorrupt, info.Size(), need)
	}
	return nil
}

// checkPages runs bbolt's consistency check of every page and reports the
// first problem. It drains the check's channel: the check runs in its own
// goroutine, which must end before the transaction does.
func checkPages(tx *bolt.Tx, path string) error {
	var first error
	for cerr := range tx.Check() {
		if first == nil {
			first = fmt.Errorf("latency table %s: %w: %v", path, ErrCorrupt, cerr)
		}
	}
	return first
}

// safeView runs fn in a read transaction, turning a panic of bbolt on a
// damaged page, or a fault reading the mapped file, into ErrCorrupt.
func safeView(db *bolt.DB, path string, fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("latency table %s: %w: %v", path, ErrCorrupt, r)
		}
	}()
	return db.View(fn)
}

// safeUpdate runs fn in a write transaction that commits if fn returns nil,
// turning a panic of bbolt on a damaged page into ErrCorrupt.
func safeUpdate(db *bolt.DB, path string, fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("latency table %s: %w: %v", path, ErrCorrupt, r)
		}
	}()
	return db.Update(fn)
}

// storedDevice is a device bucket as read from the file.
type storedDevice struct {
	id string
	fp Fingerprint
}

// readDevices lists the devices of a file in ID order.
func readDevices(tx *bolt.Tx, path string) ([]storedDevice, error) {
	var ds []storedDevice
	err := tx.Bucket(bucketDevices).ForEachBucket(func(id []byte) error {
		b := tx.Bucket(bucketDevices).Bucket(id)
		var fp Fingerprint
		v := b.Get(keyFingerprint)
		if len(v) > maxValueBytes {
			return fmt.Errorf("latency table %s: %w: device %s: fingerprint of %d bytes, above the limit of %d", path, ErrCorrupt, id, len(v), maxValueBytes)
		}
		if err := unseal(keyFingerprint, v, &fp); err != nil {
			return fmt.Errorf("latency table %s: %w: device %s: fingerprint: %v", path, ErrCorrupt, id, err)
		}
		if fp.ID() != string(id) {
			return fmt.Errorf("latency table %s: %w: device bucket %s holds the fingerprint of %s", path, ErrCorrupt, id, fp.ID())
		}
		ds = append(ds, storedDevice{id: string(id), fp: fp})
		return nil
	})
	return ds, err
}

func (t *Table) selectDevice(this Fingerprint, opts Options) error {
	var devices []storedDevice
	if err := safeView(t.db, t.path, func(tx *bolt.Tx) (err error) {
		devices, err = readDevices(tx, t.path)
		return err
	}); err != nil {
		return err
	}
	ids := make([]string, len(devices))
	for i, d := range devices {
		ids[i] = d.id
	}
	if opts.Device != "" {
		i := slices.IndexFunc(devices, func(d storedDevice) bool { return d.id == opts.Device })
		if i < 0 {
			return unknownDevice(t.path, opts.Device, devices)
		}
		dev := devices[i].fp
		if dev.KernelVersion != this.KernelVersion {
			return fmt.Errorf("latency table %s: device %s: %w (table: kernel version %d, this build: %d): re-profile it with this build's `nas profile --lut %s` on that device",
				t.path, opts.Device, ErrStaleKernels, dev.KernelVersion, this.KernelVersion, t.path)
		}
		t.device, t.deviceID, t.local = dev, []byte(dev.ID()), dev.Equal(this)
		return nil
	}
	id := this.ID()
	if slices.Contains(ids, id) {
		t.device, t.deviceID, t.local = this, []byte(id), true
		return nil
	}
	if opts.ReadOnly || (len(devices) > 0 && !opts.AddDevice) {
		if len(devices) == 0 {
			return fmt.Errorf("latency table %s: %w: it holds no device yet: profile with `nas profile --lut %s`", t.path, ErrFingerprintMismatch, t.path)
		}
		best := devices[0].fp
		for _, d := range devices[1:] {
			if len(d.fp.Diff(this)) < len(best.Diff(this)) {
				best = d.fp
			}
		}
		return &MismatchError{Path: t.path, Closest: best, This: this, Diffs: best.Diff(this), Devices: ids}
	}
	sealed, err := seal(keyFingerprint, this)
	if err != nil {
		return err
	}
	if err := safeUpdate(t.db, t.path, func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bucketDevices).CreateBucket([]byte(id))
		if err != nil {
			return err
		}
		if err := b.Put(keyFingerprint, sealed); err != nil {
			return err
		}
		_, err = b.CreateBucket(bucketEntries)
		return err
	}); err != nil {
		return fmt.Errorf("latency table %s: adding device %s: %w", t.path, id, err)
	}
	t.device, t.deviceID, t.local = this, []byte(id), true
	return nil
}

// Path returns the file the table was opened from.
func (t *Table) Path() string { return t.path }

// Device returns the fingerprint of the device whose measurements the
// table reads and writes.
func (t *Table) Device() Fingerprint { return t.device }

// CanMeasure reports whether measurements may be added: the table is
// writable and its device is this machine. Measure-on-miss must check it.
func (t *Table) CanMeasure() bool { return t.local && !t.readOnly }

// entriesBucket returns the entries bucket of a device.
func entriesBucket(tx *bolt.Tx, path string, deviceID []byte) (*bolt.Bucket, error) {
	dev := tx.Bucket(bucketDevices).Bucket(deviceID)
	if dev == nil || dev.Bucket(bucketEntries) == nil {
		return nil, fmt.Errorf("latency table %s: %w: device %s has no entries bucket", path, ErrCorrupt, deviceID)
	}
	return dev.Bucket(bucketEntries), nil
}

// decodeEntry checks and decodes a stored entry: its size before
// anything else, its checksum, its JSON, and that it is a measurement Put
// would have stored (Entry.Validate).
func decodeEntry(path string, deviceID, key, val []byte) (Entry, error) {
	var e Entry
	if len(val) > maxValueBytes {
		return Entry{}, fmt.Errorf("latency table %s: %w: device %s, key %q: value of %d bytes, above the limit of %d", path, ErrCorrupt, deviceID, key, len(val), maxValueBytes)
	}
	if err := unseal(key, val, &e); err != nil {
		return Entry{}, fmt.Errorf("latency table %s: %w: device %s, key %q: %v", path, ErrCorrupt, deviceID, key, err)
	}
	if err := e.Validate(); err != nil {
		return Entry{}, fmt.Errorf("latency table %s: %w: device %s, key %q: %v", path, ErrCorrupt, deviceID, key, err)
	}
	return e, nil
}

// forEachStored decodes every entry of one device in key order.
func forEachStored(tx *bolt.Tx, path string, deviceID []byte, fn func(string, Entry) error) error {
	b, err := entriesBucket(tx, path, deviceID)
	if err != nil {
		return err
	}
	return b.ForEach(func(k, v []byte) error {
		e, err := decodeEntry(path, deviceID, k, v)
		if err != nil {
			return err
		}
		return fn(string(k), e)
	})
}

func (t *Table) entries(tx *bolt.Tx) (*bolt.Bucket, error) {
	return entriesBucket(tx, t.path, t.deviceID)
}

// Get returns the entry of a block signature and whether it is present.
func (t *Table) Get(key string) (Entry, bool, error) {
	var e Entry
	var ok bool
	err := safeView(t.db, t.path, func(tx *bolt.Tx) error {
		b, err := t.entries(tx)
		if err != nil {
			return err
		}
		v := b.Get([]byte(key))
		if v == nil {
			return nil
		}
		ok = true
		e, err = decodeEntry(t.path, t.deviceID, []byte(key), v)
		return err
	})
	return e, ok && err == nil, err
}

// Put stores the entry of a block signature, replacing any earlier one, in
// one committed transaction.
func (t *Table) Put(key string, e Entry) error {
	return t.PutMany(map[string]Entry{key: e})
}

// PutMany stores several entries in one committed transaction: all of them
// or, on error or crash, none.
func (t *Table) PutMany(entries map[string]Entry) error {
	switch {
	case t.readOnly:
		return fmt.Errorf("latency table %s: %w", t.path, ErrReadOnly)
	case !t.local:
		return fmt.Errorf("latency table %s: %w: the table's device is %s (%s), not this machine", t.path, ErrForeignDevice, t.deviceID, t.device)
	}
	keys := make([]string, 0, len(entries))
	for k, e := range entries {
		if err := validateKey(k); err != nil {
			return err
		}
		if err := e.Validate(); err != nil {
			return fmt.Errorf("key %q: %w", k, err)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	sealed := make([][]byte, len(keys))
	for i, k := range keys {
		e := entries[k]
		e.MeasuredAt = e.MeasuredAt.UTC()
		var err error
		if sealed[i], err = seal([]byte(k), e); err != nil {
			return err
		}
		if len(sealed[i]) > maxValueBytes {
			return fmt.Errorf("key %q: %w: the entry takes %d bytes, above the limit of %d (fewer calibration networks)", k, ErrInvalidEntry, len(sealed[i]), maxValueBytes)
		}
	}
	return safeUpdate(t.db, t.path, func(tx *bolt.Tx) error {
		b, err := t.entries(tx)
		if err != nil {
			return err
		}
		for i, k := range keys {
			if err := b.Put([]byte(k), sealed[i]); err != nil {
				return fmt.Errorf("latency table %s: key %q: %w", t.path, k, err)
			}
		}
		return nil
	})
}

// ForEach calls fn for every entry of the device in key order, stopping at
// the first error.
func (t *Table) ForEach(fn func(key string, e Entry) error) error {
	return safeView(t.db, t.path, func(tx *bolt.Tx) error {
		return forEachStored(tx, t.path, t.deviceID, fn)
	})
}

// Keys returns the block signatures of the device in byte order.
func (t *Table) Keys() ([]string, error) {
	var keys []string
	err := safeView(t.db, t.path, func(tx *bolt.Tx) error {
		b, err := t.entries(tx)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, _ []byte) error {
			keys = append(keys, string(k))
			return nil
		})
	})
	return keys, err
}

// Len returns the number of entries of the device.
func (t *Table) Len() (int, error) {
	var n int
	err := safeView(t.db, t.path, func(tx *bolt.Tx) error {
		b, err := t.entries(tx)
		if err != nil {
			return err
		}
		n = b.Stats().KeyN
		return nil
	})
	return n, err
}

// Missing returns, in the order given and without repeats, the keys that
// have no entry for the device: what a profiler still has to measure.
func (t *Table) Missing(keys []string) ([]string, error) {
	var missing []string
	err := safeView(t.db, t.path, func(tx *bolt.Tx) error {
		b, err := t.entries(tx)
		if err != nil {
			return err
		}
		seen := make(map[string]bool, len(keys))
		for _, k := range keys {
			if !seen[k] && b.Get([]byte(k)) == nil {
				missing = append(missing, k)
			}
			seen[k] = true
		}
		return nil
	})
	return missing, err
}

// Close releases the file.
func (t *Table) Close() error {
	if err := t.db.Close(); err != nil {
		return fmt.Errorf("latency table %s: %w", t.path, err)
	}
	return nil
}

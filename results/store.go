package results

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout of store files this build writes and reads.
// See docs/results-store.md.
const SchemaVersion = 1

// Names of buckets and keys in a store file.
var (
	bucketMeta   = []byte("meta")   // schema, created
	bucketRuns   = []byte("runs")   // run ID (8 bytes big-endian) -> run bucket
	bucketTrials = []byte("trials") // in a run bucket: sequence (8 bytes big-endian) -> Trial
	keySchema    = []byte("schema") // decimal ASCII
	keyCreated   = []byte("created")
	keyRun       = []byte("run")   // in a run bucket: the Run record
	keyState     = []byte("state") // in a run bucket: trial sequence + strategy state
)

// lockTimeout is how long Open waits for another process to release the
// file before giving up with ErrLocked (docs/reliability.md, Locking).
var lockTimeout = 2 * time.Second // a variable so that tests can shorten it

// snapshotWait is how long OpenReadOnly waits for the live file before it
// reads the writer's snapshot instead.
const snapshotWait = 100 * time.Millisecond

// SnapshotSuffix names the snapshot a writer keeps next to the store
// (PATH.snapshot) for readers while it has the store open.
const SnapshotSuffix = ".snapshot"

// maxRecordBytes bounds a stored record (a run, a trial, a baseline, a
// strategy state), checked before it is decoded; writes refuse a larger
// one. Trials take about a kilobyte; an evolution strategy's state a few
// hundred.
const maxRecordBytes = 16 << 20

// Store is a results file: runs and their trials. It is safe for
// concurrent use; every write is one committed bbolt transaction, so a crash
// loses at most the write in flight.
type Store struct {
	db       *bolt.DB
	path     string
	readOnly bool
	// snapshot is the file a writer copies the store to after each
	// commit ("" for a reader); a reader of a snapshot has it as path.
	snapshot string
	// fromSnapshot is set on a reader that opened the writer's snapshot
	// because a writer holds the live file.
	fromSnapshot bool
}

// Open opens the store at path for reading and writing, creating it if it
// does not exist.
//
// A process that has the file open locks it: exclusively when it writes,
// shared when it only reads. Open waits up to 2 seconds for a lock it
// cannot take, then returns an error wrapping ErrLocked that names the
// file and says what to do.
//
// While a writer has the store open it keeps a snapshot of it, PATH.snapshot,
// rewritten after each commit and removed by Close, so that readers can
// read a running search (OpenReadOnly).
func Open(path string) (*Store, error) {
	s, err := open(path, path, false, lockTimeout)
	if err != nil {
		return nil, err
	}
	s.snapshot = path + SnapshotSuffix
	if err := s.writeSnapshot(); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

// OpenReadOnly opens an existing store for reading, with a shared lock. When
// a writer (a running search) holds the file, it opens the writer's
// snapshot instead, which holds everything the writer has committed; a
// reader never delays the writer.
func OpenReadOnly(path string) (*Store, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("results store %s: %w", path, err)
	}
	s, err := open(path, path, true, snapshotWait)
	if !errors.Is(err, ErrLocked) {
		return s, err
	}
	snap := path + SnapshotSuffix
	if _, serr := os.Stat(snap); serr != nil {
		// A writer that keeps no snapshot: wait for the file.
		return open(path, path, true, lockTimeout)
	}
	s, err = open(path, snap, true, lockTimeout)
	if err != nil {
		return nil, err
	}
	s.fromSnapshot = true
	return s, nil
}

// FromSnapshot reports whether a reader reads the snapshot of a store
// that a writer has open (see OpenReadOnly).
func (s *Store) FromSnapshot() bool { return s.fromSnapshot }

// open opens file, the store path or its snapshot, waiting up to wait for
// its lock.
func open(path, file string, readOnly bool, wait time.Duration) (s *Store, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("results store %s: %w: %v", file, ErrCorrupt, r)
		}
	}()
	db, err := bolt.Open(file, 0o644, &bolt.Options{Timeout: wait, ReadOnly: readOnly})
	if err != nil {
		switch {
		case errors.Is(err, bolterrors.ErrTimeout):
			return nil, fmt.Errorf("results store %s: %w: another nas process (a search, or a report on it) has it open, and it was not released within %v; wait until that process ends, or give another store file", path, ErrLocked, wait)
		case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch):
			return nil, fmt.Errorf("results store %s: %w: %v", path, ErrNotStore, err)
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
			return nil, fmt.Errorf("results store %s: %w", path, err)
		}
		return nil, fmt.Errorf("results store %s: %w: %v", path, ErrCorrupt, err)
	}
	s = &Store{db: db, path: path, readOnly: readOnly}
	if file != path {
		s.path = file
	}
	if err := s.prepare(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// prepare initialises a new file, or checks an existing one's schema, size
// and pages.
func (s *Store) prepare() error {
	var fresh bool
	err := s.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) != nil {
			return nil
		}
		empty := true
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
		if !empty || s.readOnly {
			return fmt.Errorf("results store %s: %w: no %q bucket", s.path, ErrNotStore, bucketMeta)
		}
		fresh = true
		return nil
	})
	if err != nil {
		return err
	}
	if fresh {
		return s.update(func(tx *bolt.Tx) error {
			meta, err := tx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			if _, err := tx.CreateBucket(bucketRuns); err != nil {
				return err
			}
			if err := meta.Put(keySchema, []byte(strconv.Itoa(SchemaVersion))); err != nil {
				return err
			}
			return meta.Put(keyCreated, []byte(time.Now().UTC().Format(time.RFC3339)))
		})
	}
	return s.view(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketMeta).Get(keySchema)
		v, err := strconv.Atoi(string(raw))
		if err != nil {
			return s.corrupt("schema version %q is not a number", raw)
		}
		if v != SchemaVersion {
			return fmt.Errorf("results store %s: %w: schema version %d, this nas reads version %d: use the nas release that wrote it", s.path, ErrSchema, v, SchemaVersion)
		}
		if tx.Bucket(bucketRuns) == nil {
			return s.corrupt("no %q bucket", bucketRuns)
		}
		info, err := os.Stat(s.path)
		if err != nil {
			return fmt.Errorf("results store %s: %w", s.path, err)
		}
		if need := tx.Size(); info.Size() < need {
			return s.corrupt("the file is truncated: %d bytes, its pages need %d", info.Size(), need)
		}
		var first error
		for cerr := range tx.Check() { // drained: the check's goroutine must end before the tx
			if first == nil {
				first = s.corrupt("%v", cerr)
			}
		}
		return first
	})
}

// corrupt returns an ErrCorrupt naming the file.
func (s *Store) corrupt(format string, args ...any) error {
	return fmt.Errorf("results store %s: %w: %s", s.path, ErrCorrupt, fmt.Sprintf(format, args...))
}

// view runs fn in a read transaction, turning a panic of bbolt on a
// damaged page, or a fault reading the mapped file, into ErrCorrupt.
func (s *Store) view(fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = s.corrupt("%v", r)
		}
	}()
	return s.db.View(fn)
}

// update runs fn in a write transaction that commits if fn returns nil.
func (s *Store) update(fn func(*bolt.Tx) error) (err error) {
	if s.readOnly {
		return fmt.Errorf("results store %s: %w", s.path, ErrReadOnly)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = s.corrupt("%v", r)
		}
	}()
	if err := s.db.Update(fn); err != nil {
		return err
	}
	return s.writeSnapshot()
}

// writeSnapshot copies the store, as of its last commit, to its snapshot
// file, atomically: a reader opens the old or the new copy, both whole.
// The copy is not synced to disk: it serves readers while this writer
// runs, and a writer that opens the store writes a new one. A failed
// snapshot is an error of the write that preceded it, though that write
// is committed.
func (s *Store) writeSnapshot() error {
	if s.snapshot == "" {
		return nil
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		tmp, err := os.CreateTemp(filepath.Dir(s.snapshot), "."+filepath.Base(s.snapshot)+".tmp*")
		if err != nil {
			return err
		}
		_, err = tx.WriteTo(tmp)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), s.snapshot)
		}
		if err != nil {
			os.Remove(tmp.Name())
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("results store %s: snapshot for readers: %w", s.path, err)
	}
	return nil
}

// Path returns the file the store was opened from.
func (s *Store) Path() string { return s.path }

// Close releases the file; a writer removes its snapshot first.
func (s *Store) Close() error {
	if s.snapshot != "" {
		if err := os.Remove(s.snapshot); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.db.Close()
			return fmt.Errorf("results store %s: %w", s.path, err)
		}
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("results store %s: %w", s.path, err)
	}
	return nil
}

// Stored values are sealed: a format byte, the payload, and a CRC-32C of
// key, format byte and payload, big-endian. The checksum catches bytes
// damaged inside a value, which bbolt itself does not check.
const valueFormat byte = 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// seal wraps a payload for storing. Callers check the size with
// checkRecordSize.
func seal(key, payload []byte) []byte {
	out := make([]byte, 0, 1+len(payload)+4)
	out = append(out, valueFormat)
	out = append(out, payload...)
	crc := crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, out)
	return binary.BigEndian.AppendUint32(out, crc)
}

func sealJSON(key []byte, v any) ([]byte, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	val := seal(key, payload)
	if err := checkRecordSize(val); err != nil {
		return nil, err
	}
	return val, nil
}

// checkRecordSize refuses a sealed value above maxRecordBytes.
func checkRecordSize(val []byte) error {
	if len(val) > maxRecordBytes {
		return fmt.Errorf("%w: record of %d bytes, above the limit of %d", ErrRecordTooLarge, len(val), maxRecordBytes)
	}
	return nil
}

// unseal checks a sealed value (its size first) and returns its payload.
func unseal(key, val []byte) ([]byte, error) {
	if len(val) > maxRecordBytes {
		return nil, fmt.Errorf("value of %d bytes, above the limit of %d", len(val), maxRecordBytes)
	}
	if len(val) < 1+4 {
		return nil, fmt.Errorf("value of %d bytes is too short", len(val))
	}
	body, sum := val[:len(val)-4], binary.BigEndian.Uint32(val[len(val)-4:])
	if crc := crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, body); crc != sum {
		return nil, fmt.Errorf("checksum mismatch (stored %08x, computed %08x)", sum, crc)
	}
	if body[0] != valueFormat {
		return nil, fmt.Errorf("unknown value format %d", body[0])
	}
	return body[1:], nil
}

func unsealJSON(key, val []byte, v any) error {
	payload, err := unseal(key, val)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// u64 encodes a run ID or sequence number as a key that sorts numerically.
func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// RunID identifies a run in a store; IDs count up from 1.
type RunID uint64

// String returns the form people type: "run-3".
func (id RunID) String() string { return "run-" + strconv.FormatUint(uint64(id), 10) }

// ParseRunID reads "run-3" or "3".
func ParseRunID(s string) (RunID, error) {
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "run-"), 10, 64)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("run ID %q: want run-N or N with N >= 1", s)
	}
	return RunID(v), nil
}

// RunStatus is the state of a run.
type RunStatus string

// The states of a run. A run is created running; a search that stops on
// request marks it stopped and may resume it; finished and failed are final.
const (
	RunRunning  RunStatus = "running"
	RunStopped  RunStatus = "stopped"
	RunFinished RunStatus = "finished"
	RunFailed   RunStatus = "failed"
)

func (s RunStatus) valid() bool {
	switch s {
	case RunRunning, RunStopped, RunFinished, RunFailed:
		return true
	}
	return false
}

// RunConfig is what a run was started with: enough to understand and
// repeat it.
type RunConfig struct {
	Strategy     string          `json:"strategy"` // random, evolution, rl
	Seed         uint64          `json:"seed"`
	TargetMs     float64         `json:"target_ms"`
	Space        string          `json:"space"`
	Dataset      string          `json:"dataset,omitempty"`
	LatencyTable string          `json:"latency_table,omitempty"`
	Device       string          `json:"device,omitempty"`   // fingerprint ID of the table's device
	Settings     json.RawMessage `json:"settings,omitempty"` // strategy and reward settings, as the search writes them
}

// Run is a search run as stored.
type Run struct {
	ID      RunID     `json:"id"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	Status  RunStatus `json:"status"`
	Config  RunConfig `json:"config"`
	Trials  int       `json:"-"` // filled in on reading: the number of trials stored
}

func (c RunConfig) validate() error {
	switch {
	case c.Strategy == "":
		return fmt.Errorf("%w: no strategy", ErrInvalidConfig)
	case !(c.TargetMs > 0) || math.IsInf(c.TargetMs, 0):
		return fmt.Errorf("%w: target %v ms, want a positive number", ErrInvalidConfig, c.TargetMs)
	case len(c.Settings) > 0 && !json.Valid(c.Settings):
		return fmt.Errorf("%w: settings are not valid JSON", ErrInvalidConfig)
	}
	return nil
}

// CreateRun stores a new run with the given configuration, status running.
func (s *Store) CreateRun(cfg RunConfig) (RunID, error) {
	if err := cfg.validate(); err != nil {
		return 0, err
	}
	var id RunID
	err := s.update(func(tx *bolt.Tx) error {
		runs := tx.Bucket(bucketRuns)
		seq, err := runs.NextSequence()
		if err != nil {
			return err
		}
		id = RunID(seq)
		now := time.Now().UTC()
		rb, err := runs.CreateBucket(u64(seq))
		if err != nil {
			return err
		}
		if _, err := rb.CreateBucket(bucketTrials); err != nil {
			return err
		}
		return putRun(rb, Run{ID: id, Created: now, Updated: now, Status: RunRunning, Config: cfg})
	})
	return id, err
}

func putRun(rb *bolt.Bucket, r Run) error {
	v, err := sealJSON(keyRun, r)
	if err != nil {
		return err
	}
	return rb.Put(keyRun, v)
}

// runBucket returns a run's bucket and record.
func (s *Store) runBucket(tx *bolt.Tx, id RunID) (*bolt.Bucket, Run, error) {
	var r Run
	rb := tx.Bucket(bucketRuns).Bucket(u64(uint64(id)))
	if rb == nil {
		return nil, r, fmt.Errorf("results store %s: %w %s", s.path, ErrUnknownRun, id)
	}
	r, err := decodeRun(rb.Get(keyRun))
	if err != nil {
		return nil, r, s.corrupt("%s: %v", id, err)
	}
	if r.ID != id {
		return nil, r, s.corrupt("%s holds the record of %s", id, r.ID)
	}
	tb := rb.Bucket(bucketTrials)
	if tb == nil {
		return nil, r, s.corrupt("%s has no trials bucket", id)
	}
	r.Trials = tb.Stats().KeyN
	return rb, r, nil
}

// decodeRun checks and decodes a stored run record: size, checksum, JSON,
// and the values a stored run has (a valid status and configuration).
func decodeRun(val []byte) (Run, error) {
	var r Run
	if err := unsealJSON(keyRun, val, &r); err != nil {
		return Run{}, err
	}
	if !r.Status.valid() {
		return Run{}, fmt.Errorf("status %q: want running, stopped, finished or failed", r.Status)
	}
	if err := r.Config.validate(); err != nil {
		return Run{}, err
	}
	if r.ID == 0 {
		return Run{}, fmt.Errorf("run ID 0")
	}
	return r, nil
}

// Run returns one run.
func (s *Store) Run(id RunID) (Run, error) {
	var r Run
	err := s.view(func(tx *bolt.Tx) (err error) {
		_, r, err = s.runBucket(tx, id)
		return err
	})
	return r, err
}

// Runs returns every run, oldest first.
func (s *Store) Runs() ([]Run, error) {
	var runs []Run
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRuns).ForEachBucket(func(k []byte) error {
			if len(k) != 8 {
				return s.corrupt("run key %x is not 8 bytes", k)
			}
			_, r, err := s.runBucket(tx, RunID(binary.BigEndian.Uint64(k)))
			if err != nil {
				return err
			}
			runs = append(runs, r)
			return nil
		})
	})
	return runs, err
}

// SetSettings replaces the settings a run stores (RunConfig.Settings):
// those a run learns once it has started, such as the identity of the
// supernet it builds.
func (s *Store) SetSettings(id RunID, settings json.RawMessage) error {
	if !json.Valid(settings) {
		return fmt.Errorf("%w: settings are not valid JSON", ErrInvalidConfig)
	}
	return s.update(func(tx *bolt.Tx) error {
		rb, r, err := s.runBucket(tx, id)
		if err != nil {
			return err
		}
		r.Config.Settings, r.Updated = settings, time.Now().UTC()
		return putRun(rb, r)
	})
}

// SetStatus changes a run's status.
func (s *Store) SetStatus(id RunID, status RunStatus) error {
	if !status.valid() {
		return fmt.Errorf("run status %q: want running, stopped, finished or failed", status)
	}
	return s.update(func(tx *bolt.Tx) error {
		rb, r, err := s.runBucket(tx, id)
		if err != nil {
			return err
		}
		r.Status, r.Updated = status, time.Now().UTC()
		return putRun(rb, r)
	})
}

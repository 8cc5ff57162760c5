package cluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"nas/internal/atomicfile"
	"nas/supernet"
)

// DefaultSupernetCacheKeep is how many supernets a worker's cache keeps.
// After fetching a supernet, the cache removes the folders of the least
// recently used ones beyond this many (a small28 supernet's folder is
// hundreds of MB), except those in use.
const DefaultSupernetCacheKeep = 4

// cacheMinAge is how long after its last use a folder stays safe from
// removal: other worker processes sharing the cache's root may be using
// it, and the use they made of it shows only in its modification time.
const cacheMinAge = 10 * time.Minute

// cacheFolderName is the name of a folder of the cache: the first 16 hex
// digits of the manifest's hash, '-', those of the weights'. The cache
// removes nothing else from its root.
var cacheFolderName = regexp.MustCompile(`^[0-9a-f]{16}-[0-9a-f]{16}$`)

// blobGetter is the part of Blobs the cache fetches with.
type blobGetter interface {
	Get(ctx context.Context, hash string) ([]byte, error)
}

// supernetCache keeps the supernets a worker fetched, each in a folder
// of its own under root named by the hashes of its two blobs, so that a
// supernet travels to a worker once while the cache keeps it: a folder
// found there from before (a worker that ran earlier on this machine, or
// runs beside this one) is used once its files hash to their names, and
// fetched again otherwise.
//
// A folder's modification time is its last use: the cache sets it each
// time a task takes the folder, so that recency survives restarts and is
// shared by the workers of one machine. After fetching a supernet, the
// cache removes the least recently used folders beyond keep, but never
// one that a task of this process holds, nor one used less than
// cacheMinAge ago (by another process, perhaps).
type supernetCache struct {
	root string
	keep int              // folders kept after a fetch; 0: DefaultSupernetCacheKeep
	now  func() time.Time // the clock of uses; nil: time.Now

	mu    sync.Mutex
	ok    map[string]bool // folders checked by this process
	users map[string]int  // tasks of this process holding each folder
}

// DefaultSupernetCache is the folder a worker keeps the supernets it
// fetched in: nas-supernets under the system's temporary folder.
func DefaultSupernetCache() string { return filepath.Join(os.TempDir(), "nas-supernets") }

// folder returns the folder holding the supernet of s, fetching its
// blobs when the cache does not hold them, and a function that gives the
// folder back: until then, the cache does not remove it. A fetch makes
// the cache remove the folders it keeps no more; failures to remove go to
// log and do not fail the call.
func (c *supernetCache) folder(ctx context.Context, blobs blobGetter, s supernetBlobs, log *slog.Logger) (string, func(), error) {
	dir := filepath.Join(c.root, s.Manifest[:16]+"-"+s.Weights[:16])
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock()
	fetched := false
	if !c.ok[dir] || !c.touch(dir, now, log) {
		var err error
		if fetched, err = fillSupernet(ctx, blobs, dir, s); err != nil {
			delete(c.ok, dir)
			return "", nil, err
		}
		c.touch(dir, now, log)
		if c.ok == nil {
			c.ok = map[string]bool{}
		}
		c.ok[dir] = true
	}
	if c.users == nil {
		c.users = map[string]int{}
	}
	c.users[dir]++
	if fetched {
		c.evict(now, log)
	}
	var once sync.Once
	return dir, func() { once.Do(func() { c.release(dir) }) }, nil
}

func (c *supernetCache) release(dir string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.users[dir]--; c.users[dir] <= 0 {
		delete(c.users, dir)
	}
}

func (c *supernetCache) clock() time.Time {
	if c.now == nil {
		return time.Now()
	}
	return c.now()
}

// touch records a use of dir at now, reporting false when dir is gone
// (another worker removed it). Other failures go to log: the folder is
// there, it only looks older than it is.
func (c *supernetCache) touch(dir string, now time.Time, log *slog.Logger) bool {
	err := os.Chtimes(dir, now, now)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Warn("supernet cache: recording a folder's use failed", "folder", dir, "err", err)
	}
	return !errors.Is(err, fs.ErrNotExist)
}

// fillSupernet makes dir hold the two files of s, fetching those that are
// missing or do not hash to their names; it reports whether it fetched.
func fillSupernet(ctx context.Context, blobs blobGetter, dir string, s supernetBlobs) (bool, error) {
	fetched := false
	files := []struct{ name, hash string }{{supernet.ManifestFile, s.Manifest}, {supernet.CheckpointFile, s.Weights}}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if b, err := os.ReadFile(path); err == nil && Hash(b) == f.hash {
			continue
		}
		b, err := blobs.Get(ctx, f.hash)
		if err != nil {
			return fetched, fmt.Errorf("supernet %s: %w", f.name, err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fetched, err
		}
		if err := atomicfile.WriteBytes(path, b); err != nil {
			return fetched, err
		}
		fetched = true
	}
	return fetched, nil
}

// evict removes the folders of the cache beyond the keep most recently
// used, skipping those in use by this process and those used less than
// cacheMinAge before now. It logs what it removes and what it fails to.
func (c *supernetCache) evict(now time.Time, log *slog.Logger) {
	entries, err := os.ReadDir(c.root)
	if err != nil {
		log.Warn("supernet cache: listing failed; nothing removed", "root", c.root, "err", err)
		return
	}
	type cached struct {
		dir  string
		used time.Time
	}
	var folders []cached
	for _, e := range entries {
		if !e.IsDir() || !cacheFolderName.MatchString(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		folders = append(folders, cached{filepath.Join(c.root, e.Name()), info.ModTime()})
	}
	slices.SortFunc(folders, func(a, b cached) int {
		if n := b.used.Compare(a.used); n != 0 {
			return n
		}
		return strings.Compare(a.dir, b.dir)
	})
	keep := c.keep
	if keep <= 0 {
		keep = DefaultSupernetCacheKeep
	}
	for _, f := range folders[min(keep, len(folders)):] {
		if c.users[f.dir] > 0 || now.Sub(f.used) < cacheMinAge {
			continue
		}
		delete(c.ok, f.dir)
		if err := os.RemoveAll(f.dir); err != nil {
			log.Warn("supernet cache: removing a folder failed", "folder", f.dir, "err", err)
			continue
		}
		log.Info("supernet cache: removed a least recently used folder", "folder", f.dir, "last_used", f.used)
	}
}

package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"nas/supernet"
)

// memBlobs is an object store in memory that counts its fetches.
type memBlobs struct {
	blobs   map[string][]byte
	fetches int
}

func (m *memBlobs) Get(_ context.Context, hash string) ([]byte, error) {
	b, ok := m.blobs[hash]
	if !ok {
		return nil, fmt.Errorf("blob %s: not found", hash)
	}
	m.fetches++
	return b, nil
}

// add makes up the two blobs of a supernet named name and returns it.
func (m *memBlobs) add(name string) supernetBlobs {
	if m.blobs == nil {
		m.blobs = map[string][]byte{}
	}
	manifest, weights := []byte(`{"name": "`+name+`"}`), []byte("weights of "+name)
	m.blobs[Hash(manifest)], m.blobs[Hash(weights)] = manifest, weights
	return supernetBlobs{Manifest: Hash(manifest), Weights: Hash(weights), Identity: Hash(weights), Space: name}
}

// testClock is the clock of a cache, set by the test.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

var cacheT0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func newTestCache(t *testing.T, keep int) (*supernetCache, *testClock, *memBlobs) {
	clock := &testClock{cacheT0}
	return &supernetCache{root: t.TempDir(), keep: keep, now: clock.now}, clock, &memBlobs{}
}

// use takes s's folder from c at clock time at and gives it back.
func use(t *testing.T, c *supernetCache, clock *testClock, blobs *memBlobs, s supernetBlobs, at time.Time) string {
	t.Helper()
	clock.t = at
	dir, release, err := c.folder(context.Background(), blobs, s, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	release()
	return dir
}

// cached lists the names of the folders under root.
func cached(t *testing.T, root string) []string {
	t.Helper()
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func folderName(s supernetBlobs) string { return s.Manifest[:16] + "-" + s.Weights[:16] }

// TestSupernetCacheEvictsLeastRecentlyUsed: a fetch beyond keep removes
// the folder used longest ago, where a use of a cached folder counts as
// much as its fetch; a removed supernet is fetched again when asked for.
func TestSupernetCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c, clock, blobs := newTestCache(t, 2)
	a, b, d := blobs.add("a"), blobs.add("b"), blobs.add("d")
	dirA := use(t, c, clock, blobs, a, cacheT0)
	use(t, c, clock, blobs, b, cacheT0.Add(time.Hour))
	require.Equal(t, 4, blobs.fetches)
	use(t, c, clock, blobs, a, cacheT0.Add(2*time.Hour)) // a is now the more recent
	require.Equal(t, 4, blobs.fetches, "a cached supernet is not fetched again")
	use(t, c, clock, blobs, d, cacheT0.Add(3*time.Hour))
	require.ElementsMatch(t, []string{folderName(a), folderName(d)}, cached(t, c.root), "b, used longest ago, is removed")
	for _, f := range []string{supernet.ManifestFile, supernet.CheckpointFile} {
		require.FileExists(t, filepath.Join(dirA, f))
	}

	use(t, c, clock, blobs, b, cacheT0.Add(4*time.Hour))
	require.Equal(t, 8, blobs.fetches, "b is fetched again")
	require.ElementsMatch(t, []string{folderName(d), folderName(b)}, cached(t, c.root))

	// The default keeps DefaultSupernetCacheKeep.
	c, clock, blobs = newTestCache(t, 0)
	var names []string
	for i := range DefaultSupernetCacheKeep + 2 {
		s := blobs.add(fmt.Sprint(i))
		use(t, c, clock, blobs, s, cacheT0.Add(time.Duration(i)*time.Hour))
		names = append(names, folderName(s))
	}
	require.ElementsMatch(t, names[2:], cached(t, c.root))
}

// TestSupernetCacheKeepsFoldersInUse: a folder a task holds stays however
// old, and goes at the first fetch after it is given back.
func TestSupernetCacheKeepsFoldersInUse(t *testing.T) {
	c, clock, blobs := newTestCache(t, 1)
	a, b, d := blobs.add("a"), blobs.add("b"), blobs.add("d")
	ctx, log := context.Background(), slog.New(slog.DiscardHandler)
	dirA, releaseA, err := c.folder(ctx, blobs, a, log)
	require.NoError(t, err)
	_, releaseA2, err := c.folder(ctx, blobs, a, log) // a second task on a
	require.NoError(t, err)
	use(t, c, clock, blobs, b, cacheT0.Add(time.Hour))
	require.ElementsMatch(t, []string{folderName(a), folderName(b)}, cached(t, c.root), "a is in use")

	releaseA()
	releaseA() // giving back twice counts once
	use(t, c, clock, blobs, d, cacheT0.Add(2*time.Hour))
	require.ElementsMatch(t, []string{folderName(a), folderName(d)}, cached(t, c.root), "a is still in use by the second task")
	require.DirExists(t, dirA)

	releaseA2()
	use(t, c, clock, blobs, b, cacheT0.Add(3*time.Hour))
	require.ElementsMatch(t, []string{folderName(b)}, cached(t, c.root))
}

// TestSupernetCacheKeepsYoungFolders: a folder used less than cacheMinAge
// ago stays beyond keep, whether this process used it or another worker
// sharing the root (its modification time says so), and goes once that
// long has passed.
func TestSupernetCacheKeepsYoungFolders(t *testing.T) {
	c, clock, blobs := newTestCache(t, 1)
	a, b, d := blobs.add("a"), blobs.add("b"), blobs.add("d")
	other := filepath.Join(c.root, "0123456789abcdef-fedcba9876543210") // another worker's
	require.NoError(t, os.Mkdir(other, 0o755))
	require.NoError(t, os.Chtimes(other, cacheT0.Add(-cacheMinAge/2), cacheT0.Add(-cacheMinAge/2)))

	use(t, c, clock, blobs, a, cacheT0)
	use(t, c, clock, blobs, b, cacheT0.Add(cacheMinAge/2-time.Second))
	require.ElementsMatch(t, []string{folderName(a), folderName(b), filepath.Base(other)}, cached(t, c.root),
		"a and the other worker's folder are young")

	use(t, c, clock, blobs, d, cacheT0.Add(cacheMinAge))
	require.ElementsMatch(t, []string{folderName(b), folderName(d)}, cached(t, c.root),
		"a and the other worker's folder are cacheMinAge old or more, b is younger")
}

// TestSupernetCacheLeavesForeignFolders: what does not look like a folder
// of the cache stays in its root however old: folders of other names,
// files of the cache's names.
func TestSupernetCacheLeavesForeignFolders(t *testing.T) {
	c, clock, blobs := newTestCache(t, 1)
	a, b := blobs.add("a"), blobs.add("b")
	foreign := []string{
		"notes",
		"0123456789ABCDEF-0123456789ABCDEF", // upper case
		"0123456789abcde-0123456789abcdef",  // 15 digits
		"0123456789abcdef-0123456789abcdef0",
		"0123456789abcdef_0123456789abcdef",
	}
	old := cacheT0.Add(-24 * time.Hour)
	for _, name := range foreign {
		p := filepath.Join(c.root, name)
		require.NoError(t, os.Mkdir(p, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(p, supernet.CheckpointFile), []byte("mine"), 0o644))
		require.NoError(t, os.Chtimes(p, old, old))
	}
	file := "fedcba9876543210-fedcba9876543210"
	require.NoError(t, os.WriteFile(filepath.Join(c.root, file), []byte("a file"), 0o644))
	require.NoError(t, os.Chtimes(filepath.Join(c.root, file), old, old))

	use(t, c, clock, blobs, a, cacheT0)
	use(t, c, clock, blobs, b, cacheT0.Add(time.Hour))
	require.ElementsMatch(t, append(foreign, file, folderName(b)), cached(t, c.root))
	require.FileExists(t, filepath.Join(c.root, "notes", supernet.CheckpointFile))
}

// TestSupernetCacheTouchesReusedFolder: each use of a folder sets its
// modification time, also by a cache of a later process, which takes the
// folder without fetching; a folder removed behind the cache's back is
// fetched again.
func TestSupernetCacheTouchesReusedFolder(t *testing.T) {
	c, clock, blobs := newTestCache(t, 0)
	a := blobs.add("a")
	modTime := func(dir string) time.Time {
		t.Helper()
		info, err := os.Stat(dir)
		require.NoError(t, err)
		return info.ModTime()
	}
	dir := use(t, c, clock, blobs, a, cacheT0)
	require.True(t, modTime(dir).Equal(cacheT0), "fetched at %v, modified %v", cacheT0, modTime(dir))
	use(t, c, clock, blobs, a, cacheT0.Add(time.Hour))
	require.True(t, modTime(dir).Equal(cacheT0.Add(time.Hour)), "used again: %v", modTime(dir))

	later := &supernetCache{root: c.root, now: clock.now}
	use(t, later, clock, blobs, a, cacheT0.Add(2*time.Hour))
	require.True(t, modTime(dir).Equal(cacheT0.Add(2*time.Hour)), "used by a later process: %v", modTime(dir))
	require.Equal(t, 2, blobs.fetches, "the later process checks the files and fetches nothing")

	require.NoError(t, os.RemoveAll(dir)) // another worker's eviction
	use(t, c, clock, blobs, a, cacheT0.Add(3*time.Hour))
	require.Equal(t, 4, blobs.fetches)
	require.FileExists(t, filepath.Join(dir, supernet.CheckpointFile))
	require.True(t, modTime(dir).Equal(cacheT0.Add(3*time.Hour)))
}

package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/nats-io/nats.go/jetstream"
)

// MaxBlobBytes bounds a blob (the weights of the largest networks of nas
// are tens of megabytes).
const MaxBlobBytes = 1 << 30

// Blobs is the object store of a project, holding large inputs and outputs
// of tasks (weights) under the SHA-256 of their content: a blob is put
// once however often it is put, and every get checks the content against
// its address.
type Blobs struct {
	store jetstream.ObjectStore
}

func openBlobs(ctx context.Context, js jetstream.JetStream, names Names) (*Blobs, error) {
	cfg := jetstream.ObjectStoreConfig{
		Bucket:      names.BlobBucket(),
		Description: "blobs of project " + names.Project() + ", named by their SHA-256",
		Storage:     jetstream.FileStorage,
	}
	store, err := js.ObjectStore(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		store, err = js.CreateObjectStore(ctx, cfg)
		if lostRace(err) {
			store, err = js.ObjectStore(ctx, cfg.Bucket)
		}
	}
	if err != nil {
		return nil, err
	}
	return &Blobs{store: store}, nil
}

// Hash is the address of data: its SHA-256 in hex.
func Hash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func objectName(hash string) string { return "sha256-" + hash }

// Put stores data unless a blob of that hash is there already, and
// returns its hash.
func (b *Blobs) Put(ctx context.Context, data []byte) (string, error) {
	if len(data) > MaxBlobBytes {
		return "", fmt.Errorf("blob of %d bytes, limit %d", len(data), MaxBlobBytes)
	}
	hash := Hash(data)
	name := objectName(hash)
	info, err := b.store.GetInfo(ctx, name)
	if err == nil && !info.Deleted && info.Size == uint64(len(data)) {
		return hash, nil
	}
	if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return "", fmt.Errorf("blob %.12s: %w", hash, err)
	}
	if _, err := b.store.Put(ctx, jetstream.ObjectMeta{Name: name}, bytes.NewReader(data)); err != nil {
		return "", fmt.Errorf("put blob %.12s: %w", hash, err)
	}
	return hash, nil
}

// Get returns the blob of hash, checked against it: ErrBlobNotFound when
// there is none, ErrBlobCorrupt when its content hashes to something
// else.
func (b *Blobs) Get(ctx context.Context, hash string) ([]byte, error) {
	if !hexDigest.MatchString(hash) {
		return nil, fmt.Errorf("blob hash %q: want 64 hex digits", clip(hash))
	}
	name := objectName(hash)
	info, err := b.store.GetInfo(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("%w: %.12s", ErrBlobNotFound, hash)
	}
	if err != nil {
		return nil, fmt.Errorf("blob %.12s: %w", hash, err)
	}
	if info.Size > MaxBlobBytes {
		return nil, fmt.Errorf("%w: blob %.12s claims %d bytes, limit %d", ErrBlobCorrupt, hash, info.Size, MaxBlobBytes)
	}
	r, err := b.store.Get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("blob %.12s: %w", hash, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, int64(info.Size)+1))
	if err != nil {
		return nil, fmt.Errorf("blob %.12s: %w", hash, err)
	}
	if got := Hash(data); got != hash {
		return nil, fmt.Errorf("%w: %.12s holds content with sha256 %.12s", ErrBlobCorrupt, hash, got)
	}
	return data, nil
}

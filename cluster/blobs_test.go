package cluster

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"nas/internal/natstest"
)

func TestBlobs(t *testing.T) {
	srv := natstest.Start(t)
	q := testQueue(t, srv)
	ctx := context.Background()
	data := make([]byte, 5<<20+17) // several object-store chunks
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	hash, err := q.Blobs().Put(ctx, data)
	require.NoError(t, err)
	require.Equal(t, Hash(data), hash)
	info, err := q.Blobs().store.GetInfo(ctx, objectName(hash))
	require.NoError(t, err)
	again, err := q.Blobs().Put(ctx, data)
	require.NoError(t, err)
	require.Equal(t, hash, again)
	info2, err := q.Blobs().store.GetInfo(ctx, objectName(hash))
	require.NoError(t, err)
	require.Equal(t, info.NUID, info2.NUID, "a blob is put once")

	got, err := q.Blobs().Get(ctx, hash)
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, got))

	_, err = q.Blobs().Get(ctx, Hash([]byte("absent")))
	require.ErrorIs(t, err, ErrBlobNotFound)
	_, err = q.Blobs().Get(ctx, "../etc/passwd")
	require.ErrorContains(t, err, "want 64 hex digits")

	// Content stored under another content's address is caught on get.
	wrong := Hash([]byte("what the name promises"))
	_, err = q.Blobs().store.Put(ctx, jetstream.ObjectMeta{Name: objectName(wrong)}, bytes.NewReader([]byte("something else")))
	require.NoError(t, err)
	_, err = q.Blobs().Get(ctx, wrong)
	require.ErrorIs(t, err, ErrBlobCorrupt)
}

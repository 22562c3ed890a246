package volume

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/volume"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func newStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, "m.db"), 0o600, nil)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	s, err := New(filepath.Join(dir, "volumes"), db)
	require.NoError(t, err)
	return s, dir
}

func TestCreateGetListRemove(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)

	v, err := s.Create(ctx, volume.CreateRequest{Name: "data", Labels: map[string]string{"a": "b"}})
	require.NoError(t, err)
	assert.Equal(t, "data", v.Name)
	assert.Equal(t, "local", v.Driver)
	assert.DirExists(t, v.Mountpoint)
	require.NoError(t, os.WriteFile(filepath.Join(v.Mountpoint, "f"), []byte("12345"), 0o644))
	assert.EqualValues(t, 5, s.Size("data"))

	again, err := s.Create(ctx, volume.CreateRequest{Name: "data"})
	require.NoError(t, err, "creating an existing volume returns it, as docker does")
	assert.Equal(t, v.CreatedAt, again.CreatedAt)

	anon, err := s.Create(ctx, volume.CreateRequest{})
	require.NoError(t, err)
	assert.Len(t, anon.Name, 64)
	assert.True(t, s.IsAnonymous(anon.Name))
	assert.False(t, s.IsAnonymous("data"))

	all, err := s.List(ctx)
	require.NoError(t, err)
	assert.Len(t, all, 2)

	require.NoError(t, s.Remove(ctx, "data"))
	assert.NoDirExists(t, v.Mountpoint)
	_, err = s.Get(ctx, "data")
	assert.True(t, errdefs.IsNotFound(err))
	assert.True(t, errdefs.IsNotFound(s.Remove(ctx, "data")))
}

func TestBadInputChangesNothing(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	for _, name := range []string{"../x", "a/b", "-x", "x"} {
		_, err := s.Create(ctx, volume.CreateRequest{Name: name})
		assert.True(t, errdefs.IsInvalidArgument(err), name)
	}
	_, err := s.Create(ctx, volume.CreateRequest{Name: "ok", Driver: "nfs"})
	assert.True(t, errdefs.IsNotImplemented(err))
	all, err := s.List(ctx)
	require.NoError(t, err)
	assert.Empty(t, all)
}

func TestPersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, "m.db"), 0o600, nil)
	require.NoError(t, err)
	s, err := New(filepath.Join(dir, "volumes"), db)
	require.NoError(t, err)
	_, err = s.Create(ctx, volume.CreateRequest{Name: "keep"})
	require.NoError(t, err)
	require.NoError(t, db.Close())

	db, err = bolt.Open(filepath.Join(dir, "m.db"), 0o600, nil)
	require.NoError(t, err)
	defer db.Close()
	s, err = New(filepath.Join(dir, "volumes"), db)
	require.NoError(t, err)
	_, err = s.Get(ctx, "keep")
	require.NoError(t, err)
}

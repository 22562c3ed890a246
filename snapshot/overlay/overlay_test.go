package overlay

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wharf.io/wharf/snapshot"
	"wharf.io/wharf/snapshot/snapshottest"
)

func newTest(t *testing.T) snapshot.Snapshotter {
	s, err := Open(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	snapshottest.Run(t, newTest)
}

func TestReopenKeepsStateAndDropsOrphans(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := Open(root)
	require.NoError(t, err)
	mounts, err := s.Prepare(ctx, "x", "")
	require.NoError(t, err)
	upper, err := snapshot.UpperDir(mounts)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(upper, "f"), []byte("data"), 0o644))
	require.NoError(t, s.Commit(ctx, "layer", "x"))
	_, err = s.Prepare(ctx, "ctr", "layer")
	require.NoError(t, err)
	require.NoError(t, s.Close())

	// A directory left by a call interrupted before its transaction committed.
	orphan := filepath.Join(root, "snapshots", "999")
	require.NoError(t, os.MkdirAll(filepath.Join(orphan, "fs"), 0o755))

	s, err = Open(root)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	_, err = os.Stat(orphan)
	assert.True(t, os.IsNotExist(err), "orphan removed")
	info, err := s.Stat(ctx, "ctr")
	require.NoError(t, err)
	assert.Equal(t, "layer", info.Parent)
	u, err := s.Usage(ctx, "layer")
	require.NoError(t, err)
	assert.EqualValues(t, 4, u)
	// New snapshots do not collide with existing directories.
	m2, err := s.Prepare(ctx, "y", "")
	require.NoError(t, err)
	up2, err := snapshot.UpperDir(m2)
	require.NoError(t, err)
	assert.NotEqual(t, upper, up2)
	assert.True(t, errdefs.IsFailedPrecondition(s.Remove(ctx, "layer")))
}

func TestMountsShape(t *testing.T) {
	ctx := context.Background()
	s := newTest(t)
	m, err := s.Prepare(ctx, "a", "")
	require.NoError(t, err)
	assert.Equal(t, "bind", m[0].Type)
	require.NoError(t, s.Commit(ctx, "l1", "a"))
	_, err = s.Prepare(ctx, "b", "l1")
	require.NoError(t, err)
	require.NoError(t, s.Commit(ctx, "l2", "b"))
	m, err = s.Prepare(ctx, "c", "l2")
	require.NoError(t, err)
	require.Len(t, m, 1)
	assert.Equal(t, "overlay", m[0].Type)
	var lower string
	for _, o := range m[0].Options {
		if v, ok := strings.CutPrefix(o, "lowerdir="); ok {
			lower = v
		}
	}
	l2, _ := s.Mounts(ctx, "l2")
	assert.Equal(t, "overlay", l2[0].Type, "committed view of two layers")
	assert.Contains(t, lower, ":", "two lowerdirs, nearest first")
}

// TestMountsRemakesLostDirs: Prepare does not fsync a new snapshot's
// directories, so after a host crash they may be gone while the record
// stayed; Mounts makes them again (they were empty).
func TestMountsRemakesLostDirs(t *testing.T) {
	ctx := context.Background()
	s := newTest(t)
	_, err := s.Prepare(ctx, "base", "")
	require.NoError(t, err)
	require.NoError(t, s.Commit(ctx, "layer", "base"))
	m, err := s.Prepare(ctx, "ctr", "layer")
	require.NoError(t, err)
	upper, err := snapshot.UpperDir(m)
	require.NoError(t, err)
	dir := filepath.Dir(upper)
	require.NoError(t, os.RemoveAll(dir))

	again, err := s.Mounts(ctx, "ctr")
	require.NoError(t, err)
	assert.Equal(t, m, again)
	for _, d := range []string{"fs", "work"} {
		assert.DirExists(t, filepath.Join(dir, d))
	}
}

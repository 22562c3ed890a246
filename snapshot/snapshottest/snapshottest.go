package snapshottest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"wharf.io/wharf/internal/testutil"
	"wharf.io/wharf/snapshot"
)

// Run runs the conformance suite; newSnapshotter must return an empty
// snapshotter whose data lives in a per-test directory.
func Run(t *testing.T, newSnapshotter func(t *testing.T) snapshot.Snapshotter) {
	tests := []struct {
		name string
		fn   func(t *testing.T, sn snapshot.Snapshotter)
	}{
		{"PrepareCommitStat", testPrepareCommitStat},
		{"PrepareErrors", testPrepareErrors},
		{"CommitErrors", testCommitErrors},
		{"RemoveWithChildren", testRemoveWithChildren},
		{"Walk", testWalk},
		{"Usage", testUsage},
		{"Concurrent", testConcurrent},
		{"MountLayers", testMountLayers},
		{"MountManyLayers", testMountManyLayers},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newSnapshotter(t))
		})
	}
}

// writeUpper writes files (name → content) into the writable dir of mounts.
func writeUpper(t *testing.T, mounts []snapshot.Mount, files map[string]string) {
	t.Helper()
	upper, err := snapshot.UpperDir(mounts)
	require.NoError(t, err)
	for name, content := range files {
		p := filepath.Join(upper, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
}

// layer makes committed snapshot name on parent holding files.
func layer(t *testing.T, sn snapshot.Snapshotter, name, parent string, files map[string]string) {
	t.Helper()
	ctx := context.Background()
	mounts, err := sn.Prepare(ctx, "extract-"+name, parent)
	require.NoError(t, err)
	writeUpper(t, mounts, files)
	require.NoError(t, sn.Commit(ctx, name, "extract-"+name))
}

func testPrepareCommitStat(t *testing.T, sn snapshot.Snapshotter) {
	ctx := context.Background()
	mounts, err := sn.Prepare(ctx, "a", "")
	require.NoError(t, err)
	require.Len(t, mounts, 1)
	again, err := sn.Mounts(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, mounts, again)

	info, err := sn.Stat(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, snapshot.Info{Key: "a", Kind: snapshot.KindActive, Created: info.Created}, info)
	assert.False(t, info.Created.IsZero())

	require.NoError(t, sn.Commit(ctx, "layer1", "a"))
	_, err = sn.Stat(ctx, "a")
	assert.True(t, errdefs.IsNotFound(err), "committed key must be gone: %v", err)
	info, err = sn.Stat(ctx, "layer1")
	require.NoError(t, err)
	assert.Equal(t, snapshot.KindCommitted, info.Kind)

	_, err = sn.Prepare(ctx, "b", "layer1")
	require.NoError(t, err)
	info, err = sn.Stat(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, "layer1", info.Parent)
	assert.Equal(t, snapshot.KindActive, info.Kind)

	require.NoError(t, sn.Remove(ctx, "b"))
	require.NoError(t, sn.Remove(ctx, "layer1"))
	_, err = sn.Stat(ctx, "layer1")
	assert.True(t, errdefs.IsNotFound(err))
	assert.True(t, errdefs.IsNotFound(sn.Remove(ctx, "layer1")))
}

func testPrepareErrors(t *testing.T, sn snapshot.Snapshotter) {
	ctx := context.Background()
	_, err := sn.Prepare(ctx, "x", "missing")
	assert.True(t, errdefs.IsNotFound(err), "missing parent: %v", err)

	_, err = sn.Prepare(ctx, "active", "")
	require.NoError(t, err)
	_, err = sn.Prepare(ctx, "active", "")
	assert.True(t, errdefs.IsAlreadyExists(err), "duplicate key: %v", err)
	_, err = sn.Prepare(ctx, "child", "active")
	assert.True(t, errdefs.IsFailedPrecondition(err), "active parent: %v", err)
	_, err = sn.Prepare(ctx, "", "")
	assert.True(t, errdefs.IsInvalidArgument(err), "empty key: %v", err)
	_, err = sn.Mounts(ctx, "nope")
	assert.True(t, errdefs.IsNotFound(err))
	_, err = sn.Stat(ctx, "nope")
	assert.True(t, errdefs.IsNotFound(err))
	_, err = sn.Usage(ctx, "nope")
	assert.True(t, errdefs.IsNotFound(err))
}

func testCommitErrors(t *testing.T, sn snapshot.Snapshotter) {
	ctx := context.Background()
	assert.True(t, errdefs.IsNotFound(sn.Commit(ctx, "n", "missing")))
	layer(t, sn, "base", "", nil)
	assert.True(t, errdefs.IsFailedPrecondition(sn.Commit(ctx, "n", "base")), "commit of committed")
	_, err := sn.Prepare(ctx, "k", "")
	require.NoError(t, err)
	assert.True(t, errdefs.IsAlreadyExists(sn.Commit(ctx, "base", "k")), "name taken")
	// A failed commit leaves the active snapshot usable.
	info, err := sn.Stat(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, snapshot.KindActive, info.Kind)
}

func testRemoveWithChildren(t *testing.T, sn snapshot.Snapshotter) {
	ctx := context.Background()
	layer(t, sn, "base", "", map[string]string{"f": "x"})
	_, err := sn.Prepare(ctx, "ctr", "base")
	require.NoError(t, err)
	err = sn.Remove(ctx, "base")
	assert.True(t, errdefs.IsFailedPrecondition(err), "remove parent: %v", err)
	require.NoError(t, sn.Remove(ctx, "ctr"))
	require.NoError(t, sn.Remove(ctx, "base"))
}

func testWalk(t *testing.T, sn snapshot.Snapshotter) {
	ctx := context.Background()
	layer(t, sn, "l1", "", nil)
	layer(t, sn, "l2", "l1", nil)
	_, err := sn.Prepare(ctx, "c", "l2")
	require.NoError(t, err)
	got := map[string]snapshot.Info{}
	require.NoError(t, sn.Walk(ctx, func(i snapshot.Info) error {
		got[i.Key] = i
		return nil
	}))
	require.Len(t, got, 3)
	assert.Equal(t, "l1", got["l2"].Parent)
	assert.Equal(t, snapshot.KindCommitted, got["l1"].Kind)
	assert.Equal(t, snapshot.KindActive, got["c"].Kind)

	stop := fmt.Errorf("stop")
	n := 0
	err = sn.Walk(ctx, func(snapshot.Info) error { n++; return stop })
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 1, n)
}

func testUsage(t *testing.T, sn snapshot.Snapshotter) {
	ctx := context.Background()
	layer(t, sn, "base", "", map[string]string{"big": strings.Repeat("x", 10000)})
	mounts, err := sn.Prepare(ctx, "c", "base")
	require.NoError(t, err)
	u, err := sn.Usage(ctx, "c")
	require.NoError(t, err)
	assert.Zero(t, u, "a fresh snapshot adds nothing")
	writeUpper(t, mounts, map[string]string{"a": "12345", "d/b": "123"})
	u, err = sn.Usage(ctx, "c")
	require.NoError(t, err)
	assert.EqualValues(t, 8, u)
	u, err = sn.Usage(ctx, "base")
	require.NoError(t, err)
	assert.EqualValues(t, 10000, u)
}

func testConcurrent(t *testing.T, sn snapshot.Snapshotter) {
	ctx := context.Background()
	layer(t, sn, "base", "", nil)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("c%d", i)
			if _, err := sn.Prepare(ctx, key, "base"); err != nil {
				errs <- err
				return
			}
			if i%2 == 0 {
				errs <- sn.Remove(ctx, key)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	var keys []string
	require.NoError(t, sn.Walk(ctx, func(i snapshot.Info) error {
		keys = append(keys, i.Key)
		return nil
	}))
	sort.Strings(keys)
	assert.Len(t, keys, 11)
}

// mountAt mounts an active snapshot on a fresh directory and unmounts it when
// the test ends, pass or fail.
func mountAt(t *testing.T, sn snapshot.Snapshotter, key string) string {
	t.Helper()
	mounts, err := sn.Mounts(context.Background(), key)
	require.NoError(t, err)
	target := t.TempDir()
	require.NoError(t, snapshot.MountAll(mounts, target))
	t.Cleanup(func() { assert.NoError(t, snapshot.Unmount(target)) })
	return target
}

func testMountLayers(t *testing.T, sn snapshot.Snapshotter) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	layer(t, sn, "l1", "", map[string]string{"etc/os": "one", "gone": "x", "keep": "k"})
	// Layer 2 deletes "gone" with an overlay whiteout and overrides etc/os.
	mounts, err := sn.Prepare(ctx, "x2", "l1")
	require.NoError(t, err)
	writeUpper(t, mounts, map[string]string{"etc/os": "two"})
	upper, err := snapshot.UpperDir(mounts)
	require.NoError(t, err)
	require.NoError(t, unix.Mknod(filepath.Join(upper, "gone"), unix.S_IFCHR, 0))
	require.NoError(t, sn.Commit(ctx, "l2", "x2"))

	_, err = sn.Prepare(ctx, "ctr", "l2")
	require.NoError(t, err)
	root := mountAt(t, sn, "ctr")
	b, err := os.ReadFile(filepath.Join(root, "etc/os"))
	require.NoError(t, err)
	assert.Equal(t, "two", string(b))
	_, err = os.Stat(filepath.Join(root, "gone"))
	assert.True(t, os.IsNotExist(err), "whiteout hides the lower file: %v", err)
	require.NoError(t, os.WriteFile(filepath.Join(root, "new"), []byte("hello"), 0o644))
	require.NoError(t, os.Remove(filepath.Join(root, "keep")))

	u, err := sn.Usage(ctx, "ctr")
	require.NoError(t, err)
	assert.EqualValues(t, 5, u, "writes land in the container's own layer")
	_, err = os.Stat(filepath.Join(root, "keep"))
	assert.True(t, os.IsNotExist(err))

	// An active snapshot without parents is a plain writable bind mount.
	_, err = sn.Prepare(ctx, "scratch", "")
	require.NoError(t, err)
	sroot := mountAt(t, sn, "scratch")
	require.NoError(t, os.WriteFile(filepath.Join(sroot, "f"), []byte("abc"), 0o644))
	u, err = sn.Usage(ctx, "scratch")
	require.NoError(t, err)
	assert.EqualValues(t, 3, u)

	// Unmount is idempotent.
	require.NoError(t, snapshot.Unmount(sroot))
	require.NoError(t, snapshot.Unmount(sroot))
	require.NoError(t, snapshot.Unmount(filepath.Join(sroot, "does-not-exist")))
}

// testMountManyLayers builds a chain whose overlay options exceed a page, so
// MountAll must use its relative-path fallback.
func testMountManyLayers(t *testing.T, sn snapshot.Snapshotter) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	parent := ""
	const n = 150
	for i := range n {
		name := fmt.Sprintf("sha256:%064d", i)
		layer(t, sn, name, parent, map[string]string{fmt.Sprintf("f%d", i): fmt.Sprint(i)})
		parent = name
	}
	mounts, err := sn.Prepare(ctx, "ctr", parent)
	require.NoError(t, err)
	if len(strings.Join(mounts[0].Options, ",")) < os.Getpagesize() {
		t.Logf("options fit in a page; fallback not exercised")
	}
	root := mountAt(t, sn, "ctr")
	for _, i := range []int{0, n / 2, n - 1} {
		b, err := os.ReadFile(filepath.Join(root, fmt.Sprintf("f%d", i)))
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprint(i), string(b))
	}
	// The process working directory is untouched by the fallback.
	wd, err := os.Getwd()
	require.NoError(t, err)
	assert.NotEqual(t, filepath.Dir(filepath.Dir(filepath.Dir(mounts[0].Source))), wd)
}

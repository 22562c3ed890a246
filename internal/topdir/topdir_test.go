package topdir

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMarkSetsTheFlagWhereSupported(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "layers")
	require.NoError(t, Mark(dir))
	require.NoError(t, Mark(dir), "marking twice is fine")
	marked, ok, err := Marked(dir)
	require.NoError(t, err)
	if !ok {
		t.Skipf("%s has no inode flags", dir)
	}
	require.True(t, marked, "FS_TOPDIR_FL set")
	_, ok, err = Marked("/proc/self")
	require.NoError(t, err)
	require.False(t, ok, "/proc has no inode flags")
}

func TestMarkOnAFilesystemWithoutFlags(t *testing.T) {
	// /proc has no inode flags: nothing to do, no error.
	require.NoError(t, Mark("/proc/self"))
}

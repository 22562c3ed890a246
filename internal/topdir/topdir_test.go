package topdir

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestMarkSetsTheFlagWhereSupported(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "layers")
	require.NoError(t, Mark(dir))
	require.NoError(t, Mark(dir), "marking twice is fine")
	f, err := os.Open(dir)
	require.NoError(t, err)
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		t.Skipf("%s has no inode flags: %v", dir, err)
	}
	require.NotZero(t, flags&fsTopdirFL, "FS_TOPDIR_FL set")
}

func TestMarkOnAFilesystemWithoutFlags(t *testing.T) {
	// /proc has no inode flags: nothing to do, no error.
	require.NoError(t, Mark("/proc/self"))
}

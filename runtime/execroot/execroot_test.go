package execroot

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestHoldsState(t *testing.T) {
	tests := map[string]struct {
		setup func(t *testing.T, dir string)
		holds string // path below dir that holds state, "" for none
	}{
		"empty": {setup: func(*testing.T, string) {}},
		"only directories, as a stopped daemon leaves them": {
			setup: func(t *testing.T, dir string) {
				for _, d := range []string{"containers", "netns", "runtime/runc", "builder"} {
					require.NoError(t, os.MkdirAll(filepath.Join(dir, d), 0o700))
				}
			},
		},
		"a dead socket": {
			setup: func(t *testing.T, dir string) {
				l := listen(t, filepath.Join(dir, "wharf.sock"))
				l.(*net.UnixListener).SetUnlinkOnClose(false)
				l.Close()
			},
		},
		"a socket someone listens on": {
			setup: func(t *testing.T, dir string) {
				l := listen(t, filepath.Join(dir, "wharf.sock"))
				t.Cleanup(func() { l.Close() })
			},
			holds: "wharf.sock",
		},
		"a monitor's exit record": {
			setup: func(t *testing.T, dir string) {
				d := filepath.Join(dir, "containers", "abc")
				require.NoError(t, os.MkdirAll(d, 0o700))
				require.NoError(t, os.WriteFile(filepath.Join(d, "exit.json"), []byte(`{"Code":3}`), 0o600))
			},
			holds: "containers/abc/exit.json",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			why, err := holdsState(dir)
			require.NoError(t, err)
			if tc.holds == "" {
				assert.Empty(t, why)
			} else {
				assert.Equal(t, filepath.Join(dir, tc.holds), why)
			}
		})
	}
}

func listen(t *testing.T, path string) net.Listener {
	t.Helper()
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	return l
}

// A directory already in memory is used as it is (no root needed: /dev/shm
// is a tmpfs on Debian).
func TestPrepareInMemoryDirIsLeftAlone(t *testing.T) {
	if ok, err := InMemory("/dev/shm"); err != nil || !ok {
		t.Skip("/dev/shm is not a tmpfs here")
	}
	dir, err := os.MkdirTemp("/dev/shm", "execroot-test-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	mounted, kept, err := Prepare(filepath.Join(dir, "run"))
	require.NoError(t, err)
	assert.False(t, mounted)
	assert.Empty(t, kept)
	assert.DirExists(t, filepath.Join(dir, "run"))
}

func TestPrepareMountsOnlyAnEmptyDiskDirectory(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("mounting needs root")
	}
	base := t.TempDir()
	if ok, _ := InMemory(base); ok {
		t.Skip("the temp dir is in memory already")
	}

	fresh := filepath.Join(base, "fresh")
	mounted, kept, err := Prepare(fresh)
	require.NoError(t, err)
	require.True(t, mounted, "an empty directory on disk gets a tmpfs")
	t.Cleanup(func() { unix.Unmount(fresh, unix.MNT_DETACH) })
	assert.Empty(t, kept)
	inMem, err := InMemory(fresh)
	require.NoError(t, err)
	assert.True(t, inMem)
	// A restarted daemon finds its tmpfs and mounts nothing on top of it.
	mounted, _, err = Prepare(fresh)
	require.NoError(t, err)
	assert.False(t, mounted)
	require.NoError(t, Release(fresh))
	inMem, err = InMemory(fresh)
	require.NoError(t, err)
	assert.False(t, inMem, "Release takes the tmpfs away")

	used := filepath.Join(base, "used")
	require.NoError(t, os.MkdirAll(filepath.Join(used, "containers", "abc"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(used, "containers", "abc", "exit.json"), []byte("{}"), 0o600))
	mounted, kept, err = Prepare(used)
	require.NoError(t, err)
	assert.False(t, mounted, "state on disk stays visible")
	assert.Equal(t, filepath.Join(used, "containers", "abc", "exit.json"), kept)
}

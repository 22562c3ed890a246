// Package execroot keeps the daemon's runtime state directory (--exec-root:
// bundles, monitor state, runc's state, pid files, sockets) in memory.
//
// That state describes processes, so it has no business outliving the
// machine, and on a systemd host /run is a tmpfs anyway. On a host where it
// is not (this VM: /run is on ext4), every container start pays for the
// disk: runc writes its pid file with O_SYNC, which commits the whole
// filesystem journal (≈ 2 ms), and the bundle, runc's state and the
// monitor's files add journal work; measured, a tmpfs there makes
// `run --rm` 4 ms faster. So the daemon mounts a tmpfs on its exec-root
// when the directory is on a disk and holds nothing a running container or
// another daemon still needs.
package execroot

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Prepare creates dir and, when it is neither a tmpfs nor a ramfs and holds
// no state, mounts a tmpfs on it. It reports whether it mounted; kept says
// why a disk directory was left as it is (empty when dir already was in
// memory or was mounted now).
func Prepare(dir string) (mounted bool, kept string, err error) {
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return false, "", err
	}
	// Two daemons starting at once must not both mount: hold a lock on the
	// directory (the disk inode) and look again by path once we have it.
	d, err := os.Open(dir)
	if err != nil {
		return false, "", err
	}
	defer d.Close()
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX); err != nil {
		return false, "", fmt.Errorf("lock %s: %w", dir, err)
	}
	defer unix.Flock(int(d.Fd()), unix.LOCK_UN)
	inMemory, err := InMemory(dir)
	if err != nil || inMemory {
		return false, "", err
	}
	if why, err := holdsState(dir); err != nil {
		return false, "", err
	} else if why != "" {
		return false, why, nil
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0711"); err != nil {
		return false, "", fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	return true, "", nil
}

// Release unmounts the tmpfs Prepare mounted on dir: for a daemon that fails
// to start, before any container could have put state there.
func Release(dir string) error {
	return unix.Unmount(dir, unix.MNT_DETACH)
}

// InMemory tells whether dir is on a tmpfs or ramfs.
func InMemory(dir string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false, err
	}
	return st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC, nil
}

// holdsState says what in dir must stay visible (a mount, a file, a socket
// something answers on), or "" when the tree holds only directories and
// dead sockets: what a daemon that stopped with no containers leaves behind.
// A file may be a monitor's record of an exit that happened while no daemon
// ran, so its presence keeps the directory on disk.
func holdsState(dir string) (string, error) {
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return "", err
	}
	for _, m := range mounts {
		if m.Mountpoint != filepath.Clean(dir) {
			return "a mount at " + m.Mountpoint, nil
		}
	}
	why := ""
	err = filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case e.IsDir():
			return nil
		case e.Type()&fs.ModeSocket != 0 && !answers(path):
			return nil
		}
		why = path
		return fs.SkipAll
	})
	return why, err
}

// answers tells whether a process listens on the unix socket at path.
func answers(path string) bool {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return !errors.Is(err, unix.ECONNREFUSED) && !errors.Is(err, unix.ENOENT)
	}
	c.Close()
	return true
}

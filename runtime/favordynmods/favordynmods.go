// Package favordynmods turns on the kernel's favordynmods cgroup option,
// which takes a wait for an RCU grace period out of every container start.
//
// Moving a process into a cgroup — what runc does with a container's init,
// and with every exec'd process — write-locks the kernel's
// cgroup_threadgroup_rwsem. By default that lock is tuned for its readers
// (fork, exec, exit) and each writer waits for an RCU grace period: measured
// on the 2-core test machine, 6–11 ms asleep in runc's first write to
// cgroup.procs, inside a `runc run` of about 40 ms. favordynmods (Linux 6.0
// and later) is the kernel's switch for hosts whose tasks change cgroups
// often, container hosts first among them: the same write then takes
// ≈ 0.15 ms, and forks and exits take their side of the lock a little more
// slowly.
//
// The option belongs to the whole host and is set on a cgroup hierarchy's
// mount. The daemon sets it on the cgroup2 hierarchy (the unified one of a
// hybrid host, /sys/fs/cgroup of a cgroup2 host), keeping the options that
// mount already has, as dockerd sets the sysctls it needs. It never turns it
// off: on Linux 6.18 (the test machine's) the kernel cannot go back until
// reboot, and an attempt leaves it half on.
package favordynmods

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Option is the mount option, as /sys/kernel/cgroup/features and mountinfo
// spell it.
const Option = "favordynmods"

const featuresFile = "/sys/kernel/cgroup/features"

var (
	// ErrUnsupported: the kernel predates the option.
	ErrUnsupported = errors.New("the kernel has no " + Option + " cgroup option (Linux 6.0 or later has it)")
	// ErrNoHierarchy: no cgroup2 hierarchy is mounted to set it on.
	ErrNoHierarchy = errors.New("no cgroup2 hierarchy is mounted")
)

// Enable turns the option on at the cgroup2 hierarchy's mount. It returns
// that mount point and whether it changed anything (false: already on).
func Enable() (mountpoint string, changed bool, err error) {
	if ok, err := supported(featuresFile); err != nil || !ok {
		return "", false, errors.Join(ErrUnsupported, err)
	}
	m, err := hierarchy()
	if err != nil {
		return "", false, err
	}
	opts := superOptions(m.VFSOptions)
	if slices.Contains(opts, Option) {
		return m.Mountpoint, false, nil
	}
	if err := reconfigure(m.Mountpoint, append(opts, Option)); err != nil {
		return m.Mountpoint, false, fmt.Errorf("set %s on %s: %w", Option, m.Mountpoint, err)
	}
	// The kernel applies cgroup2 options only from the host's cgroup
	// namespace and says nothing otherwise: look.
	if m, err = hierarchy(); err != nil {
		return "", false, err
	}
	if !slices.Contains(superOptions(m.VFSOptions), Option) {
		return m.Mountpoint, false, fmt.Errorf("set %s on %s: the kernel kept %q (not the host's cgroup namespace?)", Option, m.Mountpoint, m.VFSOptions)
	}
	return m.Mountpoint, true, nil
}

// supported tells whether the kernel lists the option among its cgroup
// features.
func supported(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.TrimSpace(s.Text()) == Option {
			return true, nil
		}
	}
	return false, s.Err()
}

// hierarchy finds the cgroup2 mount; every cgroup2 mount shows the same
// hierarchy, so the first will do.
func hierarchy() (*mountinfo.Info, error) {
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup2"))
	if err != nil {
		return nil, err
	}
	if len(mounts) == 0 {
		return nil, ErrNoHierarchy
	}
	return mounts[0], nil
}

// superOptions lists a cgroup2 superblock's own options from mountinfo's
// super options ("rw,nsdelegate,memory_recursiveprot"): a reconfiguration
// replaces all of them, so the ones the mount has must be given again. rw
// and ro belong to the superblock flags a reconfiguration keeps.
func superOptions(vfsOptions string) []string {
	var opts []string
	for _, o := range strings.Split(vfsOptions, ",") {
		if o != "" && o != "rw" && o != "ro" {
			opts = append(opts, o)
		}
	}
	return opts
}

// reconfigure sets exactly opts on the superblock mounted at mountpoint,
// through the mount API's fspick, which leaves the mount's own flags
// (nosuid, nodev, …) as they are.
func reconfigure(mountpoint string, opts []string) error {
	fd, err := unix.Fspick(unix.AT_FDCWD, mountpoint, unix.FSPICK_CLOEXEC|unix.FSPICK_NO_AUTOMOUNT)
	if err != nil {
		return fmt.Errorf("fspick: %w", err)
	}
	defer unix.Close(fd)
	for _, o := range opts {
		if key, value, ok := strings.Cut(o, "="); ok {
			err = unix.FsconfigSetString(fd, key, value)
		} else {
			err = unix.FsconfigSetFlag(fd, o)
		}
		if err != nil {
			return fmt.Errorf("option %s: %w", o, err)
		}
	}
	return unix.FsconfigReconfigure(fd)
}

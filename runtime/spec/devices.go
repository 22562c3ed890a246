package spec

import (
	"io/fs"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// hostDevices lists the host's device nodes for privileged containers, as
// Docker does. It is a variable so golden tests stay independent of the host.
var hostDevices = func() ([]specs.LinuxDevice, error) {
	var out []specs.LinuxDevice
	err := filepath.WalkDir("/dev", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // devices come and go while we walk; skip what vanished
		}
		if d.IsDir() {
			switch p {
			case "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/.lxc", "/dev/.udev":
				return filepath.SkipDir
			}
			return nil
		}
		if p == "/dev/console" || p == "/dev/ptmx" {
			return nil // the runtime provides the container's own
		}
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil {
			return nil
		}
		var typ string
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFCHR:
			typ = "c"
		case unix.S_IFBLK:
			typ = "b"
		default:
			return nil
		}
		mode := os.FileMode(st.Mode & 0o777)
		uid, gid := st.Uid, st.Gid
		out = append(out, specs.LinuxDevice{
			Path: p, Type: typ,
			Major: int64(unix.Major(uint64(st.Rdev))), Minor: int64(unix.Minor(uint64(st.Rdev))),
			FileMode: &mode, UID: &uid, GID: &gid,
		})
		return nil
	})
	return out, err
}

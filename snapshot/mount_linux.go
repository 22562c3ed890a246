package snapshot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// flagOptions maps mount(8) words to mount flags; set=false clears the flag.
var flagOptions = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro":          {false, unix.MS_RDONLY},
	"rw":          {true, unix.MS_RDONLY},
	"bind":        {false, unix.MS_BIND},
	"rbind":       {false, unix.MS_BIND | unix.MS_REC},
	"nosuid":      {false, unix.MS_NOSUID},
	"suid":        {true, unix.MS_NOSUID},
	"nodev":       {false, unix.MS_NODEV},
	"dev":         {true, unix.MS_NODEV},
	"noexec":      {false, unix.MS_NOEXEC},
	"exec":        {true, unix.MS_NOEXEC},
	"noatime":     {false, unix.MS_NOATIME},
	"relatime":    {false, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME},
	"sync":        {false, unix.MS_SYNCHRONOUS},
	"remount":     {false, unix.MS_REMOUNT},
	"private":     {false, unix.MS_PRIVATE},
	"rprivate":    {false, unix.MS_PRIVATE | unix.MS_REC},
	"defaults":    {false, 0},
}

// parseOptions splits options into mount flags and the filesystem data string.
func parseOptions(options []string) (uintptr, []string) {
	var flags uintptr
	var data []string
	for _, o := range options {
		if f, ok := flagOptions[o]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
			continue
		}
		data = append(data, o)
	}
	return flags, data
}

// MountAll performs mounts in order on target. Overlay mounts whose option
// string would not fit in one page (the kernel's limit for mount data) are
// retried with lowerdirs relative to their common parent directory.
func MountAll(mounts []Mount, target string) error {
	for _, m := range mounts {
		if err := mountOne(m, target); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.Type, target, err)
		}
	}
	return nil
}

func mountOne(m Mount, target string) error {
	flags, data := parseOptions(m.Options)
	typ := m.Type
	if flags&unix.MS_BIND != 0 {
		typ = ""
	}
	joined := strings.Join(data, ",")
	if m.Type == "overlay" && len(joined) >= os.Getpagesize() {
		return mountRelative(m.Source, target, flags, data)
	}
	if flags&unix.MS_BIND == 0 {
		return unix.Mount(m.Source, target, typ, flags, joined)
	}
	// A bind mount ignores MS_RDONLY on the first call; it takes a remount.
	if err := unix.Mount(m.Source, target, "", flags&^unix.MS_RDONLY, joined); err != nil {
		return err
	}
	if flags&unix.MS_RDONLY != 0 {
		return unix.Mount("", target, "", flags|unix.MS_REMOUNT, "")
	}
	return nil
}

// mountRelative shortens an overlay's option string by making every directory
// relative to the lowerdirs' common parent and mounting from there. The working
// directory is per process, so the mount runs on a locked OS thread that first
// unshares its filesystem attributes (CLONE_FS); that thread is never returned
// to the Go scheduler, so no other goroutine sees the changed directory.
func mountRelative(source, target string, flags uintptr, data []string) error {
	absTarget, err := filepath.Abs(target)
	if err != nil {
		return err
	}
	var dirs []string
	for _, d := range data {
		switch {
		case strings.HasPrefix(d, "lowerdir="):
			dirs = append(dirs, strings.Split(strings.TrimPrefix(d, "lowerdir="), ":")...)
		case strings.HasPrefix(d, "upperdir="), strings.HasPrefix(d, "workdir="):
			_, v, _ := strings.Cut(d, "=")
			dirs = append(dirs, v)
		}
	}
	common := commonDir(dirs)
	if common == "" || common == "/" {
		return fmt.Errorf("overlay options too long (%d layers) and share no parent: %w", len(dirs), errdefs.ErrInvalidArgument)
	}
	rel := func(p string) string {
		r, err := filepath.Rel(common, p)
		if err != nil {
			return p
		}
		return r
	}
	short := make([]string, 0, len(data))
	for _, d := range data {
		k, v, ok := strings.Cut(d, "=")
		switch {
		case ok && k == "lowerdir":
			parts := strings.Split(v, ":")
			for i := range parts {
				parts[i] = rel(parts[i])
			}
			short = append(short, "lowerdir="+strings.Join(parts, ":"))
		case ok && (k == "upperdir" || k == "workdir"):
			short = append(short, k+"="+rel(v))
		default:
			short = append(short, d)
		}
	}
	joined := strings.Join(short, ",")
	if len(joined) >= os.Getpagesize() {
		return fmt.Errorf("overlay options too long even relative (%d bytes): %w", len(joined), errdefs.ErrInvalidArgument)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Deliberately no UnlockOSThread: the thread exits with the goroutine.
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare fs: %w", err)
			return
		}
		if err := unix.Chdir(common); err != nil {
			errc <- err
			return
		}
		errc <- unix.Mount(source, absTarget, "overlay", flags, joined)
	}()
	return <-errc
}

// commonDir is the deepest directory containing every path in dirs.
func commonDir(dirs []string) string {
	if len(dirs) == 0 {
		return ""
	}
	common := filepath.Clean(dirs[0])
	for _, d := range dirs[1:] {
		d = filepath.Clean(d)
		for common != "/" && common != "." && d != common && !strings.HasPrefix(d, common+"/") {
			common = filepath.Dir(common)
		}
	}
	return common
}

// Unmount detaches whatever is mounted on target (lazily, so a busy mount does
// not fail); a target that is not mounted or does not exist is not an error.
func Unmount(target string) error {
	for {
		err := unix.Unmount(target, unix.MNT_DETACH)
		switch {
		case err == nil:
			// Stacked mounts: keep going until nothing is left.
			continue
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		default:
			return fmt.Errorf("unmount %s: %w", target, err)
		}
	}
}

// UpperDir returns the writable directory of an active snapshot's mounts: the
// overlay upperdir or the source of a single bind mount. Layers are unpacked
// straight into it, without mounting.
func UpperDir(mounts []Mount) (string, error) {
	if len(mounts) != 1 {
		return "", fmt.Errorf("expected one mount, got %d: %w", len(mounts), errdefs.ErrInvalidArgument)
	}
	m := mounts[0]
	switch m.Type {
	case "bind", "rbind":
		return m.Source, nil
	case "overlay":
		for _, o := range m.Options {
			if v, ok := strings.CutPrefix(o, "upperdir="); ok {
				return v, nil
			}
		}
	}
	return "", fmt.Errorf("mount type %q has no writable directory: %w", m.Type, errdefs.ErrInvalidArgument)
}

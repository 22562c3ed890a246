// Package testutil holds the gates and helpers shared by tests that need root,
// runc or other host facilities. Tests that cannot run skip with a reason.
package testutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// RequiresRoot skips t unless the test runs as root (CI does).
func RequiresRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: test needs root")
	}
}

// NeedsRunc skips t unless it runs as root and a runc binary is on PATH.
func NeedsRunc(t testing.TB) {
	t.Helper()
	RequiresRoot(t)
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("skipping: runc not installed (apt-get install -y runc)")
	}
}

// RemoveCgroupTree removes the cgroup directory parent (e.g. "/wharf-test-1")
// and everything below it in every hierarchy, v1 and unified, children first
// (a cgroup directory goes with rmdir, only once it is empty). It returns
// what could not be removed.
func RemoveCgroupTree(parent string) []error {
	var errs []error
	hierarchies, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", parent))
	for _, h := range hierarchies {
		var dirs []string
		_ = filepath.WalkDir(h, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("rmdir %s: %w", dirs[i], err))
			}
		}
	}
	return errs
}

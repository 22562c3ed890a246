// Package testutil holds the gates and helpers shared by tests that need root,
// runc or other host facilities. Tests that cannot run skip with a reason.
package testutil

import (
	"os"
	"os/exec"
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

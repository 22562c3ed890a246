package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/containerd/errdefs"
	"github.com/spf13/cobra"
)

// newDaemonCommand runs the engine: `wharf daemon ARGS` becomes `wharfd ARGS`.
func newDaemonCommand(c *CLI) *cobra.Command {
	return execCommand("daemon", "Run the wharf daemon (wharfd)", nil)
}

// newRegistryCommand runs the registry: `wharf registry ARGS` becomes `wharfd registry ARGS`.
func newRegistryCommand(c *CLI) *cobra.Command {
	return execCommand("registry", "Run a registry server (wharfd registry)", []string{"registry"})
}

// execCommand replaces the client process with wharfd, passing every argument through
// (flags included, so wharfd owns their parsing and --help).
func execCommand(name, short string, prefix []string) *cobra.Command {
	return &cobra.Command{
		Use:                name + " [ARG...]",
		Short:              short,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			bin, err := findDaemon(os.Executable, exec.LookPath)
			if err != nil {
				return err
			}
			argv := append(append([]string{bin}, prefix...), args...)
			return syscall.Exec(bin, argv, os.Environ())
		},
	}
}

// findDaemon looks for wharfd beside the running wharf binary first (they are built and
// installed together), then on PATH.
func findDaemon(self func() (string, error), lookPath func(string) (string, error)) (string, error) {
	if exe, err := self(); err == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		candidate := filepath.Join(filepath.Dir(exe), "wharfd")
		if st, err := os.Stat(candidate); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return candidate, nil
		}
	}
	if p, err := lookPath("wharfd"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("wharfd not found beside %s or on PATH: %w", "wharf", errdefs.ErrNotFound)
}

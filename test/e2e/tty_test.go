//go:build linux

package e2e

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ptySession is a CLI command driven through a pseudo-terminal, the way a
// user at a terminal runs `run -it`.
type ptySession struct {
	t    *testing.T
	ptmx *os.File
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{}
}

func startPty(t *testing.T, bin string, args ...string) *ptySession {
	t.Helper()
	s := &ptySession{t: t, done: make(chan struct{})}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = append(env.clientEnv(), "TERM=xterm")
	ptmx, err := pty.StartWithSize(s.cmd, &pty.Winsize{Rows: 24, Cols: 80})
	require.NoError(t, err)
	s.ptmx = ptmx
	readDone := make(chan struct{})
	go func() { _, _ = io.Copy(&s.out, ptmx); close(readDone) }()
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
		_ = ptmx.Close()
		<-readDone
		t.Logf("+ %s %s (pty)\n%s", filepath.Base(bin), quoteArgs(args), indent("tty", s.out.String()))
	})
	return s
}

func (s *ptySession) typeLine(line string) {
	_, err := s.ptmx.Write([]byte(line + "\r"))
	require.NoError(s.t, err)
}

// expect waits until the terminal output contains want.
func (s *ptySession) expect(want string, timeout time.Duration) {
	s.t.Helper()
	eventually(s.t, func() bool { return strings.Contains(s.out.String(), want) }, timeout, "terminal never showed %q; got %q", want, s.out.String())
}

// stty asks the shell for its terminal size until it reports want (resize
// is asynchronous: SIGWINCH → client → API → runtime).
func (s *ptySession) awaitSize(want string) {
	s.t.Helper()
	marker := "size-" + strings.ReplaceAll(want, " ", "x")
	eventually(s.t, func() bool {
		// The echo of the typed line shows the command, not "=24 80=";
		// the quotes split the marker so only real output matches.
		s.typeLine(`echo "=$(stty size)=""` + marker + `"`)
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			if strings.Contains(s.out.String(), "="+want+"="+marker) {
				return true
			}
			time.Sleep(50 * time.Millisecond)
		}
		return false
	}, 20*time.Second, "stty size never reported %q", want)
}

func (s *ptySession) exitCode(timeout time.Duration) int {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(timeout):
		s.t.Fatalf("the CLI did not exit within %s", timeout)
	}
	return s.cmd.ProcessState.ExitCode()
}

func testInteractive(t *testing.T, bin string, args ...string) {
	s := startPty(t, bin, args...)
	s.typeLine("")
	s.expect("#", 20*time.Second) // busybox sh prompt for root
	s.awaitSize("24 80")
	require.NoError(t, pty.Setsize(s.ptmx, &pty.Winsize{Rows: 33, Cols: 101}))
	s.awaitSize("33 101")
	s.typeLine(`echo "h""i"; exit 7`)
	s.expect("hi\r\n", 20*time.Second)
	assert.Equal(t, 7, s.exitCode(20*time.Second))
}

func TestInteractiveTTY(t *testing.T) {
	begin(t)
	t.Run("wharf run -it", func(t *testing.T) {
		name := uniq(t, "")
		rmOnCleanup(t, name)
		testInteractive(t, filepath.Join(env.bin, "wharf"), "run", "-it", "--name", name, busybox, "sh")
		assert.Equal(t, "7", inspect(t, name, "{{.State.ExitCode}}"))
	})
	t.Run("wharf exec -it", func(t *testing.T) {
		name := uniq(t, "")
		runDetached(t, "--name", name, busybox, "sleep", "3600")
		waitState(t, name, "running", 20*time.Second)
		testInteractive(t, filepath.Join(env.bin, "wharf"), "exec", "-it", name, "sh")
	})
	t.Run("docker exec -it", func(t *testing.T) {
		needDocker(t)
		name := uniq(t, "")
		runDetached(t, "--name", name, busybox, "sleep", "3600")
		waitState(t, name, "running", 20*time.Second)
		testInteractive(t, dockerBin, "exec", "-it", name, "sh")
	})
	t.Run("docker run --rm -it", func(t *testing.T) {
		needDocker(t)
		testInteractive(t, dockerBin, "run", "--rm", "-it", busybox, "sh")
	})
}

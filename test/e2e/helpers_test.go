//go:build linux

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// begin marks the start of a test: when the test fails, the part of the
// daemon log written while it ran is printed with it.
func begin(t *testing.T) {
	t.Helper()
	off := env.logSize()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log during %s:\n%s", t.Name(), env.logFrom(off))
		}
	})
}

// runCLI runs a client binary against the test daemon and returns its output
// and exit code; a command that hangs is killed after cmdTimeout.
func runCLI(t *testing.T, stdin io.Reader, bin string, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env.clientEnv()
	cmd.Stdin = stdin
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	exitCode = 0
	if err != nil {
		var ee *exec.ExitError
		switch {
		case ctx.Err() != nil:
			t.Errorf("%s %s: timed out after %s", filepath.Base(bin), strings.Join(args, " "), cmdTimeout)
			exitCode = -1
		case errors.As(err, &ee):
			exitCode = ee.ExitCode()
		default:
			t.Fatalf("%s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
		}
	}
	t.Logf("+ %s %s  → exit %d\n%s%s", filepath.Base(bin), quoteArgs(args), exitCode, indent("out", o.String()), indent("err", e.String()))
	return o.String(), e.String(), exitCode
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$;&|{}") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

func indent(label, s string) string {
	if s == "" {
		return ""
	}
	const max = 4000
	if len(s) > max {
		s = s[:max] + "…(truncated)"
	}
	return "  " + label + "| " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  "+label+"| ") + "\n"
}

// wharf runs the freshly built wharf client against the test daemon.
func wharf(t *testing.T, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	return runCLI(t, nil, filepath.Join(env.bin, "wharf"), args...)
}

// wharfIn is wharf with stdin.
func wharfIn(t *testing.T, stdin io.Reader, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	return runCLI(t, stdin, filepath.Join(env.bin, "wharf"), args...)
}

// mustWharf runs wharf, fails the test unless it exits 0, and returns stdout
// without surrounding white space.
func mustWharf(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := wharf(t, args...)
	require.Equalf(t, 0, code, "wharf %s failed: %s", quoteArgs(args), errOut)
	return strings.TrimSpace(out)
}

const dockerBin = "/usr/local/bin/docker"

// docker runs the real docker CLI against the test daemon (DOCKER_HOST is the
// test socket, DOCKER_CONFIG a private dir).
func docker(t *testing.T, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	needDocker(t)
	return runCLI(t, nil, dockerBin, args...)
}

func mustDocker(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := docker(t, args...)
	require.Equalf(t, 0, code, "docker %s failed: %s", quoteArgs(args), errOut)
	return strings.TrimSpace(out)
}

func needDocker(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(dockerBin); err != nil {
		t.Skip("skipping: the docker CLI is not installed at " + dockerBin)
	}
}

// eventually polls cond every 50 ms until it holds or timeout passes, then
// fails the test with msgAndArgs.
func eventually(t *testing.T, cond func() bool, timeout time.Duration, msgAndArgs ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			msg := "condition not met"
			if len(msgAndArgs) > 0 {
				if f, ok := msgAndArgs[0].(string); ok {
					msg = fmt.Sprintf(f, msgAndArgs[1:]...)
				}
			}
			t.Fatalf("after %s: %s", timeout, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var nameUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// uniq returns a container/volume/image-safe name derived from the test name.
func uniq(t *testing.T, suffix string) string {
	n := "e2e-" + strings.ToLower(nameUnsafe.ReplaceAllString(t.Name(), "-"))
	if suffix != "" {
		n += "-" + suffix
	}
	return n
}

// rmOnCleanup removes the container ref (name or ID) when the test ends.
func rmOnCleanup(t *testing.T, ref string) {
	t.Cleanup(func() {
		if env.daemonRunning() {
			_, _, _ = wharf(t, "rm", "-f", ref)
		}
	})
}

// runDetached runs `wharf run -d args…`, requires success and returns the
// container ID; the container is removed when the test ends.
func runDetached(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := wharf(t, append([]string{"run", "-d"}, args...)...)
	require.Equalf(t, 0, code, "run -d failed: %s", errOut)
	id := strings.TrimSpace(out)
	require.Regexp(t, `^[0-9a-f]{64}$`, id, "run -d must print the full container ID")
	rmOnCleanup(t, id)
	return id
}

// inspect returns `wharf inspect -f format ref`.
func inspect(t *testing.T, ref, format string) string {
	t.Helper()
	return mustWharf(t, "inspect", "-f", format, ref)
}

// state returns .State.Status of a container, or "" if inspect fails.
func state(t *testing.T, ref string) string {
	t.Helper()
	out, _, code := wharf(t, "inspect", "-f", "{{.State.Status}}", ref)
	if code != 0 {
		return ""
	}
	return strings.TrimSpace(out)
}

func waitState(t *testing.T, ref, want string, timeout time.Duration) {
	t.Helper()
	eventually(t, func() bool { return state(t, ref) == want }, timeout, "container %s never reached state %q (now %q)", ref, want, state(t, ref))
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// background is a client command left running (logs -f, events, wait).
type background struct {
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	done   chan struct{}
}

// startCLI starts a client binary in the background against the test
// daemon; it is killed when the test ends if it still runs.
func startCLI(t *testing.T, stdin io.Reader, bin string, args ...string) *background {
	t.Helper()
	b := &background{done: make(chan struct{})}
	b.cmd = exec.Command(bin, args...)
	b.cmd.Env = env.clientEnv()
	b.cmd.Stdin = stdin
	b.cmd.Stdout, b.cmd.Stderr = &b.stdout, &b.stderr
	require.NoError(t, b.cmd.Start())
	go func() { _ = b.cmd.Wait(); close(b.done) }()
	t.Cleanup(func() {
		_ = b.cmd.Process.Kill()
		<-b.done
		t.Logf("+ %s %s (background) → %v\n%s%s", filepath.Base(bin), quoteArgs(args), b.cmd.ProcessState, indent("out", b.stdout.String()), indent("err", b.stderr.String()))
	})
	return b
}

// startWharf starts wharf args… in the background; it is killed when the
// test ends if it is still running.
func startWharf(t *testing.T, args ...string) *background {
	t.Helper()
	return startCLI(t, nil, filepath.Join(env.bin, "wharf"), args...)
}

// exited reports whether the command has ended within timeout, and its code.
func (b *background) exited(timeout time.Duration) (int, bool) {
	select {
	case <-b.done:
		return b.cmd.ProcessState.ExitCode(), true
	case <-time.After(timeout):
		return 0, false
	}
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state letter follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// lines splits output into non-empty trimmed lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(s))
	require.NoError(t, err)
	return n
}

func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}

// readBusybox runs contrib/mkimage/busybox.sh and returns the tarball.
func readBusybox() ([]byte, error) {
	cmd := exec.Command(filepath.Join(env.repo, "contrib/mkimage/busybox.sh"))
	cmd.Stderr = os.Stderr
	return cmd.Output()
}

// buildTestdata builds the static helper program testdata/NAME into a temp
// dir, for a test to bind-mount into a container, and returns its path.
func buildTestdata(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	build := exec.Command("go", "build", "-o", bin, "./test/e2e/testdata/"+name)
	build.Dir = env.repo
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

// spawnDaemon starts a wharfd of the test's own below dir (root, exec-root,
// log, and a bridge and nft table named after name), with extra flags. At
// cleanup it is stopped (SIGTERM, then killed), its bridge and table are
// deleted, and its log is shown if the test failed. exited closes when the
// process ends.
func spawnDaemon(t *testing.T, dir, name string, extra ...string) (exited <-chan struct{}, logPath string) {
	t.Helper()
	bridge, table := fmt.Sprintf("w%s%d", name, os.Getpid()%100000), fmt.Sprintf("wharf_e2e_%s_%d", name, os.Getpid())
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "delete", bridge).Run()
		_ = exec.Command("nft", "delete", "table", "ip", table).Run()
	})
	require.NoError(t, os.MkdirAll(dir, 0o755))
	logPath = filepath.Join(dir, "wharfd.log")
	logf, err := os.Create(logPath)
	require.NoError(t, err)
	defer logf.Close()
	args := append([]string{"--root", filepath.Join(dir, "root"), "--exec-root", filepath.Join(dir, "run"),
		"--cgroup-parent", env.cgroupParent, "--bridge", bridge, "--nft-table", table}, extra...)
	d := exec.Command(filepath.Join(env.bin, "wharfd"), args...)
	d.Stdout, d.Stderr = logf, logf
	d.Env = append(os.Environ(), "PATH="+env.bin+":"+os.Getenv("PATH"))
	require.NoError(t, d.Start())
	done := make(chan struct{})
	go func() { _ = d.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = d.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = d.Process.Kill()
			<-done
		}
		// The daemon keeps its exec-root's tmpfs (containers may outlive
		// it); the test is its last user.
		_ = syscall.Unmount(filepath.Join(dir, "run"), syscall.MNT_DETACH)
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s daemon log:\n%s", name, b)
		}
	})
	return done, logPath
}

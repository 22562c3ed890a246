package shim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"wharf.io/wharf/runtime/shim"
)

// awaitSpare waits until l has a spare shim and returns its pid.
func awaitSpare(t *testing.T, l *shim.Launcher) int {
	t.Helper()
	var pid int
	require.Eventually(t, func() bool { pid = shim.SparePid(l); return pid != 0 }, 10*time.Second, time.Millisecond,
		"the launcher started no spare shim")
	return pid
}

// shimPid is the pid of the shim that ran in stateDir.
func shimPid(t *testing.T, stateDir string) int {
	b, err := os.ReadFile(filepath.Join(stateDir, "shim.pid"))
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	return pid
}

// gone reports whether no process (not even a zombie) has pid.
func gone(pid int) bool { return unix.Kill(pid, 0) == unix.ESRCH }

func TestLauncherHandsContainerToSpare(t *testing.T) {
	first, second := newEnv(t), newEnv(t)
	ctx := ctxT(t)
	l := shim.NewLauncher(shimBinary)
	defer l.Close()
	assert.Zero(t, shim.SparePid(l), "no spare before the first container")

	first.bundle(false, "echo", "one")
	stdout, _, exit := first.runWith(ctx, l.Create, first.config(false, false), nil)
	assert.Equal(t, "one\n", stdout)
	assert.Equal(t, 0, exit.Code)

	spare := awaitSpare(t, l)
	second.bundle(false, "sh", "-c", "echo two; echo oops >&2; exit 4")
	stdout, stderr, exit := second.runWith(ctx, l.Create, second.config(false, false), nil)
	assert.Equal(t, "two\n", stdout)
	assert.Equal(t, "oops\n", stderr)
	assert.Equal(t, 4, exit.Code)
	assert.Equal(t, spare, shimPid(t, second.dir), "the second container went to the spare")
	b, err := os.ReadFile(second.logPath)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"log":"two\n","stream":"stdout"`, "the spare writes the container's log")

	// And a new spare stands by; Close stops it and waits for it.
	next := awaitSpare(t, l)
	assert.NotEqual(t, spare, next)
	l.Close()
	assert.True(t, gone(next), "spare %d still there after Close", next)
	assert.Zero(t, shim.SparePid(l))
}

func TestLauncherSpareDied(t *testing.T) {
	first, second := newEnv(t), newEnv(t)
	ctx := ctxT(t)
	l := shim.NewLauncher(shimBinary)
	defer l.Close()
	first.bundle(false, "true")
	first.runWith(ctx, l.Create, first.config(false, false), nil)
	spare := awaitSpare(t, l)
	require.NoError(t, unix.Kill(spare, unix.SIGKILL))
	require.Eventually(t, func() bool { return gone(spare) }, 10*time.Second, time.Millisecond, "the launcher reaps its spare")

	second.bundle(false, "echo", "fresh")
	stdout, _, exit := second.runWith(ctx, l.Create, second.config(false, false), nil)
	assert.Equal(t, "fresh\n", stdout)
	assert.Equal(t, 0, exit.Code)
	assert.NotEqual(t, spare, shimPid(t, second.dir))
}

func TestLauncherRetiresIdleSpare(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	l := shim.NewLauncher(shimBinary)
	defer l.Close()
	shim.SetSpareIdle(l, 100*time.Millisecond)
	e.bundle(false, "true")
	e.runWith(ctx, l.Create, e.config(false, false), nil)
	spare := awaitSpare(t, l)
	require.Eventually(t, func() bool { return shim.SparePid(l) == 0 && gone(spare) }, 10*time.Second, time.Millisecond,
		"an unused spare is let go")
}

// A spare of a daemon that is killed exits by itself: it must not pile up
// over daemon restarts.
func TestSpareExitsWithDaemon(t *testing.T) {
	e := newEnv(t)
	e.bundle(false, "true")
	require.NoError(t, unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	cfgJSON, err := json.Marshal(e.config(false, false))
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSpareDaemon$")
	cmd.Env = append(os.Environ(), "WHARF_TEST_SPARE_DAEMON_CONFIG="+string(cfgJSON))
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var spare int
	_, err = fmt.Fscanf(stdout, "spare %d\n", &spare)
	require.NoError(t, err)
	require.NoError(t, cmd.Process.Kill())
	cmd.Wait()

	// Orphaned, the spare is our child now (subreaper): its exit is ours to see.
	var ws unix.WaitStatus
	_, err = unix.Wait4(spare, &ws, 0, nil)
	require.NoError(t, err, "spare %d", spare)
	assert.True(t, ws.Exited() && ws.ExitStatus() == 0, "the spare exits quietly, status %v", ws)
}

// TestHelperSpareDaemon is the "daemon" of TestSpareExitsWithDaemon.
func TestHelperSpareDaemon(t *testing.T) {
	raw := os.Getenv("WHARF_TEST_SPARE_DAEMON_CONFIG")
	if raw == "" {
		t.Skip("helper process for TestSpareExitsWithDaemon")
	}
	var cfg shim.Config
	require.NoError(t, json.Unmarshal([]byte(raw), &cfg))
	ctx := context.Background()
	l := shim.NewLauncher(cfg.ShimBinary)
	task, err := l.Create(ctx, cfg)
	require.NoError(t, err)
	require.NoError(t, task.Start(ctx))
	_, err = task.Wait(ctx)
	require.NoError(t, err)
	fmt.Printf("spare %d\n", awaitSpare(t, l))
	select {} // wait for SIGKILL
}

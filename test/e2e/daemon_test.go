//go:build linux

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// kill9AndRestart kills the daemon with SIGKILL and starts it again on the
// same root; containers and acknowledged state must survive.
func kill9AndRestart(t *testing.T, whileDown func()) {
	t.Helper()
	pid := env.daemonPid()
	env.killDaemon(syscall.SIGKILL, 10*time.Second)
	t.Logf("killed wharfd (pid %d) with SIGKILL", pid)
	if whileDown != nil {
		whileDown()
	}
	require.NoError(t, env.startDaemon(), "daemon restart after kill -9")
	t.Logf("restarted wharfd (pid %d)", env.daemonPid())
}

// assertExecRootOnOneTmpfs: the daemon keeps its runtime state in memory, on
// the tmpfs it mounted on its exec-root (the suite's temp dir is on disk),
// and a restarted daemon uses that tmpfs rather than stacking another.
func assertExecRootOnOneTmpfs(t *testing.T) {
	t.Helper()
	var st syscall.Statfs_t
	require.NoError(t, syscall.Statfs(env.tmp, &st))
	mounts, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(env.execRoot))
	require.NoError(t, err)
	if st.Type == unix.TMPFS_MAGIC {
		assert.Empty(t, mounts, "the exec-root was in memory already: nothing to mount")
		return
	}
	require.Len(t, mounts, 1, "one mount on the exec-root")
	assert.Equal(t, "tmpfs", mounts[0].FSType)
}

func TestDaemonKill9LiveRestore(t *testing.T) {
	begin(t)
	long := uniq(t, "long")
	runDetached(t, "--name", long, busybox, "sh", "-c", "i=0; while :; do echo tick$i; i=$((i+1)); sleep 0.1; done")
	// The other two exit when the test opens their gate (a file in a
	// bind-mounted host dir), which it does while the daemon is down.
	gate := t.TempDir()
	gated := func(code int) []string {
		return []string{"-v", gate + ":/gate", busybox, "sh", "-c", "while [ ! -e /gate/open ]; do sleep 0.05; done; exit " + strconv.Itoa(code)}
	}
	short := uniq(t, "short")
	runDetached(t, append([]string{"--name", short}, gated(42)...)...)
	always := uniq(t, "always")
	runDetached(t, append([]string{"--name", always, "--restart", "always"}, gated(1)...)...)
	unless := uniq(t, "unless")
	runDetached(t, "--name", unless, "--restart", "unless-stopped", busybox, "sleep", "3600")
	for _, n := range []string{long, short, always, unless} {
		waitState(t, n, "running", 20*time.Second)
	}
	mustWharf(t, "stop", "-t", "0", unless)

	longPid := atoi(t, inspect(t, long, "{{.State.Pid}}"))
	shortPid := atoi(t, inspect(t, short, "{{.State.Pid}}"))
	alwaysPid := atoi(t, inspect(t, always, "{{.State.Pid}}"))
	alwaysStarted := inspect(t, always, "{{.State.StartedAt}}")

	kill9AndRestart(t, func() {
		require.True(t, processAlive(longPid), "a kill -9 of the daemon must leave containers running")
		// Let the gated containers exit while nobody is watching.
		require.NoError(t, os.WriteFile(filepath.Join(gate, "open"), nil, 0o644))
		eventually(t, func() bool { return !processAlive(shortPid) && !processAlive(alwaysPid) }, 20*time.Second,
			"short-lived containers did not exit while the daemon was down")
	})

	assertExecRootOnOneTmpfs(t)
	// The long-running container was found again.
	assert.Regexp(t, `^Up `, mustWharf(t, "ps", "--filter", "name="+long, "--format", "{{.Status}}"))
	assert.Equal(t, longPid, atoi(t, inspect(t, long, "{{.State.Pid}}")), "same process, not a restart")

	// The one that exited while the daemon was down has its exit code.
	assert.Equal(t, "exited", state(t, short))
	assert.Equal(t, "42", inspect(t, short, "{{.State.ExitCode}}"))
	assert.Regexp(t, `^Exited \(42\) `, mustWharf(t, "ps", "-a", "--filter", "name="+short, "--format", "{{.Status}}"))

	// --restart always: restarted after the daemon noticed the exit.
	eventually(t, func() bool {
		out, _, _ := wharf(t, "inspect", "-f", "{{.State.StartedAt}}", always)
		return strings.TrimSpace(out) != alwaysStarted && strings.TrimSpace(out) != ""
	}, 30*time.Second, "--restart always container was not restarted after the daemon came back")
	// unless-stopped that the user stopped stays stopped.
	assert.Equal(t, "exited", state(t, unless))

	// logs -f, wait and stop work on the re-attached container.
	before := strings.Count(mustWharf(t, "logs", long), "tick")
	follow := startWharf(t, "logs", "-f", long)
	eventually(t, func() bool { return strings.Count(follow.stdout.String(), "tick") > before+3 }, 20*time.Second,
		"logs -f does not follow new output of the re-attached container")
	waiter := startWharf(t, "wait", long)
	mustWharf(t, "stop", "-t", "1", long)
	code, ok := waiter.exited(20 * time.Second)
	require.True(t, ok, "wait did not return after stop")
	assert.Equal(t, 0, code)
	assert.Equal(t, "137", strings.TrimSpace(waiter.stdout.String()))
	_, ok = follow.exited(20 * time.Second)
	assert.True(t, ok, "logs -f did not end when the container stopped")
	assert.False(t, processAlive(longPid))
}

// TestCrashSafety kills the daemon right after a write was acknowledged.
func TestCrashSafety(t *testing.T) {
	begin(t)
	t.Run("create", func(t *testing.T) {
		name := uniq(t, "")
		rmOnCleanup(t, name)
		id := strings.TrimSpace(mustWharf(t, "create", "--name", name, busybox, "echo", "survived"))
		kill9AndRestart(t, nil)
		assert.Equal(t, id, inspect(t, name, "{{.Id}}"))
		out, errOut, code := wharf(t, "start", "-a", name)
		require.Equal(t, 0, code, errOut)
		assert.Equal(t, "survived\n", out)
	})
	t.Run("tag", func(t *testing.T) {
		ref := "e2e/crash:1"
		t.Cleanup(func() { _, _, _ = wharf(t, "rmi", ref) })
		mustWharf(t, "tag", busybox, ref)
		kill9AndRestart(t, nil)
		assert.Equal(t, inspect(t, busybox, "{{.Id}}"), inspect(t, ref, "{{.Id}}"))
	})
	t.Run("volume create", func(t *testing.T) {
		vol := uniq(t, "")
		t.Cleanup(func() { _, _, _ = wharf(t, "volume", "rm", "-f", vol) })
		mustWharf(t, "volume", "create", vol)
		kill9AndRestart(t, nil)
		mustWharf(t, "volume", "inspect", vol)
	})
	// goneAfterKill9 kills the daemon: container name, whose removal was
	// acknowledged, must still be gone after the restart.
	goneAfterKill9 := func(t *testing.T, name string) {
		kill9AndRestart(t, nil)
		_, _, code := wharf(t, "inspect", name)
		assert.NotEqual(t, 0, code, "an acknowledged removal must stay done")
	}
	t.Run("rm", func(t *testing.T) {
		name := uniq(t, "")
		rmOnCleanup(t, name)
		mustWharf(t, "create", "--name", name, busybox, "true")
		mustWharf(t, "rm", name)
		goneAfterKill9(t, name)
	})
	t.Run("run --rm", func(t *testing.T) {
		// The client's answer comes before the record's deletion is
		// synced; the removal it announced must stand all the same.
		name := uniq(t, "")
		rmOnCleanup(t, name)
		mustWharf(t, "run", "--rm", "--name", name, busybox, "true")
		goneAfterKill9(t, name)
	})
	t.Run("--rm container exits while the daemon is down", func(t *testing.T) {
		name := uniq(t, "")
		rmOnCleanup(t, name)
		gate := t.TempDir()
		runDetached(t, "--rm", "--name", name, "-v", gate+":/gate", busybox, "sh", "-c", "while [ ! -e /gate/open ]; do sleep 0.05; done")
		waitState(t, name, "running", 20*time.Second)
		pid := atoi(t, inspect(t, name, "{{.State.Pid}}"))
		kill9AndRestart(t, func() {
			require.NoError(t, os.WriteFile(filepath.Join(gate, "open"), nil, 0o644))
			eventually(t, func() bool { return !processAlive(pid) }, 20*time.Second, "the container did not exit")
		})
		// Removed while the daemon started, before it answered anything.
		assert.Empty(t, mustWharf(t, "ps", "-aq", "--filter", "name="+name))
	})
	t.Run("import", func(t *testing.T) {
		ref := "e2e/crash-import:1"
		t.Cleanup(func() { _, _, _ = wharf(t, "rmi", "-f", ref) })
		importTar(t, ref, makeTar(t, tarEntry{Name: "f", Body: "crash"}))
		id := inspect(t, ref, "{{.Id}}")
		kill9AndRestart(t, nil)
		assert.Equal(t, id, inspect(t, ref, "{{.Id}}"))
	})
}

// TestSecondDaemonRefused starts a second wharfd on the running daemon's root
// or socket; it must exit with a clear message and leave the first alone.
func TestSecondDaemonRefused(t *testing.T) {
	begin(t)
	other := filepath.Join(env.tmp, "second")
	require.NoError(t, os.MkdirAll(other, 0o755))
	t.Cleanup(func() { _ = os.RemoveAll(other) })
	cases := map[string][]string{
		"same root": {"--root", env.root, "--exec-root", filepath.Join(other, "run1"),
			"-H", "unix://" + filepath.Join(other, "run1", "wharf.sock"), "--cgroup-parent", env.cgroupParent},
		"same socket": {"--root", filepath.Join(other, "root2"), "--exec-root", filepath.Join(other, "run2"),
			"-H", "unix://" + env.sock, "--cgroup-parent", env.cgroupParent},
	}
	for name, args := range cases {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, filepath.Join(env.bin, "wharfd"), args...)
			cmd.Env = append(os.Environ(), "PATH="+env.bin+":"+os.Getenv("PATH"))
			out, err := cmd.CombinedOutput()
			t.Logf("second wharfd %s:\n%s", quoteArgs(args), indent("out", string(out)))
			require.NoError(t, ctx.Err(), "the second daemon kept running instead of refusing to start")
			require.Error(t, err, "the second daemon must exit non-zero")
			assert.NotEmpty(t, strings.TrimSpace(string(out)), "a clear message says why")
			assert.True(t, env.ping(), "the first daemon still answers")
			mustWharf(t, "ps", "-a")
			left, err := mountinfo.GetMounts(mountinfo.PrefixFilter(other))
			require.NoError(t, err)
			assert.Empty(t, left, "the refused daemon took away the tmpfs it had put on its exec-root")
		})
	}
}

// TestStartAgainAfterKillWithDeleteQueued: a finished container's runtime
// delete waits for a quiet moment; a daemon killed before it came leaves
// the runtime's state behind, and the restarted daemon deletes it, so the
// container starts again.
func TestStartAgainAfterKillWithDeleteQueued(t *testing.T) {
	begin(t)
	name := uniq(t, "")
	rmOnCleanup(t, name)
	mustWharf(t, "create", "--name", name, busybox, "echo", "ran")
	assert.Equal(t, "ran", mustWharf(t, "start", "-a", name))
	id := inspect(t, name, "{{.Id}}")
	_, err := os.Stat(filepath.Join(env.execRoot, "runtime", "runc", id))
	stateLeft := err == nil
	kill9AndRestart(t, nil)
	t.Logf("runtime state present at the kill: %v", stateLeft)
	assert.Equal(t, "ran", mustWharf(t, "start", "-a", name), "the container starts again after the restart")
}

// TestDaemonTurnsOnFavordynmods: the running daemon has set the kernel's
// favordynmods option on the host's cgroup2 hierarchy, so that runc's moves
// into cgroups skip an RCU grace period, and said so. The option stays on
// after the daemon (the kernel cannot take it back), so on a host where it
// was on before, only the daemon's log shows that it looked.
func TestDaemonTurnsOnFavordynmods(t *testing.T) {
	begin(t)
	features, err := os.ReadFile("/sys/kernel/cgroup/features")
	if err != nil || !strings.Contains(string(features), "favordynmods") {
		t.Skip("the kernel has no favordynmods option")
	}
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup2"))
	require.NoError(t, err)
	if len(mounts) == 0 {
		t.Skip("no cgroup2 hierarchy mounted")
	}
	opts := strings.Split(mounts[0].VFSOptions, ",")
	assert.Contains(t, opts, "favordynmods", "super options of %s", mounts[0].Mountpoint)
	log, err := os.ReadFile(env.logPath)
	require.NoError(t, err)
	assert.Regexp(t, `cgroups: (turned on favordynmods|favordynmods already on)`, string(log))
}

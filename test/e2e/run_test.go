//go:build linux

package e2e

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunEcho(t *testing.T) {
	begin(t)
	name := uniq(t, "")
	out, errOut, code := wharf(t, "run", "--rm", "--name", name, busybox, "echo", "hello", "world")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "hello world\n", out)
	// --rm: the CLI returns only once the container is gone, as docker's does.
	_, _, code = wharf(t, "inspect", name)
	assert.NotEqual(t, 0, code, "container of run --rm still exists after the CLI returned")

	_, _, code = wharf(t, "run", "--rm", busybox, "sh", "-c", "exit 3")
	assert.Equal(t, 3, code, "exit code must pass through")

	out, _, code = wharf(t, "run", "--rm", busybox, "sh", "-c", "echo out; echo err >&2; exit 0")
	assert.Equal(t, 0, code)
	assert.Equal(t, "out\n", out, "stderr of the container must not reach stdout")
}

func TestRunHostnameIsShortID(t *testing.T) {
	begin(t)
	name := uniq(t, "")
	rmOnCleanup(t, name)
	out := mustWharf(t, "run", "--name", name, busybox, "hostname")
	id := inspect(t, name, "{{.Id}}")
	require.Len(t, id, 64)
	assert.Equal(t, id[:12], out)
}

// TestRunBadInput checks docker's exit codes and that nothing is left behind.
func TestRunBadInput(t *testing.T) {
	begin(t)
	conflict := uniq(t, "taken")
	rmOnCleanup(t, conflict)
	mustWharf(t, "create", "--name", conflict, busybox, "true")

	count := func() int { return len(lines(mustWharf(t, "ps", "-a", "-q"))) }
	before := count()

	cases := []struct {
		name string
		args []string
		want int
	}{
		{"unknown image", []string{"run", "--rm", "e2e-no-such-image:latest", "true"}, 125},
		{"upper case reference", []string{"run", "--rm", "UPPER:case", "true"}, 125},
		{"double colon reference", []string{"run", "--rm", "a::b", "true"}, 125},
		{"bad memory", []string{"run", "--rm", "--memory", "lots", busybox, "true"}, 125},
		{"bad cpus", []string{"run", "--rm", "--cpus", "many", busybox, "true"}, 125},
		{"name conflict", []string{"run", "--rm", "--name", conflict, busybox, "true"}, 125},
		{"bind source missing", []string{"run", "--rm", "--mount", "type=bind,source=/nonexistent-wharf-e2e,target=/mnt", busybox, "true"}, 125},
		{"missing command", []string{"run", "--rm", busybox, "/no/such/command"}, 127},
		{"missing command in PATH", []string{"run", "--rm", busybox, "nosuchcommand"}, 127},
		{"not executable", []string{"run", "--rm", busybox, "/etc/passwd"}, 126},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			_, errOut, code := wharf(t, tc.args...)
			assert.Equal(t, tc.want, code)
			assert.NotEmpty(t, strings.TrimSpace(errOut), "a clear error message on stderr")
			assert.Equal(t, before, count(), "no container may be left behind")
		})
	}
	assert.Equal(t, "created", state(t, conflict), "the conflicting name's owner must be untouched")
}

func TestRunOptions(t *testing.T) {
	begin(t)
	t.Run("env", func(t *testing.T) {
		envFile := filepath.Join(t.TempDir(), "env")
		require.NoError(t, os.WriteFile(envFile, []byte("# a comment\nFROM_FILE=yes\n\nSPACED=a b\n"), 0o644))
		out := mustWharf(t, "run", "--rm", "-e", "FOO=bar", "--env-file", envFile, busybox, "sh", "-c", `echo "$FOO|$FROM_FILE|$SPACED"`)
		assert.Equal(t, "bar|yes|a b", out)
	})
	t.Run("workdir", func(t *testing.T) {
		assert.Equal(t, "/tmp", mustWharf(t, "run", "--rm", "-w", "/tmp", busybox, "pwd"))
		// docker creates a missing working directory
		assert.Equal(t, "/new/dir", mustWharf(t, "run", "--rm", "-w", "/new/dir", busybox, "pwd"))
	})
	t.Run("user", func(t *testing.T) {
		assert.Equal(t, "33 www-data", mustWharf(t, "run", "--rm", "-u", "www-data", busybox, "sh", "-c", "echo $(id -u) $(id -un)"))
		assert.Equal(t, "65534", mustWharf(t, "run", "--rm", "-u", "nobody", busybox, "id", "-u"))
		assert.Equal(t, "1234:5678", mustWharf(t, "run", "--rm", "-u", "1234:5678", busybox, "sh", "-c", "echo $(id -u):$(id -g)"))
	})
	t.Run("entrypoint", func(t *testing.T) {
		assert.Equal(t, "from entrypoint", mustWharf(t, "run", "--rm", "--entrypoint", "/bin/echo", busybox, "from", "entrypoint"))
	})
	t.Run("hostname", func(t *testing.T) {
		assert.Equal(t, "myhost", mustWharf(t, "run", "--rm", "--hostname", "myhost", busybox, "hostname"))
	})
	t.Run("label", func(t *testing.T) {
		name := uniq(t, "")
		rmOnCleanup(t, name)
		mustWharf(t, "create", "--name", name, "--label", "e2e.color=blue", "--label", "e2e.flag", busybox, "true")
		assert.Equal(t, "blue", inspect(t, name, `{{index .Config.Labels "e2e.color"}}`))
		assert.Equal(t, name, mustWharf(t, "ps", "-a", "--filter", "label=e2e.color=blue", "--format", "{{.Names}}"))
	})
	t.Run("etc files", func(t *testing.T) {
		out := mustWharf(t, "run", "--rm", busybox, "sh", "-c", "cat /etc/hostname /etc/resolv.conf /etc/hosts")
		assert.Contains(t, out, "localhost")
	})
	t.Run("read-only", func(t *testing.T) {
		_, errOut, code := wharf(t, "run", "--rm", "--read-only", busybox, "touch", "/newfile")
		assert.NotEqual(t, 0, code)
		assert.Contains(t, errOut, "Read-only file system")
		mustWharf(t, "run", "--rm", busybox, "touch", "/newfile")
	})
	t.Run("stdin", func(t *testing.T) {
		out, errOut, code := wharfIn(t, strings.NewReader("piped in\n"), "run", "--rm", "-i", busybox, "cat")
		require.Equal(t, 0, code, errOut)
		assert.Equal(t, "piped in\n", out)
	})
}

func TestRunResources(t *testing.T) {
	begin(t)
	out := mustWharf(t, "run", "--rm", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "50", busybox, "sh", "-c",
		"cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/pids/pids.max")
	l := lines(out)
	require.Len(t, l, 4, out)
	assert.Equal(t, "67108864", l[0], "memory.limit_in_bytes")
	assert.Equal(t, "50000", l[1], "cpu.cfs_quota_us for --cpus 0.5 with the default period")
	assert.Equal(t, "100000", l[2], "cpu.cfs_period_us")
	assert.Equal(t, "50", l[3], "pids.max")

	// The pids limit is enforced, not just written.
	_, _, code := wharf(t, "run", "--rm", "--pids-limit", "5", busybox, "sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 5 & done; wait")
	assert.NotEqual(t, 0, code, "forking 10 children under --pids-limit 5 must fail")
}

func TestRunNetwork(t *testing.T) {
	begin(t)
	out := mustWharf(t, "run", "--rm", "--network", "none", busybox, "ls", "/sys/class/net")
	assert.Equal(t, []string{"lo"}, strings.Fields(out), "--network none has only lo")

	host, err := os.ReadDir("/sys/class/net")
	require.NoError(t, err)
	var want []string
	for _, e := range host {
		want = append(want, e.Name())
	}
	sort.Strings(want)
	got := strings.Fields(mustWharf(t, "run", "--rm", "--network", "host", busybox, "ls", "/sys/class/net"))
	sort.Strings(got)
	assert.Equal(t, want, got, "--network host sees the host's interfaces")
}

func TestRunVolumesAndMounts(t *testing.T) {
	begin(t)
	vol := uniq(t, "vol")
	mustWharf(t, "volume", "create", vol)
	t.Cleanup(func() { _, _, _ = wharf(t, "volume", "rm", "-f", vol) })
	mustWharf(t, "run", "--rm", "-v", vol+":/data", busybox, "sh", "-c", "echo persisted > /data/f")
	assert.Equal(t, "persisted", mustWharf(t, "run", "--rm", "-v", vol+":/data", busybox, "cat", "/data/f"))
	assert.Equal(t, "persisted", mustWharf(t, "run", "--rm", "--mount", "type=volume,source="+vol+",target=/data", busybox, "cat", "/data/f"))

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hostfile"), []byte("from host\n"), 0o644))
	assert.Equal(t, "from host", mustWharf(t, "run", "--rm", "-v", dir+":/mnt:ro", busybox, "cat", "/mnt/hostfile"))
	_, errOut, code := wharf(t, "run", "--rm", "-v", dir+":/mnt:ro", busybox, "touch", "/mnt/new")
	assert.NotEqual(t, 0, code, "writing to a :ro bind mount must fail")
	assert.Contains(t, errOut, "Read-only file system")
	assert.NoFileExists(t, filepath.Join(dir, "new"))

	mustWharf(t, "run", "--rm", "-v", dir+":/mnt", busybox, "sh", "-c", "echo from container > /mnt/back")
	b, err := os.ReadFile(filepath.Join(dir, "back"))
	require.NoError(t, err)
	assert.Equal(t, "from container\n", string(b))

	_, _, code = wharf(t, "run", "--rm", "--mount", "type=bind,source="+dir+",target=/mnt,readonly", busybox, "touch", "/mnt/new2")
	assert.NotEqual(t, 0, code, "--mount …,readonly must be read-only")
	assert.Equal(t, "from host", mustWharf(t, "run", "--rm", "--mount", "type=bind,source="+dir+",target=/mnt,readonly", busybox, "cat", "/mnt/hostfile"))
}

func TestStopSignalAndTimeout(t *testing.T) {
	begin(t)
	name := uniq(t, "sig")
	runDetached(t, "--name", name, "--stop-signal", "SIGUSR1", busybox, "sh", "-c",
		`trap 'echo got-usr1; exit 0' USR1; echo ready; while :; do sleep 0.1; done`)
	eventually(t, func() bool { out, _, _ := wharf(t, "logs", name); return strings.Contains(out, "ready") }, 20*time.Second, "container never printed ready")
	mustWharf(t, "stop", name)
	out, _, _ := wharf(t, "logs", name)
	assert.Contains(t, out, "got-usr1", "stop must send the --stop-signal")
	assert.Equal(t, "0", inspect(t, name, "{{.State.ExitCode}}"))

	// PID 1 without a handler ignores SIGTERM, so stop has to escalate to
	// SIGKILL after --stop-timeout (1 s), not docker's default 10 s.
	name2 := uniq(t, "timeout")
	runDetached(t, "--name", name2, "--stop-timeout", "1", busybox, "sleep", "3600")
	waitState(t, name2, "running", 20*time.Second)
	start := time.Now()
	mustWharf(t, "stop", name2)
	took := time.Since(start)
	assert.Less(t, took, 6*time.Second, "stop honoured --stop-timeout 1")
	assert.GreaterOrEqual(t, took, 900*time.Millisecond, "stop waited for the timeout before SIGKILL")
	assert.Equal(t, "137", inspect(t, name2, "{{.State.ExitCode}}"))
}

//go:build linux

package e2e

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDetachedAndPs(t *testing.T) {
	begin(t)
	web := uniq(t, "web")
	id := runDetached(t, "--name", web, "--label", "e2e.role=web", busybox, "httpd", "-f", "-p", "8080")
	exited := uniq(t, "exited")
	rmOnCleanup(t, exited)
	mustWharf(t, "run", "--name", exited, busybox, "true")

	waitState(t, web, "running", 20*time.Second)
	out := mustWharf(t, "ps")
	assert.Contains(t, out, "CONTAINER ID")
	assert.Contains(t, out, id[:12])
	assert.Contains(t, out, web)
	assert.NotContains(t, out, exited, "ps without -a lists running containers only")

	assert.Contains(t, lines(mustWharf(t, "ps", "-q")), id[:12])
	all := lines(mustWharf(t, "container", "ls", "-a", "-q"))
	assert.Contains(t, all, id[:12])
	assert.Contains(t, all, inspect(t, exited, "{{.Id}}")[:12])

	assert.Equal(t, id[:12]+" "+web, mustWharf(t, "ps", "--filter", "name="+web, "--format", "{{.ID}} {{.Names}}"))
	assert.Equal(t, web, mustWharf(t, "ps", "-a", "--filter", "label=e2e.role=web", "--format", "{{.Names}}"))
	assert.Equal(t, exited, mustWharf(t, "ps", "-a", "--filter", "status=exited", "--filter", "name="+exited, "--format", "{{.Names}}"))
	assert.Equal(t, id, mustWharf(t, "ps", "-q", "--no-trunc", "--filter", "id="+id[:12]))
	assert.Regexp(t, `^Up `, mustWharf(t, "ps", "--filter", "name="+web, "--format", "{{.Status}}"))
	assert.Regexp(t, `^Exited \(0\) `, mustWharf(t, "ps", "-a", "--filter", "name="+exited, "--format", "{{.Status}}"))
	// the JSON form of --format must decode
	var row map[string]any
	require.NoError(t, json.Unmarshal([]byte(mustWharf(t, "ps", "--filter", "name="+web, "--format", "{{json .}}")), &row))
	assert.Equal(t, web, row["Names"])
}

func TestLogs(t *testing.T) {
	begin(t)
	name := uniq(t, "")
	runDetached(t, "--name", name, busybox, "sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done; echo oops >&2")
	assert.Equal(t, "0", mustWharf(t, "wait", name))

	out, errOut, code := wharf(t, "logs", name)
	require.Equal(t, 0, code)
	assert.Equal(t, "line1\nline2\nline3\nline4\nline5\n", out)
	assert.Equal(t, "oops\n", errOut, "stderr of the container goes to stderr of logs")

	out, _, _ = wharf(t, "logs", "--tail", "2", name)
	assert.NotContains(t, out, "line3")
	assert.Contains(t, out, "line5")

	out = mustWharf(t, "logs", "-t", name)
	tsLine := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z line\d$`)
	for _, l := range lines(out) {
		assert.Regexp(t, tsLine, l)
	}

	// --since: wait until "before" is logged, take the time, then let the
	// container print "after".
	gated := uniq(t, "since")
	runDetached(t, "--name", gated, busybox, "sh", "-c", "echo before; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo after")
	eventually(t, func() bool { o, _, _ := wharf(t, "logs", gated); return strings.Contains(o, "before") }, 20*time.Second, "no 'before' in logs")
	since := time.Now().Add(10 * time.Millisecond)
	for time.Now().Before(since.Add(10 * time.Millisecond)) {
		time.Sleep(5 * time.Millisecond) // make sure "after" is stamped later than since
	}
	mustWharf(t, "exec", gated, "touch", "/tmp/go")
	assert.Equal(t, "0", mustWharf(t, "wait", gated))
	assert.Equal(t, "after", mustWharf(t, "logs", "--since", since.UTC().Format(time.RFC3339Nano), gated))
	assert.Equal(t, "before\nafter", mustWharf(t, "logs", "--since", "1h", gated))

	// -f follows until the container stops.
	follow := uniq(t, "follow")
	runDetached(t, "--name", follow, busybox, "sh", "-c", "echo start; while [ ! -e /tmp/stop ]; do sleep 0.05; done; echo end")
	bg := startWharf(t, "logs", "-f", follow)
	eventually(t, func() bool { return strings.Contains(bg.stdout.String(), "start") }, 20*time.Second, "logs -f printed no 'start'")
	_, ok := bg.exited(300 * time.Millisecond)
	require.False(t, ok, "logs -f must keep running while the container runs")
	mustWharf(t, "exec", follow, "touch", "/tmp/stop")
	code, ok = bg.exited(20 * time.Second)
	require.True(t, ok, "logs -f must end when the container stops")
	assert.Equal(t, 0, code)
	assert.Equal(t, "start\nend\n", bg.stdout.String())
}

func TestExec(t *testing.T) {
	begin(t)
	name := uniq(t, "")
	runDetached(t, "--name", name, busybox, "sleep", "3600")
	waitState(t, name, "running", 20*time.Second)

	assert.Equal(t, "hi", mustWharf(t, "exec", name, "echo", "hi"))
	_, _, code := wharf(t, "exec", name, "sh", "-c", "exit 5")
	assert.Equal(t, 5, code, "exec passes the exit code through")
	assert.Equal(t, "bar", mustWharf(t, "exec", "-e", "FOO=bar", name, "sh", "-c", "echo $FOO"))
	assert.Equal(t, "/var/www", mustWharf(t, "exec", "-w", "/var/www", name, "pwd"))
	assert.Equal(t, "33", mustWharf(t, "exec", "-u", "www-data", name, "id", "-u"))
	assert.Equal(t, "65534", mustWharf(t, "exec", "-u", "65534", name, "id", "-u"))
	out, errOut, code := wharfIn(t, strings.NewReader("to exec\n"), "exec", "-i", name, "cat")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "to exec\n", out)
	// the exec'd process shares the container's PID namespace
	assert.Contains(t, mustWharf(t, "exec", name, "ps"), "sleep 3600")

	_, _, code = wharf(t, "exec", name, "/no/such/binary")
	assert.NotEqual(t, 0, code)
	_, _, code = wharf(t, "exec", "e2e-no-such-container", "true")
	assert.NotEqual(t, 0, code)
}

func TestTopAndStats(t *testing.T) {
	begin(t)
	name := uniq(t, "")
	id := runDetached(t, "--name", name, busybox, "sleep", "3600")
	waitState(t, name, "running", 20*time.Second)

	out := mustWharf(t, "top", name)
	assert.Contains(t, out, "PID")
	assert.Contains(t, out, "sleep 3600")

	out = mustWharf(t, "stats", "--no-stream")
	assert.Contains(t, out, "CONTAINER ID")
	assert.Contains(t, out, id[:12])
	out = mustWharf(t, "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", name)
	assert.Regexp(t, `^`+regexp.QuoteMeta(name)+` \d`, out)
}

func TestLifecycle(t *testing.T) {
	begin(t)
	name := uniq(t, "")
	runDetached(t, "--name", name, busybox, "sleep", "3600")
	waitState(t, name, "running", 20*time.Second)
	pid := inspect(t, name, "{{.State.Pid}}")
	assert.NotEqual(t, "0", pid)

	_, _, code := wharf(t, "rm", name)
	assert.NotEqual(t, 0, code, "rm without -f refuses a running container")

	// pause freezes, unpause thaws
	mustWharf(t, "pause", name)
	assert.Equal(t, "paused", state(t, name))
	assert.Equal(t, "true", inspect(t, name, "{{.State.Paused}}"))
	mustWharf(t, "unpause", name)
	assert.Equal(t, "running", state(t, name))

	// stop: sleep as PID 1 ignores SIGTERM, so it takes the SIGKILL after -t
	mustWharf(t, "stop", "-t", "1", name)
	assert.Equal(t, "exited", state(t, name))
	assert.Equal(t, "137", inspect(t, name, "{{.State.ExitCode}}"))

	mustWharf(t, "start", name)
	waitState(t, name, "running", 20*time.Second)
	started := inspect(t, name, "{{.State.StartedAt}}")
	mustWharf(t, "restart", "-t", "0", name)
	waitState(t, name, "running", 20*time.Second)
	assert.NotEqual(t, started, inspect(t, name, "{{.State.StartedAt}}"), "restart starts a new process")

	mustWharf(t, "kill", name)
	waitState(t, name, "exited", 20*time.Second)
	assert.Equal(t, "137", inspect(t, name, "{{.State.ExitCode}}"))

	renamed := uniq(t, "renamed")
	rmOnCleanup(t, renamed)
	mustWharf(t, "rename", name, renamed)
	_, _, code = wharf(t, "inspect", name)
	assert.NotEqual(t, 0, code, "old name is gone after rename")
	assert.Equal(t, "/"+renamed, inspect(t, renamed, "{{.Name}}"))

	// inspect gives docker's JSON array
	raw := mustWharf(t, "container", "inspect", renamed)
	var arr []map[string]any
	require.NoError(t, json.Unmarshal([]byte(raw), &arr))
	require.Len(t, arr, 1)
	assert.Contains(t, arr[0], "Id")
	assert.Contains(t, arr[0], "State")
	assert.Contains(t, arr[0], "Config")
	assert.Contains(t, arr[0], "HostConfig")
	assert.Equal(t, busybox, inspect(t, renamed, "{{.Config.Image}}"))

	// wait prints the exit code
	waiter := uniq(t, "wait")
	runDetached(t, "--name", waiter, busybox, "sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 4")
	bg := startWharf(t, "wait", waiter)
	mustWharf(t, "exec", waiter, "touch", "/tmp/go")
	code, ok := bg.exited(20 * time.Second)
	require.True(t, ok, "wait must return when the container exits")
	assert.Equal(t, 0, code)
	assert.Equal(t, "4", strings.TrimSpace(bg.stdout.String()))

	// rm -f removes a running container
	running := uniq(t, "rmf")
	runDetached(t, "--name", running, busybox, "sleep", "3600")
	mustWharf(t, "rm", "-f", running)
	_, _, code = wharf(t, "inspect", running)
	assert.NotEqual(t, 0, code)
	assert.False(t, processAlive(atoi(t, pid)), "old process gone")
}

// TestRmAllListed is `wharf container rm $(wharf container ls -a -q)` over
// this test's own containers.
func TestRmAllListed(t *testing.T) {
	begin(t)
	for i := range 3 {
		n := uniq(t, string(rune('a'+i)))
		rmOnCleanup(t, n)
		mustWharf(t, "create", "--name", n, "--label", "e2e.rmall=1", busybox, "true")
	}
	mustWharf(t, "start", uniq(t, "a"))
	assert.Equal(t, "0", mustWharf(t, "wait", uniq(t, "a")))
	ids := lines(mustWharf(t, "container", "ls", "-a", "-q", "--filter", "label=e2e.rmall=1"))
	require.Len(t, ids, 3)
	out := mustWharf(t, append([]string{"container", "rm"}, ids...)...)
	assert.Len(t, lines(out), 3, "rm prints each removed container")
	assert.Empty(t, mustWharf(t, "container", "ls", "-a", "-q", "--filter", "label=e2e.rmall=1"))
}

func TestRestartPolicies(t *testing.T) {
	begin(t)
	t.Run("on-failure:2", func(t *testing.T) {
		name := uniq(t, "")
		runDetached(t, "--name", name, "--restart", "on-failure:2", busybox, "sh", "-c", "exit 1")
		eventually(t, func() bool {
			out, _, _ := wharf(t, "inspect", "-f", "{{.RestartCount}} {{.State.Status}}", name)
			return strings.TrimSpace(out) == "2 exited"
		}, 30*time.Second, "on-failure:2 should restart twice and then stay exited")
		assert.Equal(t, "1", inspect(t, name, "{{.State.ExitCode}}"))
	})
	t.Run("on-failure ignores success", func(t *testing.T) {
		name := uniq(t, "")
		runDetached(t, "--name", name, "--restart", "on-failure", busybox, "true")
		assert.Equal(t, "0", mustWharf(t, "wait", name))
		assert.Equal(t, "0", inspect(t, name, "{{.RestartCount}}"))
	})
	t.Run("always", func(t *testing.T) {
		name := uniq(t, "")
		runDetached(t, "--name", name, "--restart", "always", busybox, "sh", "-c", "exit 0")
		eventually(t, func() bool {
			out, _, _ := wharf(t, "inspect", "-f", "{{.RestartCount}}", name)
			return atoiOr(strings.TrimSpace(out), 0) >= 2
		}, 30*time.Second, "always should keep restarting a container that exits 0")
	})
	t.Run("always stays stopped after stop", func(t *testing.T) {
		name := uniq(t, "")
		runDetached(t, "--name", name, "--restart", "always", busybox, "sleep", "3600")
		waitState(t, name, "running", 20*time.Second)
		mustWharf(t, "stop", "-t", "0", name)
		// A manual stop wins over the policy; nothing to await here, so
		// watch it for longer than the first back-off steps.
		deadline := time.Now().Add(1500 * time.Millisecond)
		for time.Now().Before(deadline) {
			require.Equal(t, "exited", state(t, name), "a stopped --restart always container was restarted")
			time.Sleep(100 * time.Millisecond)
		}
	})
	t.Run("bad policy", func(t *testing.T) {
		_, _, code := wharf(t, "run", "--rm", "--restart", "sometimes", busybox, "true")
		assert.Equal(t, 125, code)
		_, _, code = wharf(t, "run", "--rm", "--restart", "always", busybox, "true")
		assert.Equal(t, 125, code, "--restart and --rm conflict")
	})
}

func TestEvents(t *testing.T) {
	begin(t)
	name := uniq(t, "")
	rmOnCleanup(t, name)
	// --since makes the stream replay what happened before it subscribed,
	// so there is no race between subscribing and creating the container.
	since := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
	mustWharf(t, "run", "--name", name, busybox, "true")
	bg := startWharf(t, "events", "--since", since, "--filter", "container="+name)
	eventually(t, func() bool {
		out := bg.stdout.String()
		return strings.Contains(out, "container create") && strings.Contains(out, "container start") && strings.Contains(out, "container die")
	}, 20*time.Second, "events did not show create, start and die")

	// The same events are replayed with --since/--until. A relative --until
	// ("0s") is truncated to whole seconds by the client and would miss
	// events of the current second, so end the stream a moment from now.
	until := time.Now().Add(500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	out := mustWharf(t, "system", "events", "--since", "5m", "--until", until, "--filter", "container="+name)
	assert.Contains(t, out, "container create")
	assert.Contains(t, out, "container die")
}

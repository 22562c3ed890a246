//go:build linux

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHealthcheck follows a container's HEALTHCHECK from starting to
// healthy to unhealthy, as docker ps, inspect, filters and events show it.
func TestHealthcheck(t *testing.T) {
	begin(t)
	name := uniq(t, "")
	id := runDetached(t, "--name", name, "--health-cmd", "test -e /tmp/ok", "--health-interval", "100ms",
		"--health-retries", "2", "--health-start-period", "1m", "busybox", "sleep", "300")

	health := func() string { return inspect(t, id, "{{.State.Health.Status}}") }
	assert.Equal(t, "starting", health(), "failures within the start period do not count")
	assert.Contains(t, mustWharf(t, "ps", "--filter", "name="+name, "--format", "{{.Status}}"), "(health: starting)")

	mustWharf(t, "exec", id, "touch", "/tmp/ok")
	eventually(t, func() bool { return health() == "healthy" }, 10*time.Second, "becomes healthy")
	assert.Equal(t, id[:12], strings.TrimSpace(mustWharf(t, "ps", "-q", "--filter", "health=healthy", "--filter", "name="+name)))

	mustWharf(t, "exec", id, "rm", "/tmp/ok")
	eventually(t, func() bool { return health() == "unhealthy" }, 10*time.Second, "a success ended the start period: two failures make it unhealthy")
	assert.Contains(t, mustWharf(t, "ps", "--filter", "name="+name, "--format", "{{.Status}}"), "(unhealthy)")
	assert.GreaterOrEqual(t, atoi(t, inspect(t, id, "{{.State.Health.FailingStreak}}")), 2)
	codes := strings.Fields(inspect(t, id, "{{range .State.Health.Log}}{{.ExitCode}} {{end}}"))
	require.NotEmpty(t, codes)
	assert.Equal(t, "1", codes[len(codes)-1], "the log keeps each probe's exit code, newest last")
	assert.LessOrEqual(t, len(codes), 5, "and only the last five")
	assert.Equal(t, "2", inspect(t, id, "{{len .ExecIDs}}"), "the test's two execs are listed, the probes are not")

	// --until as seconds.nanoseconds: a duration would be cut to the second
	// and miss this second's events.
	now := time.Now()
	until := fmt.Sprintf("%d.%09d", now.Unix(), now.Nanosecond())
	events := mustWharf(t, "events", "--since", "5m", "--until", until, "--filter", "container="+id, "--filter", "event=health_status")
	assert.Contains(t, events, "health_status: healthy")
	assert.Contains(t, events, "health_status: unhealthy")

	needDocker(t)
	assert.Equal(t, "unhealthy", strings.TrimSpace(mustDocker(t, "inspect", "-f", "{{.State.Health.Status}}", id)))
}

// TestHealthcheckBadFlags: docker's validation, nothing created.
func TestHealthcheckBadFlags(t *testing.T) {
	begin(t)
	name := uniq(t, "")
	_, errOut, code := wharf(t, "run", "--name", name, "--no-healthcheck", "--health-cmd", "true", "busybox", "true")
	assert.Equal(t, 125, code)
	assert.Contains(t, errOut, "--no-healthcheck conflicts with --health-* options")
	_, _, code = wharf(t, "inspect", name)
	require.NotEqual(t, 0, code, "no container was created")
}

package engine

import (
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wharf.io/wharf/image"
)

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "A=1"}, []string{"A=2", "B=3"})
	assert.Equal(t, []string{"PATH=/bin", "A=2", "B=3"}, got)
}

func TestMergeImageConfig(t *testing.T) {
	img := &image.Image{}
	img.Config.Config.Cmd = []string{"sh"}
	img.Config.Config.Entrypoint = []string{"/init"}
	img.Config.Config.Env = []string{"PATH=/bin", "NAME=img"}
	img.Config.Config.WorkingDir = "/app"
	img.Config.Config.Labels = map[string]string{"a": "img", "b": "img"}
	img.Config.Config.Volumes = map[string]struct{}{"/data": {}}
	img.Config.Config.Healthcheck = &dockerspec.HealthcheckConfig{Test: []string{"CMD", "true"}}

	// Only Cmd given: image entrypoint stays, image cmd goes.
	cfg := &container.Config{Cmd: []string{"echo", "hi"}, Env: []string{"NAME=ctr"}, Labels: map[string]string{"b": "ctr"}}
	mergeImageConfig(cfg, img)
	assert.Equal(t, []string{"/init"}, cfg.Entrypoint)
	assert.Equal(t, []string{"echo", "hi"}, cfg.Cmd)
	assert.Equal(t, []string{"PATH=/bin", "NAME=ctr"}, cfg.Env)
	assert.Equal(t, "/app", cfg.WorkingDir)
	assert.Equal(t, map[string]string{"a": "img", "b": "ctr"}, cfg.Labels)
	assert.Contains(t, cfg.Volumes, "/data")
	require.NotNil(t, cfg.Healthcheck)

	// Nothing given: both from the image.
	cfg = &container.Config{}
	mergeImageConfig(cfg, img)
	assert.Equal(t, []string{"sh"}, cfg.Cmd)

	// --entrypoint "" clears the image's entrypoint.
	cfg = &container.Config{Entrypoint: []string{""}, Cmd: []string{"ls"}}
	mergeImageConfig(cfg, img)
	assert.Empty(t, cfg.Entrypoint)
	assert.Equal(t, []string{"ls"}, cfg.Cmd)
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{"": syscall.SIGTERM, "TERM": syscall.SIGTERM, "sigkill": syscall.SIGKILL, "SIGHUP": syscall.SIGHUP, "9": syscall.SIGKILL} {
		got, err := parseSignal(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"NOPE", "0", "-1", "65"} {
		_, err := parseSignal(in)
		assert.True(t, errdefs.IsInvalidArgument(err), in)
	}
}

func TestFilterPs(t *testing.T) {
	out := []byte("UID          PID    PPID  C STIME TTY          TIME CMD\nroot           1       0  0 10:00 ?        00:00:01 /sbin/init\nroot        4242    4200  0 10:01 ?        00:00:00 sleep 1000\n")
	resp, err := filterPs(out, []int{4242})
	require.NoError(t, err)
	assert.Equal(t, []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}, resp.Titles)
	require.Len(t, resp.Processes, 1)
	assert.Equal(t, "sleep 1000", resp.Processes[0][7])

	_, err = filterPs([]byte("USER COMMAND\nroot x\n"), []int{1})
	assert.True(t, errdefs.IsInvalidArgument(err))
}

func TestResolvConfDropsLoopbackAndAppliesDNS(t *testing.T) {
	c := &Container{Config: &container.Config{}, HostConfig: &container.HostConfig{}}
	got := string(resolvConf(c))
	assert.NotContains(t, got, "nameserver 127.")
	assert.True(t, strings.HasPrefix(got, "nameserver "))

	c.HostConfig.DNS = []netip.Addr{netip.MustParseAddr("1.1.1.1")}
	c.HostConfig.DNSSearch = []string{"example.org"}
	got = string(resolvConf(c))
	assert.Contains(t, got, "nameserver 1.1.1.1\n")
	assert.Contains(t, got, "search example.org\n")
}

func TestMatchEvent(t *testing.T) {
	m := events.Message{Type: events.ContainerEventType, Action: events.ActionStart, Actor: events.Actor{ID: "abc123", Attributes: map[string]string{"name": "web", "image": "busybox", "tier": "front"}}}
	assert.True(t, matchEvent(m, nil))
	assert.True(t, matchEvent(m, Filters{"type": {"container"}, "event": {"start", "die"}}))
	assert.True(t, matchEvent(m, Filters{"container": {"web"}}))
	assert.True(t, matchEvent(m, Filters{"label": {"tier=front"}}))
	assert.False(t, matchEvent(m, Filters{"label": {"tier=back"}}))
	assert.False(t, matchEvent(m, Filters{"event": {"die"}}))
	assert.False(t, matchEvent(m, Filters{"type": {"image"}}))
}

func TestValidateHostConfig(t *testing.T) {
	e := &Engine{}
	neg := int64(-5)
	bad := []*container.HostConfig{
		{Resources: container.Resources{Memory: 1024}},
		{Resources: container.Resources{Memory: -1}},
		{Resources: container.Resources{NanoCPUs: 1000 * 1e9}},
		{Resources: container.Resources{PidsLimit: &neg}},
		{RestartPolicy: container.RestartPolicy{Name: "sometimes"}},
		{RestartPolicy: container.RestartPolicy{Name: "always", MaximumRetryCount: 3}},
		{AutoRemove: true, RestartPolicy: container.RestartPolicy{Name: "always"}},
		{Runtime: "no-such-runtime-anywhere"},
	}
	for i, hc := range bad {
		err := e.validateHostConfig(hc)
		assert.True(t, errdefs.IsInvalidArgument(err), "case %d: %v", i, err)
	}
	assert.True(t, errdefs.IsNotFound(e.validateHostConfig(&container.HostConfig{NetworkMode: "nosuchnet"})))
	ok := []*container.HostConfig{
		{},
		{Resources: container.Resources{Memory: 64 << 20, NanoCPUs: 5e8}, NetworkMode: "none"},
		{RestartPolicy: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 2}, NetworkMode: "host"},
	}
	for i, hc := range ok {
		assert.NoError(t, e.validateHostConfig(hc), "case %d", i)
	}
}

func TestStatusText(t *testing.T) {
	now := time.Now()
	c := &Container{State: state{Status: container.StateExited, ExitCode: 3, FinishedAt: now.Add(-2 * time.Minute)}}
	assert.Equal(t, "Exited (3) 2 minutes ago", statusText(c, now))
	c.State = state{Status: container.StateRunning, StartedAt: now.Add(-3 * time.Second)}
	assert.Equal(t, "Up 3 seconds", statusText(c, now))
	c.State = state{Status: container.StateCreated}
	assert.Equal(t, "Created", statusText(c, now))
}

func TestMkdirInRootStaysInside(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, mkdirInRoot(root, "/app/../../etc/x"))
	assert.DirExists(t, root+"/etc/x")
}

// The reference filter matches docker's way: a pattern against the familiar
// name and name:tag; a registry's port is not a tag.
func TestMatchImageReference(t *testing.T) {
	img := imagetypes.Summary{RepoTags: []string{"127.0.0.1:5000/alice/app:v1", "busybox:latest"}}
	for pat, want := range map[string]bool{
		"127.0.0.1:5000/alice/app":    true,
		"127.0.0.1:5000/alice/app:v1": true,
		"127.0.0.1:5000/alice/app:v2": false,
		"127.0.0.1":                   false,
		"127.0.0.1:5000/*/*":          true,
		"busybox":                     true,
		"busy*":                       true,
		"busybox:latest":              true,
		"alpine":                      false,
	} {
		assert.Equal(t, want, matchImage(img, Filters{"reference": {pat}}), pat)
	}
}

package api

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wharf.io/wharf/engine"
)

// TestDockerCLI drives the handler with the real docker CLI (v28 is on
// every machine here), the client users actually have.
func TestDockerCLI(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker CLI not installed")
	}
	f := newFake()
	f.logs = func(ctx context.Context, id string, o engine.LogsOptions, stdout, stderr io.Writer) error {
		fmt.Fprint(stdout, "to stdout\n")
		fmt.Fprint(stderr, "to stderr\n")
		return nil
	}
	f.execRun = func(ctx context.Context, id string, s engine.AttachStreams) error {
		fmt.Fprint(s.Stdout, "fakehost\n")
		return nil
	}
	f.execs["e1"].OpenStdin = false
	f.containers["c1"].NetworkSettings = &container.NetworkSettings{Ports: network.PortMap{
		network.MustParsePort("80/tcp"): {{HostIP: netip.MustParseAddr("0.0.0.0"), HostPort: "4000"}},
		network.MustParsePort("53/udp"): {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "5353"}},
	}}
	// `docker run` creates "new-" (the fake's ID for an unnamed container).
	f.containers["new-"] = &container.InspectResponse{ID: "new-", Config: &container.Config{Image: "busybox:local"}}
	f.attach = func(ctx context.Context, id string, s engine.AttachStreams) error {
		fmt.Fprint(s.Stdout, "hi\n")
		return nil
	}
	f.wait = func(ctx context.Context, id string, c container.WaitCondition) (<-chan container.WaitResponse, error) {
		ch := make(chan container.WaitResponse, 1)
		ch <- container.WaitResponse{StatusCode: 3}
		return ch, nil
	}
	sock := serveUnix(t, New(f, WithVersion("0.1.0"), WithLogger(testLogger(t))))

	run := func(args ...string) (string, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, docker, args...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+sock, "DOCKER_CONFIG="+t.TempDir())
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return out.String(), errOut.String(), err
	}

	out, errOut, err := run("version", "--format", "{{.Server.APIVersion}} {{.Server.Version}}")
	require.NoError(t, err, errOut)
	assert.Equal(t, APIVersion+" 0.0.1-test\n", out)

	out, errOut, err = run("ps", "-a", "--filter", "status=exited")
	require.NoError(t, err, errOut)
	assert.Contains(t, out, "CONTAINER ID")

	out, errOut, err = run("logs", "c1")
	require.NoError(t, err, errOut)
	assert.Equal(t, "to stdout\n", out)
	assert.Equal(t, "to stderr\n", errOut)

	out, errOut, err = run("exec", "c1", "hostname")
	require.NoError(t, err, errOut)
	assert.Equal(t, "fakehost\n", out)

	_, errOut, err = run("inspect", "--type", "container", "missing")
	require.Error(t, err)
	assert.Contains(t, errOut, "No such container: missing")

	out, errOut, err = run("network", "ls", "--format", "{{.Name}} {{.Driver}}")
	require.NoError(t, err, errOut)
	assert.Equal(t, "bridge bridge\n", out)

	out, errOut, err = run("network", "create", "--subnet", "10.20.0.0/24", "--gateway", "10.20.0.254",
		"--internal", "--label", "team=core", "appnet")
	require.NoError(t, err, errOut)
	assert.Equal(t, "net-appnet\n", out)
	require.Len(t, f.netCreated, 1)
	assert.Equal(t, "10.20.0.0/24", f.netCreated[0].IPAM.Config[0].Subnet.String())
	assert.True(t, f.netCreated[0].Internal)
	assert.Equal(t, map[string]string{"team": "core"}, f.netCreated[0].Labels)

	out, errOut, err = run("network", "ls")
	require.NoError(t, err, errOut)
	assert.Regexp(t, `^NETWORK ID +NAME +DRIVER +SCOPE\nnet-appnet +appnet +bridge +local\nb1 +bridge +bridge +local\n$`, out)

	out, errOut, err = run("network", "inspect", "-f", "{{.Name}} {{.Internal}}", "appnet")
	require.NoError(t, err, errOut)
	assert.Equal(t, "appnet true\n", out)

	_, errOut, err = run("network", "connect", "--alias", "cache", "--ip", "10.20.0.9", "appnet", "c1")
	require.NoError(t, err, errOut)
	assert.Equal(t, []string{"cache"}, f.netConnected.Aliases)
	assert.Equal(t, "10.20.0.9", f.netConnected.IPAMConfig.IPv4Address.String())

	_, errOut, err = run("network", "rm", "appnet")
	require.Error(t, err)
	assert.Contains(t, errOut, "has active endpoints")

	_, errOut, err = run("network", "disconnect", "appnet", "c1")
	require.NoError(t, err, errOut)
	out, errOut, err = run("network", "rm", "appnet")
	require.NoError(t, err, errOut)
	assert.Equal(t, "appnet\n", out)

	_, errOut, err = run("network", "inspect", "appnet")
	require.Error(t, err)
	assert.Contains(t, errOut, "network appnet not found")

	_, errOut, err = run("network", "create", "old")
	require.NoError(t, err, errOut)
	out, errOut, err = run("network", "prune", "-f")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Deleted Networks:\nold\n\n", out)

	out, errOut, err = run("port", "c1")
	require.NoError(t, err, errOut)
	assert.Equal(t, "53/udp -> 127.0.0.1:5353\n80/tcp -> 0.0.0.0:4000\n", out)

	out, errOut, err = run("run", "--rm", "busybox:local", "echo", "hi")
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr, errOut)
	assert.Equal(t, 3, exitErr.ExitCode())
	assert.Equal(t, "hi\n", out)
}

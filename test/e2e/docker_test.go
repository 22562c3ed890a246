//go:build linux

package e2e

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDockerExecOutputComplete: a short-lived exec's output and exit code
// reach the docker CLI every time. The daemon once closed its connections to
// the exec's monitor as soon as the process ended, sometimes before the last
// output frame was read: about one exec in seventy then failed with
// "connection to shim lost".
func TestDockerExecOutputComplete(t *testing.T) {
	begin(t)
	needDocker(t)
	name := runDetached(t, busybox, "sleep", "600")
	for i := 0; i < 150; i++ {
		out, errOut, code := docker(t, "exec", name, "echo", fmt.Sprint("round ", i))
		require.Equal(t, 0, code, "exec %d: %s", i, errOut)
		require.Equal(t, fmt.Sprint("round ", i), strings.TrimSpace(out))
	}
}

// TestDockerCLI drives the core of the tutorial through the real docker CLI
// against wharf's socket.
func TestDockerCLI(t *testing.T) {
	begin(t)
	needDocker(t)
	assert.Regexp(t, `^1\.\d+$`, mustDocker(t, "version", "--format", "{{.Server.APIVersion}}"))
	assert.Contains(t, mustDocker(t, "info"), "Containers")
	assert.Contains(t, mustDocker(t, "images"), "busybox")

	assert.Equal(t, "hello", mustDocker(t, "run", "--rm", busybox, "echo", "hello"))
	_, _, code := docker(t, "run", "--rm", busybox, "sh", "-c", "exit 3")
	assert.Equal(t, 3, code)
	_, _, code = docker(t, "run", "--rm", busybox, "/no/such/command")
	assert.Equal(t, 127, code)
	_, _, code = docker(t, "run", "--rm", "--memory", "lots", busybox, "true")
	assert.Equal(t, 125, code)

	name := uniq(t, "host")
	rmOnCleanup(t, name)
	host := mustDocker(t, "run", "--name", name, busybox, "hostname")
	assert.Equal(t, inspect(t, name, "{{.Id}}")[:12], host)

	web := uniq(t, "web")
	rmOnCleanup(t, web)
	id := mustDocker(t, "run", "-d", "--name", web, busybox, "sh", "-c", "echo started; exec httpd -f -p 8080")
	eventually(t, func() bool { o, _, _ := docker(t, "logs", web); return strings.Contains(o, "started") }, 20*time.Second, "no log output via docker logs")
	assert.Contains(t, mustDocker(t, "ps"), id[:12])
	assert.Equal(t, web, mustDocker(t, "ps", "--filter", "name="+web, "--format", "{{.Names}}"))
	assert.Equal(t, "in container", mustDocker(t, "exec", web, "echo", "in container"))
	_, _, code = docker(t, "exec", web, "sh", "-c", "exit 6")
	assert.Equal(t, 6, code)
	assert.Contains(t, mustDocker(t, "top", web), "httpd")
	assert.Contains(t, mustDocker(t, "stats", "--no-stream", web), id[:12])
	assert.Equal(t, "running", mustDocker(t, "inspect", "-f", "{{.State.Status}}", web))
	mustDocker(t, "stop", "-t", "1", web)
	assert.Equal(t, "exited", mustDocker(t, "inspect", "-f", "{{.State.Status}}", web))
	mustDocker(t, "rm", web)

	vol := uniq(t, "vol")
	t.Cleanup(func() { _, _, _ = wharf(t, "volume", "rm", "-f", vol) })
	mustDocker(t, "volume", "create", vol)
	mustDocker(t, "run", "--rm", "-v", vol+":/data", busybox, "sh", "-c", "echo via-docker > /data/f")
	assert.Equal(t, "via-docker", mustDocker(t, "run", "--rm", "-v", vol+":/data", busybox, "cat", "/data/f"))
	mustDocker(t, "volume", "rm", vol)

	tag := "e2e/docker-tag:1"
	mustDocker(t, "tag", busybox, tag)
	t.Cleanup(func() { _, _, _ = wharf(t, "rmi", tag) })
	saved := filepath.Join(t.TempDir(), "d.tar")
	mustDocker(t, "save", "-o", saved, tag)
	mustDocker(t, "rmi", tag)
	assert.Contains(t, mustDocker(t, "load", "-i", saved), tag)

	imported := "e2e/docker-import:1"
	t.Cleanup(func() { _, _, _ = wharf(t, "rmi", "-f", imported) })
	tb := makeTar(t, tarEntry{Name: "hello.txt", Body: "hi\n"})
	cmd := exec.Command(dockerBin, "import", "-", imported)
	cmd.Env = env.clientEnv()
	cmd.Stdin = bytes.NewReader(tb)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "docker import: %s", out)
	mustWharf(t, "image", "inspect", imported)
}

// TestDockerCLINetworking: the networking core of issue 3 through the real
// docker CLI: -p publishing, docker port/ps, user networks with DNS.
func TestDockerCLINetworking(t *testing.T) {
	begin(t)
	needDocker(t)
	port := freePort(t, "tcp")
	name := uniq(t, "")
	_, errOut, code := docker(t, "run", "-d", "--name", name, "-p", fmt.Sprintf("%d:80", port), busybox, "httpd", "-f", "-p", "80", "-h", "/var/www")
	require.Equal(t, 0, code, errOut)
	rmOnCleanup(t, name)
	assert.Contains(t, httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)), httpdPage)
	assert.Contains(t, httpGet(t, fmt.Sprintf("http://%s:%d/", hostIP(t), port)), httpdPage)
	assert.Equal(t, fmt.Sprintf("0.0.0.0:%d->80/tcp", port), mustDocker(t, "ps", "--filter", "name="+name, "--format", "{{.Ports}}"))
	assert.Equal(t, fmt.Sprintf("80/tcp -> 0.0.0.0:%d", port), strings.TrimSpace(mustDocker(t, "port", name)))

	n := uniq(t, "dnet")
	mustDocker(t, "network", "create", n)
	assert.Contains(t, mustDocker(t, "network", "ls", "--format", "{{.Name}}"), n)
	peer := uniq(t, "peer")
	_, errOut, code = docker(t, "run", "-d", "--name", peer, "--network", n, busybox, "sleep", "300")
	require.Equal(t, 0, code, errOut)
	rmOnCleanup(t, peer)
	out := mustDocker(t, "run", "--rm", "--network", n, busybox, "ping", "-c", "1", "-W", "2", peer)
	assert.Contains(t, out, "1 packets received")
	assert.Contains(t, mustDocker(t, "network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", n), peer)
	_, errOut, code = docker(t, "network", "rm", n)
	assert.NotEqual(t, 0, code, "docker network rm of a network in use fails")
	assert.Contains(t, errOut, "active endpoints")
	mustDocker(t, "rm", "-f", peer)
	mustDocker(t, "network", "rm", n)
	assert.NotContains(t, mustDocker(t, "network", "ls", "--format", "{{.Name}}"), n)
}

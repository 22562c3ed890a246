//go:build linux

package e2e

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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

//go:build linux

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tutorialCompose is part 3's docker-compose.yml, with busybox httpd
// answering its hostname in place of the Python app and a free host port
// in place of 80.
const tutorialCompose = `version: "3"
services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && httpd -f -p 80 -h /www"]
    deploy:
      replicas: %d
      resources:
        limits:
          cpus: "0.1"
          memory: 50M
      restart_policy:
        condition: on-failure
    ports:
      - "%d:80"
    networks:
      - webnet
networks:
  webnet:
`

// hostnames GETs url n times and returns the answers in order.
func hostnames(t *testing.T, url string, n int) []string {
	t.Helper()
	c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var out []string
	for range n {
		resp, err := c.Get(url)
		if err != nil {
			out = append(out, "error: "+err.Error())
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, strings.TrimSpace(string(b)))
	}
	return out
}

func distinct(s []string) int {
	seen := map[string]bool{}
	for _, x := range s {
		if !strings.HasPrefix(x, "error") {
			seen[x] = true
		}
	}
	return len(seen)
}

// TestStackTutorialDockerCLI is the tutorial's part 3 through the real
// docker CLI: swarm init, stack deploy with 5 replicas behind one port,
// every request answered by the next replica, redeploys that scale in
// place, a killed replica replaced, a daemon kill -9 survived, and stack rm
// leaving nothing behind.
func TestStackTutorialDockerCLI(t *testing.T) {
	begin(t)
	needDocker(t)
	swarmInit(t, true)
	port := atoi(t, strings.TrimPrefix(freeLoopbackAddr(t), "127.0.0.1:"))
	stack := uniq(t, "")
	stack = stack[len(stack)-min(len(stack), 20):]
	stack = strings.Trim(strings.ReplaceAll(stack, ".", "-"), "-_")
	file := filepath.Join(t.TempDir(), "docker-compose.yml")
	deploy := func(replicas int) {
		t.Helper()
		require.NoError(t, os.WriteFile(file, []byte(fmt.Sprintf(tutorialCompose, replicas, port)), 0o644))
		mustDocker(t, "stack", "deploy", "-c", file, stack)
	}
	t.Cleanup(func() { docker(t, "stack", "rm", stack) })
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	replicas := func() string {
		out, _, _ := docker(t, "service", "ls", "--filter", "name="+stack+"_web", "--format", "{{.Replicas}}")
		return strings.TrimSpace(out)
	}
	taskContainers := func() int {
		out, _, _ := docker(t, "ps", "-q", "--filter", "label=com.docker.stack.namespace="+stack)
		return len(lines(out))
	}

	deploy(5)
	assert.Contains(t, mustDocker(t, "stack", "ls"), stack)
	eventually(t, func() bool { return replicas() == "5/5" }, 60*time.Second, "5 replicas run")
	var got []string
	eventually(t, func() bool { got = hostnames(t, url, 5); return distinct(got) == 5 }, 20*time.Second,
		"five requests in a row reach five different replicas (round robin)")
	assert.Equal(t, got, hostnames(t, url, 5), "and the next five go round again in the same order")
	ps := mustDocker(t, "stack", "ps", stack, "--format", "{{.Name}} {{.CurrentState}}")
	assert.Equal(t, 5, strings.Count(ps, "Running"), ps)

	// Editing replicas and deploying again scales in place: the five stay.
	before := mustDocker(t, "ps", "-q", "--filter", "label=com.docker.stack.namespace="+stack)
	deploy(7)
	eventually(t, func() bool { return replicas() == "7/7" }, 60*time.Second, "scaled to 7")
	after := mustDocker(t, "ps", "-q", "--filter", "label=com.docker.stack.namespace="+stack)
	for _, id := range lines(before) {
		assert.Contains(t, after, id, "a redeploy that only scales restarts nothing")
	}
	eventually(t, func() bool { return distinct(hostnames(t, url, 7)) == 7 }, 20*time.Second, "seven replicas answer")
	deploy(3)
	eventually(t, func() bool { return replicas() == "3/3" && taskContainers() == 3 }, 60*time.Second, "back to 3")

	// A replica that dies is replaced (restart_policy on-failure: killed → 137).
	victim := lines(mustDocker(t, "ps", "-q", "--filter", "label=com.docker.stack.namespace="+stack))[0]
	mustDocker(t, "kill", victim)
	eventually(t, func() bool {
		out, _, _ := docker(t, "service", "ps", stack+"_web", "--format", "{{.CurrentState}} {{.Error}}")
		return strings.Contains(out, "task: non-zero exit (137)") && replicas() == "3/3"
	}, 60*time.Second, "the killed replica is replaced")

	// The stack keeps serving across a daemon kill -9 and restart.
	env.killDaemon(syscall.SIGKILL, 15*time.Second)
	require.NoError(t, env.startDaemon())
	eventually(t, func() bool { return distinct(hostnames(t, url, 3)) == 3 }, 30*time.Second, "serving after the restart")
	assert.Equal(t, "3/3", replicas())

	mustDocker(t, "stack", "rm", stack)
	eventually(t, func() bool { return taskContainers() == 0 }, 60*time.Second, "stack rm removes every task container")
	out, _, _ := docker(t, "ps", "-aq", "--filter", "label=com.docker.stack.namespace="+stack)
	assert.Empty(t, strings.TrimSpace(out), "stopped ones too")
	assert.NotContains(t, mustDocker(t, "network", "ls"), stack+"_webnet")
	rules, err := exec.Command("nft", "list", "table", "ip", env.nftTable).Output()
	require.NoError(t, err)
	assert.NotContains(t, string(rules), "mesh-", "no routing mesh rule is left")
	_, err = (&http.Client{Timeout: 2 * time.Second}).Get(url)
	assert.Error(t, err, "the port is closed again")
}

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

// TestStackAndServicesWharf is part 3 through wharf's own commands, plus
// the service commands around it: deploy waits for convergence, scale,
// a rolling update to another image, rollback, logs, ps history, rm.
func TestStackAndServicesWharf(t *testing.T) {
	begin(t)
	swarmInit(t, false)
	port := atoi(t, strings.TrimPrefix(freeLoopbackAddr(t), "127.0.0.1:"))
	stack := "wst" + fmt.Sprint(os.Getpid()%100000)
	file := filepath.Join(t.TempDir(), "docker-compose.yml")
	require.NoError(t, os.WriteFile(file, []byte(fmt.Sprintf(tutorialCompose, 5, port)), 0o644))
	t.Cleanup(func() { wharf(t, "stack", "rm", stack) })

	out := mustWharf(t, "stack", "deploy", "-c", file, stack)
	assert.Contains(t, out, "Creating network "+stack+"_webnet")
	assert.Contains(t, out, "Creating service "+stack+"_web")
	// deploy waited: everything runs when it returns.
	assert.Contains(t, mustWharf(t, "stack", "services", stack), "5/5")
	// The routing mesh follows the tasks within moments of their start.
	eventually(t, func() bool { return distinct(hostnames(t, fmt.Sprintf("http://127.0.0.1:%d/", port), 5)) == 5 },
		10*time.Second, "five requests reach the five replicas")
	assert.Contains(t, mustWharf(t, "stack", "ls"), stack)
	assert.Empty(t, strings.TrimSpace(mustWharf(t, "stack", "deploy", "-c", file, stack)), "an unchanged redeploy does nothing")

	svc := stack + "_web"
	out = mustWharf(t, "service", "scale", svc+"=2")
	assert.Contains(t, out, svc+" scaled to 2")
	assert.Contains(t, out, "verify: Service converged")
	ps := mustWharf(t, "service", "ps", svc, "--filter", "desired-state=running", "--format", "{{.CurrentState}}")
	assert.Equal(t, 2, strings.Count(ps, "Running"), ps)
	assert.Contains(t, mustWharf(t, "service", "ps", svc), "Shutdown", "scaled-down tasks stay in the history")

	mustWharf(t, "tag", busybox, "e2e-svc-img:v2")
	t.Cleanup(func() { wharf(t, "rmi", "e2e-svc-img:v2") })
	mustWharf(t, "service", "update", "--image", "e2e-svc-img:v2", svc)
	assert.Equal(t, "e2e-svc-img:v2", strings.TrimSpace(mustWharf(t, "service", "inspect", "-f", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", svc)))
	eventually(t, func() bool {
		out, _, _ := wharf(t, "service", "ps", svc, "--filter", "desired-state=running", "--format", "{{.Image}} {{.CurrentState}}")
		return strings.Count(out, "e2e-svc-img:v2 Running") == 2
	}, 60*time.Second, "the rolling update replaces both tasks")
	mustWharf(t, "service", "rollback", svc)
	assert.Equal(t, "busybox:latest", strings.TrimSpace(mustWharf(t, "service", "inspect", "-f", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", svc)))

	pretty := mustWharf(t, "service", "inspect", "--pretty", svc)
	assert.Contains(t, pretty, "Replicas:\t2")
	assert.Contains(t, pretty, "Memory:\t50MiB")

	mustWharf(t, "stack", "rm", stack)
	eventually(t, func() bool {
		out, _, _ := wharf(t, "ps", "-aq", "--filter", "label=com.docker.stack.namespace="+stack)
		return strings.TrimSpace(out) == ""
	}, 60*time.Second, "stack rm removes the task containers")
	_, errOut, code := wharf(t, "service", "ps", svc)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "not found")
}

// TestServiceBadInput: clear errors, nothing created.
func TestServiceBadInput(t *testing.T) {
	begin(t)
	_, errOut, code := wharf(t, "service", "ls")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, notManagerMsg)
	swarmInit(t, false)
	for _, args := range [][]string{
		{"service", "create", "--name", "bad name", busybox},
		{"service", "create", "--name", "x", "-p", "80:0", busybox},
		{"service", "create", "--name", "x", "--mode", "global", "--replicas", "2", busybox},
		{"service", "scale", "nosuch=3"},
	} {
		_, errOut, code := wharf(t, args...)
		assert.NotEqual(t, 0, code, "%v", args)
		assert.NotEmpty(t, errOut, "%v", args)
	}
	assert.Empty(t, strings.TrimSpace(mustWharf(t, "service", "ls", "-q")))
}

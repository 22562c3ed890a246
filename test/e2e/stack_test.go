//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
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
    command: ["sh", "-c", "echo serving $$(hostname) && mkdir -p /www && hostname > /www/index.html && httpd -f -p 80 -h /www"]
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

// stackCLI runs the client a tutorial test drives: wharf or the real
// docker CLI.
type stackCLI struct {
	name string
	run  func(t *testing.T, args ...string) (string, string, int)
}

func (c stackCLI) must(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := c.run(t, args...)
	require.Equalf(t, 0, code, "%s %s failed: %s", c.name, quoteArgs(args), errOut)
	return out
}

var (
	wharfCLI  = stackCLI{"wharf", wharf}
	dockerCLI = stackCLI{"docker", docker}
)

// stackName is a stack name unique to the test, short enough for docker.
func stackName(t *testing.T) string {
	stack := uniq(t, "")
	stack = stack[len(stack)-min(len(stack), 20):]
	return strings.Trim(strings.ReplaceAll(stack, ".", "-"), "-_")
}

// taskContainerIDs are the running containers of a stack's tasks, sorted.
func taskContainerIDs(t *testing.T, stack string) []string {
	t.Helper()
	out, _, _ := wharf(t, "ps", "-q", "--no-trunc", "--filter", "label=com.docker.stack.namespace="+stack)
	ids := lines(out)
	sort.Strings(ids)
	return ids
}

// assertNothingLeft checks that a removed stack left no task, container,
// network or routing mesh rule, and that its port is closed.
func assertNothingLeft(t *testing.T, c stackCLI, stack, url string) {
	t.Helper()
	eventually(t, func() bool {
		out, _, _ := wharf(t, "ps", "-aq", "--filter", "label=com.docker.stack.namespace="+stack)
		return strings.TrimSpace(out) == ""
	}, 60*time.Second, "stack rm removes every task container, stopped ones too")
	out, _, _ := c.run(t, "service", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+stack)
	assert.Empty(t, strings.TrimSpace(out), "no service")
	_, errOut, code := c.run(t, "stack", "ps", stack)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, strings.ToLower(errOut), "nothing found in stack", "no task")
	assert.NotContains(t, c.must(t, "network", "ls"), stack+"_webnet")
	rules, err := exec.Command("nft", "list", "table", "ip", env.nftTable).Output()
	require.NoError(t, err)
	assert.NotContains(t, string(rules), "mesh-", "no routing mesh rule is left")
	_, err = (&http.Client{Timeout: 2 * time.Second}).Get(url)
	assert.Error(t, err, "the port is closed again")
}

// stackTutorial is the tutorial's part 3 through c: swarm init, stack
// deploy with 5 replicas behind one port, every request answered by the
// next replica, redeploys to 7 and back to 3 that scale in place, a killed
// replica replaced, service logs, a daemon restart (sig) that keeps the
// very same task containers serving, and — after more, when given —
// stack rm leaving nothing behind.
func stackTutorial(t *testing.T, c stackCLI, sig syscall.Signal, more func(stack string)) {
	swarmInit(t, c.name == "docker")
	port := atoi(t, strings.TrimPrefix(freeLoopbackAddr(t), "127.0.0.1:"))
	stack := stackName(t)
	svc := stack + "_web"
	file := filepath.Join(t.TempDir(), "docker-compose.yml")
	deploy := func(replicas int) string {
		t.Helper()
		require.NoError(t, os.WriteFile(file, []byte(fmt.Sprintf(tutorialCompose, replicas, port)), 0o644))
		return c.must(t, "stack", "deploy", "-c", file, stack)
	}
	t.Cleanup(func() { c.run(t, "stack", "rm", stack) })
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	replicas := func() string {
		out, _, _ := c.run(t, "service", "ls", "--filter", "name="+svc, "--format", "{{.Replicas}}")
		return strings.TrimSpace(out)
	}

	out := deploy(5)
	assert.Contains(t, out, "Creating network "+stack+"_webnet")
	assert.Contains(t, out, "Creating service "+svc)
	assert.Contains(t, c.must(t, "stack", "ls"), stack)
	eventually(t, func() bool { return replicas() == "5/5" }, 60*time.Second, "5 replicas run")
	var got []string
	eventually(t, func() bool { got = hostnames(t, url, 5); return distinct(got) == 5 }, 20*time.Second,
		"five requests in a row reach five different replicas (round robin)")
	assert.Equal(t, got, hostnames(t, url, 5), "and the next five go round again in the same order")
	ps := c.must(t, "stack", "ps", stack, "--format", "{{.Name}} {{.CurrentState}}")
	assert.Equal(t, 5, strings.Count(ps, "Running"), ps)
	if c.name == "wharf" {
		assert.Empty(t, strings.TrimSpace(deploy(5)), "an unchanged redeploy does nothing")
	}

	// Editing replicas and deploying again scales in place: the five stay.
	before := taskContainerIDs(t, stack)
	deploy(7)
	eventually(t, func() bool { return replicas() == "7/7" }, 60*time.Second, "scaled to 7")
	after := taskContainerIDs(t, stack)
	for _, id := range before {
		assert.Contains(t, after, id, "a redeploy that only scales restarts nothing")
	}
	eventually(t, func() bool { return distinct(hostnames(t, url, 7)) == 7 }, 20*time.Second, "seven replicas answer")
	deploy(3)
	eventually(t, func() bool { return replicas() == "3/3" && len(taskContainerIDs(t, stack)) == 3 }, 60*time.Second, "back to 3")
	eventually(t, func() bool { return distinct(hostnames(t, url, 6)) == 3 }, 20*time.Second, "three replicas answer")

	// A replica that dies is replaced (restart_policy on-failure: killed → 137).
	victim := taskContainerIDs(t, stack)[0]
	c.must(t, "kill", victim)
	eventually(t, func() bool {
		out, _, _ := c.run(t, "service", "ps", svc, "--format", "{{.CurrentState}} {{.Error}}")
		return strings.Contains(out, "task: non-zero exit (137)") && replicas() == "3/3"
	}, 60*time.Second, "the killed replica is replaced")
	eventually(t, func() bool { return len(taskContainerIDs(t, stack)) == 3 }, 30*time.Second, "3 task containers")

	// The tasks' output reaches service logs.
	eventually(t, func() bool {
		out, _, _ := c.run(t, "service", "logs", svc)
		return strings.Count(out, "serving ") >= 3
	}, 20*time.Second, "service logs shows what each replica printed")

	// A daemon restart (kill -9 or a graceful stop) keeps the very same
	// task containers, serving.
	before = taskContainerIDs(t, stack)
	require.Len(t, before, 3)
	env.killDaemon(sig, 15*time.Second)
	require.NoError(t, env.startDaemon())
	eventually(t, func() bool { return distinct(hostnames(t, url, 3)) == 3 }, 30*time.Second, "serving after the restart")
	assert.Equal(t, "3/3", replicas())
	assert.Equal(t, before, taskContainerIDs(t, stack), "the tasks kept running across the restart: same containers")

	if more != nil {
		more(stack)
	}

	c.must(t, "stack", "rm", stack)
	assertNothingLeft(t, c, stack, url)
}

// TestStackTutorialDockerCLI is the tutorial's part 3 through the real
// docker CLI, surviving a daemon kill -9.
func TestStackTutorialDockerCLI(t *testing.T) {
	begin(t)
	needDocker(t)
	stackTutorial(t, dockerCLI, syscall.SIGKILL, nil)
}

// TestStackAndServicesWharf is part 3 through wharf's own commands (deploy
// waits for convergence), surviving a graceful daemon restart, plus the
// service commands around it: scale, a rolling update to another image,
// rollback, inspect --pretty.
func TestStackAndServicesWharf(t *testing.T) {
	begin(t)
	stackTutorial(t, wharfCLI, syscall.SIGTERM, func(stack string) {
		svc := stack + "_web"
		out := mustWharf(t, "service", "scale", svc+"=2")
		assert.Contains(t, out, svc+" scaled to 2")
		assert.Contains(t, out, "overall progress: 2 out of 2 tasks")
		assert.NotRegexp(t, `overall progress: [3-9] out of 2`, out, "never more running than wanted")
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
	})
}

// TestServicePublishedPortNoNetwork: a service that publishes a port but
// names no network gets its tasks on the ingress network, and the routing
// mesh spreads the port over them (wharf and docker service create).
func TestServicePublishedPortNoNetwork(t *testing.T) {
	for _, c := range []stackCLI{wharfCLI, dockerCLI} {
		t.Run(c.name, func(t *testing.T) {
			begin(t)
			if c.name == "docker" {
				needDocker(t)
			}
			swarmInit(t, c.name == "docker")
			port := atoi(t, strings.TrimPrefix(freeLoopbackAddr(t), "127.0.0.1:"))
			name := stackName(t)
			t.Cleanup(func() { c.run(t, "service", "rm", name) })
			c.must(t, "service", "create", "--name", name, "--replicas", "3", "-p", fmt.Sprintf("%d:80", port), busybox,
				"sh", "-c", "mkdir -p /www && hostname > /www/index.html && httpd -f -p 80 -h /www")
			url := fmt.Sprintf("http://127.0.0.1:%d/", port)
			eventually(t, func() bool { return distinct(hostnames(t, url, 6)) == 3 }, 30*time.Second,
				"three replicas answer on the published port")
			ids := lines(mustWharf(t, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+name))
			require.Len(t, ids, 3)
			assert.Equal(t, "ingress", strings.TrimSpace(inspect(t, ids[0], "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}")),
				"on ingress only, as docker attaches such tasks")

			c.must(t, "service", "rm", name)
			eventually(t, func() bool {
				out, _, _ := wharf(t, "ps", "-aq", "--filter", "label=com.docker.swarm.service.name="+name)
				return strings.TrimSpace(out) == ""
			}, 60*time.Second, "service rm removes the task containers")
			rules, err := exec.Command("nft", "list", "table", "ip", env.nftTable).Output()
			require.NoError(t, err)
			assert.NotContains(t, string(rules), fmt.Sprintf("dport %d ", port), "no routing mesh rule is left")
			assert.NotContains(t, string(rules), "mesh-")
		})
	}
}

// TestStackDeployUnknownImage: an image in neither the daemon nor its
// registry fails the deploy before anything is created.
func TestStackDeployUnknownImage(t *testing.T) {
	begin(t)
	swarmInit(t, false)
	stack := stackName(t)
	snapshot := func() string {
		return mustWharf(t, "stack", "ls") + mustWharf(t, "network", "ls", "-q") + mustWharf(t, "service", "ls", "-q")
	}
	before := snapshot()
	file := filepath.Join(t.TempDir(), "docker-compose.yml")
	require.NoError(t, os.WriteFile(file, []byte("services:\n  web:\n    image: 127.0.0.1:1/e2e-nosuch/image:v1\n  ok:\n    image: "+busybox+"\n    command: [sleep, \"1000\"]\n"), 0o644))
	t.Cleanup(func() { wharf(t, "stack", "rm", stack) })
	_, errOut, code := wharf(t, "stack", "deploy", "-c", file, stack)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "image 127.0.0.1:1/e2e-nosuch/image:v1 not found")
	assert.Equal(t, before, snapshot(), "nothing was created")

	// --resolve-image never skips the check (the task then fails to pull).
	out := mustWharf(t, "stack", "deploy", "--detach", "--resolve-image", "never", "-c", file, stack)
	assert.Contains(t, out, "Creating service "+stack+"_web")
}

// TestStackDeployFailsAndDetach: deploy waits and reports the failing
// task's error with a non-zero exit; --detach returns before the tasks
// run; the compose file can come from stdin.
func TestStackDeployFailsAndDetach(t *testing.T) {
	begin(t)
	swarmInit(t, false)
	stack := stackName(t)
	t.Cleanup(func() { wharf(t, "stack", "rm", stack) })
	failing := "services:\n  x:\n    image: " + busybox + "\n    command: [\"sh\", \"-c\", \"echo boom; exit 3\"]\n"
	_, errOut, code := wharfIn(t, strings.NewReader(failing), "stack", "deploy", "-c", "-", stack)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "non-zero exit (3)")
	mustWharf(t, "stack", "rm", stack)
	eventually(t, func() bool {
		out, _, _ := wharf(t, "service", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+stack)
		return strings.TrimSpace(out) == ""
	}, 30*time.Second, "removed")

	// --detach: back before any task of a slow starter runs.
	slow := "services:\n  x:\n    image: " + busybox + "\n    command: [sleep, \"1000\"]\n    deploy:\n      replicas: 2\n"
	file := filepath.Join(t.TempDir(), "docker-compose.yml")
	require.NoError(t, os.WriteFile(file, []byte(slow), 0o644))
	out := mustWharf(t, "stack", "deploy", "--detach", "-c", file, stack)
	assert.Contains(t, out, "Creating service "+stack+"_x")
	assert.NotContains(t, out, "overall progress")
	svcOut := mustWharf(t, "service", "ls", "--filter", "name="+stack+"_x", "--format", "{{.Replicas}}")
	assert.NotEqual(t, "2/2", strings.TrimSpace(svcOut), "returned before the tasks ran")
	eventually(t, func() bool {
		out, _, _ := wharf(t, "service", "ls", "--filter", "name="+stack+"_x", "--format", "{{.Replicas}}")
		return strings.TrimSpace(out) == "2/2"
	}, 60*time.Second, "and they run afterwards")
}

// TestStackDependsOnHealthy: a service that depends on another with
// condition service_healthy is created only once that one's task is
// healthy.
func TestStackDependsOnHealthy(t *testing.T) {
	begin(t)
	swarmInit(t, false)
	stack := stackName(t)
	t.Cleanup(func() { wharf(t, "stack", "rm", stack) })
	file := filepath.Join(t.TempDir(), "docker-compose.yml")
	require.NoError(t, os.WriteFile(file, []byte(`services:
  db:
    image: `+busybox+`
    command: ["sh", "-c", "sleep 2; touch /ok; sleep 1000"]
    healthcheck:
      test: ["CMD", "test", "-f", "/ok"]
      interval: 500ms
  app:
    image: `+busybox+`
    command: ["sleep", "1000"]
    depends_on:
      db:
        condition: service_healthy
`), 0o644))
	out := mustWharf(t, "stack", "deploy", "-c", file, stack)
	assert.Less(t, strings.Index(out, "Creating service "+stack+"_db"), strings.Index(out, "Creating service "+stack+"_app"))
	db := lines(mustWharf(t, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+stack+"_db"))
	require.Len(t, db, 1)
	// The first passing probe of the db's healthcheck is when it became healthy.
	var healthyAt time.Time
	var log []struct {
		Start, End time.Time
		ExitCode   int
	}
	require.NoError(t, json.Unmarshal([]byte(inspect(t, db[0], "{{json .State.Health.Log}}")), &log))
	for _, l := range log {
		if l.ExitCode == 0 {
			healthyAt = l.End
			break
		}
	}
	require.False(t, healthyAt.IsZero(), "the db became healthy: %+v", log)
	created, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(mustWharf(t, "service", "inspect", "-f", "{{.CreatedAt.Format \"2006-01-02T15:04:05.999999999Z07:00\"}}", stack+"_app")))
	require.NoError(t, err)
	assert.True(t, created.After(healthyAt), "app created at %s, after db became healthy at %s", created, healthyAt)
}

// TestStackDependsOnCompleted: a one-shot service (a migration, say) that
// the app waits for with condition service_completed_successfully; one that
// fails stops the deploy before the app is created.
func TestStackDependsOnCompleted(t *testing.T) {
	begin(t)
	swarmInit(t, false)
	compose := func(exit int) string {
		file := filepath.Join(t.TempDir(), "docker-compose.yml")
		require.NoError(t, os.WriteFile(file, []byte(fmt.Sprintf(`services:
  migrate:
    image: %s
    command: ["sh", "-c", "sleep 1; exit %d"]
    deploy:
      restart_policy:
        condition: none
  app:
    image: %s
    command: ["sleep", "1000"]
    depends_on:
      migrate:
        condition: service_completed_successfully
`, busybox, exit, busybox)), 0o644))
		return file
	}

	ok := stackName(t) + "-ok"
	t.Cleanup(func() { wharf(t, "stack", "rm", ok) })
	mustWharf(t, "stack", "deploy", "--detach=false", "-c", compose(0), ok)
	migrate := lines(mustWharf(t, "ps", "-a", "-q", "--filter", "label=com.docker.swarm.service.name="+ok+"_migrate"))
	require.Len(t, migrate, 1)
	finished, err := time.Parse(time.RFC3339Nano, inspect(t, migrate[0], "{{.State.FinishedAt}}"))
	require.NoError(t, err)
	created, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(mustWharf(t, "service", "inspect", "-f", "{{.CreatedAt.Format \"2006-01-02T15:04:05.999999999Z07:00\"}}", ok+"_app")))
	require.NoError(t, err)
	assert.True(t, created.After(finished), "app created at %s, after migrate finished at %s", created, finished)

	failed := stackName(t) + "-fail"
	t.Cleanup(func() { wharf(t, "stack", "rm", failed) })
	_, errOut, code := wharf(t, "stack", "deploy", "-c", compose(3), failed)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "did not complete successfully")
	_, _, code = wharf(t, "service", "inspect", failed+"_app")
	assert.NotEqual(t, 0, code, "the app is not created after its dependency failed")
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

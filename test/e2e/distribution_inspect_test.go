package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pushUnique imports a unique image as ref, pushes it and returns the
// digest the push reported.
func pushUnique(t *testing.T, ref string) string {
	t.Helper()
	importUnique(t, ref, "distinspect "+t.Name()+" "+ref)
	out := mustWharf(t, "push", ref)
	m := regexp.MustCompile(`digest: (sha256:[0-9a-f]{64})`).FindStringSubmatch(out)
	require.NotNil(t, m, "push output:\n%s", out)
	return m[1]
}

// TestDistributionInspectPinsDigest: `service create` through the docker
// CLI and wharf records the image's digest from the registry (GET
// /distribution), unless --no-resolve-image.
func TestDistributionInspectPinsDigest(t *testing.T) {
	begin(t)
	reg := startWharfRegistry(t, filepath.Join(t.TempDir(), "data")).addr
	ref := reg + "/e2e/pin:1"
	dgst := pushUnique(t, ref)
	swarmInit(t, false)

	image := func(name string) string {
		return mustWharf(t, "service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", name)
	}
	for _, c := range []struct {
		name string
		cli  func(t *testing.T, args ...string) string
	}{{"wharf", mustWharf}, {"docker", mustDocker}} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "docker" {
				needDocker(t)
			}
			name := uniq(t, "pin")
			t.Cleanup(func() { wharf(t, "service", "rm", name) })
			c.cli(t, "service", "create", "--detach", "--name", name, ref, "sleep", "1000")
			assert.Equal(t, ref+"@"+dgst, image(name))

			plain := uniq(t, "plain")
			t.Cleanup(func() { wharf(t, "service", "rm", plain) })
			c.cli(t, "service", "create", "--detach", "--no-resolve-image", "--name", plain, ref, "sleep", "1000")
			assert.Equal(t, ref, image(plain))
		})
	}

	// A registry that cannot be reached: a warning, and the tag.
	name := uniq(t, "unreach")
	t.Cleanup(func() { wharf(t, "service", "rm", name) })
	_, errOut, code := wharf(t, "service", "create", "--detach", "--name", name, "127.0.0.1:1/e2e/none:1", "sleep", "1000")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "could not be accessed on a registry to record")
	assert.Equal(t, "127.0.0.1:1/e2e/none:1", image(name))
}

// TestDistributionInspectStackMissingImage: a stack naming an image its
// registry does not have creates nothing, and pulls nothing: the check
// reads the registry through distribution inspect.
func TestDistributionInspectStackMissingImage(t *testing.T) {
	begin(t)
	reg := startWharfRegistry(t, filepath.Join(t.TempDir(), "data")).addr
	present := reg + "/e2e/present:1"
	pushUnique(t, present)
	mustWharf(t, "rmi", present)
	swarmInit(t, false)
	stack := uniq(t, "miss")
	t.Cleanup(func() { wharf(t, "stack", "rm", stack) })
	file := filepath.Join(t.TempDir(), "docker-compose.yml")
	require.NoError(t, os.WriteFile(file, []byte(fmt.Sprintf("services:\n  ok:\n    image: %s\n    command: [sleep, \"1000\"]\n  web:\n    image: %s/e2e/missing:1\n", present, reg)), 0o644))

	_, errOut, code := wharf(t, "stack", "deploy", "-c", file, stack)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "image "+reg+"/e2e/missing:1 not found, here or in its registry")
	assert.Empty(t, strings.TrimSpace(mustWharf(t, "service", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+stack)), "nothing created")
	// The image that exists in the registry was found there, not pulled.
	_, _, code = wharf(t, "image", "inspect", present)
	assert.NotEqual(t, 0, code, "the check pulled %s", present)
}

// TestDistributionInspectRegistryAuth: --with-registry-auth hands the
// stored credentials to the swarm agent, which pulls the task's image from
// an htpasswd registry with them; without it the tasks fail with the
// registry's refusal in `service ps`.
func TestDistributionInspectRegistryAuth(t *testing.T) {
	begin(t)
	dir := t.TempDir()
	reg := startWharfRegistry(t, filepath.Join(dir, "data"), "--htpasswd", htpasswdFile(t, dir, "alice")).addr
	_, errOut, code := wharfIn(t, strings.NewReader("secret\n"), "login", "-u", "alice", "--password-stdin", reg)
	require.Equal(t, 0, code, errOut)
	t.Cleanup(func() { wharf(t, "logout", reg) })
	ref := reg + "/alice/private:1"
	pushUnique(t, ref)
	// Removed by ID each time: a pull leaves repo@digest too, and a task
	// pinned to the digest would find it.
	id := mustWharf(t, "image", "inspect", "--format", "{{.Id}}", ref)
	swarmInit(t, false)
	file := filepath.Join(t.TempDir(), "docker-compose.yml")
	require.NoError(t, os.WriteFile(file, []byte(fmt.Sprintf("services:\n  app:\n    image: %s\n    command: [sleep, \"1000\"]\n", ref)), 0o644))

	for _, c := range []struct {
		name string
		run  func(t *testing.T, args ...string) (string, string, int)
	}{{"wharf", wharf}, {"docker", docker}} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "docker" {
				needDocker(t)
			}
			wharf(t, "rmi", "-f", id)
			stack := uniq(t, "auth")
			t.Cleanup(func() { wharf(t, "stack", "rm", stack) })
			_, errOut, code := c.run(t, "stack", "deploy", "--with-registry-auth", "-c", file, stack)
			require.Equal(t, 0, code, errOut)
			eventually(t, func() bool {
				out, _, _ := wharf(t, "service", "ps", "--format", "{{.CurrentState}}", stack+"_app")
				return strings.HasPrefix(out, "Running")
			}, time.Minute, "the task runs: the agent pulled with the credentials")
			// The credentials are never shown back.
			out := mustWharf(t, "service", "inspect", stack+"_app")
			assert.NotContains(t, out, "secret")
			assert.NotContains(t, out, "RegistryAuth")
			assert.NotContains(t, out, "PullOptions")
			mustWharf(t, "stack", "rm", stack)
			eventually(t, func() bool {
				out, _, _ := wharf(t, "ps", "-aq", "--filter", "label=com.docker.stack.namespace="+stack)
				return strings.TrimSpace(out) == ""
			}, time.Minute, "the stack's containers are gone")

			wharf(t, "rmi", "-f", id)
			stack = uniq(t, "noauth")
			t.Cleanup(func() { wharf(t, "stack", "rm", stack) })
			args := []string{"stack", "deploy", "-c", file, stack}
			if c.name == "wharf" {
				// wharf checks the image first, and would stop there.
				args = append(args[:2], "--detach", "--resolve-image", "never", "-c", file, stack)
			}
			_, errOut, _ = c.run(t, args...)
			var ps string
			eventually(t, func() bool {
				ps, _, _ = wharf(t, "service", "ps", "--no-trunc", "--format", "{{.Error}}", stack+"_app")
				return strings.Contains(strings.ToLower(ps), "denied") || strings.Contains(strings.ToLower(ps), "unauthorized")
			}, time.Minute, "the task fails on the registry's refusal: %s", errOut)
			_, _, code = wharf(t, "image", "inspect", id)
			assert.NotEqual(t, 0, code, "nothing was pulled")
		})
	}
}

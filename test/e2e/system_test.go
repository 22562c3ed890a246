//go:build linux

package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVersionInfo(t *testing.T) {
	begin(t)
	out := mustWharf(t, "version")
	assert.Contains(t, out, "Client")
	assert.Contains(t, out, "Server")
	api := mustWharf(t, "version", "--format", "{{.Server.APIVersion}}")
	assert.Regexp(t, `^1\.\d+$`, api)
	assert.Equal(t, "1.24", mustWharf(t, "version", "--format", "{{.Server.MinAPIVersion}}"))
	// The runtime's version, as runc itself reports it (asked once, then
	// remembered: both calls must say the same).
	runcOut, err := exec.Command("runc", "--version").Output()
	require.NoError(t, err)
	runcVersion := strings.Fields(strings.SplitN(string(runcOut), "\n", 2)[0])[2]
	components := `{{range .Server.Components}}{{.Name}}={{.Version}} {{end}}`
	for range 2 {
		assert.Contains(t, strings.Fields(mustWharf(t, "version", "--format", components)), "runc="+runcVersion)
	}

	out = mustWharf(t, "info")
	assert.Contains(t, out, "Containers")
	assert.Contains(t, out, "Images")
	assert.Equal(t, env.root, mustWharf(t, "info", "--format", "{{.DockerRootDir}}"))
}

// TestAPIPaths checks the raw API: versioned and unversioned paths.
func TestAPIPaths(t *testing.T) {
	begin(t)
	c := env.httpClient()
	for _, p := range []string{"/_ping", "/version", "/v1.24/version", "/containers/json", "/v1.41/containers/json", "/images/json"} {
		resp, err := c.Get("http://wharf" + p)
		require.NoError(t, err, p)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", p, body)
		if strings.HasSuffix(p, "json") {
			var v []any
			assert.NoError(t, json.Unmarshal(body, &v), p)
		}
	}
	resp, err := c.Get("http://wharf/containers/e2e-no-such/json")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, err = c.Get("http://wharf/v1.12/version")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "API versions below the minimum are refused")
}

func TestSystemDfAndPrune(t *testing.T) {
	begin(t)
	out := mustWharf(t, "system", "df")
	assert.Contains(t, out, "TYPE")
	assert.Contains(t, out, "Images")
	assert.Contains(t, out, "Containers")

	stopped := uniq(t, "stopped")
	rmOnCleanup(t, stopped)
	mustWharf(t, "run", "--name", stopped, busybox, "true")
	running := uniq(t, "running")
	runDetached(t, "--name", running, busybox, "sleep", "3600")

	out = mustWharf(t, "system", "prune", "-f")
	assert.Contains(t, out, "reclaimed")
	_, _, code := wharf(t, "inspect", stopped)
	assert.NotEqual(t, 0, code, "system prune removes stopped containers")
	assert.Equal(t, "running", state(t, running), "system prune keeps running containers")
	mustWharf(t, "image", "inspect", busybox)
}

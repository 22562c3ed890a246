//go:build linux

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSecretsAndConfigsInTasks: a service's tasks get its secrets under
// /run/secrets and its configs where the spec says, with the content given
// at create; secrets are never shown back; only labels can change; one in
// use cannot be removed.
func TestSecretsAndConfigsInTasks(t *testing.T) {
	begin(t)
	swarmInit(t, false)
	sec, cfg, svc := uniq(t, "pw"), uniq(t, "conf"), uniq(t, "svc")
	t.Cleanup(func() {
		wharf(t, "service", "rm", svc)
		wharf(t, "secret", "rm", sec)
		wharf(t, "config", "rm", cfg)
	})
	secID := mustWharfIn(t, "s3cret-value", "secret", "create", "--label", "team=a", sec, "-")
	confFile := filepath.Join(t.TempDir(), "app.conf")
	require.NoError(t, os.WriteFile(confFile, []byte("key=value\n"), 0o644))
	mustWharf(t, "config", "create", cfg, confFile)

	assert.Equal(t, sec, mustWharf(t, "secret", "ls", "--filter", "name="+sec, "--format", "{{.Name}}"))
	assert.Equal(t, "[]", mustWharf(t, "secret", "inspect", "--format", "{{.Spec.Data}}", sec), "a secret's data is never returned")
	assert.Contains(t, mustWharf(t, "config", "inspect", "--pretty", cfg), "key=value")
	_, errOut, code := wharfIn(t, strings.NewReader("again"), "secret", "create", sec, "-")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "already exists")

	_, errOut, code = wharf(t, "service", "create", "--detach", "--name", svc, "--secret", "source="+sec+",uid=redis", busybox, "true")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, `"redis" is not a numeric id`)
	mustWharf(t, "service", "create", "--detach", "--name", svc, "--secret", sec,
		"--config", "source="+cfg+",target=/etc/app.conf", busybox, "sleep", "600")
	var ctr string
	eventually(t, func() bool {
		ctr = strings.TrimSpace(mustWharf(t, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+svc))
		return ctr != "" && !strings.Contains(ctr, "\n")
	}, 30*time.Second, "the service's task container did not start")
	assert.Equal(t, "s3cret-value", mustWharf(t, "exec", ctr, "cat", "/run/secrets/"+sec))
	assert.Equal(t, "key=value", mustWharf(t, "exec", ctr, "cat", "/etc/app.conf"))

	_, errOut, code = wharf(t, "secret", "rm", sec)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "is in use by the following service: "+svc)

	// Labels may change (version-checked); name and data may not.
	version := mustWharf(t, "secret", "inspect", "--format", "{{.Version.Index}}", sec)
	update := func(body string) int {
		req, err := http.NewRequest("POST", fmt.Sprintf("http://wharf/secrets/%s/update?version=%s", secID, version), strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		resp, err := env.httpClient().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusBadRequest, update(`{"Name":"renamed","Labels":{"team":"b"}}`))
	assert.Equal(t, http.StatusOK, update(fmt.Sprintf(`{"Name":%q,"Labels":{"team":"b"}}`, sec)))
	assert.Equal(t, "b", mustWharf(t, "secret", "inspect", "--format", `{{index .Spec.Labels "team"}}`, sec))
	assert.NotEqual(t, http.StatusOK, update(fmt.Sprintf(`{"Name":%q,"Labels":{"team":"c"}}`, sec)), "a stale version is refused")

	mustWharf(t, "service", "rm", svc)
	eventually(t, func() bool {
		_, _, code := wharf(t, "secret", "rm", sec)
		return code == 0
	}, 30*time.Second, "the secret could not be removed once its service was gone")
}

func mustWharfIn(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, code := wharfIn(t, strings.NewReader(stdin), args...)
	require.Equalf(t, 0, code, "wharf %s failed: %s", quoteArgs(args), errOut)
	return strings.TrimSpace(out)
}

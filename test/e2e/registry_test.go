//go:build linux

package e2e

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// confVersion is the OCI distribution-spec conformance suite the tests run.
const confVersion = "v0.0.0-20260831232431-97274622c111"

// startWharfRegistry runs `wharf registry serve` on a free loopback port,
// behind htpasswd (alice/secret) when auth is set; it stops with the test.
func startWharfRegistry(t *testing.T, auth bool) string {
	t.Helper()
	dir := t.TempDir()
	addr := freeLoopbackAddr(t)
	args := []string{"registry", "serve", "--addr", addr, "--root", filepath.Join(dir, "data")}
	if auth {
		ht := filepath.Join(dir, "htpasswd")
		_, errOut, code := runCLI(t, strings.NewReader("secret\n"), filepath.Join(env.bin, "wharf"), "registry", "htpasswd", "add", ht, "alice")
		require.Equal(t, 0, code, errOut)
		args = append(args, "--htpasswd", ht)
	}
	cmd := exec.Command(filepath.Join(env.bin, "wharf"), args...)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("registry log:\n%s", log.String())
		}
	})
	eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}, 10*time.Second, "wharf registry did not start on %s", addr)
	return addr
}

// conformanceBinary builds the OCI conformance suite from the Go module
// proxy once per machine (cached in the temp dir).
func conformanceBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(os.TempDir(), "wharf-oci-conformance-"+confVersion)
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	dir := t.TempDir()
	for _, args := range [][]string{
		{"mod", "init", "conformance"},
		{"get", "github.com/opencontainers/distribution-spec/conformance@" + confVersion},
		{"test", "-c", "-o", bin + ".tmp", "github.com/opencontainers/distribution-spec/conformance"},
	} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go %s:\n%s", strings.Join(args, " "), out)
	}
	require.NoError(t, os.Rename(bin+".tmp", bin))
	return bin
}

// TestRegistryConformance runs the OCI distribution-spec conformance suite
// against wharf's registry with every API and data option on, without and
// with authentication, and fails on any failure or skip.
func TestRegistryConformance(t *testing.T) {
	begin(t)
	bin := conformanceBinary(t)
	for _, auth := range []bool{false, true} {
		name := "anonymous"
		if auth {
			name = "htpasswd"
		}
		t.Run(name, func(t *testing.T) {
			addr := startWharfRegistry(t, auth)
			results := t.TempDir()
			cmd := exec.Command(bin)
			cmd.Dir = results
			cmd.Env = append(os.Environ(), "OCI_REGISTRY="+addr, "OCI_TLS=disabled", "OCI_REPO1=alice/conformance1",
				"OCI_REPO2=alice/conformance2", "OCI_RESULTS_DIR="+results, "OCI_API_BLOBS_UPLOAD_CANCEL=true",
				"OCI_API_MANIFESTS_TAG_PARAM=true", "OCI_DATA_SPARSE=true", "OCI_HIDE_SKIPPED_WORKFLOWS=false")
			if auth {
				cmd.Env = append(cmd.Env, "OCI_USERNAME=alice", "OCI_PASSWORD=secret")
			}
			out, err := cmd.CombinedOutput()
			var suites struct {
				Cases []struct {
					Name    string    `xml:"name,attr"`
					Failure *struct{} `xml:"failure"`
					Skipped *struct{} `xml:"skipped"`
				} `xml:"testsuite>testcase"`
			}
			b, rerr := os.ReadFile(filepath.Join(results, "junit.xml"))
			require.NoError(t, rerr, "no junit.xml; suite output:\n%s", out)
			require.NoError(t, xml.Unmarshal(b, &suites))
			failed, skipped := 0, 0
			for _, c := range suites.Cases {
				if c.Failure != nil {
					failed++
					t.Errorf("conformance failure: %s", c.Name)
				}
				if c.Skipped != nil {
					skipped++
				}
			}
			t.Logf("OCI conformance (%s): %d tests, %d failed, %d skipped", name, len(suites.Cases), failed, skipped)
			assert.NoError(t, err, "suite output:\n%s", out)
			assert.NotZero(t, len(suites.Cases))
			assert.Zero(t, skipped)
		})
	}
}

// TestRegistryTutorialFlow is part 2's sharing through wharf's own
// registry: login, tag, push, rmi, run pulling it back; wrong passwords and
// pushes to another user's repositories are refused.
func TestRegistryTutorialFlow(t *testing.T) {
	begin(t)
	reg := startWharfRegistry(t, true)
	ref := reg + "/alice/get-started:part2"
	t.Cleanup(func() { wharf(t, "rmi", "-f", ref) })

	_, errOut, code := wharfIn(t, strings.NewReader("nope\n"), "login", "-u", "alice", "--password-stdin", reg)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, strings.ToLower(errOut), "unauthorized")
	out, errOut, code := wharfIn(t, strings.NewReader("secret\n"), "login", "-u", "alice", "--password-stdin", reg)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "Login Succeeded")
	t.Cleanup(func() { wharf(t, "logout", reg) })

	mustWharf(t, "tag", busybox, ref)
	assert.Contains(t, mustWharf(t, "push", ref), "part2: digest: sha256:")
	assert.Contains(t, mustWharf(t, "push", ref), "Layer already exists")
	mustWharf(t, "rmi", ref)
	out, errOut, code = wharf(t, "run", "--rm", ref, "echo", "pulled from wharf's registry")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "pulled from wharf's registry")
	assert.Contains(t, errOut, "Unable to find image")

	other := reg + "/bob/get-started:part2"
	mustWharf(t, "tag", busybox, other)
	t.Cleanup(func() { wharf(t, "rmi", other) })
	_, errOut, code = wharf(t, "push", other)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "denied", "alice may push only below alice/")
}

//go:build linux

package e2e

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

const dockerRegistryBin = "/usr/bin/docker-registry"

// startRegistry runs Debian's docker-registry (distribution 2.8) on a free
// loopback port with storage in a temp dir, optionally behind htpasswd
// (user alice, password secret), and returns its host:port. It is stopped
// when the test ends.
func startRegistry(t *testing.T, withAuth bool) string {
	t.Helper()
	if _, err := os.Stat(dockerRegistryBin); err != nil {
		t.Skip("skipping: docker-registry is not installed (apt-get install docker-registry)")
	}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\n"+
		"storage: {filesystem: {rootdirectory: %s}, delete: {enabled: true}}\nhttp: {addr: %s}\n", filepath.Join(dir, "data"), addr)
	if withAuth {
		hash, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "htpasswd"), []byte("alice:"+string(hash)+"\n"), 0o600))
		cfg += fmt.Sprintf("auth: {htpasswd: {realm: wharf-e2e, path: %s}}\n", filepath.Join(dir, "htpasswd"))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o600))
	cmd := exec.Command(dockerRegistryBin, "serve", filepath.Join(dir, "config.yml"))
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("docker-registry log:\n%s", log.String())
		}
	})
	eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}, 10*time.Second, "docker-registry did not start on %s", addr)
	return addr
}

// importUnique imports busybox plus a file holding content as ref: an image
// whose one layer exists nowhere else, so a pull has to download it.
func importUnique(t *testing.T, ref, content string) {
	t.Helper()
	bb, err := readBusybox()
	require.NoError(t, err)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tr := tar.NewReader(bytes.NewReader(bb))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		require.NoError(t, tw.WriteHeader(hdr))
		_, err = io.Copy(tw, tr)
		require.NoError(t, err)
	}
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "unique.txt", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}))
	_, err = tw.Write([]byte(content))
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	_, errOut, code := wharfIn(t, &buf, "import", "-", ref)
	require.Equal(t, 0, code, errOut)
	t.Cleanup(func() { wharf(t, "rmi", "-f", ref) })
}

// storedAuth returns config.json's auths entry for server, "" if none.
func storedAuth(t *testing.T, server string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(env.dockerConfig, "config.json"))
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	require.NoError(t, err)
	var cf struct {
		Auths map[string]struct {
			Auth string `json:"auth"`
		} `json:"auths"`
	}
	require.NoError(t, json.Unmarshal(data, &cf))
	return cf.Auths[server].Auth
}

// The tutorial's part 2 through wharf: login, tag, push (and re-push),
// rmi, run pulling on demand; plus pull by digest, pull -a, unknown tags,
// a wrong password and logout.
func TestDistributionTutorialFlow(t *testing.T) {
	begin(t)
	reg := startRegistry(t, true)
	repo := reg + "/alice/get-started"
	img := uniq(t, "img")
	importUnique(t, img, "hello from "+t.Name())

	// Wrong password: a clear unauthorized, nothing stored.
	_, errOut, code := wharfIn(t, strings.NewReader("nope\n"), "login", "-u", "alice", "--password-stdin", reg)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, strings.ToLower(errOut), "unauthorized")
	assert.Empty(t, storedAuth(t, reg))

	// Pushing without credentials is refused.
	mustWharf(t, "tag", img, repo+":part2")
	t.Cleanup(func() { wharf(t, "rmi", "-f", repo+":part2", repo+":part3", reg+"/alice/other:1") })
	_, errOut, code = wharf(t, "push", repo+":part2")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, strings.ToLower(errOut), "unauthorized")

	out, errOut, code := wharfIn(t, strings.NewReader("secret\n"), "login", "-u", "alice", "--password-stdin", reg)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "Login Succeeded")
	assert.Equal(t, base64.StdEncoding.EncodeToString([]byte("alice:secret")), storedAuth(t, reg))
	t.Cleanup(func() { wharf(t, "logout", reg) })

	out = mustWharf(t, "push", repo+":part2")
	assert.Contains(t, out, "The push refers to repository ["+repo+"]")
	assert.Contains(t, out, ": Pushed")
	assert.Regexp(t, `part2: digest: sha256:[0-9a-f]{64} size: \d+`, out)
	out = mustWharf(t, "push", repo+":part2")
	assert.Contains(t, out, "Layer already exists")
	assert.NotContains(t, out, ": Pushed")
	// Another repository of the same registry: the blob is mounted.
	mustWharf(t, "tag", img, reg+"/alice/other:1")
	out = mustWharf(t, "push", reg+"/alice/other:1")
	assert.Contains(t, out, "Mounted from alice/get-started")
	digests := mustWharf(t, "image", "inspect", "-f", "{{json .RepoDigests}}", repo+":part2")
	assert.Contains(t, digests, repo+"@sha256:")

	// rmi, then run pulls on demand and runs.
	mustWharf(t, "rmi", repo+":part2", reg+"/alice/other:1", img)
	_, _, code = wharf(t, "image", "inspect", repo+":part2")
	require.NotEqual(t, 0, code, "the image is still there after rmi")
	out, errOut, code = wharf(t, "run", "--rm", repo+":part2", "cat", "/unique.txt")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "hello from "+t.Name(), strings.TrimSpace(out))
	assert.Contains(t, errOut, "Unable to find image '"+repo+":part2' locally")
	assert.Contains(t, errOut, "Pull complete")
	assert.Contains(t, errOut, "Status: Downloaded newer image for "+repo+":part2")
	out = mustWharf(t, "pull", repo+":part2")
	assert.Contains(t, out, "Status: Image is up to date for "+repo+":part2")

	// Pull by digest.
	var rd []string
	require.NoError(t, json.Unmarshal([]byte(mustWharf(t, "image", "inspect", "-f", "{{json .RepoDigests}}", repo+":part2")), &rd))
	require.Len(t, rd, 1)
	mustWharf(t, "rmi", repo+":part2")
	out = mustWharf(t, "pull", rd[0])
	assert.Contains(t, out, "Digest: "+strings.SplitN(rd[0], "@", 2)[1])
	assert.Equal(t, "hello from "+t.Name(), mustWharf(t, "run", "--rm", rd[0], "cat", "/unique.txt"))

	// pull -a fetches every tag.
	mustWharf(t, "tag", rd[0], repo+":part3")
	mustWharf(t, "push", repo+":part3")
	mustWharf(t, "rmi", "-f", repo+":part3")
	out = mustWharf(t, "pull", "-a", repo)
	assert.Contains(t, out, "part2: Pulling from alice/get-started")
	assert.Contains(t, out, "part3: Pulling from alice/get-started")
	for _, tag := range []string{"part2", "part3"} {
		mustWharf(t, "image", "inspect", repo+":"+tag)
	}

	// Unknown tag: docker's error, exit 1.
	_, errOut, code = wharf(t, "pull", repo+":nope")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "manifest for "+repo+":nope not found: manifest unknown")

	// Events.
	// (--until a moment ahead: "0s" would cut at the current second.)
	ev := mustWharf(t, "events", "--since", "5m", "--until", time.Now().Add(time.Second).Format(time.RFC3339Nano),
		"--filter", "type=image", "--format", "{{.Action}} {{.Actor.ID}}")
	assert.Contains(t, ev, "push "+repo+":part2")
	assert.Contains(t, ev, "pull "+repo+":part2")

	out = mustWharf(t, "logout", reg)
	assert.Contains(t, out, "Removing login credentials for "+reg)
	assert.Empty(t, storedAuth(t, reg))
	_, errOut, code = wharf(t, "pull", repo+":part2")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "pull access denied")
}

// The same flow through the real docker CLI against our daemon.
func TestDistributionDockerCLI(t *testing.T) {
	begin(t)
	needDocker(t)
	reg := startRegistry(t, true)
	repo := reg + "/john/trace"
	img := uniq(t, "img")
	importUnique(t, img, "docker says hi")

	cmd := exec.Command(dockerBin, "login", "-u", "alice", "--password-stdin", reg)
	cmd.Env, cmd.Stdin = env.clientEnv(), strings.NewReader("wrong\n")
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "login with a wrong password succeeded: %s", out)
	assert.Contains(t, strings.ToLower(string(out)), "unauthorized")
	assert.Empty(t, storedAuth(t, reg))

	cmd = exec.Command(dockerBin, "login", "-u", "alice", "--password-stdin", reg)
	cmd.Env, cmd.Stdin = env.clientEnv(), strings.NewReader("secret\n")
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "Login Succeeded")
	t.Cleanup(func() { docker(t, "logout", reg) })

	mustDocker(t, "tag", img, repo+":1")
	t.Cleanup(func() { wharf(t, "rmi", "-f", repo+":1") })
	out2 := mustDocker(t, "push", repo+":1")
	assert.Contains(t, out2, "The push refers to repository ["+repo+"]")
	assert.Regexp(t, `1: digest: sha256:[0-9a-f]{64} size: \d+`, out2)
	mustDocker(t, "rmi", repo+":1", img)

	stdout, stderr, code := docker(t, "run", "--rm", repo+":1", "cat", "/unique.txt")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "docker says hi", strings.TrimSpace(stdout))
	assert.Contains(t, stderr, "Unable to find image '"+repo+":1' locally")
	out2 = mustDocker(t, "pull", repo+":1")
	assert.Contains(t, out2, "Image is up to date for "+repo+":1")
	_, stderr, code = docker(t, "pull", repo+":nope")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, stderr, "manifest unknown")
}

// skopeo copies what wharf pushed into an OCI layout, and pushes an OCI
// image that wharf then pulls and runs.
func TestDistributionSkopeoInterop(t *testing.T) {
	begin(t)
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		t.Skip("skipping: skopeo is not installed")
	}
	reg := startRegistry(t, false)
	img := uniq(t, "img")
	importUnique(t, img, "skopeo round trip")
	mustWharf(t, "tag", img, reg+"/interop/src:1")
	t.Cleanup(func() { wharf(t, "rmi", "-f", reg+"/interop/src:1", reg+"/interop/dst:2") })
	mustWharf(t, "push", reg+"/interop/src:1")

	layout := filepath.Join(t.TempDir(), "oci")
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command(skopeo, args...).CombinedOutput()
		require.NoError(t, err, "skopeo %s: %s", strings.Join(args, " "), out)
	}
	run("copy", "--src-tls-verify=false", "docker://"+reg+"/interop/src:1", "oci:"+layout+":1")
	idx, err := os.ReadFile(filepath.Join(layout, "index.json"))
	require.NoError(t, err)
	assert.Contains(t, string(idx), "application/vnd.oci.image.manifest.v1+json")
	// skopeo inspect agrees on the layers wharf pushed.
	out, err := exec.Command(skopeo, "inspect", "--tls-verify=false", "docker://"+reg+"/interop/src:1").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), `"Layers"`)

	// skopeo pushes (as OCI) to another repository; wharf pulls and runs it.
	run("copy", "--dest-tls-verify=false", "--format", "oci", "oci:"+layout+":1", "docker://"+reg+"/interop/dst:2")
	mustWharf(t, "rmi", reg+"/interop/src:1", img)
	out2 := mustWharf(t, "pull", reg+"/interop/dst:2")
	assert.Contains(t, out2, "Status: Downloaded newer image for "+reg+"/interop/dst:2")
	assert.Equal(t, "skopeo round trip", mustWharf(t, "run", "--rm", reg+"/interop/dst:2", "cat", "/unique.txt"))
}

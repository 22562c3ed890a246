//go:build linux

package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// confVersion is the OCI distribution-spec conformance suite the tests run.
const confVersion = "v0.0.0-20260831232431-97274622c111"

// registryProc is a `wharf registry serve` process on a loopback port.
type registryProc struct {
	t    *testing.T
	addr string
	root string
	args []string
	cmd  *exec.Cmd
	done chan struct{}
	log  *syncBuffer
}

// startWharfRegistry runs `wharf registry serve --root root` on a free loopback
// port with extra flags; it is killed when the test ends.
func startWharfRegistry(t *testing.T, root string, extra ...string) *registryProc {
	t.Helper()
	return startWharfRegistryOn(t, "127.0.0.1", root, extra...)
}

// htpasswdFile writes an htpasswd file under dir with users, each with
// the password "secret", through `wharf registry htpasswd add`.
func htpasswdFile(t *testing.T, dir string, users ...string) string {
	t.Helper()
	ht := filepath.Join(dir, "htpasswd")
	for _, u := range users {
		_, errOut, code := runCLI(t, strings.NewReader("secret\n"), filepath.Join(env.bin, "wharf"), "registry", "htpasswd", "add", ht, u)
		require.Equal(t, 0, code, errOut)
	}
	return ht
}

// startWharfRegistryOn is startWharfRegistry on a free port of local
// address ip.
func startWharfRegistryOn(t *testing.T, ip, root string, extra ...string) *registryProc {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	p := &registryProc{t: t, addr: addr, root: root, log: &syncBuffer{},
		args: append([]string{"registry", "serve", "--addr", addr, "--root", root}, extra...)}
	p.start()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("registry log:\n%s", p.log.String())
		}
	})
	return p
}

func (p *registryProc) start() {
	p.t.Helper()
	p.cmd = exec.Command(filepath.Join(env.bin, "wharf"), p.args...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	require.NoError(p.t, p.cmd.Start())
	p.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(p.cmd, p.done)
	eventually(p.t, func() bool {
		resp, err := http.Get("http://" + p.addr + "/v2/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}, 10*time.Second, "wharf registry did not start on %s", p.addr)
}

// kill stops the server with SIGKILL: no chance to tidy anything up.
func (p *registryProc) kill() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Kill()
	<-p.done
	p.cmd = nil
}

func (p *registryProc) url(path string) string { return "http://" + p.addr + path }

// regDo sends one request (Basic credentials when user is set).
func regDo(t *testing.T, method, u, user string, body []byte, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	require.NoError(t, err)
	if user != "" {
		req.SetBasicAuth(user, "secret")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func regPushBlob(t *testing.T, p *registryProc, repo, content string) digest.Digest {
	t.Helper()
	d := digest.FromString(content)
	resp, b := regDo(t, "POST", p.url("/v2/"+repo+"/blobs/uploads/?digest="+d.String()), "", []byte(content))
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(b))
	return d
}

func regPushImage(t *testing.T, p *registryProc, repo, tag string, config digest.Digest, layers ...digest.Digest) digest.Digest {
	t.Helper()
	ls := []string{}
	for _, l := range layers {
		ls = append(ls, fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":1}`, l))
	}
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":1},"layers":[%s]}`,
		config, strings.Join(ls, ","))
	resp, b := regDo(t, "PUT", p.url("/v2/"+repo+"/manifests/"+tag), "", []byte(m), "Content-Type", "application/vnd.oci.image.manifest.v1+json")
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(b))
	return digest.FromString(m)
}

// conformanceBinary builds the OCI conformance suite from the Go module
// proxy once per machine (cached in the temp dir, keyed by its version).
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
// against wharf's registry with every API and data option on, anonymous
// and with htpasswd users (the token flow), and once more with the default
// strict reference checks (sparse manifests are refused there by design,
// so that data option is off). Any failure, error or skip fails the test.
func TestRegistryConformance(t *testing.T) {
	begin(t)
	bin := conformanceBinary(t)
	for _, run := range []struct {
		name   string
		auth   bool
		sparse bool
	}{{"anonymous", false, true}, {"htpasswd-token", true, true}, {"strict", false, false}} {
		t.Run(run.name, func(t *testing.T) {
			dir := t.TempDir()
			var flags []string
			envs := []string{"OCI_REGISTRY=", "OCI_TLS=disabled", "OCI_REPO1=alice/conformance1", "OCI_REPO2=alice/conformance2",
				"OCI_RESULTS_DIR=" + dir, "OCI_HIDE_SKIPPED_WORKFLOWS=false", "OCI_LOG=warn",
				// Every API option on (the defaults leave these off).
				"OCI_API_BLOBS_UPLOAD_CANCEL=true", "OCI_API_MANIFESTS_TAG_PARAM=true",
				"OCI_API_BLOBS_DIGEST_HEADER=true", "OCI_API_MANIFESTS_DIGEST_HEADER=true", "OCI_API_BLOBS_MOUNT_ANONYMOUS=true",
				// Every data option on (all default on but sparse).
				"OCI_DATA_IMAGE=true", "OCI_DATA_INDEX=true", "OCI_DATA_INDEX_LIST=true", "OCI_DATA_ARTIFACT=true",
				"OCI_DATA_SUBJECT=true", "OCI_DATA_SUBJECT_MISSING=true", "OCI_DATA_ARTIFACT_LIST=true", "OCI_DATA_SUBJECT_LIST=true",
				"OCI_DATA_DATA_FIELD=true", "OCI_DATA_NONDISTRIBUTABLE=true", "OCI_DATA_CUSTOM_FIELDS=true", "OCI_DATA_NO_LAYERS=true",
				"OCI_DATA_EMPTY_BLOB=true", "OCI_DATA_SHA512=true", fmt.Sprintf("OCI_DATA_SPARSE=%t", run.sparse)}
			if run.sparse {
				flags = append(flags, "--allow-sparse")
			}
			if run.auth {
				flags = append(flags, "--htpasswd", htpasswdFile(t, dir, "alice"))
				envs = append(envs, "OCI_USERNAME=alice", "OCI_PASSWORD=secret")
			}
			reg := startWharfRegistry(t, filepath.Join(dir, "data"), flags...)
			envs[0] = "OCI_REGISTRY=" + reg.addr
			if run.auth {
				resp, _ := regDo(t, "GET", reg.url("/v2/"), "", nil)
				require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
				require.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer realm=", "the suite must take the token flow")
			}
			cmd := exec.Command(bin)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), envs...)
			out, err := cmd.CombinedOutput()
			b, rerr := os.ReadFile(filepath.Join(dir, "junit.xml"))
			require.NoError(t, rerr, "no junit.xml; suite output:\n%s", out)
			var suites struct {
				Cases []struct {
					Name    string    `xml:"name,attr"`
					Status  string    `xml:"status,attr"`
					Failure *struct{} `xml:"failure"`
					Error   *struct{} `xml:"error"`
					Skipped *struct{} `xml:"skipped"`
				} `xml:"testsuite>testcase"`
			}
			require.NoError(t, xml.Unmarshal(b, &suites))
			counts := map[string]int{}
			for _, c := range suites.Cases {
				status := c.Status
				switch {
				case c.Failure != nil:
					status = "failure"
				case c.Error != nil:
					status = "error"
				case c.Skipped != nil:
					status = "skipped"
				}
				counts[status]++
				if status != "passed" {
					t.Errorf("conformance %s: %s", status, c.Name)
				}
			}
			t.Logf("OCI conformance (%s): %d tests: %d passed, %d failed, %d errors, %d skipped",
				run.name, len(suites.Cases), counts["passed"], counts["failure"], counts["error"], counts["skipped"])
			assert.NoError(t, err, "suite output:\n%s", out)
			assert.Greater(t, counts["passed"], 700)
		})
	}
}

// TestRegistryAuthDenials: wrong passwords get 401 (at /v2/ and at the
// token endpoint), anonymous token requests are refused, and a signed-in
// user pushing outside their own namespace gets 403 DENIED.
func TestRegistryAuthDenials(t *testing.T) {
	begin(t)
	dir := t.TempDir()
	reg := startWharfRegistry(t, filepath.Join(dir, "data"), "--htpasswd", htpasswdFile(t, dir, "alice", "bob"))

	req, _ := http.NewRequest("GET", reg.url("/v2/"), nil)
	req.SetBasicAuth("alice", "wrong")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	token := func(user, pass, scope string) (int, string) {
		req, _ := http.NewRequest("GET", reg.url("/token?service=wharf-registry&scope="+scope), nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var tr struct {
			Token string `json:"token"`
		}
		json.NewDecoder(resp.Body).Decode(&tr)
		return resp.StatusCode, tr.Token
	}
	code, _ := token("alice", "wrong", "repository:alice/app:pull")
	assert.Equal(t, http.StatusUnauthorized, code)
	code, _ = token("", "", "repository:alice/app:pull")
	assert.Equal(t, http.StatusUnauthorized, code, "anonymous")

	code, tok := token("alice", "secret", "repository:bob/app:pull,push")
	require.Equal(t, http.StatusOK, code)
	resp, b := regDo(t, "POST", reg.url("/v2/bob/app/blobs/uploads/"), "", nil, "Authorization", "Bearer "+tok)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Contains(t, string(b), `"DENIED"`)
	assert.Contains(t, resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`)
	resp, _ = regDo(t, "POST", reg.url("/v2/bob/app/blobs/uploads/"), "alice", nil)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "Basic too")
	resp, _ = regDo(t, "POST", reg.url("/v2/bob/app/blobs/uploads/"), "bob", nil)
	assert.Equal(t, http.StatusAccepted, resp.StatusCode, "bob pushes below bob/")
	resp, _ = regDo(t, "GET", reg.url("/v2/bob/app/tags/list"), "alice", nil)
	assert.NotEqual(t, http.StatusForbidden, resp.StatusCode, "alice pulls anything")
}

// TestRegistryGC: gc refuses to run under a live server; --dry-run lists
// and keeps; gc removes only what no manifest reaches, and the registry
// serves everything else afterwards.
func TestRegistryGC(t *testing.T) {
	begin(t)
	root := filepath.Join(t.TempDir(), "data")
	reg := startWharfRegistry(t, root)
	cfg := regPushBlob(t, reg, "alice/app", "config")
	layer := regPushBlob(t, reg, "alice/app", "layer")
	shared := regPushBlob(t, reg, "alice/other", "layer") // same content, another repo
	require.Equal(t, layer, shared)
	img := regPushImage(t, reg, "alice/app", "v1", cfg, layer)
	orphan := regPushBlob(t, reg, "alice/app", "never referenced")
	deleted := regPushBlob(t, reg, "alice/app", "config 2")
	gone := regPushImage(t, reg, "alice/app", "v2", deleted)
	resp, _ := regDo(t, "DELETE", reg.url("/v2/alice/app/manifests/"+gone.String()), "", nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)

	// An upload begun and never finished: stale once older than --stale-uploads.
	resp, _ = regDo(t, "POST", reg.url("/v2/alice/app/blobs/uploads/"), "", nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	upload := resp.Header.Get("Docker-Upload-UUID")
	require.NotEmpty(t, upload)

	wharfBin := filepath.Join(env.bin, "wharf")
	_, errOut, code := runCLI(t, nil, wharfBin, "registry", "gc", "--root", root)
	assert.NotEqual(t, 0, code, "gc must refuse while the server holds the root")
	assert.Contains(t, errOut, "in use")

	reg.kill()
	out, errOut, code := runCLI(t, nil, wharfBin, "registry", "gc", "--root", root, "--dry-run", "--stale-uploads", "1ns")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "would drop stale upload "+upload, "a dry run lists the stale uploads too")
	assert.Contains(t, out, "1 stale uploads would be dropped")
	for _, d := range []digest.Digest{orphan, deleted, gone} {
		assert.Contains(t, out, "would remove blob "+d.String())
	}
	for _, d := range []digest.Digest{cfg, layer, img} {
		assert.NotContains(t, out, d.String())
	}
	reg.start()
	resp, _ = regDo(t, "HEAD", reg.url("/v2/alice/app/blobs/"+orphan.String()), "", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "a dry run removes nothing")

	resp, _ = regDo(t, "GET", reg.url("/v2/alice/app/blobs/uploads/"+upload), "", nil)
	assert.Equal(t, http.StatusNoContent, resp.StatusCode, "and keeps the upload")
	reg.kill()

	out, errOut, code = runCLI(t, nil, wharfBin, "registry", "gc", "--root", root, "--stale-uploads", "1ns")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "removed blob "+orphan.String())
	assert.Contains(t, out, "3 removed")
	assert.Contains(t, out, "dropped stale upload "+upload)

	reg.start()
	resp, b := regDo(t, "GET", reg.url("/v2/alice/app/manifests/v1"), "", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	for _, d := range []digest.Digest{cfg, layer} {
		resp, _ = regDo(t, "GET", reg.url("/v2/alice/app/blobs/"+d.String()), "", nil)
		assert.Equal(t, http.StatusOK, resp.StatusCode, "kept %s", d)
	}
	resp, _ = regDo(t, "GET", reg.url("/v2/alice/other/blobs/"+layer.String()), "", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	for _, d := range []digest.Digest{orphan, deleted} {
		resp, _ = regDo(t, "GET", reg.url("/v2/alice/app/blobs/"+d.String()), "", nil)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "swept %s", d)
	}
}

// TestRegistryInterruptedUpload: a server killed in the middle of an upload
// never shows a partial blob; a chunked upload resumes from the offset the
// server kept.
func TestRegistryInterruptedUpload(t *testing.T) {
	begin(t)
	root := filepath.Join(t.TempDir(), "data")
	reg := startWharfRegistry(t, root)
	content := bytes.Repeat([]byte("wharf!"), 200_000)
	d := digest.FromBytes(content)

	// A single-request push whose body stops half-way, then the server dies.
	conn, err := net.Dial("tcp", reg.addr)
	require.NoError(t, err)
	fmt.Fprintf(conn, "POST /v2/alice/app/blobs/uploads/?digest=%s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nContent-Type: application/octet-stream\r\n\r\n", d, reg.addr, len(content))
	_, err = conn.Write(content[:len(content)/2])
	require.NoError(t, err)
	// A chunked upload with one chunk kept and a second cut off.
	resp, _ := regDo(t, "POST", reg.url("/v2/alice/app/blobs/uploads/"), "", nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	loc := reg.url(resp.Header.Get("Location"))
	resp, _ = regDo(t, "PATCH", loc, "", content[:1000], "Content-Range", "0-999")
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	conn2, err := net.Dial("tcp", reg.addr)
	require.NoError(t, err)
	fmt.Fprintf(conn2, "PATCH %s HTTP/1.1\r\nHost: %s\r\nContent-Range: 1000-%d\r\nContent-Length: %d\r\n\r\n", resp.Header.Get("Location"), reg.addr, len(content)-1, len(content)-1000)
	conn2.Write(content[1000:5000])
	eventually(t, func() bool {
		ents, _ := filepath.Glob(filepath.Join(root, "_uploads", "*", "data"))
		for _, e := range ents {
			if fi, err := os.Stat(e); err == nil && fi.Size() > 1000 {
				return true
			}
		}
		return false
	}, 10*time.Second, "the second chunk did not start arriving")
	reg.kill()
	conn.Close()
	conn2.Close()

	reg.start()
	resp, _ = regDo(t, "HEAD", reg.url("/v2/alice/app/blobs/"+d.String()), "", nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "no partial blob is visible")
	blobs, _ := filepath.Glob(filepath.Join(root, "blobs", "*", "*", "*"))
	assert.Empty(t, blobs)

	resp, _ = regDo(t, "GET", loc, "", nil)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Equal(t, "0-999", resp.Header.Get("Range"), "the cut chunk is not counted")
	resp, _ = regDo(t, "PATCH", loc, "", content[5000:], "Content-Range", fmt.Sprintf("5000-%d", len(content)-1))
	assert.Equal(t, http.StatusRequestedRangeNotSatisfiable, resp.StatusCode)
	resp, b := regDo(t, "PUT", loc+"?digest="+d.String(), "", content[1000:], "Content-Range", fmt.Sprintf("1000-%d", len(content)-1))
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(b))
	resp, b = regDo(t, "GET", reg.url("/v2/alice/app/blobs/"+d.String()), "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, d, digest.FromBytes(b), "resumed upload is whole")
}

// TestRegistryPathTricks: names and references that try to leave the
// storage root, uppercase and over-long names are refused with the OCI
// error JSON, and nothing is written outside the root.
func TestRegistryPathTricks(t *testing.T) {
	begin(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "data")
	reg := startWharfRegistry(t, root)
	raw := func(method, path string) (int, string) {
		conn, err := net.Dial("tcp", reg.addr)
		require.NoError(t, err)
		defer conn.Close()
		fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", method, path, reg.addr)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, p := range []struct{ method, path string }{
		{"POST", "/v2/../../escape/blobs/uploads/"},
		{"POST", "/v2/%2e%2e/%2e%2e/escape/blobs/uploads/"},
		{"POST", "/v2/a/..%2f..%2fescape/blobs/uploads/"},
		{"PUT", "/v2/alice/app/manifests/..%2f..%2f..%2fescape"},
		{"GET", "/v2/alice/app/blobs/sha256:..%2f..%2fescape"},
		{"PATCH", "/v2/alice/app/blobs/uploads/..%2f..%2fescape"},
		{"POST", "/v2/Alice/App/blobs/uploads/"},
		{"POST", "/v2/" + strings.Repeat("a", 256) + "/blobs/uploads/"},
		{"POST", "/v2/alice/_uploads/blobs/uploads/"},
	} {
		code, body := raw(p.method, p.path)
		assert.Contains(t, []int{400, 404}, code, "%s %s", p.method, p.path)
		assert.Contains(t, body, `"errors":[{"code":`, "%s %s", p.method, p.path)
	}
	_, err := os.Stat(filepath.Join(dir, "escape"))
	assert.True(t, os.IsNotExist(err))
	ents, _ := os.ReadDir(filepath.Join(root, "repositories"))
	assert.Empty(t, ents, "no repository was created")
}

// TestRegistryTutorialFlow is part 2's sharing through wharf's own
// registry: login, tag, push, rmi, run pulling it back; wrong passwords and
// pushes to another user's repositories are refused.
func TestRegistryTutorialFlow(t *testing.T) {
	begin(t)
	dir := t.TempDir()
	reg := startWharfRegistry(t, filepath.Join(dir, "data"), "--htpasswd", htpasswdFile(t, dir, "alice")).addr
	ref := reg + "/alice/get-started:part2"
	// An image of its own (busybox plus a unique file), so that once it is
	// removed, run really downloads its layer from wharf's registry.
	importUnique(t, ref, "part2 "+t.Name()+" "+reg)

	_, refusal, code := wharfIn(t, strings.NewReader("nope\n"), "login", "-u", "alice", "--password-stdin", reg)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, strings.ToLower(refusal), "unauthorized")
	out, errOut, code := wharfIn(t, strings.NewReader("secret\n"), "login", "-u", "alice", "--password-stdin", reg)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "Login Succeeded")
	t.Cleanup(func() { wharf(t, "logout", reg) })

	out = mustWharf(t, "push", ref)
	assert.Contains(t, out, "part2: digest: sha256:")
	assert.Contains(t, out, "Pushed")
	assert.Contains(t, mustWharf(t, "push", ref), "Layer already exists")
	mustWharf(t, "rmi", ref)
	_, _, code = wharf(t, "image", "inspect", ref)
	require.NotEqual(t, 0, code, "the image is gone before run pulls it")
	out, errOut, code = wharf(t, "run", "--rm", ref, "cat", "/unique.txt")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "part2 "+t.Name())
	assert.Contains(t, errOut, "Unable to find image")
	assert.Contains(t, errOut, "Pull complete", "the layer was downloaded from wharf's registry")
	assert.NotContains(t, errOut, "Already exists")

	other := reg + "/bob/get-started:part2"
	mustWharf(t, "tag", busybox, other)
	t.Cleanup(func() { wharf(t, "rmi", other) })
	_, errOut, code = wharf(t, "push", other)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "denied", "alice may push only below alice/")
}

// TestRegistryMaxBlobSize: --max-blob-size bounds a whole upload, however
// it is cut into chunks; a refused chunk leaves the upload as it was and no
// blob appears.
func TestRegistryMaxBlobSize(t *testing.T) {
	begin(t)
	reg := startWharfRegistry(t, filepath.Join(t.TempDir(), "data"), "--max-blob-size", "1KiB")
	blob := bytes.Repeat([]byte("m"), 1600)
	d := digest.FromBytes(blob)

	resp, b := regDo(t, "POST", reg.url("/v2/alice/app/blobs/uploads/?digest="+d.String()), "", blob)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "a monolithic upload: %s", b)

	resp, _ = regDo(t, "POST", reg.url("/v2/alice/app/blobs/uploads/"), "", nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	loc := reg.url(resp.Header.Get("Location"))
	resp, b = regDo(t, "PATCH", loc, "", blob[:800], "Content-Range", "0-799")
	require.Equal(t, http.StatusAccepted, resp.StatusCode, string(b))
	resp, b = regDo(t, "PATCH", loc, "", blob[800:], "Content-Range", "800-1599")
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "the second chunk crosses the limit")
	assert.Contains(t, string(b), `"code":"SIZE_INVALID"`)
	resp, b = regDo(t, "PUT", loc+"?digest="+d.String(), "", blob[800:])
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "so does a closing PUT carrying it: %s", b)
	resp, _ = regDo(t, "GET", loc, "", nil)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Equal(t, "0-799", resp.Header.Get("Range"), "the upload is unchanged")
	resp, _ = regDo(t, "HEAD", reg.url("/v2/alice/app/blobs/"+d.String()), "", nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	blobs, _ := filepath.Glob(filepath.Join(reg.root, "blobs", "*", "*", "*"))
	assert.Empty(t, blobs)
}

// selfSignedCert writes a self-signed certificate for ips (cert.pem,
// key.pem in dir) and returns their paths and the certificate in PEM.
func selfSignedCert(t *testing.T, dir string, ips ...net.IP) (certFile, keyFile string, certPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: "wharf e2e registry"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true, IPAddresses: ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o700))
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	require.NoError(t, os.WriteFile(certFile, certPEM, 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600))
	return certFile, keyFile, certPEM
}

// TestRegistryTLS: `registry serve --tls-cert --tls-key` answers HTTPS,
// refuses plain HTTP clearly, and wharf pushes to and pulls from it
// (loopback: the daemon does not verify, as docker does not); a
// certificate without its key is refused at start.
func TestRegistryTLS(t *testing.T) {
	begin(t)
	dir := t.TempDir()
	cert, key, certPEM := selfSignedCert(t, filepath.Join(dir, "tls"), net.ParseIP("127.0.0.1"))
	reg := startWharfRegistry(t, filepath.Join(dir, "data"), "--tls-cert", cert, "--tls-key", key)

	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(certPEM))
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get("https://" + reg.addr + "/v2/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "registry/2.0", resp.Header.Get("Docker-Distribution-API-Version"))
	assert.NotNil(t, resp.TLS)

	resp, b := regDo(t, "GET", "http://"+reg.addr+"/v2/", "", nil)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "plain HTTP to the TLS port")
	assert.Contains(t, string(b), "HTTP request to an HTTPS server")

	ref := reg.addr + "/alice/tls:1"
	importUnique(t, ref, "over TLS "+reg.addr)
	assert.Contains(t, mustWharf(t, "push", ref), "1: digest: sha256:")
	mustWharf(t, "rmi", ref)
	out := mustWharf(t, "pull", ref)
	assert.Contains(t, out, "Pull complete")
	assert.Equal(t, "over TLS "+reg.addr, mustWharf(t, "run", "--rm", ref, "cat", "/unique.txt"))

	wharfBin := filepath.Join(env.bin, "wharf")
	_, errOut, code := runCLI(t, nil, wharfBin, "registry", "serve", "--addr", "127.0.0.1:0", "--root", filepath.Join(dir, "x"), "--tls-cert", cert)
	assert.NotEqual(t, 0, code, "a certificate without its key")
	assert.Contains(t, errOut, "--tls-cert and --tls-key go together")
	_, errOut, code = runCLI(t, nil, wharfBin, "registry", "serve", "--addr", "127.0.0.1:0", "--root", filepath.Join(dir, "x"), "--tls-key", key)
	assert.NotEqual(t, 0, code, "a key without its certificate")
	assert.Contains(t, errOut, "--tls-cert and --tls-key go together")
}

// localTestAddress adds a TEST-NET-1 address (192.0.2.0/24, never routed)
// on a veth pair of the test's own (this kernel has no dummy links),
// removed when the test ends: a non-loopback registry address that
// traffic never leaves the host for.
func localTestAddress(t *testing.T) string {
	t.Helper()
	link := fmt.Sprintf("wrt%d", os.Getpid()%100000)
	ip := fmt.Sprintf("192.0.2.%d", 2+os.Getpid()%250)
	ipCmd := func(args ...string) {
		t.Helper()
		out, err := exec.Command("ip", args...).CombinedOutput()
		require.NoError(t, err, "ip %s: %s", strings.Join(args, " "), out)
	}
	ipCmd("link", "add", link, "type", "veth", "peer", "name", link+"p")
	t.Cleanup(func() { _ = exec.Command("ip", "link", "delete", link).Run() })
	ipCmd("addr", "add", ip+"/32", "dev", link)
	ipCmd("link", "set", link+"p", "up")
	ipCmd("link", "set", link, "up")
	eventually(t, func() bool {
		l, err := net.Listen("tcp", ip+":0")
		if err == nil {
			l.Close()
		}
		return err == nil
	}, 10*time.Second, "address %s never became usable", ip)
	return ip
}

// privateDaemon is a second wharfd of the test's own (root, exec-root,
// bridge, nft table), with extra flags; wharf talks to it through run.
type privateDaemon struct {
	t    *testing.T
	sock string
}

func startPrivateDaemon(t *testing.T, dir string, extra ...string) *privateDaemon {
	t.Helper()
	sock := filepath.Join(dir, "run", "wharf.sock")
	done, logPath := spawnDaemon(t, dir, "rg", append([]string{"-H", "unix://" + sock}, extra...)...)
	p := &privateDaemon{t: t, sock: sock}
	eventually(t, func() bool {
		select {
		case <-done:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("the private daemon exited:\n%s", b)
		default:
		}
		_, _, code := p.run(nil, "version")
		return code == 0
	}, daemonDeadline, "the private daemon never answered on %s", sock)
	return p
}

// run runs wharf against the private daemon.
func (p *privateDaemon) run(stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(env.bin, "wharf"), args...)
	cmd.Env = append(env.clientEnv(), "WHARF_HOST=unix://"+p.sock, "DOCKER_HOST=unix://"+p.sock)
	cmd.Stdin = stdin
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		code = -1
	}
	p.t.Logf("+ wharf (private daemon) %s → exit %d\n%s%s", quoteArgs(args), code, indent("out", o.String()), indent("err", e.String()))
	return o.String(), e.String(), code
}

// TestRegistryInsecureAndCertsDir: a registry on a non-loopback address is
// reached over verified TLS only, unless --insecure-registry names it (plain
// HTTP allowed) or --registry-certs-dir holds its CA (docker's
// /etc/docker/certs.d/<host:port>/ca.crt).
func TestRegistryInsecureAndCertsDir(t *testing.T) {
	begin(t)
	dir := t.TempDir()
	ip := localTestAddress(t)
	plain := startWharfRegistryOn(t, ip, filepath.Join(dir, "plain"))
	cert, key, certPEM := selfSignedCert(t, filepath.Join(dir, "tls"), net.ParseIP(ip))
	secure := startWharfRegistryOn(t, ip, filepath.Join(dir, "secure"), "--tls-cert", cert, "--tls-key", key)
	otherCert, otherKey, _ := selfSignedCert(t, filepath.Join(dir, "tls-other"), net.ParseIP(ip))
	untrusted := startWharfRegistryOn(t, ip, filepath.Join(dir, "untrusted"), "--tls-cert", otherCert, "--tls-key", otherKey)

	// The suite's daemon has neither flag: both are refused.
	for _, reg := range []string{plain.addr, secure.addr} {
		ref := reg + "/alice/app:1"
		mustWharf(t, "tag", busybox, ref)
		t.Cleanup(func() { wharf(t, "rmi", ref) })
		_, errOut, code := wharf(t, "push", ref)
		assert.NotEqual(t, 0, code, "push to %s without --insecure-registry", reg)
		assert.True(t, strings.Contains(errOut, "server gave HTTP response to HTTPS client") ||
			strings.Contains(errOut, "certificate signed by unknown authority"), errOut)
	}

	certsDir := filepath.Join(dir, "certs.d")
	require.NoError(t, os.MkdirAll(filepath.Join(certsDir, secure.addr), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(certsDir, secure.addr, "ca.crt"), certPEM, 0o644))
	d := startPrivateDaemon(t, filepath.Join(dir, "daemon"), "--insecure-registry", plain.addr, "--registry-certs-dir", certsDir)
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	content := "insecure and certs.d " + ip
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "unique.txt", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}))
	_, err := tw.Write([]byte(content))
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	_, errOut, code := d.run(&tarball, "import", "-", "app:1")
	require.Equal(t, 0, code, errOut)

	for _, reg := range []string{plain.addr, secure.addr} {
		ref := reg + "/alice/app:2"
		_, errOut, code := d.run(nil, "tag", "app:1", ref)
		require.Equal(t, 0, code, errOut)
		out, errOut, code := d.run(nil, "push", ref)
		require.Equal(t, 0, code, "push to %s: %s", reg, errOut)
		assert.Contains(t, out, "2: digest: sha256:")
		_, errOut, code = d.run(nil, "rmi", ref)
		require.Equal(t, 0, code, errOut)
		out, errOut, code = d.run(nil, "pull", ref)
		require.Equal(t, 0, code, "pull from %s: %s", reg, errOut)
		assert.Contains(t, out, "Already exists", "the layers are still there under app:1")
	}
	// The CA in certs.d is for one registry only: verification is on.
	ref := untrusted.addr + "/alice/app:3"
	_, errOut, code = d.run(nil, "tag", "app:1", ref)
	require.Equal(t, 0, code, errOut)
	_, errOut, code = d.run(nil, "push", ref)
	assert.NotEqual(t, 0, code, "push to a registry whose certificate nothing vouches for")
	assert.Contains(t, errOut, "certificate")
}

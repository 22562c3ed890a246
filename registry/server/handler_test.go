package server

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wharf.io/wharf/registry/auth"
	"wharf.io/wharf/registry/server/storage"
)

func newTestServer(t *testing.T, opts Options) (*httptest.Server, *storage.Store) {
	st, err := storage.New(t.TempDir())
	require.NoError(t, err)
	srv := httptest.NewServer(New(st, opts))
	t.Cleanup(srv.Close)
	return srv, st
}

type response struct {
	*http.Response
	body []byte
}

func do(t *testing.T, method, u string, body []byte, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 && resp.StatusCode < 500 && method != http.MethodHead {
		var e struct {
			Errors []struct{ Code, Message string } `json:"errors"`
		}
		require.NoError(t, json.Unmarshal(b, &e), "every 4xx carries the OCI error JSON: %s", b)
		require.NotEmpty(t, e.Errors)
		require.NotEmpty(t, e.Errors[0].Code)
	}
	return response{resp, b}
}

func errCode(r response) string {
	var e struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	json.Unmarshal(r.body, &e)
	if len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

func pushBlob(t *testing.T, base, repo, content string) ocispec.Descriptor {
	d := digest.FromString(content)
	r := do(t, "POST", base+"/v2/"+repo+"/blobs/uploads/?digest="+d.String(), []byte(content))
	require.Equal(t, http.StatusCreated, r.StatusCode, string(r.body))
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: d, Size: int64(len(content))}
}

func manifestJSON(t *testing.T, config ocispec.Descriptor, layers ...ocispec.Descriptor) []byte {
	config.MediaType = ocispec.MediaTypeImageConfig
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: config, Layers: layers}
	m.SchemaVersion = 2
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return b
}

func TestChunkedUploadStrictOffsets(t *testing.T) {
	srv, _ := newTestServer(t, Options{})
	r := do(t, "POST", srv.URL+"/v2/a/b/blobs/uploads/", nil)
	require.Equal(t, http.StatusAccepted, r.StatusCode)
	assert.Equal(t, "registry/2.0", r.Header.Get("Docker-Distribution-API-Version"))
	loc := srv.URL + r.Header.Get("Location")

	r = do(t, "PATCH", loc, []byte("hello "), "Content-Range", "0-5")
	assert.Equal(t, http.StatusAccepted, r.StatusCode)
	assert.Equal(t, "0-5", r.Header.Get("Range"))
	r = do(t, "PATCH", loc, []byte("again"), "Content-Range", "3-7")
	assert.Equal(t, http.StatusRequestedRangeNotSatisfiable, r.StatusCode, "out-of-order chunk")
	assert.Equal(t, "0-5", r.Header.Get("Range"), "where to resume")
	r = do(t, "GET", loc, nil)
	assert.Equal(t, http.StatusNoContent, r.StatusCode)
	assert.Equal(t, "0-5", r.Header.Get("Range"))
	assert.NotEmpty(t, r.Header.Get("Docker-Upload-UUID"))

	bad := digest.FromString("nope")
	r = do(t, "PUT", loc+"?digest="+bad.String(), []byte("world"))
	assert.Equal(t, http.StatusBadRequest, r.StatusCode)
	assert.Equal(t, "DIGEST_INVALID", errCode(r))
	d := digest.FromString("hello world")
	r = do(t, "PUT", loc+"?digest="+d.String(), []byte("world"), "Content-Range", "6-10")
	require.Equal(t, http.StatusCreated, r.StatusCode, string(r.body))
	assert.Equal(t, d.String(), r.Header.Get("Docker-Content-Digest"))

	r = do(t, "GET", srv.URL+"/v2/a/b/blobs/"+d.String(), nil, "Range", "bytes=6-")
	assert.Equal(t, http.StatusPartialContent, r.StatusCode)
	assert.Equal(t, "world", string(r.body))
	r = do(t, "GET", srv.URL+"/v2/a/b/blobs/"+d.String(), nil, "Range", "bytes=100-200")
	assert.Equal(t, http.StatusRequestedRangeNotSatisfiable, r.StatusCode)
	r = do(t, "GET", srv.URL+"/v2/other/blobs/"+d.String(), nil)
	assert.Equal(t, "BLOB_UNKNOWN", errCode(r), "a blob is visible only where it was pushed")

	r = do(t, "DELETE", srv.URL+"/v2/a/b/blobs/"+d.String(), nil)
	assert.Equal(t, http.StatusAccepted, r.StatusCode)
	r = do(t, "HEAD", srv.URL+"/v2/a/b/blobs/"+d.String(), nil)
	assert.Equal(t, http.StatusNotFound, r.StatusCode)
}

func TestChunkedUploadMaxBlobSize(t *testing.T) {
	srv, st := newTestServer(t, Options{MaxBlobSize: 1000})
	blob := strings.Repeat("x", 1600)
	d := digest.FromString(blob)
	r := do(t, "POST", srv.URL+"/v2/a/b/blobs/uploads/", nil)
	require.Equal(t, http.StatusAccepted, r.StatusCode)
	loc := srv.URL + r.Header.Get("Location")

	r = do(t, "PATCH", loc, []byte(blob[:800]), "Content-Range", "0-799")
	require.Equal(t, http.StatusAccepted, r.StatusCode, string(r.body))
	r = do(t, "PATCH", loc, []byte(blob[800:]), "Content-Range", "800-1599")
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.StatusCode, "the second chunk crosses the limit")
	assert.Equal(t, "SIZE_INVALID", errCode(r))
	assert.Equal(t, "0-799", r.Header.Get("Range"), "the upload is unchanged")
	r = do(t, "PATCH", loc, []byte(blob[800:])) // streamed, no Content-Range
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.StatusCode)
	r = do(t, "PUT", loc+"?digest="+d.String(), []byte(blob[800:]))
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.StatusCode, "nor may the closing PUT carry it")
	r = do(t, "GET", loc, nil)
	assert.Equal(t, http.StatusNoContent, r.StatusCode)
	assert.Equal(t, "0-799", r.Header.Get("Range"))
	r = do(t, "HEAD", srv.URL+"/v2/a/b/blobs/"+d.String(), nil)
	assert.Equal(t, http.StatusNotFound, r.StatusCode)
	assert.False(t, st.HasBlob(d))

	// Up to the limit is fine.
	ok := blob[:1000]
	r = do(t, "PUT", loc+"?digest="+digest.FromString(ok).String(), []byte(ok[800:]), "Content-Range", "800-999")
	require.Equal(t, http.StatusCreated, r.StatusCode, string(r.body))
}

func TestMount(t *testing.T) {
	srv, _ := newTestServer(t, Options{})
	b := pushBlob(t, srv.URL, "src", "layer")
	r := do(t, "POST", srv.URL+"/v2/dst/blobs/uploads/?mount="+b.Digest.String()+"&from=src", nil)
	assert.Equal(t, http.StatusCreated, r.StatusCode)
	r = do(t, "POST", srv.URL+"/v2/dst2/blobs/uploads/?mount="+b.Digest.String(), nil)
	assert.Equal(t, http.StatusCreated, r.StatusCode, "anonymous mount")
	missing := digest.FromString("missing")
	r = do(t, "POST", srv.URL+"/v2/dst/blobs/uploads/?mount="+missing.String()+"&from=src", nil)
	assert.Equal(t, http.StatusAccepted, r.StatusCode, "falls back to an upload")
	assert.NotEmpty(t, r.Header.Get("Location"))
}

func TestManifestChecks(t *testing.T) {
	srv, _ := newTestServer(t, Options{})
	base := srv.URL + "/v2/alice/app"
	cfg, layer := pushBlob(t, srv.URL, "alice/app", "cfg"), pushBlob(t, srv.URL, "alice/app", "layer")
	ghost := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromString("ghost"), Size: 5}

	r := do(t, "PUT", base+"/manifests/v1", manifestJSON(t, cfg, layer, ghost), "Content-Type", ocispec.MediaTypeImageManifest)
	assert.Equal(t, http.StatusBadRequest, r.StatusCode)
	assert.Equal(t, "MANIFEST_BLOB_UNKNOWN", errCode(r))
	r = do(t, "PUT", base+"/manifests/v1", []byte("{not json"), "Content-Type", ocispec.MediaTypeImageManifest)
	assert.Equal(t, "MANIFEST_INVALID", errCode(r))
	r = do(t, "PUT", base+"/manifests/v1", manifestJSON(t, cfg, layer), "Content-Type", "application/vnd.docker.distribution.manifest.v1+prettyjws")
	assert.Equal(t, "MANIFEST_INVALID", errCode(r), "schema1 is refused")
	r = do(t, "PUT", base+"/manifests/v1", bytes.Repeat([]byte(" "), MaxManifestSize+1), "Content-Type", ocispec.MediaTypeImageManifest)
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.StatusCode)

	body := manifestJSON(t, cfg, layer)
	d := digest.FromBytes(body)
	r = do(t, "PUT", base+"/manifests/"+digest.FromString("x").String(), body, "Content-Type", ocispec.MediaTypeImageManifest)
	assert.Equal(t, "DIGEST_INVALID", errCode(r), "a digest reference must match the body")
	r = do(t, "PUT", base+"/manifests/v1", body, "Content-Type", ocispec.MediaTypeImageManifest)
	require.Equal(t, http.StatusCreated, r.StatusCode, string(r.body))
	assert.Equal(t, d.String(), r.Header.Get("Docker-Content-Digest"))

	r = do(t, "GET", base+"/manifests/v1", nil)
	assert.Equal(t, body, r.body)
	assert.Equal(t, ocispec.MediaTypeImageManifest, r.Header.Get("Content-Type"))

	// An index must list manifests of the repository, unless sparse.
	idx := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[{"mediaType":%q,"digest":%q,"size":%d},{"mediaType":%q,"digest":%q,"size":3}]}`,
		ocispec.MediaTypeImageIndex, ocispec.MediaTypeImageManifest, d, len(body), ocispec.MediaTypeImageManifest, digest.FromString("arm"))
	r = do(t, "PUT", base+"/manifests/multi", []byte(idx), "Content-Type", ocispec.MediaTypeImageIndex)
	assert.Equal(t, "MANIFEST_BLOB_UNKNOWN", errCode(r))
	sparse, _ := newTestServer(t, Options{AllowSparse: true})
	pushBlob(t, sparse.URL, "alice/app", "cfg")
	r = do(t, "PUT", sparse.URL+"/v2/alice/app/manifests/multi", []byte(idx), "Content-Type", ocispec.MediaTypeImageIndex)
	assert.Equal(t, http.StatusCreated, r.StatusCode, string(r.body))

	r = do(t, "DELETE", base+"/manifests/v1", nil)
	assert.Equal(t, http.StatusAccepted, r.StatusCode, "tag deletion")
	r = do(t, "GET", base+"/manifests/v1", nil)
	assert.Equal(t, "MANIFEST_UNKNOWN", errCode(r))
	r = do(t, "GET", base+"/manifests/"+d.String(), nil)
	assert.Equal(t, http.StatusOK, r.StatusCode, "the manifest outlives its tag")
	r = do(t, "DELETE", base+"/manifests/"+d.String(), nil)
	assert.Equal(t, http.StatusAccepted, r.StatusCode)
	r = do(t, "GET", base+"/manifests/"+d.String(), nil)
	assert.Equal(t, "MANIFEST_UNKNOWN", errCode(r))
}

func TestReferrers(t *testing.T) {
	srv, _ := newTestServer(t, Options{})
	base := srv.URL + "/v2/r"
	cfg := pushBlob(t, srv.URL, "r", "cfg")
	subject := digest.FromString("not pushed yet")
	for i, at := range []string{"application/vnd.sig", "application/vnd.sbom"} {
		m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"artifactType":%q,"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":%q,"size":3},"layers":[],"subject":{"mediaType":%q,"digest":%q,"size":%d},"annotations":{"n":"%d"}}`,
			ocispec.MediaTypeImageManifest, at, cfg.Digest, ocispec.MediaTypeImageManifest, subject, 10, i)
		r := do(t, "PUT", base+"/manifests/"+digest.FromString(m).String(), []byte(m), "Content-Type", ocispec.MediaTypeImageManifest)
		require.Equal(t, http.StatusCreated, r.StatusCode, string(r.body))
		assert.Equal(t, subject.String(), r.Header.Get("OCI-Subject"))
	}
	var idx ocispec.Index
	r := do(t, "GET", base+"/referrers/"+subject.String(), nil)
	require.NoError(t, json.Unmarshal(r.body, &idx))
	assert.Len(t, idx.Manifests, 2)
	r = do(t, "GET", base+"/referrers/"+subject.String()+"?artifactType="+url.QueryEscape("application/vnd.sbom"), nil)
	require.NoError(t, json.Unmarshal(r.body, &idx))
	require.Len(t, idx.Manifests, 1)
	assert.Equal(t, "application/vnd.sbom", idx.Manifests[0].ArtifactType)
	assert.Equal(t, "artifactType", r.Header.Get("OCI-Filters-Applied"))
}

func TestTagPagination(t *testing.T) {
	srv, _ := newTestServer(t, Options{})
	base := srv.URL + "/v2/r"
	cfg := pushBlob(t, srv.URL, "r", "cfg")
	body := manifestJSON(t, cfg)
	for _, tag := range []string{"c", "a", "b", "d"} {
		r := do(t, "PUT", base+"/manifests/"+tag, body, "Content-Type", ocispec.MediaTypeImageManifest)
		require.Equal(t, http.StatusCreated, r.StatusCode)
	}
	var list struct{ Tags []string }
	r := do(t, "GET", base+"/tags/list?n=2", nil)
	require.NoError(t, json.Unmarshal(r.body, &list))
	assert.Equal(t, []string{"a", "b"}, list.Tags)
	assert.Equal(t, `</v2/r/tags/list?last=b&n=2>; rel="next"`, r.Header.Get("Link"))
	r = do(t, "GET", base+"/tags/list?n=2&last=b", nil)
	require.NoError(t, json.Unmarshal(r.body, &list))
	assert.Equal(t, []string{"c", "d"}, list.Tags)
	assert.Empty(t, r.Header.Get("Link"))
	r = do(t, "GET", base+"/tags/list?n=-1", nil)
	assert.Equal(t, http.StatusBadRequest, r.StatusCode)
	r = do(t, "GET", srv.URL+"/v2/nope/tags/list", nil)
	assert.Equal(t, "NAME_UNKNOWN", errCode(r))

	pushBlob(t, srv.URL, "s/t", "x")
	var cat struct{ Repositories []string }
	r = do(t, "GET", srv.URL+"/v2/_catalog?n=1", nil)
	require.NoError(t, json.Unmarshal(r.body, &cat))
	assert.Equal(t, []string{"r"}, cat.Repositories)
	assert.Contains(t, r.Header.Get("Link"), "last=r")
}

func TestPathTricksRejected(t *testing.T) {
	srv, _ := newTestServer(t, Options{})
	for _, p := range []string{
		"/v2/../../etc/blobs/uploads/", "/v2/%2e%2e/x/blobs/uploads/", "/v2/A/b/tags/list",
		"/v2/" + strings.Repeat("a", 256) + "/tags/list", "/v2/a/_uploads/blobs/uploads/", "/v2/a//b/tags/list",
	} {
		req, err := http.NewRequest("POST", srv.URL+"/", nil)
		require.NoError(t, err)
		req.URL.Opaque = p // sent as is, not cleaned by the client
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Contains(t, []int{400, 404}, resp.StatusCode, p)
	}
	r := do(t, "GET", srv.URL+"/v2/a/manifests/..%2f..%2fx", nil)
	assert.Equal(t, http.StatusNotFound, r.StatusCode)
	r = do(t, "GET", srv.URL+"/v2/a/blobs/sha256:xyz", nil)
	assert.Equal(t, "DIGEST_INVALID", errCode(r))
	r = do(t, "PATCH", srv.URL+"/v2/a/blobs/uploads/../../x", nil)
	assert.Contains(t, []int{400, 404}, r.StatusCode)
}

func newAuthServer(t *testing.T) *httptest.Server {
	users, err := auth.ParseHtpasswd(nil)
	require.NoError(t, err)
	require.NoError(t, users.Set("alice", "secret"))
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	a := &auth.Authorizer{Users: users, Tokens: auth.NewTokenIssuer(key, "test-registry")}
	srv, _ := newTestServer(t, Options{Auth: a, Token: http.HandlerFunc(a.ServeToken)})
	return srv
}

func TestAuthTokenFlow(t *testing.T) {
	srv := newAuthServer(t)
	r := do(t, "GET", srv.URL+"/v2/", nil)
	require.Equal(t, http.StatusUnauthorized, r.StatusCode)
	assert.Equal(t, "UNAUTHORIZED", errCode(r))
	assert.Equal(t, `Bearer realm="`+srv.URL+`/token",service="test-registry"`, r.Header.Get("WWW-Authenticate"))

	r = do(t, "POST", srv.URL+"/v2/alice/app/blobs/uploads/", nil)
	require.Equal(t, http.StatusUnauthorized, r.StatusCode)
	assert.Contains(t, r.Header.Get("WWW-Authenticate"), `scope="repository:alice/app:pull,push"`)

	token := func(user, pass, scope string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+"/token?service=test-registry&scope="+url.QueryEscape(scope), nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var tr struct {
			Token       string `json:"token"`
			AccessToken string `json:"access_token"`
			ExpiresIn   int    `json:"expires_in"`
		}
		json.NewDecoder(resp.Body).Decode(&tr)
		if resp.StatusCode == http.StatusOK {
			assert.Equal(t, tr.Token, tr.AccessToken)
			assert.Equal(t, 300, tr.ExpiresIn)
		}
		return resp.StatusCode, tr.AccessToken
	}
	code, _ := token("", "", "repository:alice/app:pull")
	assert.Equal(t, http.StatusUnauthorized, code, "anonymous gets no token")
	code, _ = token("alice", "wrong", "repository:alice/app:pull")
	assert.Equal(t, http.StatusUnauthorized, code)

	code, tok := token("alice", "secret", "repository:alice/app:pull,push")
	require.Equal(t, http.StatusOK, code)
	r = do(t, "POST", srv.URL+"/v2/alice/app/blobs/uploads/", nil, "Authorization", "Bearer "+tok)
	assert.Equal(t, http.StatusAccepted, r.StatusCode)
	r = do(t, "GET", srv.URL+"/v2/bob/app/tags/list", nil, "Authorization", "Bearer "+tok)
	assert.Equal(t, http.StatusUnauthorized, r.StatusCode, "not in the token, but allowed: get another")
	assert.Contains(t, r.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`)

	code, tok = token("alice", "secret", "repository:bob/app:pull,push")
	require.Equal(t, http.StatusOK, code)
	r = do(t, "GET", srv.URL+"/v2/bob/app/tags/list", nil, "Authorization", "Bearer "+tok)
	assert.Equal(t, http.StatusNotFound, r.StatusCode, "pull granted")
	r = do(t, "POST", srv.URL+"/v2/bob/app/blobs/uploads/", nil, "Authorization", "Bearer "+tok)
	assert.Equal(t, http.StatusForbidden, r.StatusCode, "push to another user's repository")
	assert.Equal(t, "DENIED", errCode(r))
	assert.Contains(t, r.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`)

	r = do(t, "GET", srv.URL+"/v2/", nil, "Authorization", "Bearer "+tok+"x")
	assert.Equal(t, http.StatusUnauthorized, r.StatusCode, "tampered token")
	assert.Contains(t, r.Header.Get("WWW-Authenticate"), `error="invalid_token"`)
}

func TestAuthBasic(t *testing.T) {
	srv := newAuthServer(t)
	basic := func(user, pass string) string {
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(user, pass)
		return req.Header.Get("Authorization")
	}
	r := do(t, "GET", srv.URL+"/v2/", nil, "Authorization", basic("alice", "wrong"))
	assert.Equal(t, http.StatusUnauthorized, r.StatusCode)
	r = do(t, "GET", srv.URL+"/v2/", nil, "Authorization", basic("alice", "secret"))
	assert.Equal(t, http.StatusOK, r.StatusCode)
	r = do(t, "POST", srv.URL+"/v2/alice/x/blobs/uploads/", nil, "Authorization", basic("alice", "secret"))
	assert.Equal(t, http.StatusAccepted, r.StatusCode)
	r = do(t, "POST", srv.URL+"/v2/x/blobs/uploads/", nil, "Authorization", basic("alice", "secret"))
	assert.Equal(t, http.StatusForbidden, r.StatusCode)
	r = do(t, "GET", srv.URL+"/v2/_catalog", nil, "Authorization", basic("alice", "secret"))
	assert.Equal(t, http.StatusOK, r.StatusCode)
}

func TestParseRoute(t *testing.T) {
	for path, want := range map[string]route{
		"/v2/":                            {kind: "base"},
		"/v2":                             {kind: "base"},
		"/v2/_catalog":                    {kind: "catalog"},
		"/v2/a/b/tags/list":               {kind: "tags", name: "a/b"},
		"/v2/a/blobs/uploads/":            {kind: "uploads", name: "a"},
		"/v2/a/blobs/uploads":             {kind: "uploads", name: "a"},
		"/v2/a/blobs/uploads/abc":         {kind: "uploads", name: "a", arg: "abc"},
		"/v2/blobs/blobs/sha256:1":        {kind: "blobs", name: "blobs", arg: "sha256:1"},
		"/v2/a/manifests/manifests/x":     {kind: "manifests", name: "a/manifests", arg: "x"},
		"/v2/a/referrers/sha256:1":        {kind: "referrers", name: "a", arg: "sha256:1"},
		"/v2/x/tags/list/blobs/uploads/1": {kind: "uploads", name: "x/tags/list", arg: "1"},
	} {
		got, ok := parseRoute(path)
		assert.True(t, ok, path)
		assert.Equal(t, want, got, path)
	}
	for _, bad := range []string{"/", "/v1/", "/v2x", "/v2/a", "/v2/tags/list", "/v2/a/blobs/", "/v2/a/manifests/"} {
		_, ok := parseRoute(bad)
		assert.False(t, ok, bad)
	}
}

func TestParsePage(t *testing.T) {
	p, err := parsePage(url.Values{"n": {"2"}, "last": {"b"}})
	require.NoError(t, err)
	out, more := p.apply([]string{"a", "b", "c", "d", "e"})
	assert.Equal(t, []string{"c", "d"}, out)
	assert.True(t, more)
	p, _ = parsePage(url.Values{"n": {"0"}})
	out, _ = p.apply([]string{"a"})
	assert.Equal(t, []string{}, out)
	_, err = parsePage(url.Values{"n": {"x"}})
	assert.Error(t, err)
}

func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{"/v2/a/b/blobs/uploads/x", "/v2/a/manifests/latest", "/v2/_catalog", "/v2//tags/list"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		rt, ok := parseRoute(p)
		if !ok || rt.kind == "base" || rt.kind == "catalog" {
			return
		}
		if strings.Contains(rt.arg, "/") {
			t.Fatalf("%q: argument %q holds a slash", p, rt.arg)
		}
		if storage.ValidateRepository(rt.name) == nil && strings.Contains(rt.name, "..") {
			t.Fatalf("%q: name %q", p, rt.name)
		}
	})
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"0-5", "bytes 6-10/11", "5-3", "-1-2", "9223372036854775807-9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, end, err := parseContentRange(s)
		if err == nil && (start < 0 || end < start) {
			t.Fatalf("%q: %d-%d", s, start, end)
		}
	})
}

func FuzzParsePage(f *testing.F) {
	f.Add("2", "b")
	f.Add("-1", "")
	f.Add("99999999999999999999", "zz")
	f.Fuzz(func(t *testing.T, n, last string) {
		p, err := parsePage(url.Values{"n": {n}, "last": {last}})
		if err != nil {
			return
		}
		all := []string{"a", "b", "c"}
		out, more := p.apply(all)
		if p.n >= 0 && len(out) > p.n {
			t.Fatalf("n=%d gave %d", p.n, len(out))
		}
		for _, o := range out {
			if last != "" && o <= last {
				t.Fatalf("%q not after last %q", o, last)
			}
		}
		_ = more
	})
}

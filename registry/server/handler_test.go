package server

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestServer(t *testing.T) *httptest.Server {
	h, err := New(t.TempDir(), nil, nil)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, method, url string, body []byte, hdr ...string) *http.Response {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp
}

func TestChunkedUploadStrictOffsets(t *testing.T) {
	srv := newTestServer(t)
	resp := do(t, "POST", srv.URL+"/v2/a/b/blobs/uploads/", nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	loc := srv.URL + resp.Header.Get("Location")

	resp = do(t, "PATCH", loc, []byte("hello "), "Content-Range", "0-5")
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	assert.Equal(t, "0-5", resp.Header.Get("Range"))
	resp = do(t, "PATCH", loc, []byte("again"), "Content-Range", "3-7")
	assert.Equal(t, http.StatusRequestedRangeNotSatisfiable, resp.StatusCode, "out-of-order chunk")
	resp = do(t, "GET", loc, nil)
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Equal(t, "0-5", resp.Header.Get("Range"))

	d := digest.FromString("hello world")
	resp = do(t, "PUT", loc+"?digest="+url.QueryEscape(digest.FromString("wrong").String()), []byte("world"))
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "digest mismatch")
	resp = do(t, "HEAD", srv.URL+"/v2/a/b/blobs/"+d.String(), nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "a failed upload leaves no blob")
}

func TestMonolithicPushRangeReadAndMount(t *testing.T) {
	srv := newTestServer(t)
	data := []byte("0123456789")
	d := digest.FromBytes(data)
	resp := do(t, "POST", srv.URL+"/v2/alice/one/blobs/uploads/?digest="+d.String(), data)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, d.String(), resp.Header.Get("Docker-Content-Digest"))

	req, _ := http.NewRequest("GET", srv.URL+"/v2/alice/one/blobs/"+d.String(), nil)
	req.Header.Set("Range", "bytes=2-4")
	r, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b := new(bytes.Buffer)
	b.ReadFrom(r.Body)
	r.Body.Close()
	assert.Equal(t, http.StatusPartialContent, r.StatusCode)
	assert.Equal(t, "234", b.String())

	assert.Equal(t, http.StatusNotFound, do(t, "HEAD", srv.URL+"/v2/alice/two/blobs/"+d.String(), nil).StatusCode,
		"a blob is visible only in the repositories it was pushed or mounted to")
	resp = do(t, "POST", srv.URL+"/v2/alice/two/blobs/uploads/?mount="+d.String()+"&from=alice/one", nil)
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, http.StatusOK, do(t, "HEAD", srv.URL+"/v2/alice/two/blobs/"+d.String(), nil).StatusCode)
}

func TestBadNamesAndErrorsAreJSON(t *testing.T) {
	srv := newTestServer(t)
	for _, p := range []string{"/v2/UPPER/tags/list", "/v2/a/../b/tags/list", "/v2/" + strings.Repeat("a", 300) + "/tags/list"} {
		resp, err := http.Get(srv.URL + p)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, p)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"), p)
	}
	resp := do(t, "GET", srv.URL+"/v2/a/manifests/nope", nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestPaginate(t *testing.T) {
	all := []string{"a", "b", "c", "d"}
	page, next, e := paginate(all, url.Values{"n": {"2"}})
	require.Nil(t, e)
	assert.Equal(t, []string{"a", "b"}, page)
	assert.Equal(t, "b", next)
	page, next, _ = paginate(all, url.Values{"n": {"2"}, "last": {"b"}})
	assert.Equal(t, []string{"c", "d"}, page)
	assert.Empty(t, next)
	_, _, e = paginate(all, url.Values{"n": {"-1"}})
	assert.NotNil(t, e)
}

func FuzzContentRange(f *testing.F) {
	for _, s := range []string{"0-5", "bytes 10-20/30", "5-", "-", "9-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, end, ok := parseContentRange(s)
		if ok && (start < 0 || end < start) {
			t.Fatalf("accepted %q as %d-%d", s, start, end)
		}
	})
}

func FuzzSplitPath(f *testing.F) {
	for _, s := range []string{"a/b/manifests/latest", "a/blobs/uploads/", "x/y/z/blobs/sha256:00", "a/tags/list", "a/referrers/sha256:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, kind, _, ok := splitPath(s)
		if ok && (name == "" || kind == "") {
			t.Fatalf("%q split into %q %q", s, name, kind)
		}
	})
}

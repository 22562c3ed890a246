package remote

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	ggcr "github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/moby/api/types/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"wharf.io/wharf/image"
	"wharf.io/wharf/snapshot/overlay"
)

// newStore is an image store in a temp dir (unprivileged: layers unpack
// as plain directories).
func newStore(t *testing.T) *image.Store {
	t.Helper()
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, "m.db"), 0o600, nil)
	require.NoError(t, err)
	sn, err := overlay.Open(filepath.Join(dir, "snapshots"))
	require.NoError(t, err)
	s, err := image.New(filepath.Join(dir, "image"), db, sn)
	require.NoError(t, err)
	t.Cleanup(func() { sn.Close(); db.Close() })
	return s
}

// startRegistry serves go-containerregistry's in-memory registry on
// loopback, through wrap if given, and returns its host:port.
func startRegistry(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	var h http.Handler = ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// recorder keeps progress lines as "id: status".
type recorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *recorder) Update(id, status string, current, total int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if total == 0 {
		r.lines = append(r.lines, id+": "+status)
	}
}

func (r *recorder) has(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.lines, func(l string) bool { return strings.Contains(l, s) })
}

func named(t *testing.T, s string) reference.Named {
	t.Helper()
	n, err := reference.ParseNormalizedNamed(s)
	require.NoError(t, err)
	return n
}

func tagged(t *testing.T, s string) reference.NamedTagged {
	t.Helper()
	n, ok := named(t, s).(reference.NamedTagged)
	require.True(t, ok, s)
	return n
}

func writeRandom(t *testing.T, ref string, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(4096, layers)
	require.NoError(t, err)
	r, err := name.ParseReference(ref)
	require.NoError(t, err)
	require.NoError(t, ggcr.Write(r, img))
	return img
}

func TestPushPullRoundTrip(t *testing.T) {
	ctx := context.Background()
	host := startRegistry(t, nil)
	c := New(nil, "wharf-test")
	src := writeRandom(t, host+"/src/rand:1", 3)
	srcDigest, err := src.Digest()
	require.NoError(t, err)
	srcConfig, err := src.ConfigName()
	require.NoError(t, err)

	a := newStore(t)
	rec := &recorder{}
	res, err := c.Pull(ctx, a, named(t, host+"/src/rand:1"), nil, registry.AuthConfig{}, rec)
	require.NoError(t, err)
	assert.True(t, res.Updated)
	assert.Equal(t, srcDigest.String(), res.Digest.String())
	assert.Equal(t, srcConfig.String(), res.Image.ID.String())
	assert.Equal(t, []string{host + "/src/rand@" + srcDigest.String()}, res.Image.RepoDigests)
	assert.True(t, rec.has("Pulling from src/rand"))
	assert.True(t, rec.has("Pull complete"))

	rec = &recorder{}
	res, err = c.Pull(ctx, a, named(t, host+"/src/rand:1"), nil, registry.AuthConfig{}, rec)
	require.NoError(t, err)
	assert.False(t, res.Updated)
	assert.True(t, rec.has("Already exists"))
	assert.False(t, rec.has("Pulling fs layer"))

	// To another repository of the same registry: nothing is uploaded
	// again, and gzip layers go out as a Docker schema2 manifest.
	require.NoError(t, a.Tag(ctx, host+"/src/rand:1", host+"/dst/rand:2"))
	rec = &recorder{}
	pr, err := c.Push(ctx, a, tagged(t, host+"/dst/rand:2"), registry.AuthConfig{}, rec)
	require.NoError(t, err)
	// (This registry shares blobs across repositories, so they "already
	// exist"; the e2e test sees "Mounted from" with distribution.)
	assert.False(t, rec.has(": Pushed"), "%v", rec.lines)
	desc, err := ggcr.Get(mustRef(t, host+"/dst/rand:2"))
	require.NoError(t, err)
	assert.Equal(t, types.DockerManifestSchema2, desc.MediaType)
	assert.Equal(t, pr.Digest.String(), desc.Digest.String())
	got, err := a.Get(ctx, host+"/dst/rand:2")
	require.NoError(t, err)
	assert.Contains(t, got.RepoDigests, host+"/dst/rand@"+pr.Digest.String())

	rec = &recorder{}
	_, err = c.Push(ctx, a, tagged(t, host+"/dst/rand:2"), registry.AuthConfig{}, rec)
	require.NoError(t, err)
	assert.True(t, rec.has("Layer already exists"))

	// A fresh store pulls what was pushed: the same image.
	b := newStore(t)
	res, err = c.Pull(ctx, b, named(t, host+"/dst/rand:2"), nil, registry.AuthConfig{}, Discard{})
	require.NoError(t, err)
	assert.Equal(t, srcConfig.String(), res.Image.ID.String())

	// An imported image has an uncompressed layer: compressed for the push
	// (a Docker schema2 manifest of gzip layers, as docker pushes), and
	// pulled back to the same ID.
	var tarball bytes.Buffer
	writeTar(t, &tarball, "hello.txt", "hello")
	imported, err := a.Import(ctx, &tarball, host+"/imp/x:1", nil, "")
	require.NoError(t, err)
	rec = &recorder{}
	_, err = c.Push(ctx, a, tagged(t, host+"/imp/x:1"), registry.AuthConfig{}, rec)
	require.NoError(t, err)
	assert.True(t, rec.has(": Pushed"))
	desc, err = ggcr.Get(mustRef(t, host+"/imp/x:1"))
	require.NoError(t, err)
	assert.Equal(t, types.DockerManifestSchema2, desc.MediaType)
	pushed, err := desc.Image()
	require.NoError(t, err)
	pushedLayers, err := pushed.Layers()
	require.NoError(t, err)
	require.Len(t, pushedLayers, 1)
	lmt, err := pushedLayers[0].MediaType()
	require.NoError(t, err)
	assert.Equal(t, types.DockerLayer, lmt)
	res, err = c.Pull(ctx, b, named(t, host+"/imp/x:1"), nil, registry.AuthConfig{}, Discard{})
	require.NoError(t, err)
	assert.Equal(t, imported.ID, res.Image.ID)

	// By digest.
	res, err = c.Pull(ctx, newStore(t), named(t, host+"/imp/x@"+desc.Digest.String()), nil, registry.AuthConfig{}, Discard{})
	require.NoError(t, err)
	assert.Equal(t, imported.ID, res.Image.ID)

	tags, err := c.Tags(ctx, named(t, host+"/dst/rand"), registry.AuthConfig{})
	require.NoError(t, err)
	assert.Equal(t, []string{"2"}, tags)
}

func TestPullIndexPicksPlatform(t *testing.T) {
	ctx := context.Background()
	host := startRegistry(t, nil)
	arm, idx := writeAmdArmIndex(t, host+"/multi/app:1")
	idxDigest, err := idx.Digest()
	require.NoError(t, err)
	armConfig, err := arm.ConfigName()
	require.NoError(t, err)

	c := New(nil, "")
	res, err := c.Pull(ctx, newStore(t), named(t, host+"/multi/app:1"), &ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, registry.AuthConfig{}, Discard{})
	require.NoError(t, err)
	assert.Equal(t, armConfig.String(), res.Image.ID.String())
	// The repo digest is the index's, as docker records it.
	assert.Equal(t, idxDigest.String(), res.Digest.String())

	_, err = c.Pull(ctx, newStore(t), named(t, host+"/multi/app:1"), &ocispec.Platform{OS: "linux", Architecture: "s390x"}, registry.AuthConfig{}, Discard{})
	assert.True(t, errdefs.IsNotFound(err), "%v", err)
	assert.Contains(t, err.Error(), "no matching manifest for linux/s390x")
}

func TestPullErrors(t *testing.T) {
	ctx := context.Background()
	var corrupt string // blob path to corrupt
	host := startRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if corrupt == "" || r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, corrupt) {
				h.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			body[len(body)/2] ^= 0xff
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(body)
		})
	})
	c := New(nil, "")
	s := newStore(t)

	_, err := c.Pull(ctx, s, named(t, host+"/none/such:1"), nil, registry.AuthConfig{}, Discard{})
	assert.True(t, errdefs.IsNotFound(err), "%v", err)
	assert.Contains(t, err.Error(), "manifest for "+host+"/none/such:1 not found")

	img := writeRandom(t, host+"/bad/blob:1", 2)
	layers, err := img.Layers()
	require.NoError(t, err)
	d, err := layers[1].Digest()
	require.NoError(t, err)
	corrupt = d.String()
	_, err = c.Pull(ctx, s, named(t, host+"/bad/blob:1"), nil, registry.AuthConfig{}, Discard{})
	require.Error(t, err)
	_, err = s.Get(ctx, host+"/bad/blob:1")
	assert.True(t, errdefs.IsNotFound(err), "a corrupt pull left an image: %v", err)
	list, err := s.List(ctx)
	require.NoError(t, err)
	assert.Empty(t, list)

	_, err = c.Pull(ctx, s, named(t, host+"/bad/blob"), nil, registry.AuthConfig{}, Discard{})
	assert.True(t, errdefs.IsInvalidArgument(err), "%v", err)
}

func TestLoginAndBasicAuth(t *testing.T) {
	ctx := context.Background()
	host := startRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "secret" {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	c := New(nil, "")
	good := registry.AuthConfig{Username: "alice", Password: "secret", ServerAddress: host}

	_, err := c.Login(ctx, registry.AuthConfig{Username: "alice", Password: "nope", ServerAddress: host})
	assert.True(t, errdefs.IsUnauthorized(err), "%v", err)
	resp, err := c.Login(ctx, good)
	require.NoError(t, err)
	assert.Equal(t, "Login Succeeded", resp.Status)
	// The docker CLI may send a URL.
	_, err = c.Login(ctx, registry.AuthConfig{Username: "alice", Password: "secret", ServerAddress: "http://" + host + "/v2/"})
	require.NoError(t, err)

	s := newStore(t)
	var tarball bytes.Buffer
	writeTar(t, &tarball, "a", "b")
	_, err = s.Import(ctx, &tarball, host+"/alice/app:1", nil, "")
	require.NoError(t, err)
	_, err = c.Push(ctx, s, tagged(t, host+"/alice/app:1"), registry.AuthConfig{}, Discard{})
	assert.True(t, errdefs.IsUnauthorized(err), "%v", err)
	_, err = c.Push(ctx, s, tagged(t, host+"/alice/app:1"), good, Discard{})
	require.NoError(t, err)

	_, err = c.Pull(ctx, newStore(t), named(t, host+"/alice/app:1"), nil, registry.AuthConfig{}, Discard{})
	assert.True(t, errdefs.IsNotFound(err), "%v", err)
	assert.Contains(t, err.Error(), "pull access denied for "+host+"/alice/app")
	_, err = c.Pull(ctx, newStore(t), named(t, host+"/alice/app:1"), nil, good, Discard{})
	require.NoError(t, err)
}

func TestInsecure(t *testing.T) {
	c := New([]string{"reg.example:5000", "10.1.0.0/16", "plain.example"}, "")
	for host, want := range map[string]bool{
		"127.0.0.1:5000": true, "localhost:80": true, "[::1]:5000": true,
		"reg.example:5000": true, "reg.example": false, "10.1.2.3:443": true, "10.2.0.1": false,
		"plain.example:8080": true, "docker.io": false,
	} {
		assert.Equal(t, want, c.isInsecure(host), host)
	}
}

func TestRegistryHost(t *testing.T) {
	for in, want := range map[string]string{
		"":                            name.DefaultRegistry,
		"https://index.docker.io/v1/": "index.docker.io",
		"docker.io":                   name.DefaultRegistry,
		"127.0.0.1:5000":              "127.0.0.1:5000",
		"http://127.0.0.1:5000/v2/":   "127.0.0.1:5000",
	} {
		assert.Equal(t, want, RegistryHost(in), in)
	}
}

func FuzzRegistryHost(f *testing.F) {
	for _, s := range []string{"", "https://index.docker.io/v1/", "127.0.0.1:5000", "http://x/y/z", "https:///"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h := RegistryHost(s)
		if h == "" || strings.Contains(h, "/") {
			t.Fatalf("RegistryHost(%q) = %q", s, h)
		}
	})
}

// writeTar writes a one-file tar.
func writeTar(t *testing.T, w io.Writer, name, body string) {
	t.Helper()
	tw := tar.NewWriter(w)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}))
	_, err := tw.Write([]byte(body))
	require.NoError(t, err)
	require.NoError(t, tw.Close())
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	require.NoError(t, err)
	return r
}

// platformImg is an image and the platform an index says it is for.
type platformImg struct {
	img      v1.Image
	platform v1.Platform
}

// writeAmdArmIndex pushes to ref an index of two random images, for
// linux/amd64 and linux/arm64/v8, and returns the arm64 one and the index.
func writeAmdArmIndex(t *testing.T, ref string) (arm v1.Image, idx v1.ImageIndex) {
	t.Helper()
	amd, err := random.Image(1024, 1)
	require.NoError(t, err)
	arm, err = random.Image(1024, 1)
	require.NoError(t, err)
	idx = writeIndex(t, ref,
		platformImg{amd, v1.Platform{OS: "linux", Architecture: "amd64"}},
		platformImg{arm, v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}})
	return arm, idx
}

// writeIndex pushes an image index of entries, in order, as ref.
func writeIndex(t *testing.T, ref string, entries ...platformImg) v1.ImageIndex {
	t.Helper()
	adds := make([]mutate.IndexAddendum, len(entries))
	for i, e := range entries {
		adds[i] = mutate.IndexAddendum{Add: e.img, Descriptor: v1.Descriptor{Platform: &e.platform}}
	}
	idx := mutate.AppendManifests(empty.Index, adds...)
	require.NoError(t, ggcr.WriteIndex(mustRef(t, ref), idx))
	return idx
}

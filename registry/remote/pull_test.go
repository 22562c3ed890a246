package remote

import (
	"context"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	ggcr "github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/moby/api/types/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wharf.io/wharf/image"
)

// platformImage is a random image whose config names os/arch.
func platformImage(t *testing.T, os, arch string) v1.Image {
	t.Helper()
	img, err := random.Image(1024, 1)
	require.NoError(t, err)
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = os, arch
	img, err = mutate.ConfigFile(img, cf)
	require.NoError(t, err)
	return img
}

// assertEmpty checks that a failed pull left no image behind.
func assertEmpty(t *testing.T, s *image.Store) {
	t.Helper()
	list, err := s.List(context.Background())
	require.NoError(t, err)
	assert.Empty(t, list, "a failed pull left an image")
}

// TestPullPlatformOfSingleImage: an image that is not an index is pulled
// for --platform only when its config names that platform.
func TestPullPlatformOfSingleImage(t *testing.T) {
	ctx := context.Background()
	host := startRegistry(t, nil)
	img := platformImage(t, "linux", "amd64")
	require.NoError(t, ggcr.Write(mustRef(t, host+"/one/app:1"), img))
	c := New(nil, "")

	s := newStore(t)
	_, err := c.Pull(ctx, s, named(t, host+"/one/app:1"), &ocispec.Platform{OS: "linux", Architecture: "s390x"}, registry.AuthConfig{}, Discard{})
	require.Error(t, err)
	assert.True(t, errdefs.IsNotFound(err), "%v", err)
	assert.Contains(t, err.Error(), "was found but does not match the specified platform: wanted linux/s390x, actual: linux/amd64")
	assertEmpty(t, s)

	// x86_64 is amd64; no --platform takes what there is, as docker does.
	_, err = c.Pull(ctx, s, named(t, host+"/one/app:1"), &ocispec.Platform{OS: "linux", Architecture: "x86_64"}, registry.AuthConfig{}, Discard{})
	require.NoError(t, err)
	_, err = c.Pull(ctx, newStore(t), named(t, host+"/one/app:1"), nil, registry.AuthConfig{}, Discard{})
	require.NoError(t, err)
}

// TestPullIndexDefaultsToHost: without --platform an index resolves to
// this host's entry, whatever its position.
func TestPullIndexDefaultsToHost(t *testing.T) {
	ctx := context.Background()
	host := startRegistry(t, nil)
	other := "s390x"
	if runtime.GOARCH == other {
		other = "ppc64le"
	}
	foreign := platformImage(t, "linux", other)
	native := platformImage(t, "linux", runtime.GOARCH)
	writeIndex(t, host+"/multi/app:1",
		platformImg{foreign, v1.Platform{OS: "linux", Architecture: other}},
		platformImg{native, v1.Platform{OS: "linux", Architecture: runtime.GOARCH}})
	nativeConfig, err := native.ConfigName()
	require.NoError(t, err)

	res, err := New(nil, "").Pull(ctx, newStore(t), named(t, host+"/multi/app:1"), nil, registry.AuthConfig{}, Discard{})
	require.NoError(t, err)
	assert.Equal(t, nativeConfig.String(), res.Image.ID.String())
}

// TestPullBrokenRegistryAnswers: a blob body cut short and a manifest that
// is not JSON fail the pull and leave nothing in the store.
func TestPullBrokenRegistryAnswers(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	breakPath := map[string]string{} // URL path suffix → "truncate" or "garbage"
	host := startRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			var how string
			for suffix, h := range breakPath {
				if strings.HasSuffix(r.URL.Path, suffix) {
					how = h
				}
			}
			mu.Unlock()
			switch {
			case how == "truncate" && r.Method == http.MethodGet:
				rec := newRecorder()
				h.ServeHTTP(rec, r)
				for k, v := range rec.header {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.code)
				w.Write(rec.body[:len(rec.body)/2]) // Content-Length stays the full size
				// Returning cuts the body: the server closes the connection.
			case how == "garbage":
				w.Header().Set("Content-Type", string(ocispec.MediaTypeImageManifest))
				w.WriteHeader(http.StatusOK)
				if r.Method == http.MethodGet {
					w.Write([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":`))
				}
			default:
				h.ServeHTTP(w, r)
			}
		})
	})
	c := New(nil, "")

	img := writeRandom(t, host+"/cut/blob:1", 2)
	layers, err := img.Layers()
	require.NoError(t, err)
	d, err := layers[1].Digest()
	require.NoError(t, err)
	writeRandom(t, host+"/bad/manifest:1", 1)
	mu.Lock()
	breakPath["/blobs/"+d.String()] = "truncate"
	breakPath["/bad/manifest/manifests/1"] = "garbage"
	mu.Unlock()
	s := newStore(t)
	_, err = c.Pull(ctx, s, named(t, host+"/cut/blob:1"), nil, registry.AuthConfig{}, Discard{})
	require.Error(t, err, "a truncated blob")
	assert.ErrorContains(t, err, "download "+d.String(), "the failed download, not the cancellation it caused")
	assertEmpty(t, s)

	_, err = c.Pull(ctx, s, named(t, host+"/bad/manifest:1"), nil, registry.AuthConfig{}, Discard{})
	require.Error(t, err, "a malformed manifest")
	assert.True(t, errdefs.IsInvalidArgument(err), "%v", err)
	assert.ErrorContains(t, err, "invalid manifest")
	assertEmpty(t, s)
}

// TestPullDownloadsInParallel: layer blobs are fetched several at a time.
func TestPullDownloadsInParallel(t *testing.T) {
	ctx := context.Background()
	img, err := random.Image(64<<10, 4)
	require.NoError(t, err)
	layers, err := img.Layers()
	require.NoError(t, err)
	isLayer := map[string]bool{}
	for _, l := range layers {
		d, err := l.Digest()
		require.NoError(t, err)
		isLayer["/blobs/"+d.String()] = true
	}
	var mu sync.Mutex
	inflight, most := 0, 0
	two := make(chan struct{}) // closed once two layer GETs overlap
	host := startRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			i := strings.LastIndex(r.URL.Path, "/blobs/")
			if r.Method != http.MethodGet || i < 0 || !isLayer[r.URL.Path[i:]] {
				h.ServeHTTP(w, r)
				return
			}
			mu.Lock()
			inflight++
			if inflight > most {
				most = inflight
				if most == 2 {
					close(two)
				}
			}
			mu.Unlock()
			// Hold each download until a second one has started (or a
			// sequential client would never get there).
			select {
			case <-two:
			case <-time.After(3 * time.Second):
			}
			h.ServeHTTP(w, r)
			mu.Lock()
			inflight--
			mu.Unlock()
		})
	})
	require.NoError(t, ggcr.Write(mustRef(t, host+"/par/app:1"), img))
	_, err = New(nil, "").Pull(ctx, newStore(t), named(t, host+"/par/app:1"), nil, registry.AuthConfig{}, Discard{})
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	assert.Greater(t, most, 1, "layer downloads never overlapped")
}

// totals records the last byte counts of each (id, status).
type totals struct {
	mu   sync.Mutex
	last map[string][2]int64
}

func (r *totals) Update(id, status string, current, total int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if total > 0 {
		r.last[id+" "+status] = [2]int64{current, total}
	}
}

// TestPushProgressTotals: each pushed layer reports "Pushing" with its
// size as total, ending at current == total.
func TestPushProgressTotals(t *testing.T) {
	ctx := context.Background()
	host := startRegistry(t, nil)
	c := New(nil, "")
	writeRandom(t, host+"/src/app:1", 2)
	s := newStore(t)
	_, err := c.Pull(ctx, s, named(t, host+"/src/app:1"), nil, registry.AuthConfig{}, Discard{})
	require.NoError(t, err)

	// A registry of its own so nothing "already exists".
	dst := startRegistry(t, nil)
	require.NoError(t, s.Tag(ctx, host+"/src/app:1", dst+"/dst/app:1"))
	rec := &totals{last: map[string][2]int64{}}
	_, err = c.Push(ctx, s, tagged(t, dst+"/dst/app:1"), registry.AuthConfig{}, rec)
	require.NoError(t, err)
	pi, err := s.ForPush(ctx, dst+"/dst/app:1")
	require.NoError(t, err)
	defer pi.Close()
	require.Len(t, pi.Layers, 2)
	for _, l := range pi.Layers {
		got, ok := rec.last[shortID(l.DiffID)+" Pushing"]
		require.True(t, ok, "no Pushing progress for %s: %v", l.DiffID, rec.last)
		assert.Equal(t, [2]int64{l.Size, l.Size}, got)
	}
}

// recorderWriter buffers a handler's answer so a test can change it.
type recorderWriter struct {
	header http.Header
	code   int
	body   []byte
}

func newRecorder() *recorderWriter {
	return &recorderWriter{header: http.Header{}, code: http.StatusOK}
}

func (r *recorderWriter) Header() http.Header  { return r.header }
func (r *recorderWriter) WriteHeader(code int) { r.code = code }
func (r *recorderWriter) Write(b []byte) (int, error) {
	r.body = append(r.body, b...)
	return len(b), nil
}

package remote

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/containerd/errdefs"
	ggcr "github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/moby/api/types/registry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInspectImage(t *testing.T) {
	ctx := context.Background()
	var blobGets atomic.Int32
	host := startRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/blobs/") && r.Method == http.MethodGet {
				blobGets.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	})
	img := platformImage(t, "linux", "arm64")
	require.NoError(t, ggcr.Write(mustRef(t, host+"/one/app:1"), img))
	dgst, err := img.Digest()
	require.NoError(t, err)
	raw, err := img.RawManifest()
	require.NoError(t, err)
	mt, err := img.MediaType()
	require.NoError(t, err)

	c := New(nil, "")
	res, err := c.Inspect(ctx, named(t, host+"/one/app:1"), registry.AuthConfig{})
	require.NoError(t, err)
	assert.Equal(t, dgst.String(), res.Descriptor.Digest.String())
	assert.Equal(t, int64(len(raw)), res.Descriptor.Size)
	assert.Equal(t, string(mt), res.Descriptor.MediaType)
	require.Len(t, res.Platforms, 1)
	assert.Equal(t, "linux", res.Platforms[0].OS)
	assert.Equal(t, "arm64", res.Platforms[0].Architecture)
	// The config only: no layer was downloaded.
	assert.Equal(t, int32(1), blobGets.Load())

	// By digest, and a bare name meaning :latest.
	res, err = c.Inspect(ctx, named(t, host+"/one/app@"+dgst.String()), registry.AuthConfig{})
	require.NoError(t, err)
	assert.Equal(t, dgst.String(), res.Descriptor.Digest.String())
	require.NoError(t, ggcr.Write(mustRef(t, host+"/one/app:latest"), img))
	res, err = c.Inspect(ctx, named(t, host+"/one/app"), registry.AuthConfig{})
	require.NoError(t, err)
	assert.Equal(t, dgst.String(), res.Descriptor.Digest.String())
}

func TestInspectIndex(t *testing.T) {
	ctx := context.Background()
	host := startRegistry(t, nil)
	_, idx := writeAmdArmIndex(t, host+"/multi/app:1")
	dgst, err := idx.Digest()
	require.NoError(t, err)

	res, err := New(nil, "").Inspect(ctx, named(t, host+"/multi/app:1"), registry.AuthConfig{})
	require.NoError(t, err)
	assert.Equal(t, dgst.String(), res.Descriptor.Digest.String())
	assert.True(t, strings.Contains(res.Descriptor.MediaType, "index") || strings.Contains(res.Descriptor.MediaType, "list"), res.Descriptor.MediaType)
	require.Len(t, res.Platforms, 2)
	assert.Equal(t, "amd64", res.Platforms[0].Architecture)
	assert.Equal(t, "arm64", res.Platforms[1].Architecture)
	assert.Equal(t, "v8", res.Platforms[1].Variant)
}

func TestInspectErrors(t *testing.T) {
	ctx := context.Background()
	host := startRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case strings.HasPrefix(r.URL.Path, "/v2/private/"):
				if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "secret" {
					w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
			case strings.HasPrefix(r.URL.Path, "/v2/forbidden/"):
				w.WriteHeader(http.StatusForbidden)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	writeRandom(t, host+"/public/app:1", 1)
	c := New(nil, "")

	_, err := c.Inspect(ctx, named(t, host+"/public/app:2"), registry.AuthConfig{})
	assert.True(t, errdefs.IsNotFound(err), "%v", err)
	_, err = c.Inspect(ctx, named(t, host+"/none/such:1"), registry.AuthConfig{})
	assert.True(t, errdefs.IsNotFound(err), "%v", err)
	assert.Contains(t, err.Error(), host+"/none/such:1")

	_, err = c.Inspect(ctx, named(t, host+"/private/app:1"), registry.AuthConfig{})
	assert.True(t, errdefs.IsUnauthorized(err), "%v", err)
	assert.Contains(t, err.Error(), "unauthorized")
	// With the credentials the registry answers (here: no such tag).
	_, err = c.Inspect(ctx, named(t, host+"/private/app:1"), registry.AuthConfig{Username: "alice", Password: "secret"})
	assert.True(t, errdefs.IsNotFound(err), "%v", err)

	_, err = c.Inspect(ctx, named(t, host+"/forbidden/app:1"), registry.AuthConfig{})
	assert.True(t, errdefs.IsPermissionDenied(err), "%v", err)

	// Nothing listens: unavailable, not "not found".
	_, err = c.Inspect(ctx, named(t, "127.0.0.1:1/x/y:1"), registry.AuthConfig{})
	require.Error(t, err)
	assert.False(t, errdefs.IsNotFound(err), "%v", err)
}

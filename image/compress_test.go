package image

import (
	"context"
	"io"
	"testing"

	"github.com/klauspost/compress/gzip"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCompressLayersOnceForEveryImageSharingThem(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t)
	s := env.store
	base, _, _, app := buildChain(t, s)
	plain := base.Layers[0]
	pi, err := s.ForPush(ctx, "app:1")
	require.NoError(t, err)
	require.Equal(t, ocispec.MediaTypeImageLayer, pi.Layers[0].MediaType, "an imported layer is stored plain")
	pi.Close()

	var compressed []digest.Digest
	require.NoError(t, s.CompressLayers(ctx, "app:1", func(d digest.Digest) { compressed = append(compressed, d) }))
	assert.Equal(t, []digest.Digest{plain}, compressed, "the one shared layer, once")

	check := func() digest.Digest {
		t.Helper()
		var gz digest.Digest
		for _, ref := range []string{"base:1", "app:1"} {
			pi, err := s.ForPush(ctx, ref)
			require.NoError(t, err)
			require.Len(t, pi.Layers, 1)
			l := pi.Layers[0]
			assert.Equal(t, ocispec.MediaTypeImageLayerGzip, l.MediaType, ref)
			assert.Equal(t, plain, l.DiffID, "the diff ID, and so the image ID, stay")
			zr, err := gzip.NewReader(l.File)
			require.NoError(t, err)
			d, err := digest.SHA256.FromReader(zr)
			require.NoError(t, err)
			assert.Equal(t, plain, d, "the gzip blob unpacks to the layer")
			pi.Close()
			gz = l.Blob
		}
		_, err := s.blobs.open(plain)
		assert.Error(t, err, "the plain blob is gone")
		return gz
	}
	gz := check()
	got, err := s.Get(ctx, "app:1")
	require.NoError(t, err)
	assert.Equal(t, app.ID, got.ID)

	// Kept across a restart; a second call has nothing to do.
	env.reopen(t)
	s = env.store
	assert.Equal(t, gz, check())
	require.NoError(t, s.CompressLayers(ctx, "app:1", func(digest.Digest) { t.Error("compressed again") }))

	// Images built on top after the swap reference the gzip blob too.
	child, err := s.Derive(ctx, got, got.Config, "child:1")
	require.NoError(t, err)
	pi, err = s.ForPush(ctx, child.ID.String())
	require.NoError(t, err)
	defer pi.Close()
	assert.Equal(t, gz, pi.Layers[0].Blob)
	_, err = io.Copy(io.Discard, pi.Layers[0].File)
	require.NoError(t, err)
}

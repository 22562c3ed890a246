package image

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pulledImage is what a registry would serve: gzip layers, their manifest
// descriptors and a config naming their diff IDs.
func pulledImage(t *testing.T, layers ...[]tarEntry) (config []byte, descs []ocispec.Descriptor, blobs [][]byte) {
	t.Helper()
	var cfg dockerspec.DockerOCIImage
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.RootFS.Type = "layers"
	for _, entries := range layers {
		raw := makeTar(t, entries...)
		gz := gzipBytes(t, raw)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, digest.FromBytes(raw))
		descs = append(descs, ocispec.Descriptor{MediaType: mediaTypeDockerLayerGzip, Digest: digest.FromBytes(gz), Size: int64(len(gz))})
		blobs = append(blobs, gz)
	}
	config, err := json.Marshal(cfg)
	require.NoError(t, err)
	return config, descs, blobs
}

func mustNamed(t *testing.T, s string) reference.Named {
	t.Helper()
	n, err := reference.ParseNormalizedNamed(s)
	require.NoError(t, err)
	return n
}

func TestPullLifecycle(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	config, descs, blobs := pulledImage(t, rootfs, []tarEntry{{Name: "app.txt", Body: "v1"}})

	p, err := env.store.BeginPull(config, descs)
	require.NoError(t, err)
	defer p.Close()
	assert.Equal(t, digest.FromBytes(config), p.ID())
	assert.False(t, p.HasBlob(descs[0].Digest))
	assert.False(t, p.LayerExists(ctx, 0))

	// A blob that does not hash to its digest is refused and not stored.
	err = p.WriteBlob(ctx, descs[0].Digest, bytes.NewReader(blobs[1]))
	assert.True(t, errdefs.IsInvalidArgument(err), "%v", err)
	assert.False(t, p.HasBlob(descs[0].Digest))
	// Truncated content too.
	err = p.WriteBlob(ctx, descs[0].Digest, io.LimitReader(bytes.NewReader(blobs[0]), 10))
	assert.Error(t, err)

	// Blobs may arrive in any order; unpacking goes bottom-up.
	require.NoError(t, p.WriteBlob(ctx, descs[1].Digest, bytes.NewReader(blobs[1])))
	require.NoError(t, p.WriteBlob(ctx, descs[0].Digest, bytes.NewReader(blobs[0])))
	assert.True(t, errdefs.IsFailedPrecondition(p.Unpack(ctx, 1)))
	_, err = p.Commit(ctx)
	assert.True(t, errdefs.IsFailedPrecondition(err))
	require.NoError(t, p.Unpack(ctx, 0))
	require.NoError(t, p.Unpack(ctx, 1))

	tag := mustNamed(t, "127.0.0.1:5000/alice/app:1")
	canonical, err := reference.WithDigest(reference.TrimNamed(tag), digest.FromString("manifest"))
	require.NoError(t, err)
	img, err := p.Commit(ctx, tag, canonical)
	require.NoError(t, err)
	p.Close()
	assert.Equal(t, p.ID(), img.ID)
	assert.Equal(t, []string{"127.0.0.1:5000/alice/app:1"}, img.RepoTags)
	assert.Equal(t, []string{canonical.String()}, img.RepoDigests)
	assert.Equal(t, []digest.Digest{descs[0].Digest, descs[1].Digest}, img.Layers)

	// Found by digest reference, recorded with OCI media types.
	byDigest, err := env.store.Get(ctx, canonical.String())
	require.NoError(t, err)
	assert.Equal(t, img.ID, byDigest.ID)
	pi, err := env.store.ForPush(ctx, tag.String())
	require.NoError(t, err)
	defer pi.Close()
	assert.Equal(t, config, pi.Config)
	require.Len(t, pi.Layers, 2)
	for i, l := range pi.Layers {
		assert.Equal(t, ocispec.MediaTypeImageLayerGzip, l.MediaType)
		assert.Equal(t, descs[i].Size, l.Size)
		got, err := io.ReadAll(l.File)
		require.NoError(t, err)
		assert.Equal(t, blobs[i], got)
	}

	// A second pull of the same layers finds them.
	p2, err := env.store.BeginPull(config, descs)
	require.NoError(t, err)
	assert.True(t, p2.LayerExists(ctx, 0))
	assert.True(t, p2.LayerExists(ctx, 1))
	p2.Close()

	// Removing the last tag of the repository drops its digest reference
	// too, and with it the image, as docker does.
	resp, err := env.store.Remove(ctx, tag.String(), false, false, nil)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:5000/alice/app:1", resp[0].Untagged)
	assert.Equal(t, canonical.String(), resp[1].Untagged)
	_, err = env.store.Get(ctx, img.ID.String())
	assert.True(t, errdefs.IsNotFound(err))
}

func TestRemoveKeepsDigestWhileRepositoryHasTags(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	img := importImage(t, env.store, "127.0.0.1:5000/a/b:1")
	canonical, err := reference.WithDigest(mustNamed(t, "127.0.0.1:5000/a/b"), digest.FromString("m"))
	require.NoError(t, err)
	require.NoError(t, env.store.AddReferences(ctx, img.ID, canonical, mustNamed(t, "127.0.0.1:5000/a/b:2")))
	resp, err := env.store.Remove(ctx, "127.0.0.1:5000/a/b:1", false, false, nil)
	require.NoError(t, err)
	require.Len(t, resp, 1)
	got, err := env.store.Get(ctx, img.ID.String())
	require.NoError(t, err)
	assert.Equal(t, []string{canonical.String()}, got.RepoDigests)
	assert.Equal(t, []string{"127.0.0.1:5000/a/b:2"}, got.RepoTags)
	assert.True(t, errdefs.IsNotFound(env.store.AddReferences(ctx, digest.FromString("nope"), canonical)))
}

func TestBeginPullRejectsBadInput(t *testing.T) {
	env := newEnv(t)
	config, descs, _ := pulledImage(t, rootfs)
	for name, c := range map[string]struct {
		config []byte
		descs  []ocispec.Descriptor
	}{
		"not json":         {[]byte("{"), descs},
		"layer count":      {config, append(descs, descs[0])},
		"bad layer digest": {config, []ocispec.Descriptor{{Digest: "sha256:nope"}}},
	} {
		_, err := env.store.BeginPull(c.config, c.descs)
		assert.True(t, errdefs.IsInvalidArgument(err), "%s: %v", name, err)
	}
	// Nothing is held after a refused pull: rmi can take the lock.
	_, err := env.store.Prune(context.Background(), true, nil)
	require.NoError(t, err)
}

func TestBlobSources(t *testing.T) {
	env := newEnv(t)
	d := digest.FromString("blob")
	assert.Empty(t, env.store.BlobSources(d))
	require.NoError(t, env.store.AddBlobSource("r/a", d))
	require.NoError(t, env.store.AddBlobSource("r/b", d))
	require.NoError(t, env.store.AddBlobSource("r/a", d))
	assert.Equal(t, []string{"r/a", "r/b"}, env.store.BlobSources(d))
	for i := range 20 {
		require.NoError(t, env.store.AddBlobSource(string(rune('c'+i)), d))
	}
	assert.Len(t, env.store.BlobSources(d), maxBlobSources)
	assert.True(t, errdefs.IsInvalidArgument(env.store.AddBlobSource("", d)))
}

func TestOCILayerType(t *testing.T) {
	assert.Equal(t, ocispec.MediaTypeImageLayerGzip, ociLayerType(mediaTypeDockerLayerGzip, ""))
	assert.Equal(t, ocispec.MediaTypeImageLayer, ociLayerType(mediaTypeDockerLayer, ""))
	assert.Equal(t, ocispec.MediaTypeImageLayerZstd, ociLayerType(ocispec.MediaTypeImageLayerZstd, ""))
	assert.Equal(t, "sniffed", ociLayerType("application/x-unknown", "sniffed"))
}

// TestPullStagedLayers: layers unpacked ahead of their turn (in any order)
// end up exactly where Unpack would put them, and leave no staging behind.
func TestPullStagedLayers(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	config, descs, blobs := pulledImage(t, rootfs, []tarEntry{{Name: "app.txt", Body: "v1"}})
	p, err := env.store.BeginPull(config, descs)
	require.NoError(t, err)
	defer p.Close()
	for i := range descs {
		require.NoError(t, p.WriteBlob(ctx, descs[i].Digest, bytes.NewReader(blobs[i])))
	}
	p.Stage(ctx, 1) // the top layer first: staging does not need the parent
	p.Stage(ctx, 0)
	require.NoError(t, p.Unpack(ctx, 0))
	require.NoError(t, p.Unpack(ctx, 1))
	img, err := p.Commit(ctx, mustNamed(t, "staged:1"))
	require.NoError(t, err)
	p.Close()

	mounts, err := env.sn.Prepare(ctx, "check", img.ChainID.String())
	require.NoError(t, err)
	var uppers []string
	for _, m := range mounts {
		for _, o := range m.Options {
			if strings.HasPrefix(o, "lowerdir=") {
				uppers = strings.Split(strings.TrimPrefix(o, "lowerdir="), ":")
			}
		}
		if m.Type == "bind" {
			uppers = []string{m.Source}
		}
	}
	require.NotEmpty(t, uppers)
	found := false
	for _, dir := range uppers {
		if b, err := os.ReadFile(filepath.Join(dir, "app.txt")); err == nil {
			found = string(b) == "v1"
		}
	}
	assert.True(t, found, "the staged top layer is in the image")
	entries, _ := os.ReadDir(filepath.Join(env.dir, "image", "staging"))
	assert.Empty(t, entries, "no staging directory is left")

	// A staged layer whose content does not match its diff ID fails Unpack.
	config2, descs2, blobs2 := pulledImage(t, []tarEntry{{Name: "x", Body: "y"}})
	var cfg map[string]any
	require.NoError(t, json.Unmarshal(config2, &cfg))
	cfg["rootfs"].(map[string]any)["diff_ids"] = []string{digest.FromString("lie").String()}
	config2, _ = json.Marshal(cfg)
	p2, err := env.store.BeginPull(config2, descs2)
	require.NoError(t, err)
	defer p2.Close()
	require.NoError(t, p2.WriteBlob(ctx, descs2[0].Digest, bytes.NewReader(blobs2[0])))
	p2.Stage(ctx, 0)
	assert.True(t, errdefs.IsInvalidArgument(p2.Unpack(ctx, 0)))
}

package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wharf.io/wharf/internal/testutil"
	"wharf.io/wharf/snapshot"
)

// readTar returns the regular files of a tar by name.
func readTar(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		if h.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			require.NoError(t, err)
			out[h.Name] = data
		}
	}
}

func configFor(diffIDs ...digest.Digest) []byte {
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	cfg := dockerspec.DockerOCIImage{Image: ocispec.Image{
		Created:  &now,
		Platform: ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
	}}
	cfg.Config.Cmd = []string{"/bin/sh"}
	for range diffIDs {
		cfg.History = append(cfg.History, ocispec.History{Created: &now, CreatedBy: "test"})
	}
	b, _ := json.Marshal(cfg)
	return b
}

func TestSaveLoadRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := newEnv(t)
	a := importImage(t, src.store, "app:1")
	require.NoError(t, src.store.Tag(ctx, "app:1", "app:2"))
	b := importImage(t, src.store, "", tarEntry{Name: "only-b", Body: "b"})

	var buf bytes.Buffer
	require.NoError(t, src.store.Save(ctx, []string{"app:1", "app:2", b.ID.Encoded()[:8]}, &buf))
	files := readTar(t, buf.Bytes())
	for _, name := range []string{"manifest.json", "index.json", "oci-layout", "repositories",
		"blobs/sha256/" + a.ID.Encoded(), "blobs/sha256/" + a.Layers[0].Encoded(), "blobs/sha256/" + b.ID.Encoded()} {
		assert.Contains(t, files, name)
	}
	var manifest []dockerManifestEntry
	require.NoError(t, json.Unmarshal(files["manifest.json"], &manifest))
	require.Len(t, manifest, 2)
	assert.Equal(t, []string{"app:1", "app:2"}, manifest[0].RepoTags)
	assert.Equal(t, "blobs/sha256/"+a.ID.Encoded(), manifest[0].Config)
	assert.Empty(t, manifest[1].RepoTags)
	var index ocispec.Index
	require.NoError(t, json.Unmarshal(files["index.json"], &index))
	require.Len(t, index.Manifests, 3)
	assert.Equal(t, "docker.io/library/app:1", index.Manifests[0].Annotations[annotationImageName])
	assert.Equal(t, "1", index.Manifests[0].Annotations[ocispec.AnnotationRefName])

	dst := newEnv(t)
	var progress []string
	lines, err := dst.store.Load(ctx, bytes.NewReader(buf.Bytes()), func(m string) { progress = append(progress, m) })
	require.NoError(t, err)
	assert.Equal(t, []string{"Loaded image: app:1", "Loaded image: app:2", "Loaded image ID: " + string(b.ID)}, lines)
	assert.NotEmpty(t, progress)
	got, err := dst.store.Get(ctx, "app:2")
	require.NoError(t, err)
	assert.Equal(t, a.ID, got.ID)
	assert.Equal(t, a.ChainID, got.ChainID)
	assert.Equal(t, a.Layers, got.Layers)
	assert.Equal(t, a.Size, got.Size)
	_, err = dst.store.Get(ctx, string(b.ID))
	require.NoError(t, err)

	// The same archive read as a pure OCI layout (no manifest.json).
	oci := rewriteTar(t, buf.Bytes(), func(name string) bool { return name != "manifest.json" && name != "repositories" })
	third := newEnv(t)
	lines, err = third.store.Load(ctx, bytes.NewReader(oci), nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"Loaded image: app:1", "Loaded image: app:2", "Loaded image ID: " + string(b.ID)}, lines)

	// Loading twice is harmless.
	_, err = dst.store.Load(ctx, bytes.NewReader(buf.Bytes()), nil)
	require.NoError(t, err)
	list, _ := dst.store.List(ctx)
	assert.Len(t, list, 2)

	// A bare repository name saves all its tags.
	var all bytes.Buffer
	require.NoError(t, src.store.Save(ctx, []string{"app"}, &all))
	manifest = nil
	require.NoError(t, json.Unmarshal(readTar(t, all.Bytes())["manifest.json"], &manifest))
	require.Len(t, manifest, 1)
	assert.Equal(t, []string{"app:1", "app:2"}, manifest[0].RepoTags)

	// Unknown names fail like docker.
	assert.True(t, errdefs.IsNotFound(src.store.Save(ctx, []string{"nope"}, io.Discard)))
}

// rewriteTar copies a tar keeping the entries keep accepts.
func rewriteTar(t *testing.T, b []byte, keep func(string) bool) []byte {
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if !keep(h.Name) {
			continue
		}
		require.NoError(t, tw.WriteHeader(h))
		_, err = io.Copy(tw, tr)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	return out.Bytes()
}

// legacySave builds a docker save archive of the pre-25 layout:
// <id>/layer.tar, <config>.json, manifest.json, with a symlinked layer.
func legacySave(t *testing.T) ([]byte, []digest.Digest) {
	l1 := makeTar(t, tarEntry{Name: "etc/", Type: tar.TypeDir}, tarEntry{Name: "etc/gone", Body: "x"}, tarEntry{Name: "etc/keep", Body: "k"})
	l2 := makeTar(t, tarEntry{Name: "etc/.wh.gone", Body: ""}, tarEntry{Name: "etc/new", Body: "new"})
	diffIDs := []digest.Digest{digest.FromBytes(l1), digest.FromBytes(l2), digest.FromBytes(l1)}
	cfg := configFor(diffIDs...)
	cfgName := digest.FromBytes(cfg).Encoded() + ".json"
	manifest, _ := json.Marshal([]dockerManifestEntry{{
		Config:   cfgName,
		RepoTags: []string{"legacy:v1", "docker.io/library/legacy:v2"},
		Layers:   []string{"aaa/layer.tar", "bbb/layer.tar", "ccc/layer.tar"},
	}})
	return makeTar(t,
		tarEntry{Name: "aaa/", Type: tar.TypeDir},
		tarEntry{Name: "aaa/layer.tar", Body: string(l1)},
		tarEntry{Name: "bbb/layer.tar", Body: string(l2)},
		tarEntry{Name: "ccc/", Type: tar.TypeDir},
		tarEntry{Name: "ccc/layer.tar", Type: tar.TypeSymlink, Linkname: "../aaa/layer.tar"},
		tarEntry{Name: cfgName, Body: string(cfg)},
		tarEntry{Name: "manifest.json", Body: string(manifest)},
	), diffIDs
}

func TestLoadLegacyDockerSave(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t)
	archive, diffIDs := legacySave(t)
	lines, err := env.store.Load(ctx, bytes.NewReader(gzipBytes(t, archive)), nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"Loaded image: legacy:v1", "Loaded image: legacy:v2"}, lines)
	img, err := env.store.Get(ctx, "legacy:v1")
	require.NoError(t, err)
	assert.Equal(t, identity.ChainID(diffIDs), img.ChainID)
	assert.Len(t, img.Layers, 3)
	assert.EqualValues(t, 2+3+2, img.Size)
	hist, err := env.store.History(ctx, "legacy:v2")
	require.NoError(t, err)
	require.Len(t, hist, 3)
	assert.Equal(t, string(img.ID), hist[0].ID)
	assert.Equal(t, "<missing>", hist[2].ID)
}

// TestLoadLayersMount checks on a real overlay mount that whiteouts of a
// loaded layer hide the lower file.
func TestLoadLayersMount(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	env := newEnv(t)
	archive, diffIDs := legacySave(t)
	_, err := env.store.Load(ctx, bytes.NewReader(archive), nil)
	require.NoError(t, err)
	img, err := env.store.Get(ctx, "legacy:v1")
	require.NoError(t, err)
	mountChain := func(key string, chain digest.Digest) string {
		mounts, err := env.sn.Prepare(ctx, key, chain.String())
		require.NoError(t, err)
		target := t.TempDir()
		require.NoError(t, snapshot.MountAll(mounts, target))
		t.Cleanup(func() { assert.NoError(t, snapshot.Unmount(target)) })
		return target
	}
	// After layer 2: etc/gone deleted, etc/new added.
	two := mountChain("two", identity.ChainID(diffIDs[:2]))
	_, err = os.Stat(filepath.Join(two, "etc/gone"))
	assert.True(t, os.IsNotExist(err), "deleted by layer 2: %v", err)
	b, err := os.ReadFile(filepath.Join(two, "etc/new"))
	require.NoError(t, err)
	assert.Equal(t, "new", string(b))
	// Layer 3 (= layer 1 again) brings it back.
	all := mountChain("all", img.ChainID)
	b, err = os.ReadFile(filepath.Join(all, "etc/gone"))
	require.NoError(t, err)
	assert.Equal(t, "x", string(b))
	b, err = os.ReadFile(filepath.Join(all, "etc/keep"))
	require.NoError(t, err)
	assert.Equal(t, "k", string(b))
}

// ociLayout builds an OCI layout with a gzip layer behind a nested index
// holding this platform and another.
func ociLayout(t *testing.T) ([]byte, digest.Digest) {
	layerTar := makeTar(t, tarEntry{Name: "hello", Body: "oci"})
	layerGz := gzipBytes(t, layerTar)
	cfg := configFor(digest.FromBytes(layerTar))
	blob := func(b []byte) (digest.Digest, tarEntry) {
		d := digest.FromBytes(b)
		return d, tarEntry{Name: "blobs/sha256/" + d.Encoded(), Body: string(b)}
	}
	cfgD, cfgE := blob(cfg)
	layerD, layerE := blob(layerGz)
	m, _ := json.Marshal(ocispec.Manifest{
		Versioned: specsVersioned(), MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cfgD, Size: int64(len(cfg))},
		Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: layerD, Size: int64(len(layerGz))}},
	})
	mD, mE := blob(m)
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	inner, _ := json.Marshal(ocispec.Index{Versioned: specsVersioned(), MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{
		{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("missing"), Size: 1, Platform: &ocispec.Platform{OS: "linux", Architecture: other}},
		{MediaType: ocispec.MediaTypeImageManifest, Digest: mD, Size: int64(len(m)), Platform: &ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}},
	}})
	innerD, innerE := blob(inner)
	index, _ := json.Marshal(ocispec.Index{Versioned: specsVersioned(), MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{
		{MediaType: ocispec.MediaTypeImageIndex, Digest: innerD, Size: int64(len(inner)), Annotations: map[string]string{ocispec.AnnotationRefName: "example.com/team/app:2.0"}},
	}})
	return makeTar(t, cfgE, layerE, mE, innerE,
		tarEntry{Name: "oci-layout", Body: `{"imageLayoutVersion":"1.0.0"}`},
		tarEntry{Name: "index.json", Body: string(index)},
	), cfgD
}

func TestLoadOCILayout(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t)
	archive, id := ociLayout(t)
	lines, err := env.store.Load(ctx, bytes.NewReader(archive), nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"Loaded image: example.com/team/app:2.0"}, lines)
	img, err := env.store.Get(ctx, "example.com/team/app:2.0")
	require.NoError(t, err)
	assert.Equal(t, id, img.ID)
	assert.EqualValues(t, 3, img.Size)

	// Saved again, the gzip layer keeps its media type and digest.
	var buf bytes.Buffer
	require.NoError(t, env.store.Save(ctx, []string{"example.com/team/app:2.0"}, &buf))
	files := readTar(t, buf.Bytes())
	var index ocispec.Index
	require.NoError(t, json.Unmarshal(files["index.json"], &index))
	var m ocispec.Manifest
	require.NoError(t, json.Unmarshal(files["blobs/sha256/"+index.Manifests[0].Digest.Encoded()], &m))
	assert.Equal(t, ocispec.MediaTypeImageLayerGzip, m.Layers[0].MediaType)
	assert.Equal(t, img.Layers[0], m.Layers[0].Digest)
}

func TestLoadRejectsBadArchives(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t)
	good, diffIDs := legacySave(t)
	cfg := configFor(diffIDs[:1]...)
	cfgName := digest.FromBytes(cfg).Encoded() + ".json"
	l1 := makeTar(t, tarEntry{Name: "f", Body: "different"})
	mf := func(config string, layers ...string) string {
		b, _ := json.Marshal([]dockerManifestEntry{{Config: config, Layers: layers}})
		return string(b)
	}
	outside := filepath.Join(filepath.Dir(env.dir), "escaped")
	cases := map[string][]byte{
		"escaping entry":  makeTar(t, tarEntry{Name: "../escaped", Body: "x"}),
		"escaping config": makeTar(t, tarEntry{Name: "manifest.json", Body: mf("../../etc/passwd")}),
		"absolute symlink": makeTar(t, tarEntry{Name: "l", Type: tar.TypeSymlink, Linkname: "/etc/passwd"},
			tarEntry{Name: "manifest.json", Body: mf("l")}),
		"relative symlink out": makeTar(t, tarEntry{Name: "l", Type: tar.TypeSymlink, Linkname: "../../../../etc/passwd"},
			tarEntry{Name: cfgName, Body: string(cfg)}, tarEntry{Name: "manifest.json", Body: mf(cfgName, "l")}),
		"diff id mismatch": makeTar(t, tarEntry{Name: "l.tar", Body: string(l1)}, tarEntry{Name: cfgName, Body: string(cfg)},
			tarEntry{Name: "manifest.json", Body: mf(cfgName, "l.tar")}),
		"layer count":    makeTar(t, tarEntry{Name: cfgName, Body: string(cfg)}, tarEntry{Name: "manifest.json", Body: mf(cfgName)}),
		"no manifest":    makeTar(t, tarEntry{Name: "x", Body: "y"}),
		"bad json":       makeTar(t, tarEntry{Name: "manifest.json", Body: "{"}),
		"bad tag":        makeTar(t, tarEntry{Name: "manifest.json", Body: `[{"Config":"c","RepoTags":["UP:x"],"Layers":[]}]`}),
		"corrupt blob":   rewriteBody(t, good, "bbb/layer.tar", "not a tar"),
		"oci bad digest": makeTar(t, tarEntry{Name: "index.json", Body: `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../x","size":1}]}`}),
	}
	for name, archive := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := env.store.Load(ctx, bytes.NewReader(archive), nil)
			require.Error(t, err)
			assert.True(t, errdefs.IsInvalidArgument(err), "%v", err)
		})
	}
	_, err := os.Stat(outside)
	assert.True(t, os.IsNotExist(err))
	list, _ := env.store.List(ctx)
	assert.Empty(t, list)
	// Failed loads leave no half-made layers behind.
	var keys []string
	env.sn.Walk(ctx, func(i snapshot.Info) error { keys = append(keys, i.Key); return nil })
	for _, k := range keys {
		assert.NotContains(t, k, extractPrefix)
	}
}

func rewriteBody(t *testing.T, archive []byte, name, body string) []byte {
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		data, _ := io.ReadAll(tr)
		if h.Name == name {
			data = []byte(body)
			h.Size = int64(len(data))
		}
		require.NoError(t, tw.WriteHeader(h))
		tw.Write(data)
	}
	tw.Close()
	return out.Bytes()
}

func FuzzLoadManifest(f *testing.F) {
	f.Add([]byte(`[{"Config":"a.json","RepoTags":["busybox:latest"],"Layers":["x/layer.tar"]}]`))
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + hex64("a") + `","size":1,"annotations":{"io.containerd.image.name":"docker.io/library/x:1"}}]}`))
	f.Add([]byte(`{"schemaVersion":2,"config":{"digest":"sha256:` + hex64("b") + `"},"layers":[{"digest":"sha256:` + hex64("c") + `"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if items, err := parseDockerManifest(data); err == nil {
			for _, it := range items {
				for _, p := range append([]string{it.config}, it.layers...) {
					if !filepath.IsLocal(p) {
						t.Fatalf("non-local path %q accepted", p)
					}
				}
			}
		} else if !errdefs.IsInvalidArgument(err) {
			t.Fatalf("error class: %v", err)
		}
		if idx, err := parseOCIIndex(data); err == nil {
			for _, m := range idx.Manifests {
				p, err := blobPath(m.Digest)
				if err != nil || !filepath.IsLocal(p) {
					t.Fatalf("bad blob path %q %v", p, err)
				}
				_ = descriptorName(m)
			}
		}
		if m, err := parseOCIManifest(data); err == nil {
			if _, err := blobPath(m.Config.Digest); err != nil {
				t.Fatal(err)
			}
		}
	})
}

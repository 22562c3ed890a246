package image

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/containerd/errdefs"
	imagetypes "github.com/moby/moby/api/types/image"
	digest "github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wharf.io/wharf/snapshot"
)

func TestImportAndGet(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t)
	s := env.store
	tarball := makeTar(t, rootfs...)
	img, err := s.Import(ctx, bytes.NewReader(gzipBytes(t, tarball)), "busybox", []string{
		`CMD ["/bin/hello"]`, "ENV A=1 B='two words'", "WORKDIR /app", "EXPOSE 80 53/udp", "LABEL k=v",
	}, "my message")
	require.NoError(t, err)

	diffID := digest.FromBytes(tarball)
	assert.Equal(t, []string{"busybox:latest"}, img.RepoTags)
	assert.Equal(t, diffID, img.ChainID, "one layer: chain ID is the diff ID")
	assert.Equal(t, []digest.Digest{diffID}, img.Layers, "stored uncompressed")
	assert.Equal(t, []digest.Digest{diffID}, img.Config.RootFS.DiffIDs)
	assert.Equal(t, []string{"/bin/hello"}, img.Config.Config.Cmd)
	assert.Equal(t, []string{"A=1", "B=two words"}, img.Config.Config.Env)
	assert.Equal(t, "/app", img.Config.Config.WorkingDir)
	assert.Contains(t, img.Config.Config.ExposedPorts, "53/udp")
	assert.Equal(t, "linux", img.Config.OS)
	assert.EqualValues(t, len("#!/bin/sh\necho hello\n")+len("ID=wharf\n"), img.Size)

	// The ID is the digest of the stored config.
	raw, err := os.ReadFile(filepath.Join(env.dir, "image", "blobs", "sha256", img.ID.Encoded()))
	require.NoError(t, err)
	assert.Equal(t, img.ID, digest.FromBytes(raw))

	// The layer is unpacked into a committed snapshot named by chain ID.
	info, err := env.sn.Stat(ctx, img.ChainID.String())
	require.NoError(t, err)
	assert.Equal(t, snapshot.KindCommitted, info.Kind)
	_, err = env.sn.Prepare(ctx, "ctr", img.ChainID.String())
	require.NoError(t, err)
	require.NoError(t, env.sn.Remove(ctx, "ctr"))

	for _, ref := range []string{"busybox", "busybox:latest", "docker.io/library/busybox:latest",
		string(img.ID), img.ID.Encoded(), img.ID.Encoded()[:12], img.ID.Encoded()[:1], "sha256:" + img.ID.Encoded()[:5]} {
		got, err := s.Get(ctx, ref)
		require.NoError(t, err, ref)
		assert.Equal(t, img.ID, got.ID, ref)
	}
	_, err = s.Get(ctx, "busybox:1")
	assert.True(t, errdefs.IsNotFound(err))
	assert.Equal(t, "No such image: busybox:1", err.Error())
	_, err = s.Get(ctx, "nothere")
	assert.Equal(t, "No such image: nothere:latest", err.Error())
	_, err = s.Get(ctx, "UPPER:case")
	assert.True(t, errdefs.IsInvalidArgument(err))
	assert.Equal(t, "invalid reference format: repository name (library/UPPER) must be lowercase", err.Error())
	_, err = s.Get(ctx, "a::b")
	assert.True(t, errdefs.IsInvalidArgument(err))

	hist, err := s.History(ctx, "busybox")
	require.NoError(t, err)
	require.Len(t, hist, 1)
	assert.Equal(t, string(img.ID), hist[0].ID)
	assert.Equal(t, "my message", hist[0].Comment)
	assert.Equal(t, img.Size, hist[0].Size)
	assert.Equal(t, []string{"busybox:latest"}, hist[0].Tags)

	ins, err := s.Inspect(ctx, "busybox")
	require.NoError(t, err)
	assert.Equal(t, string(img.ID), ins.ID)
	assert.Equal(t, []string{diffID.String()}, ins.RootFS.Layers)
	assert.Equal(t, "my message", ins.Comment)
	assert.Equal(t, map[string]string{"k": "v"}, ins.Config.Labels)
	assert.False(t, ins.Metadata.LastTagTime.IsZero())

	sums, err := s.Summaries(ctx, false)
	require.NoError(t, err)
	require.Len(t, sums, 1)
	assert.Equal(t, string(img.ID), sums[0].ID)
	assert.Equal(t, []string{"busybox:latest"}, sums[0].RepoTags)
	assert.Equal(t, img.Size, sums[0].Size)
}

func TestImportCompressions(t *testing.T) {
	env := newEnv(t)
	tarball := makeTar(t, rootfs...)
	a, err := env.store.Import(context.Background(), bytes.NewReader(tarball), "", nil, "")
	require.NoError(t, err)
	assert.Empty(t, a.RepoTags)
	b, err := env.store.Import(context.Background(), bytes.NewReader(gzipBytes(t, tarball)), "", nil, "")
	require.NoError(t, err)
	assert.Equal(t, a.ChainID, b.ChainID, "same content, same layer")

	_, err = env.store.Import(context.Background(), bytes.NewReader(tarball), "Bad:Ref", nil, "")
	assert.True(t, errdefs.IsInvalidArgument(err))
	_, err = env.store.Import(context.Background(), bytes.NewReader(tarball), "x", []string{"RUN echo"}, "")
	assert.True(t, errdefs.IsInvalidArgument(err))
	_, err = env.store.Import(context.Background(), strings.NewReader("not a tar at all, definitely not"), "x", nil, "")
	assert.True(t, errdefs.IsInvalidArgument(err), "%v", err)
}

func TestTagAndRemove(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t)
	s := env.store
	img := importImage(t, s, "app:1")
	require.NoError(t, s.Tag(ctx, "app:1", "app:latest"))
	require.NoError(t, s.Tag(ctx, img.ID.Encoded()[:6], "localhost:5000/other/app:v2"))
	err := s.Tag(ctx, "app:1", "Bad/Name")
	assert.True(t, errdefs.IsInvalidArgument(err))
	err = s.Tag(ctx, "app:1", "app@sha256:"+hex64("a"))
	assert.True(t, errdefs.IsInvalidArgument(err))
	assert.True(t, errdefs.IsNotFound(s.Tag(ctx, "nope", "x")))

	got, err := s.Get(ctx, "app")
	require.NoError(t, err)
	assert.Equal(t, []string{"app:1", "app:latest", "localhost:5000/other/app:v2"}, got.RepoTags)

	// By ID with references in two repositories: must be forced.
	_, err = s.Remove(ctx, string(img.ID), false, false, nil)
	assert.True(t, errdefs.IsConflict(err))
	assert.Contains(t, err.Error(), "unable to delete "+img.ID.Encoded()[:12]+" (must be forced) - image is referenced in multiple repositories")

	// By name while other names remain: just untag.
	resp, err := s.Remove(ctx, "localhost:5000/other/app:v2", false, false, nil)
	require.NoError(t, err)
	assert.Equal(t, []imagetypes.DeleteResponse{{Untagged: "localhost:5000/other/app:v2"}}, resp)

	// In use by a container: conflict, by ID or by last name.
	inUse := func(id digest.Digest) bool { return id == img.ID }
	_, err = s.Remove(ctx, img.ID.Encoded()[:12], true, false, inUse)
	assert.True(t, errdefs.IsConflict(err))
	resp, err = s.Remove(ctx, "app:latest", false, false, inUse)
	require.NoError(t, err, "another tag remains")
	assert.Equal(t, "app:latest", resp[0].Untagged)
	_, err = s.Remove(ctx, "app:1", false, false, inUse)
	assert.True(t, errdefs.IsConflict(err), "last tag of an image in use")
	resp, err = s.Remove(ctx, "app:1", true, false, inUse)
	require.NoError(t, err)
	assert.Equal(t, []imagetypes.DeleteResponse{{Untagged: "app:1"}}, resp, "forced: untag, keep the image")
	got, err = s.Get(ctx, string(img.ID))
	require.NoError(t, err)
	assert.Empty(t, got.RepoTags)

	// Dangling and unused: by ID removes image and layer.
	resp, err = s.Remove(ctx, string(img.ID), false, false, nil)
	require.NoError(t, err)
	assert.Equal(t, []imagetypes.DeleteResponse{{Deleted: string(img.ID)}, {Deleted: img.ChainID.String()}}, resp)
	_, err = env.sn.Stat(ctx, img.ChainID.String())
	assert.True(t, errdefs.IsNotFound(err), "layer snapshot removed")
	blobs, _ := os.ReadDir(filepath.Join(env.dir, "image", "blobs", "sha256"))
	assert.Empty(t, blobs, "blobs removed")
	_, err = s.Remove(ctx, string(img.ID), false, false, nil)
	assert.True(t, errdefs.IsNotFound(err))
}

func TestRemoveSameRepositoryAndSharedLayers(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t)
	s := env.store
	a := importImage(t, s, "app:1")
	require.NoError(t, s.Tag(ctx, "app:1", "app:2"))
	// Same rootfs, different config: shares the layer.
	b, err := s.Import(ctx, bytes.NewReader(makeTar(t, rootfs...)), "other", []string{"USER nobody"}, "")
	require.NoError(t, err)
	require.Equal(t, a.ChainID, b.ChainID)
	require.NotEqual(t, a.ID, b.ID)

	// Several tags of one repository: removable by ID without force.
	resp, err := s.Remove(ctx, string(a.ID), false, false, nil)
	require.NoError(t, err)
	assert.Equal(t, []imagetypes.DeleteResponse{{Untagged: "app:1"}, {Untagged: "app:2"}, {Deleted: string(a.ID)}}, resp,
		"the shared layer stays")
	_, err = env.sn.Stat(ctx, b.ChainID.String())
	require.NoError(t, err)

	resp, err = s.Remove(ctx, "other", false, false, nil)
	require.NoError(t, err)
	assert.Equal(t, []imagetypes.DeleteResponse{{Untagged: "other:latest"}, {Deleted: string(b.ID)}, {Deleted: b.ChainID.String()}}, resp)
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t)
	s := env.store
	used := importImage(t, s, "", tarEntry{Name: "used", Body: "u"})
	dangling := importImage(t, s, "", tarEntry{Name: "dangling", Body: "dd"})
	tagged := importImage(t, s, "keep", tarEntry{Name: "tagged", Body: "ttt"})
	inUse := func(id digest.Digest) bool { return id == used.ID }

	rep, err := s.Prune(ctx, true, inUse)
	require.NoError(t, err)
	assert.Equal(t, []imagetypes.DeleteResponse{{Deleted: string(dangling.ID)}, {Deleted: dangling.ChainID.String()}}, rep.ImagesDeleted)
	assert.EqualValues(t, 2, rep.SpaceReclaimed)

	rep, err = s.Prune(ctx, false, inUse)
	require.NoError(t, err)
	assert.Equal(t, []imagetypes.DeleteResponse{{Untagged: "keep:latest"}, {Deleted: string(tagged.ID)}, {Deleted: tagged.ChainID.String()}}, rep.ImagesDeleted)
	assert.EqualValues(t, 3, rep.SpaceReclaimed)

	list, err := s.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, used.ID, list[0].ID)

	rep, err = s.Prune(ctx, true, inUse)
	require.NoError(t, err)
	assert.NotNil(t, rep.ImagesDeleted)
	assert.Empty(t, rep.ImagesDeleted)
}

func TestAmbiguousPrefix(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t)
	var imgs []*Image
	for i := range 40 {
		imgs = append(imgs, importImage(t, env.store, "", tarEntry{Name: "f", Body: fmt.Sprint(i)}))
	}
	// Among 40 IDs some share a first hex digit.
	counts := map[byte]int{}
	for _, img := range imgs {
		counts[img.ID.Encoded()[0]]++
	}
	for c, n := range counts {
		_, err := env.store.Get(ctx, string(c))
		if n > 1 {
			assert.True(t, errdefs.IsNotFound(err), "ambiguous prefix %c", c)
		} else {
			assert.NoError(t, err)
		}
	}
}

func TestReopenAndGarbage(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t)
	img := importImage(t, env.store, "persist:1")
	// Leftovers of a crash: an unreferenced blob, an extraction snapshot and
	// an unreferenced layer.
	stray := filepath.Join(env.dir, "image", "blobs", "sha256", hex64("e"))
	require.NoError(t, os.WriteFile(stray, []byte("x"), 0o600))
	_, err := env.sn.Prepare(ctx, extractPrefix+"dead", "")
	require.NoError(t, err)
	_, err = env.sn.Prepare(ctx, "orphan", "")
	require.NoError(t, err)
	require.NoError(t, env.sn.Commit(ctx, "sha256:"+hex64("d"), "orphan"))
	_, err = env.sn.Prepare(ctx, "container", img.ChainID.String())
	require.NoError(t, err)

	env.reopen(t)
	got, err := env.store.Get(ctx, "persist:1")
	require.NoError(t, err)
	assert.Equal(t, img.ID, got.ID)
	assert.Equal(t, img.Size, got.Size)
	_, err = os.Stat(stray)
	assert.True(t, os.IsNotExist(err))
	for _, k := range []string{extractPrefix + "dead", "sha256:" + hex64("d")} {
		_, err = env.sn.Stat(ctx, k)
		assert.True(t, errdefs.IsNotFound(err), k)
	}
	for _, k := range []string{"container", img.ChainID.String()} {
		_, err = env.sn.Stat(ctx, k)
		assert.NoError(t, err, k)
	}
}

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t)
	s := env.store
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Half share one layer, so imports race to create it.
			body := fmt.Sprint(i % 2)
			img, err := s.Import(ctx, bytes.NewReader(makeTar(t, tarEntry{Name: "f", Body: body})), fmt.Sprintf("c%d", i), []string{fmt.Sprintf("ENV I=%d", i)}, "")
			if err != nil {
				errs <- err
				return
			}
			errs <- s.Tag(ctx, string(img.ID), fmt.Sprintf("t%d", i))
			if _, err := s.Summaries(ctx, true); err != nil {
				errs <- err
			}
			if i%4 == 0 {
				_, err := s.Remove(ctx, fmt.Sprintf("c%d", i), false, false, nil)
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	list, err := s.List(ctx)
	require.NoError(t, err)
	assert.Len(t, list, 8)
	for _, img := range list {
		_, err := env.sn.Stat(ctx, img.ChainID.String())
		assert.NoError(t, err, "every image's layer exists")
	}
}

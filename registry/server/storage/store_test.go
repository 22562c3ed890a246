package storage

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newStore(t *testing.T) *Store {
	s, err := New(t.TempDir())
	require.NoError(t, err)
	return s
}

func TestPutBlobVerifiesDigest(t *testing.T) {
	s := newStore(t)
	d := digest.FromString("hello")
	_, err := s.PutBlob(strings.NewReader("hellO"), d)
	require.ErrorIs(t, err, ErrDigestMismatch)
	assert.True(t, errdefs.IsInvalidArgument(err))
	assert.False(t, s.HasBlob(d), "a mismatching upload leaves nothing visible")

	n, err := s.PutBlob(strings.NewReader("hello"), d)
	require.NoError(t, err)
	assert.EqualValues(t, 5, n)
	assert.True(t, s.HasBlob(d))
	assert.False(t, s.HasBlobLink("a/b", d), "in the store is not in a repository")
	require.NoError(t, s.LinkBlob("a/b", d))
	assert.True(t, s.HasBlobLink("a/b", d))

	d512 := digest.SHA512.FromString("hello")
	_, err = s.PutBlob(strings.NewReader("hello"), d512)
	require.NoError(t, err)
	assert.True(t, s.HasBlob(d512))
}

func TestUploadStrictOffsets(t *testing.T) {
	s := newStore(t)
	u, err := s.StartUpload("a/b")
	require.NoError(t, err)
	_, err = s.Upload("other", u.ID)
	assert.True(t, errdefs.IsNotFound(err), "an upload belongs to its repository")
	_, err = s.Upload("a/b", "../../etc")
	assert.True(t, errdefs.IsNotFound(err))

	u, err = s.AppendUpload("a/b", u.ID, 0, 6, 0, strings.NewReader("hello "))
	require.NoError(t, err)
	assert.EqualValues(t, 6, u.Offset)
	_, err = s.AppendUpload("a/b", u.ID, 3, 5, 0, strings.NewReader("world"))
	assert.ErrorIs(t, err, ErrOutOfOrder)
	_, err = s.AppendUpload("a/b", u.ID, 6, 10, 0, strings.NewReader("short"))
	assert.ErrorIs(t, err, ErrOutOfOrder, "a chunk shorter than announced is dropped whole")
	u, err = s.Upload("a/b", u.ID)
	require.NoError(t, err)
	assert.EqualValues(t, 6, u.Offset)

	want := digest.FromString("hello world")
	err = s.FinishUpload("a/b", u.ID, -1, -1, 0, strings.NewReader("worlD"), want)
	require.ErrorIs(t, err, ErrDigestMismatch)
	assert.False(t, s.HasBlob(want))
	u, err = s.Upload("a/b", u.ID)
	require.NoError(t, err)
	assert.EqualValues(t, 6, u.Offset, "a failed finish keeps the upload as it was")

	require.NoError(t, s.FinishUpload("a/b", u.ID, 6, 5, 0, strings.NewReader("world"), want))
	assert.True(t, s.HasBlobLink("a/b", want))
	_, err = s.Upload("a/b", u.ID)
	assert.True(t, errdefs.IsNotFound(err), "a finished upload is gone")

	// sha512 is verified by reading the data back.
	u, err = s.StartUpload("a/b")
	require.NoError(t, err)
	_, err = s.AppendUpload("a/b", u.ID, -1, -1, 0, strings.NewReader("abc"))
	require.NoError(t, err)
	require.NoError(t, s.FinishUpload("a/b", u.ID, -1, -1, 0, strings.NewReader(""), digest.SHA512.FromString("abc")))

	u, err = s.StartUpload("a/b")
	require.NoError(t, err)
	require.NoError(t, s.CancelUpload("a/b", u.ID))
	assert.True(t, errdefs.IsNotFound(s.CancelUpload("a/b", u.ID)))
}

func TestUploadLimit(t *testing.T) {
	s := newStore(t)
	u, err := s.StartUpload("a/b")
	require.NoError(t, err)
	u, err = s.AppendUpload("a/b", u.ID, -1, -1, 8, strings.NewReader("12345"))
	require.NoError(t, err)
	_, err = s.AppendUpload("a/b", u.ID, 5, 4, 8, strings.NewReader("6789"))
	assert.ErrorIs(t, err, ErrTooLarge, "an announced chunk past the limit")
	_, err = s.AppendUpload("a/b", u.ID, -1, -1, 8, strings.NewReader("6789"))
	assert.ErrorIs(t, err, ErrTooLarge, "a streamed chunk past the limit")
	err = s.FinishUpload("a/b", u.ID, -1, -1, 8, strings.NewReader("6789"), digest.FromString("123456789"))
	assert.ErrorIs(t, err, ErrTooLarge, "a last chunk past the limit")
	u, err = s.Upload("a/b", u.ID)
	require.NoError(t, err)
	assert.EqualValues(t, 5, u.Offset, "refused chunks leave the upload as it was")
	require.NoError(t, s.FinishUpload("a/b", u.ID, 5, 3, 8, strings.NewReader("678"), digest.FromString("12345678")))
	assert.True(t, s.HasBlob(digest.FromString("12345678")), "exactly the limit is allowed")
}

func pushManifest(t *testing.T, s *Store, repo string, v any) digest.Digest {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	d := digest.FromBytes(b)
	m, mt, err := ParseManifest("", b)
	require.NoError(t, err)
	require.NoError(t, s.PutManifest(repo, d, mt, b))
	if m.Subject != nil {
		require.NoError(t, s.AddReferrer(repo, m.Subject.Digest, d, []byte(`{}`)))
	}
	return d
}

func putBlob(t *testing.T, s *Store, repo, content string) ocispec.Descriptor {
	d := digest.FromString(content)
	_, err := s.PutBlob(strings.NewReader(content), d)
	require.NoError(t, err)
	require.NoError(t, s.LinkBlob(repo, d))
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: d, Size: int64(len(content))}
}

func image(config, layer ocispec.Descriptor, subject *ocispec.Descriptor) ocispec.Manifest {
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: config, Layers: []ocispec.Descriptor{layer}, Subject: subject}
	m.SchemaVersion = 2
	return m
}

func TestTagsAndDeletes(t *testing.T) {
	s := newStore(t)
	cfg, layer := putBlob(t, s, "r", "cfg"), putBlob(t, s, "r", "layer")
	d := pushManifest(t, s, "r", image(cfg, layer, nil))
	ref := pushManifest(t, s, "r", image(cfg, layer, &ocispec.Descriptor{Digest: d}))
	require.NoError(t, s.Tag("r", "v1", d))
	require.NoError(t, s.Tag("r", "v2", d))
	assert.Error(t, s.Tag("r", "../x", d))
	tags, err := s.Tags("r")
	require.NoError(t, err)
	assert.Equal(t, []string{"v1", "v2"}, tags)
	refs, err := s.Referrers("r", d)
	require.NoError(t, err)
	assert.Len(t, refs, 1)

	require.NoError(t, s.Untag("r", "v1"))
	assert.True(t, errdefs.IsNotFound(s.Untag("r", "v1")))
	require.NoError(t, s.DeleteManifest("r", d))
	tags, _ = s.Tags("r")
	assert.Empty(t, tags, "deleting a manifest drops its tags")
	require.NoError(t, s.DeleteManifest("r", ref))
	refs, _ = s.Referrers("r", d)
	assert.Empty(t, refs, "and its referrer entry")
	repos, err := s.Repositories()
	require.NoError(t, err)
	assert.Equal(t, []string{"r"}, repos)
}

func TestGC(t *testing.T) {
	s := newStore(t)
	cfg, layer := putBlob(t, s, "a/app", "cfg"), putBlob(t, s, "a/app", "layer")
	img := pushManifest(t, s, "a/app", image(cfg, layer, nil))
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: img}}}
	idx.SchemaVersion = 2
	// The image is reachable only through the index in another repository.
	idxD := pushManifest(t, s, "b/app", idx)
	require.NoError(t, s.DeleteManifest("a/app", img))
	sigCfg := putBlob(t, s, "b/app", "sig-config")
	pushManifest(t, s, "b/app", image(sigCfg, putBlob(t, s, "b/app", "sig"), &ocispec.Descriptor{Digest: idxD}))
	orphan := putBlob(t, s, "a/app", "orphan layer")

	var seen []digest.Digest
	res, err := s.GC(context.Background(), GCOptions{DryRun: true, Removed: func(d digest.Digest, _ int64) { seen = append(seen, d) }})
	require.NoError(t, err)
	assert.Equal(t, []digest.Digest{orphan.Digest}, seen)
	assert.True(t, s.HasBlob(orphan.Digest), "a dry run removes nothing")

	res, err = s.GC(context.Background(), GCOptions{})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Removed)
	assert.False(t, s.HasBlob(orphan.Digest))
	assert.False(t, s.HasBlobLink("a/app", orphan.Digest))
	for _, d := range []digest.Digest{cfg.Digest, layer.Digest, img, idxD, sigCfg.Digest} {
		assert.True(t, s.HasBlob(d), "kept %s", d)
	}
}

func TestGCStaleUploads(t *testing.T) {
	s := newStore(t)
	old, err := s.StartUpload("a/app")
	require.NoError(t, err)
	old.Started = time.Now().Add(-48 * time.Hour)
	require.NoError(t, s.saveUpload(old))
	fresh, err := s.StartUpload("a/app")
	require.NoError(t, err)

	var listed []string
	opts := GCOptions{DryRun: true, StaleUploads: 24 * time.Hour, StaleUpload: func(u Upload) { listed = append(listed, u.ID) }}
	res, err := s.GC(context.Background(), opts)
	require.NoError(t, err)
	assert.Equal(t, []string{old.ID}, listed, "a dry run lists the stale upload")
	assert.Equal(t, 1, res.Uploads)
	_, err = s.Upload("a/app", old.ID)
	require.NoError(t, err, "and keeps it")

	listed, opts.DryRun = nil, false
	res, err = s.GC(context.Background(), opts)
	require.NoError(t, err)
	assert.Equal(t, []string{old.ID}, listed)
	assert.Equal(t, 1, res.Uploads)
	_, err = s.Upload("a/app", old.ID)
	assert.True(t, errdefs.IsNotFound(err))
	_, err = s.Upload("a/app", fresh.ID)
	assert.NoError(t, err, "a fresh upload stays")
}

func TestLockExcludesSecondHolder(t *testing.T) {
	s := newStore(t)
	unlock, err := s.Lock()
	require.NoError(t, err)
	s2, err := New(s.Root())
	require.NoError(t, err)
	_, err = s2.Lock()
	assert.True(t, errdefs.IsUnavailable(err), "%v", err)
	unlock()
	unlock2, err := s2.Lock()
	require.NoError(t, err)
	unlock2()
}

func TestValidateRepository(t *testing.T) {
	for _, ok := range []string{"a", "alice/app", "a-b/c.d/e__f", "a0/b--c"} {
		assert.NoError(t, ValidateRepository(ok), ok)
	}
	for _, bad := range []string{"", "A", "../x", "a/../b", "a/./b", "/a", "a/", "a//b", "_uploads", "a/_tags", "a..b", strings.Repeat("a", 256)} {
		assert.Error(t, ValidateRepository(bad), bad)
	}
}

func FuzzValidateRepository(f *testing.F) {
	for _, s := range []string{"alice/app", "../x", "a/_layers", "a..b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateRepository(s) != nil {
			return
		}
		for _, c := range strings.Split(s, "/") {
			if c == "" || c == "." || c == ".." || strings.HasPrefix(c, "_") || strings.HasPrefix(c, ".") {
				t.Fatalf("accepted %q with component %q", s, c)
			}
		}
	})
}

func FuzzValidateTag(f *testing.F) {
	for _, s := range []string{"latest", "v1.0", "..", "a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateTag(s) == nil && (strings.ContainsAny(s, "/\\\x00") || strings.HasPrefix(s, ".")) {
			t.Fatalf("accepted tag %q", s)
		}
	})
}

func FuzzParseManifest(f *testing.F) {
	f.Add("", []byte(`{"schemaVersion":2,"config":{"digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}`))
	f.Add(ocispec.MediaTypeImageIndex, []byte(`{"schemaVersion":2,"manifests":[{"digest":"sha256:zz"}]}`))
	f.Fuzz(func(t *testing.T, mt string, b []byte) {
		m, got, err := ParseManifest(mt, b)
		if err != nil {
			return
		}
		if !IsIndex(got) && m.Config == nil {
			t.Fatalf("accepted an image manifest without config")
		}
	})
}

func FuzzParseDigest(f *testing.F) {
	for _, s := range []string{digest.FromString("x").String(), digest.SHA512.FromString("x").String(), "sha256:..%2f..%2fx",
		"sha256:../../etc/passwd", "md5:d41d8cd98f00b204e9800998ecf8427e", "sha256:", "sha256:ABC", "sha384:" + strings.Repeat("0", 96)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDigest(s)
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("ParseDigest(%q): %v is not InvalidArgument", s, err)
			}
			return
		}
		if d.String() != s || d.Validate() != nil {
			t.Fatalf("ParseDigest(%q) = %q", s, d)
		}
		// The digest names a file in the store: it must stay a plain name.
		if strings.ContainsAny(d.Encoded(), "/\\.") || strings.ContainsAny(d.Algorithm().String(), "/\\.") {
			t.Fatalf("ParseDigest(%q) = %q could leave the blob directory", s, d)
		}
	})
}

package builder

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func openRoot(t *testing.T, dir string) *os.Root {
	t.Helper()
	r, err := os.OpenRoot(dir)
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	return r
}

func self() *owner { return &owner{os.Getuid(), os.Getgid()} }

func TestResolveInRoot(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "usr/bin"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "run"), 0o755))
	require.NoError(t, os.Symlink("usr/bin", filepath.Join(dir, "bin")))
	require.NoError(t, os.Symlink("/run", filepath.Join(dir, "varrun")))        // absolute: inside the root
	require.NoError(t, os.Symlink("../../../../etc", filepath.Join(dir, "up"))) // climbs: stops at the root
	require.NoError(t, os.Symlink("loop", filepath.Join(dir, "loop")))
	root := openRoot(t, dir)
	for in, want := range map[string]string{
		"/bin/sh":         "usr/bin/sh",
		"/varrun/x":       "run/x",
		"/up/passwd":      "etc/passwd",
		"/../../etc":      "etc",
		"/":               ".",
		"/new/dir/../x":   "new/x",
		"/usr/bin/../lib": "usr/lib",
	} {
		got, err := resolveInRoot(root, in, true)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	got, err := resolveInRoot(root, "/bin", false)
	require.NoError(t, err)
	assert.Equal(t, "bin", got, "the last link is kept without followLast")
	_, err = resolveInRoot(root, "/loop/x", true)
	assert.True(t, errdefs.IsInvalidArgument(err))
}

func TestCopyStaysInRoots(t *testing.T) {
	ctxDir, rootfs, outside := t.TempDir(), t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600))
	require.NoError(t, os.MkdirAll(filepath.Join(ctxDir, "src/sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(ctxDir, "src/sub/f"), []byte("data"), 0o640))
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(ctxDir, "src/abs-link")))
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(ctxDir, "escape")))
	// The image has a symlink pointing at the host's directory: writes
	// through it must land inside the rootfs.
	require.NoError(t, os.Symlink(outside, filepath.Join(rootfs, "app")))

	src, dst := openRoot(t, ctxDir), openRoot(t, rootfs)
	_, err := expandSources(src, []string{"escape"}, nil)
	assert.Error(t, err, "a top-level symlink out of the context is refused")
	_, err = expandSources(src, []string{"../x"}, nil)
	assert.True(t, errdefs.IsInvalidArgument(err))

	dest, err := resolveInRoot(dst, "/app/copied", true)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(outside[1:], "copied"), dest)
	require.NoError(t, copySource(src, "src", dst, dest, copyOpts{chown: self()}))

	b, err := os.ReadFile(filepath.Join(rootfs, dest, "sub/f"))
	require.NoError(t, err)
	assert.Equal(t, "data", string(b))
	fi, err := os.Stat(filepath.Join(rootfs, dest, "sub/f"))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o640), fi.Mode().Perm())
	link, err := os.Readlink(filepath.Join(rootfs, dest, "abs-link"))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(outside, "secret"), link, "nested symlinks are copied as links")
	_, err = os.Stat(filepath.Join(outside, "copied"))
	assert.True(t, os.IsNotExist(err), "nothing was written outside the rootfs")
}

func TestCopyChmodAndOverwrite(t *testing.T) {
	ctxDir, rootfs := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(ctxDir, "f"), []byte("new"), 0o644))
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(rootfs, "f")))
	mode, err := parseChmod("0755")
	require.NoError(t, err)
	src, dst := openRoot(t, ctxDir), openRoot(t, rootfs)
	require.NoError(t, copySource(src, "f", dst, "f", copyOpts{chown: self(), chmod: mode}))
	fi, err := os.Lstat(filepath.Join(rootfs, "f"))
	require.NoError(t, err)
	assert.True(t, fi.Mode().IsRegular(), "a symlink at the destination is replaced, not followed")
	assert.Equal(t, fs.FileMode(0o755), fi.Mode().Perm())

	_, err = parseChmod("8")
	assert.Error(t, err)
	_, err = parseChmod("u+x")
	assert.Error(t, err)
}

func TestParseChown(t *testing.T) {
	rootfs := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/app:/bin/sh\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(rootfs, "etc/group"), []byte("root:x:0:\nstaff:x:50:\n"), 0o644))
	root := openRoot(t, rootfs)
	for spec, want := range map[string]owner{"7": {7, 7}, "7:8": {7, 8}, "app": {1000, 1001}, "app:staff": {1000, 50}, "1000:staff": {1000, 50}} {
		o, err := parseChown(root, spec)
		require.NoError(t, err, spec)
		assert.Equal(t, want, *o, spec)
	}
	_, err := parseChown(root, "nobody")
	assert.True(t, errdefs.IsInvalidArgument(err))
}

func TestUnpackConfined(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, body string) {
		h.Size = int64(len(body))
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		h.Uid, h.Gid = os.Getuid(), os.Getgid()
		require.NoError(t, tw.WriteHeader(h))
		tw.Write([]byte(body))
	}
	add(&tar.Header{Name: "dir/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "dir/file", Typeflag: tar.TypeReg}, "x")
	add(&tar.Header{Name: "../../evil", Typeflag: tar.TypeReg}, "e")
	add(&tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/"}, "")
	add(&tar.Header{Name: "link/through", Typeflag: tar.TypeReg}, "t")
	require.NoError(t, tw.Close())

	ctxDir, rootfs := t.TempDir(), filepath.Join(t.TempDir(), "rootfs")
	require.NoError(t, os.Mkdir(rootfs, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(ctxDir, "a.tar"), buf.Bytes(), 0o644))
	src, dst := openRoot(t, ctxDir), openRoot(t, rootfs)
	assert.True(t, isArchive(src, "a.tar"))
	require.NoError(t, dst.MkdirAll("opt", 0o755))
	require.NoError(t, unpack(src, "a.tar", dst, "opt"))
	b, err := os.ReadFile(filepath.Join(rootfs, "opt/dir/file"))
	require.NoError(t, err)
	assert.Equal(t, "x", string(b))
	_, err = os.Stat(filepath.Join(rootfs, "opt/evil"))
	assert.NoError(t, err, "../ is clamped to the destination")
	_, err = os.Stat(filepath.Join(rootfs, "through"))
	assert.NoError(t, err, "a symlink to / resolves to the rootfs")
	_, err = os.Stat(filepath.Join(filepath.Dir(rootfs), "evil"))
	assert.True(t, os.IsNotExist(err))
}

func TestContentHash(t *testing.T) {
	mk := func(content string, mtime time.Time) *os.Root {
		d := t.TempDir()
		require.NoError(t, os.MkdirAll(filepath.Join(d, "a"), 0o755))
		p := filepath.Join(d, "a/f")
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		require.NoError(t, os.Chtimes(p, mtime, mtime))
		require.NoError(t, os.WriteFile(filepath.Join(d, "ignored.log"), []byte(content), 0o644))
		return openRoot(t, d)
	}
	hash := func(r *os.Root, ignored func(string) bool) string {
		h, err := (&hasher{}).contentHash(r, []string{"."}, ignored)
		require.NoError(t, err)
		return h
	}
	now := time.Now()
	a, b, c := mk("one", now), mk("one", now.Add(-time.Hour)), mk("two", now)
	assert.Equal(t, hash(a, nil), hash(b, nil), "mtimes do not matter")
	assert.NotEqual(t, hash(a, nil), hash(c, nil), "content does")
	ign := func(rel string) bool { return filepath.Ext(rel) == ".log" }
	assert.NotEqual(t, hash(a, nil), hash(a, ign))
	require.NoError(t, os.Chmod(filepath.Join(a.Name(), "a/f"), 0o600))
	assert.NotEqual(t, hash(a, nil), hash(b, nil), "modes do")
}

func TestIgnoreMatcher(t *testing.T) {
	d := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(d, ".dockerignore"), []byte("# comment\n*.log\nbuild\n!build/keep\n"), 0o644))
	m, err := ignoreMatcher(openRoot(t, d))
	require.NoError(t, err)
	assert.True(t, m("x.log"))
	assert.True(t, m("build/out"))
	assert.False(t, m("build/keep"))
	assert.False(t, m("src/x.go"))
	m, err = ignoreMatcher(openRoot(t, t.TempDir()))
	require.NoError(t, err)
	assert.Nil(t, m)
}

func TestExtractContext(t *testing.T) {
	d := t.TempDir()
	require.NoError(t, ExtractContext(bytes.NewReader([]byte("FROM busybox\n")), d, 0))
	b, err := os.ReadFile(filepath.Join(d, "Dockerfile"))
	require.NoError(t, err)
	assert.Equal(t, "FROM busybox\n", string(b), "a bare Dockerfile body")

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "big", Size: 4096, Mode: 0o644, Typeflag: tar.TypeReg})
	tw.Write(make([]byte, 4096))
	tw.Close()
	err = ExtractContext(bytes.NewReader(buf.Bytes()), t.TempDir(), 1024)
	assert.True(t, errdefs.IsInvalidArgument(err))
	assert.Equal(t, "build context is larger than 1KiB; use .dockerignore to leave files out", err.Error(),
		"the real limit, and the class once")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(buf.Bytes())
	zw.Close()
	err = ExtractContext(bytes.NewReader(gz.Bytes()), t.TempDir(), 40)
	assert.True(t, errdefs.IsInvalidArgument(err))
	assert.Equal(t, "build context is larger than 40B; use .dockerignore to leave files out", err.Error())

	// The body is read to its end, past the tar's end marker.
	r := bytes.NewReader(append(buf.Bytes(), make([]byte, 30000)...))
	require.NoError(t, ExtractContext(r, t.TempDir(), 0))
	assert.Zero(t, r.Len())
	r = bytes.NewReader([]byte("FROM busybox\n"))
	require.NoError(t, ExtractContext(r, t.TempDir(), 0))
	assert.Zero(t, r.Len())
}

func TestSequencer(t *testing.T) {
	var out bytes.Buffer
	s := newSequencer(&out, 3)
	s.writer(2).Write([]byte("c"))
	s.writer(1).Write([]byte("b"))
	s.writer(0).Write([]byte("a"))
	assert.Equal(t, "a", out.String(), "later stages wait")
	s.finish(2)
	s.finish(0)
	assert.Equal(t, "ab", out.String(), "stage 1 writes through now; stage 2 waits for it")
	s.writer(1).Write([]byte("B"))
	assert.Equal(t, "abB", out.String())
	s.finish(1)
	assert.Equal(t, "abBc", out.String())
}

func TestCache(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "m.db"), 0o600, nil)
	require.NoError(t, err)
	defer db.Close()
	c := NewCache(db)
	_, ok := c.get("k")
	assert.False(t, ok, "no bucket yet")
	require.NoError(t, c.put("k", "sha256:p", "sha256:i"))
	id, ok := c.get("k")
	assert.True(t, ok)
	assert.Equal(t, "sha256:i", id)
	assert.NotEqual(t, cacheKey("a", "b", "c"), cacheKey("a", "bc", ""), "fields are delimited")
	recs, err := c.records()
	require.NoError(t, err)
	assert.Len(t, recs, 1)
	require.NoError(t, c.remove([]string{"k"}))
	_, ok = c.get("k")
	assert.False(t, ok)
}

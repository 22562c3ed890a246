package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"wharf.io/wharf/internal/testutil"
)

type entry struct {
	name, body, link string
	typ              byte
}

func mkTar(t testing.TB, entries ...entry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeDir {
			h.Mode = 0o755
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		require.NoError(t, tw.WriteHeader(h))
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	require.NoError(t, tw.Close())
	return buf.Bytes()
}

// sandbox returns dir inside a parent that must stay empty otherwise.
func sandbox(t *testing.T) (parent, dir string) {
	parent = t.TempDir()
	dir = filepath.Join(parent, "root")
	require.NoError(t, os.Mkdir(dir, 0o755))
	return parent, dir
}

func assertNothingEscaped(t *testing.T, parent string) {
	t.Helper()
	entries, err := os.ReadDir(parent)
	require.NoError(t, err)
	require.Len(t, entries, 1, "only root/ may exist beside the target")
	_, err = os.Lstat("/pwned")
	assert.True(t, os.IsNotExist(err))
}

func formats(t *testing.T) []Format {
	if os.Geteuid() == 0 {
		return []Format{Plain, Overlay}
	}
	return []Format{Plain}
}

func TestApplyHostileTars(t *testing.T) {
	// Each outcome keeps everything inside dir: refused (InvalidArgument),
	// confined (a path leading out resolves against dir, as in a chroot,
	// and the file lands at inside), or accepted as it is.
	const refused, confined, accepted = "refused", "confined", "accepted"
	cases := map[string]struct {
		tar     []entry
		outcome string
		inside  string // where a confined file lands
	}{
		"dotdot":        {[]entry{{name: "../escaped", body: "x"}}, confined, "escaped"},
		"nested dotdot": {[]entry{{name: "a/../../escaped", body: "x"}}, confined, "escaped"},
		// Absolute link targets resolve against dir (chroot semantics): neutralised.
		"symlink out abs":   {[]entry{{name: "l", typ: tar.TypeSymlink, link: "/"}, {name: "l/pwned", body: "x"}}, confined, "pwned"},
		"symlink out rel":   {[]entry{{name: "l", typ: tar.TypeSymlink, link: "../.."}, {name: "l/escaped", body: "x"}}, confined, "escaped"},
		"symlink chain":     {[]entry{{name: "a", typ: tar.TypeSymlink, link: "b"}, {name: "b", typ: tar.TypeSymlink, link: ".."}, {name: "a/escaped", body: "x"}}, confined, "escaped"},
		"hardlink out":      {[]entry{{name: "h", typ: tar.TypeLink, link: "../escaped"}}, refused, ""},
		"hardlink abs":      {[]entry{{name: "h", typ: tar.TypeLink, link: "/etc/passwd"}}, refused, ""},
		"whiteout dotdot":   {[]entry{{name: "../.wh.root", body: ""}}, confined, ""},
		"absolute name":     {[]entry{{name: "/abs/file", body: "inside"}}, confined, "abs/file"},
		"symlink kept safe": {[]entry{{name: "etc/", typ: tar.TypeDir}, {name: "etc/passwd", typ: tar.TypeSymlink, link: "/etc/shadow"}}, accepted, ""},
	}
	for name, tc := range cases {
		for _, f := range formats(t) {
			t.Run(name, func(t *testing.T) {
				parent, dir := sandbox(t)
				_, err := Apply(context.Background(), dir, bytes.NewReader(mkTar(t, tc.tar...)), f)
				if tc.outcome == refused {
					require.Error(t, err)
					assert.True(t, errdefs.IsInvalidArgument(err), "%v", err)
				} else {
					require.NoError(t, err)
				}
				if tc.inside != "" {
					_, err := os.Lstat(filepath.Join(dir, tc.inside))
					assert.NoError(t, err, "confined to dir")
				}
				assertNothingEscaped(t, parent)
			})
		}
	}
	// Absolute names land inside.
	_, dir := sandbox(t)
	_, err := Apply(context.Background(), dir, bytes.NewReader(mkTar(t, entry{name: "/abs/file", body: "inside"})), Plain)
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(dir, "abs/file"))
	require.NoError(t, err)
	assert.Equal(t, "inside", string(b))
}

func TestApplyPlainWhiteouts(t *testing.T) {
	_, dir := sandbox(t)
	ctx := context.Background()
	_, err := Apply(ctx, dir, bytes.NewReader(mkTar(t, entry{name: "d/", typ: tar.TypeDir}, entry{name: "d/a", body: "a"}, entry{name: "d/b", body: "b"}, entry{name: "gone", body: "g"})), Plain)
	require.NoError(t, err)
	size, err := Apply(ctx, dir, bytes.NewReader(mkTar(t, entry{name: ".wh.gone"}, entry{name: "d/.wh..wh..opq"}, entry{name: "d/c", body: "cc"})), Plain)
	require.NoError(t, err)
	assert.EqualValues(t, 2, size)
	_, err = os.Stat(filepath.Join(dir, "gone"))
	assert.True(t, os.IsNotExist(err))
	entries, _ := os.ReadDir(filepath.Join(dir, "d"))
	require.Len(t, entries, 1, "opaque dir keeps only this layer's files")
	assert.Equal(t, "c", entries[0].Name())
}

func TestApplyOverlayWhiteouts(t *testing.T) {
	testutil.RequiresRoot(t)
	_, dir := sandbox(t)
	size, err := Apply(context.Background(), dir, bytes.NewReader(mkTar(t,
		entry{name: ".wh.gone"}, entry{name: "d/", typ: tar.TypeDir}, entry{name: "d/.wh..wh..opq"}, entry{name: "d/c", body: "cc"})), Overlay)
	require.NoError(t, err)
	assert.EqualValues(t, 2, size)
	var st unix.Stat_t
	require.NoError(t, unix.Lstat(filepath.Join(dir, "gone"), &st))
	assert.Equal(t, uint32(unix.S_IFCHR), st.Mode&unix.S_IFMT, "whiteout is a char device")
	assert.Zero(t, st.Rdev)
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(filepath.Join(dir, "d"), "trusted.overlay.opaque", buf)
	require.NoError(t, err)
	assert.Equal(t, "y", string(buf[:n]))
	_, err = os.Stat(filepath.Join(dir, "d", ".wh..wh..opq"))
	assert.True(t, os.IsNotExist(err))

	// Diff turns them back into the portable form.
	var out bytes.Buffer
	require.NoError(t, Diff(context.Background(), dir, &out))
	names := map[string]bool{}
	tr := tar.NewReader(&out)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names[h.Name] = true
	}
	assert.True(t, names[".wh.gone"], "%v", names)
	assert.True(t, names["d/.wh..wh..opq"], "%v", names)
	assert.True(t, names["d/c"])
}

func TestApplyCancelled(t *testing.T) {
	_, dir := sandbox(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Apply(ctx, dir, bytes.NewReader(mkTar(t, entry{name: "f", body: "x"})), Plain)
	assert.ErrorIs(t, err, context.Canceled)
}

func FuzzApplyLayer(f *testing.F) {
	f.Add(mkTar(f, entry{name: "a/b", body: "x"}, entry{name: ".wh.a"}))
	f.Add(mkTar(f, entry{name: "l", typ: tar.TypeSymlink, link: "/"}, entry{name: "l/x", body: "y"}))
	f.Add(mkTar(f, entry{name: "../x", body: "y"}))
	f.Add(mkTar(f, entry{name: "d/.wh..wh..opq"}, entry{name: "h", typ: tar.TypeLink, link: "d"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "root")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		// Plain format: no xattrs or device nodes, so it runs unprivileged.
		_, _ = Apply(context.Background(), dir, bytes.NewReader(data), Plain)
		entries, err := os.ReadDir(parent)
		if err != nil || len(entries) != 1 {
			t.Fatalf("wrote outside the target: %v %v", entries, err)
		}
	})
}

package builder

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/go-archive/compression"
	"github.com/stretchr/testify/require"
)

// tarOf builds a tar from headers; a regular file's body is its Linkname.
func tarOf(hdrs ...tar.Header) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		body := ""
		if h.Typeflag == tar.TypeReg {
			body, h.Linkname = h.Linkname, ""
		}
		h.Size = int64(len(body))
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		tw.WriteHeader(&h)
		tw.Write([]byte(body))
	}
	tw.Close()
	return buf.Bytes()
}

// declaredSize sums the sizes a tar's headers claim; -1 if it is no tar.
func declaredSize(b []byte) int64 {
	dec, err := compression.DecompressStream(bytes.NewReader(b))
	if err != nil {
		return -1
	}
	defer dec.Close()
	tr := tar.NewReader(io.LimitReader(dec, 4<<20))
	var n int64
	for {
		h, err := tr.Next()
		if err != nil {
			return n
		}
		n += h.Size
	}
}

// FuzzUnpack unpacks arbitrary archives (ADD of a local tar) into a rootfs
// whose own symlinks point out of it, and checks that nothing was written
// outside the rootfs: not next to it, not above it.
func FuzzUnpack(f *testing.F) {
	seeds := [][]byte{
		tarOf(tar.Header{Name: "dir/", Typeflag: tar.TypeDir, Mode: 0o755}, tar.Header{Name: "dir/file", Typeflag: tar.TypeReg, Linkname: "x"}),
		tarOf(tar.Header{Name: "../../../evil", Typeflag: tar.TypeReg, Linkname: "e"}),
		tarOf(tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/"}, tar.Header{Name: "l/through", Typeflag: tar.TypeReg, Linkname: "t"}),
		tarOf(tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "../../../outside"}, tar.Header{Name: "l/sentinel", Typeflag: tar.TypeReg, Linkname: "overwritten"}),
		tarOf(tar.Header{Name: "escape/x", Typeflag: tar.TypeReg, Linkname: "via the rootfs's own link"}),
		tarOf(tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "../../../outside/sentinel"}),
		tarOf(tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "escape/sentinel"}),
		tarOf(tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o4777}, tar.Header{Name: "d", Typeflag: tar.TypeReg, Linkname: "replaces the dir"}),
		tarOf(tar.Header{Name: "a", Typeflag: tar.TypeSymlink, Linkname: "b"}, tar.Header{Name: "b", Typeflag: tar.TypeSymlink, Linkname: "a"}, tar.Header{Name: "a/x", Typeflag: tar.TypeReg}),
		{},
		[]byte("not a tar"),
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(seeds[3])
	zw.Close()
	seeds = append(seeds, gz.Bytes())
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, archive []byte) {
		if n := declaredSize(archive); n > 1<<20 {
			t.Skip("declares more than 1 MiB of content")
		}
		base, err := os.MkdirTemp("", "fuzz-unpack-")
		require.NoError(t, err)
		defer func() {
			// The archive may have made directories no one can enter.
			filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					os.Chmod(p, 0o700)
				}
				return nil
			})
			os.RemoveAll(base)
		}()
		ctxDir := filepath.Join(base, "ctx")
		outside := filepath.Join(base, "outside")
		rootfs := filepath.Join(base, "d1", "d2", "rootfs")
		for _, d := range []string{ctxDir, outside, filepath.Join(rootfs, "opt")} {
			require.NoError(t, os.MkdirAll(d, 0o755))
		}
		require.NoError(t, os.WriteFile(filepath.Join(outside, "sentinel"), []byte("untouched"), 0o644))
		require.NoError(t, os.Symlink("../../../outside", filepath.Join(rootfs, "opt", "escape")))
		require.NoError(t, os.Symlink("/", filepath.Join(rootfs, "opt", "abs")))
		require.NoError(t, os.WriteFile(filepath.Join(ctxDir, "a.tar"), archive, 0o644))

		src, err := os.OpenRoot(ctxDir)
		require.NoError(t, err)
		defer src.Close()
		dst, err := os.OpenRoot(rootfs)
		require.NoError(t, err)
		defer dst.Close()
		if isArchive(src, "a.tar") {
			_ = unpack(src, "a.tar", dst, "opt") // errors are fine; escapes are not
		}

		entries := func(dir string) []string {
			ents, err := os.ReadDir(dir)
			require.NoError(t, err)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			slices.Sort(names)
			return names
		}
		require.Equal(t, []string{"ctx", "d1", "outside"}, entries(base))
		require.Equal(t, []string{"a.tar"}, entries(ctxDir))
		require.Equal(t, []string{"sentinel"}, entries(outside))
		require.Equal(t, []string{"d2"}, entries(filepath.Join(base, "d1")))
		require.Equal(t, []string{"rootfs"}, entries(filepath.Join(base, "d1", "d2")))
		b, err := os.ReadFile(filepath.Join(outside, "sentinel"))
		require.NoError(t, err)
		require.Equal(t, "untouched", string(b))
		fi, err := os.Stat(filepath.Join(outside, "sentinel"))
		require.NoError(t, err)
		require.Equal(t, fs.FileMode(0o644), fi.Mode(), "the file outside keeps its mode")
	})
}

// FuzzChownChmod feeds --chown and --chmod values and /etc/passwd and
// /etc/group contents to their parsers: no panic, errors InvalidArgument,
// and what they accept is a real owner and mode.
func FuzzChownChmod(f *testing.F) {
	const passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n"
	const group = "root:x:0:\napp:x:1001:\nstaff:x:50:app\n"
	for _, s := range []string{"", "0", "1000", "1:2", "app", "app:staff", "root:0", "nobody", ":", "1:", ":1", "-1", "99999999999999999999", "app:nogroup", "0644", "755", "4755", "17777", "rwx", "0o644", "+x"} {
		f.Add(s, passwd, group)
	}
	f.Add("x", "x:x:-5:-5::/:/bin/sh\n", "x:x:-5:\n")
	f.Fuzz(func(t *testing.T, spec, passwd, group string) {
		m, err := parseChmod(spec)
		if err != nil {
			require.True(t, errdefs.IsInvalidArgument(err), "%q: %v", spec, err)
		} else if spec == "" {
			require.Nil(t, m)
		} else {
			require.NotNil(t, m)
			require.Zero(t, *m&^(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky), "%q gave %v", spec, *m)
		}

		dir := t.TempDir()
		require.NoError(t, os.Mkdir(filepath.Join(dir, "etc"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte(passwd), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "etc/group"), []byte(group), 0o644))
		root, err := os.OpenRoot(dir)
		require.NoError(t, err)
		defer root.Close()
		o, err := parseChown(root, spec)
		switch {
		case err != nil:
			require.True(t, errdefs.IsInvalidArgument(err), "%q: %v", spec, err)
		case spec == "":
			require.Nil(t, o)
		default:
			require.NotNil(t, o)
			require.GreaterOrEqual(t, o.uid, 0, "%q", spec)
			require.GreaterOrEqual(t, o.gid, 0, "%q", spec)
			require.LessOrEqual(t, o.uid, maxID, "%q", spec)
			require.LessOrEqual(t, o.gid, maxID, "%q", spec)
		}
	})
}

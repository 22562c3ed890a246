package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"wharf.io/wharf/snapshot/overlay"
)

// tarEntry is one file of a test tarball; a Linkname makes it a symlink
// (Type tar.TypeSymlink) or hard link.
type tarEntry struct {
	Name     string
	Body     string
	Type     byte
	Linkname string
	Mode     int64
}

func makeTar(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Typeflag: e.Type, Linkname: e.Linkname, Mode: e.Mode}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		require.NoError(t, tw.WriteHeader(h))
		if h.Typeflag == tar.TypeReg {
			_, err := tw.Write([]byte(e.Body))
			require.NoError(t, err)
		}
	}
	require.NoError(t, tw.Close())
	return buf.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// testEnv is a store with its database and snapshotter, reopenable.
type testEnv struct {
	dir   string
	db    *bolt.DB
	sn    *overlay.Snapshotter
	store *Store
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	env := &testEnv{dir: t.TempDir()}
	env.open(t)
	t.Cleanup(func() { env.close() })
	return env
}

func (env *testEnv) open(t *testing.T) {
	t.Helper()
	var err error
	env.db, err = bolt.Open(filepath.Join(env.dir, "m.db"), 0o600, nil)
	require.NoError(t, err)
	env.sn, err = overlay.Open(filepath.Join(env.dir, "snapshots"))
	require.NoError(t, err)
	env.store, err = New(filepath.Join(env.dir, "image"), env.db, env.sn)
	require.NoError(t, err)
}

func (env *testEnv) close() {
	if env.db != nil {
		env.db.Close()
		env.sn.Close()
		env.db = nil
	}
}

func (env *testEnv) reopen(t *testing.T) {
	env.close()
	env.open(t)
}

var rootfs = []tarEntry{
	{Name: "bin/", Type: tar.TypeDir},
	{Name: "bin/hello", Body: "#!/bin/sh\necho hello\n", Mode: 0o755},
	{Name: "etc/", Type: tar.TypeDir},
	{Name: "etc/os-release", Body: "ID=wharf\n"},
}

func importImage(t *testing.T, s *Store, ref string, entries ...tarEntry) *Image {
	t.Helper()
	if len(entries) == 0 {
		entries = rootfs
	}
	img, err := s.Import(context.Background(), bytes.NewReader(makeTar(t, entries...)), ref, nil, "")
	require.NoError(t, err)
	return img
}

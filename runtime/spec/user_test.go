package spec

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testRootfs(t testing.TB) string {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "etc"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte(
		"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\nbob:x:1000:1000::/home/bob:/bin/sh\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "etc/group"), []byte(
		"root:x:0:\nstaff:x:50:bob\nbob:x:1000:\nnogroup:x:65534:\n"), 0o644))
	return dir
}

func TestResolveUser(t *testing.T) {
	root := testRootfs(t)
	cases := []struct {
		spec string
		want specs.User
	}{
		{"", specs.User{UID: 0, GID: 0}},
		{"root", specs.User{UID: 0, GID: 0}},
		{"bob", specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{50}}},
		{"1000", specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{50}}},
		{"1000:50", specs.User{UID: 1000, GID: 50}},
		{"bob:nogroup", specs.User{UID: 1000, GID: 65534}},
		{"4242", specs.User{UID: 4242, GID: 0}},
		{"4242:4343", specs.User{UID: 4242, GID: 4343}},
		{"nobody", specs.User{UID: 65534, GID: 65534}},
	}
	for _, tc := range cases {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := ResolveUser(root, tc.spec)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestResolveUserUnknown(t *testing.T) {
	root := testRootfs(t)
	_, err := ResolveUser(root, "foo")
	require.Error(t, err)
	assert.True(t, errdefs.IsInvalidArgument(err))
	assert.Equal(t, "unable to find user foo: no matching entries in passwd file", err.Error())

	_, err = ResolveUser(root, "bob:nogrp")
	assert.True(t, errdefs.IsInvalidArgument(err), "%v", err)
}

func TestResolveUserNoPasswd(t *testing.T) {
	root := t.TempDir()
	got, err := ResolveUser(root, "123:456")
	require.NoError(t, err)
	assert.Equal(t, specs.User{UID: 123, GID: 456}, got)
	_, err = ResolveUser(root, "bob")
	assert.True(t, errdefs.IsInvalidArgument(err))
}

func TestResolveUserSymlinkEscape(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	// An image must not make us read the host's passwd file.
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(root, "etc/passwd")))
	_, err := ResolveUser(root, "root")
	assert.True(t, errdefs.IsInvalidArgument(err), "%v", err)
}

func FuzzResolveUser(f *testing.F) {
	root := testRootfs(f)
	for _, s := range []string{"", "bob", "1000:50", "bob:nogroup", "a:b:c", "-1", "99999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := ResolveUser(root, s)
		if err != nil {
			require.True(t, errdefs.IsInvalidArgument(err), "unexpected class for %q: %v", s, err)
		}
	})
}

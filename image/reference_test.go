package image

import (
	"testing"

	"github.com/containerd/errdefs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseReference(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":                        "docker.io/library/busybox:latest",
		"busybox:1.36":                   "docker.io/library/busybox:1.36",
		"docker.io/library/busybox:1":    "docker.io/library/busybox:1",
		"localhost:5000/app":             "localhost:5000/app:latest",
		"user/app:v2":                    "docker.io/user/app:v2",
		"busybox@sha256:" + hex64("a"):   "docker.io/library/busybox@sha256:" + hex64("a"),
		"busybox:x@sha256:" + hex64("b"): "docker.io/library/busybox@sha256:" + hex64("b"),
	} {
		got, err := ParseReference(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got.String(), in)
	}
	r, _ := ParseReference("docker.io/library/busybox")
	assert.Equal(t, "busybox:latest", FamiliarString(r))

	_, err := ParseReference("UPPER:case")
	require.Error(t, err)
	assert.True(t, errdefs.IsInvalidArgument(err))
	assert.Equal(t, "invalid reference format: repository name (library/UPPER) must be lowercase", err.Error())
	for _, bad := range []string{"a::b", "", ":tag", "a b", "-x", hex64("c")} {
		_, err := ParseReference(bad)
		assert.True(t, errdefs.IsInvalidArgument(err), "%q: %v", bad, err)
	}
	_, err = ParseReference("a::b")
	assert.Equal(t, "invalid reference format", err.Error())
}

func hex64(c string) string {
	s := ""
	for len(s) < 64 {
		s += c
	}
	return s
}

func TestParseRefOrID(t *testing.T) {
	p, err := parseRefOrID(hex64("a"))
	require.NoError(t, err)
	assert.Equal(t, "sha256:"+hex64("a"), string(p.id))
	p, err = parseRefOrID("sha256:" + hex64("a"))
	require.NoError(t, err)
	assert.Equal(t, "sha256:"+hex64("a"), string(p.id))
	p, err = parseRefOrID("sha256:abc")
	require.NoError(t, err)
	assert.Equal(t, "abc", p.prefix)
	p, err = parseRefOrID("abc")
	require.NoError(t, err)
	assert.Equal(t, "docker.io/library/abc:latest", p.named.String())
	assert.Equal(t, "abc", p.prefix)
	p, err = parseRefOrID("busybox")
	require.NoError(t, err)
	assert.Empty(t, p.prefix)
	_, err = parseRefOrID("UPPER")
	assert.True(t, errdefs.IsInvalidArgument(err))
}

func FuzzParseReference(f *testing.F) {
	for _, s := range []string{"busybox", "a::b", "UPPER:case", "localhost:5000/x/y:z@sha256:" + hex64("0"), "sha256:ab", hex64("f")} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if r, err := ParseReference(s); err == nil {
			// A parsed reference re-parses to itself.
			again, err := ParseReference(r.String())
			if err != nil || again.String() != r.String() {
				t.Fatalf("%q → %q → %v %v", s, r, again, err)
			}
			_ = FamiliarString(r)
		} else if !errdefs.IsInvalidArgument(err) {
			t.Fatalf("%q: error not InvalidArgument: %v", s, err)
		}
		if _, err := parseRefOrID(s); err != nil && !errdefs.IsInvalidArgument(err) {
			t.Fatalf("%q: error not InvalidArgument: %v", s, err)
		}
	})
}

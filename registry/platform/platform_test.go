package platform

import (
	"runtime"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]ocispec.Platform{
		"linux/amd64":     {OS: "linux", Architecture: "amd64"},
		"Linux/X86_64":    {OS: "linux", Architecture: "amd64"},
		"linux/x86-64/v1": {OS: "linux", Architecture: "amd64"},
		"linux/amd64/v3":  {OS: "linux", Architecture: "amd64", Variant: "v3"},
		"linux/aarch64":   {OS: "linux", Architecture: "arm64"},
		"linux/arm64/v8":  {OS: "linux", Architecture: "arm64"},
		"linux/arm":       {OS: "linux", Architecture: "arm", Variant: "v7"},
		"linux/arm/6":     {OS: "linux", Architecture: "arm", Variant: "v6"},
		"linux/armhf":     {OS: "linux", Architecture: "arm", Variant: "v7"},
		"linux/i386":      {OS: "linux", Architecture: "386"},
		"linux/s390x":     {OS: "linux", Architecture: "s390x"},
		"macos/arm64":     {OS: "darwin", Architecture: "arm64"},
		"s390x":           {OS: "linux", Architecture: "s390x"},
		"linux":           Host(),
		"windows":         {OS: "windows", Architecture: Host().Architecture},
	} {
		got, err := Parse(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "/", "linux/", "/amd64", "linux/amd64/v2/x", "linux/amd64:10.0", "linux/am d64", "linux/amd64/", "bogus/"} {
		_, err := Parse(in)
		assert.True(t, errdefs.IsInvalidArgument(err), "%q: %v", in, err)
	}
}

func TestMatch(t *testing.T) {
	amd := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	assert.True(t, Match(amd, ocispec.Platform{OS: "linux", Architecture: "x86_64"}))
	assert.False(t, Match(ocispec.Platform{OS: "linux", Architecture: "s390x"}, amd))
	assert.False(t, Match(ocispec.Platform{OS: "windows", Architecture: "amd64"}, amd))
	assert.True(t, Match(ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, ocispec.Platform{OS: "linux", Architecture: "arm64"}))
	assert.True(t, Match(ocispec.Platform{OS: "linux", Architecture: "arm"}, ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}))
	assert.False(t, Match(ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}, ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}))
	assert.True(t, Match(Host(), ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}))
	assert.Equal(t, "linux/arm/v7", Format(ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}))
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"linux/amd64", "linux/arm/v7", "s390x", "Linux/X86_64", "linux/arm64/v8", "a/b/c/d", "linux/amd64:1", "", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("Parse(%q): %v is not InvalidArgument", s, err)
			}
			return
		}
		if p.OS == "" || p.Architecture == "" || strings.Contains(Format(p), "//") {
			t.Fatalf("Parse(%q) = %+v", s, p)
		}
		// Normalising is idempotent, and a formatted platform parses back to itself.
		again, err := Parse(Format(p))
		if err != nil || Format(again) != Format(p) || Format(Normalize(p)) != Format(p) || !Match(p, p) {
			t.Fatalf("Parse(%q) = %+v, reparsed %+v (%v)", s, p, again, err)
		}
	})
}

package platform

import (
	"fmt"
	"regexp"
	"runtime"
	"strings"

	"github.com/containerd/errdefs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// component is what one part of a platform may hold (containerd's rule).
var component = regexp.MustCompile(`^[a-z0-9_.-]+$`)

// knownOS are the operating systems a one-part platform ("windows") may
// name; any other single word is an architecture ("arm64" = linux/arm64).
var knownOS = map[string]bool{
	"aix": true, "android": true, "darwin": true, "dragonfly": true, "freebsd": true, "illumos": true,
	"ios": true, "js": true, "linux": true, "netbsd": true, "openbsd": true, "plan9": true,
	"solaris": true, "wasip1": true, "windows": true,
}

// Parse reads a --platform value, "os[/arch[/variant]]" or a bare
// architecture, case-insensitively, and normalises it (x86_64 → amd64,
// aarch64 → arm64, arm → arm/v7, macos → darwin). A missing architecture
// is this host's, a missing OS linux. The error is of class
// errdefs.ErrInvalidArgument.
func Parse(s string) (ocispec.Platform, error) {
	bad := func(why string) (ocispec.Platform, error) {
		return ocispec.Platform{}, fmt.Errorf("invalid platform %q: %s: %w", s, why, errdefs.ErrInvalidArgument)
	}
	if strings.Contains(s, ":") {
		return bad("an OS version is not supported")
	}
	// go-containerregistry splits the parts; the rules are ours.
	gp, err := v1.ParsePlatform(strings.ToLower(s))
	if err != nil {
		return bad("expected os/arch[/variant]")
	}
	parts := []string{gp.OS}
	if strings.Count(s, "/") >= 1 {
		parts = append(parts, gp.Architecture)
	}
	if strings.Count(s, "/") >= 2 {
		parts = append(parts, gp.Variant)
	}
	for _, p := range parts {
		if !component.MatchString(p) {
			return bad("expected os/arch[/variant] of letters, digits, '.', '_' and '-'")
		}
	}
	p := ocispec.Platform{OS: gp.OS, Architecture: gp.Architecture, Variant: gp.Variant}
	if len(parts) == 1 {
		if o := normalizeOS(p.OS); knownOS[o] {
			p.OS, p.Architecture = o, runtime.GOARCH
		} else {
			p.OS, p.Architecture = "linux", p.OS
		}
	}
	return Normalize(p), nil
}

// Normalize spells p as image indexes do: canonical OS and architecture
// names, and the variant only where it tells something (arm64's v8 and
// amd64's v1 are the defaults and dropped; plain arm is v7).
func Normalize(p ocispec.Platform) ocispec.Platform {
	p.OS = normalizeOS(strings.ToLower(p.OS))
	p.Architecture, p.Variant = normalizeArch(strings.ToLower(p.Architecture), strings.ToLower(p.Variant))
	return p
}

func normalizeOS(os string) string {
	if os == "macos" {
		return "darwin"
	}
	return os
}

func normalizeArch(arch, variant string) (string, string) {
	switch arch {
	case "i386", "i686", "x86":
		return "386", ""
	case "x86_64", "x86-64", "amd64":
		if variant == "v1" {
			variant = ""
		}
		return "amd64", variant
	case "aarch64", "arm64":
		if variant == "8" || variant == "v8" || variant == "v8.0" {
			variant = ""
		}
		return "arm64", variant
	case "armhf":
		return "arm", "v7"
	case "armel":
		return "arm", "v6"
	case "arm":
		switch variant {
		case "", "7":
			variant = "v7"
		case "5", "6", "8":
			variant = "v" + variant
		}
		return "arm", variant
	}
	return arch, variant
}

// Format is p as "os/arch[/variant]".
func Format(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Host is the platform this daemon runs images of.
func Host() ocispec.Platform {
	return Normalize(ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH})
}

// Match reports whether an image of platform have satisfies a request for
// want: same OS and architecture once both are normalised, and the same
// variant when want names one.
func Match(want, have ocispec.Platform) bool {
	want, have = Normalize(want), Normalize(have)
	return want.OS == have.OS && want.Architecture == have.Architecture &&
		(want.Variant == "" || want.Variant == have.Variant)
}

package opts

import (
	"fmt"
	"strings"

	"github.com/containerd/errdefs"

	"wharf.io/wharf/internal/ids"
)

// VolumeSpec is one parsed -v/--volume value.
type VolumeSpec struct {
	// Source is a host path (bind), a volume name, or empty for an anonymous volume.
	Source string
	Target string
	// Mode is the comma-separated option list after the second colon ("ro", "rw,z"…).
	Mode string
}

// Anonymous reports whether the spec names no source, so the daemon makes a fresh volume.
func (v VolumeSpec) Anonymous() bool { return v.Source == "" }

// Bind renders the spec in HostConfig.Binds form (source:target[:mode]).
func (v VolumeSpec) Bind() string {
	s := v.Source + ":" + v.Target
	if v.Mode != "" {
		s += ":" + v.Mode
	}
	return s
}

var volumeModes = map[string]string{
	"ro": "rw", "rw": "rw",
	"z": "label", "Z": "label",
	"shared": "propagation", "rshared": "propagation", "slave": "propagation",
	"rslave": "propagation", "private": "propagation", "rprivate": "propagation",
	"nocopy": "copy", "copy": "copy",
}

// ParseVolume parses -v values: /ctr/path (anonymous), name:/ctr/path[:mode] (named volume)
// or /host/path:/ctr/path[:mode] (bind). Mode holds ro|rw, z|Z, a propagation and nocopy,
// each at most once.
func ParseVolume(spec string) (VolumeSpec, error) {
	invalid := func(why string) (VolumeSpec, error) {
		return VolumeSpec{}, fmt.Errorf("invalid volume specification %q: %s: %w", spec, why, errdefs.ErrInvalidArgument)
	}
	parts := strings.Split(spec, ":")
	var v VolumeSpec
	switch len(parts) {
	case 1:
		v.Target = parts[0]
	case 2:
		v.Source, v.Target = parts[0], parts[1]
	case 3:
		v.Source, v.Target, v.Mode = parts[0], parts[1], parts[2]
	default:
		return invalid("too many colons")
	}
	if v.Target == "" {
		return invalid("empty container path")
	}
	if !strings.HasPrefix(v.Target, "/") {
		return invalid("container path must be absolute")
	}
	if len(parts) > 1 {
		switch {
		case v.Source == "":
			return invalid("empty source")
		case strings.HasPrefix(v.Source, "/"):
			if v.Source != "/" && strings.HasSuffix(v.Source, "/") {
				v.Source = strings.TrimRight(v.Source, "/")
			}
		default:
			if err := ids.ValidateName(v.Source); err != nil || strings.HasPrefix(v.Source, "/") {
				return invalid("invalid volume name " + v.Source)
			}
		}
	}
	if v.Mode != "" {
		seen := map[string]bool{}
		for _, m := range strings.Split(v.Mode, ",") {
			class, ok := volumeModes[m]
			if !ok {
				return invalid("invalid mode " + m)
			}
			if seen[class] {
				return invalid("conflicting mode " + m)
			}
			seen[class] = true
		}
		if seen["copy"] && strings.HasPrefix(v.Source, "/") {
			return invalid("nocopy is only valid for named volumes")
		}
	}
	if v.Source == "" && v.Mode != "" {
		return invalid("mode needs a source")
	}
	return v, nil
}

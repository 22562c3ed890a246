package opts

import (
	"encoding/csv"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/mount"
)

// ParseMount parses a --mount value: comma-separated key=value fields, CSV-quoted so a
// value may itself hold commas ("type=volume,source=data,target=/data,volume-opt=o=a,b").
// The type defaults to volume, as in docker.
func ParseMount(spec string) (mount.Mount, error) {
	invalid := func(format string, a ...any) (mount.Mount, error) {
		return mount.Mount{}, fmt.Errorf("invalid mount %q: %s: %w", spec, fmt.Sprintf(format, a...), errdefs.ErrInvalidArgument)
	}
	r := csv.NewReader(strings.NewReader(spec))
	r.LazyQuotes = false
	fields, err := r.Read()
	if err != nil {
		return invalid("%v", err)
	}
	m := mount.Mount{Type: mount.TypeVolume}
	bindOpts := func() *mount.BindOptions {
		if m.BindOptions == nil {
			m.BindOptions = &mount.BindOptions{}
		}
		return m.BindOptions
	}
	volOpts := func() *mount.VolumeOptions {
		if m.VolumeOptions == nil {
			m.VolumeOptions = &mount.VolumeOptions{}
		}
		return m.VolumeOptions
	}
	tmpfsOpts := func() *mount.TmpfsOptions {
		if m.TmpfsOptions == nil {
			m.TmpfsOptions = &mount.TmpfsOptions{}
		}
		return m.TmpfsOptions
	}
	// The type decides which options are valid, so read it before the rest.
	for _, f := range fields {
		if k, v, _ := strings.Cut(f, "="); strings.ToLower(strings.TrimSpace(k)) == "type" {
			m.Type = mount.Type(strings.ToLower(strings.TrimSpace(v)))
		}
	}
	switch m.Type {
	case mount.TypeBind, mount.TypeVolume, mount.TypeTmpfs, mount.TypeImage:
	default:
		return invalid("unsupported mount type %q", m.Type)
	}
	for _, f := range fields {
		key, value, hasValue := strings.Cut(f, "=")
		key = strings.ToLower(strings.TrimSpace(key))
		if key == "" {
			return invalid("empty field")
		}
		// Boolean options may stand alone ("readonly") like docker accepts.
		boolValue := func() (bool, error) {
			if !hasValue {
				return true, nil
			}
			switch strings.ToLower(value) {
			case "1", "true":
				return true, nil
			case "0", "false":
				return false, nil
			}
			return false, fmt.Errorf("invalid value for %s: %q", key, value)
		}
		if !hasValue {
			switch key {
			case "readonly", "ro", "volume-nocopy", "bind-nonrecursive", "bind-create-mountpoint":
			default:
				return invalid("field %q must be a key=value pair", key)
			}
		}
		switch key {
		case "type":
		case "source", "src":
			m.Source = value
		case "target", "dst", "destination":
			m.Target = value
		case "readonly", "ro":
			b, err := boolValue()
			if err != nil {
				return invalid("%v", err)
			}
			m.ReadOnly = b
		case "consistency":
			m.Consistency = mount.Consistency(strings.ToLower(value))
		case "bind-propagation":
			if m.Type != mount.TypeBind {
				return invalid("bind-propagation is only valid for bind mounts")
			}
			p := mount.Propagation(strings.ToLower(value))
			valid := false
			for _, known := range mount.Propagations {
				valid = valid || p == known
			}
			if !valid {
				return invalid("unknown bind propagation %q", value)
			}
			bindOpts().Propagation = p
		case "bind-nonrecursive", "bind-create-mountpoint":
			if m.Type != mount.TypeBind {
				return invalid("%s is only valid for bind mounts", key)
			}
			b, err := boolValue()
			if err != nil {
				return invalid("%v", err)
			}
			if key == "bind-nonrecursive" {
				bindOpts().NonRecursive = b
			} else {
				bindOpts().CreateMountpoint = b
			}
		case "volume-nocopy":
			if m.Type != mount.TypeVolume {
				return invalid("volume-nocopy is only valid for volumes")
			}
			b, err := boolValue()
			if err != nil {
				return invalid("%v", err)
			}
			volOpts().NoCopy = b
		case "volume-subpath":
			if m.Type != mount.TypeVolume {
				return invalid("volume-subpath is only valid for volumes")
			}
			volOpts().Subpath = value
		case "volume-label":
			if m.Type != mount.TypeVolume {
				return invalid("volume-label is only valid for volumes")
			}
			k, v, _ := strings.Cut(value, "=")
			if volOpts().Labels == nil {
				m.VolumeOptions.Labels = map[string]string{}
			}
			m.VolumeOptions.Labels[k] = v
		case "volume-driver":
			if m.Type != mount.TypeVolume {
				return invalid("volume-driver is only valid for volumes")
			}
			if volOpts().DriverConfig == nil {
				m.VolumeOptions.DriverConfig = &mount.Driver{}
			}
			m.VolumeOptions.DriverConfig.Name = value
		case "volume-opt":
			if m.Type != mount.TypeVolume {
				return invalid("volume-opt is only valid for volumes")
			}
			k, v, _ := strings.Cut(value, "=")
			if volOpts().DriverConfig == nil {
				m.VolumeOptions.DriverConfig = &mount.Driver{}
			}
			if m.VolumeOptions.DriverConfig.Options == nil {
				m.VolumeOptions.DriverConfig.Options = map[string]string{}
			}
			m.VolumeOptions.DriverConfig.Options[k] = v
		case "tmpfs-size":
			if m.Type != mount.TypeTmpfs {
				return invalid("tmpfs-size is only valid for tmpfs mounts")
			}
			n, err := units.RAMInBytes(value)
			if err != nil || n < 0 {
				return invalid("invalid tmpfs-size %q", value)
			}
			tmpfsOpts().SizeBytes = n
		case "tmpfs-mode":
			if m.Type != mount.TypeTmpfs {
				return invalid("tmpfs-mode is only valid for tmpfs mounts")
			}
			n, err := strconv.ParseUint(value, 8, 32)
			if err != nil {
				return invalid("invalid tmpfs-mode %q", value)
			}
			tmpfsOpts().Mode = os.FileMode(n)
		default:
			return invalid("unknown option %q", key)
		}
	}
	if m.Target == "" {
		return invalid("target is required")
	}
	if !strings.HasPrefix(m.Target, "/") {
		return invalid("target %q must be an absolute path", m.Target)
	}
	switch m.Type {
	case mount.TypeBind, mount.TypeImage:
		if m.Source == "" {
			return invalid("source is required for %s mounts", m.Type)
		}
	case mount.TypeTmpfs:
		if m.Source != "" {
			return invalid("source is not allowed for tmpfs mounts")
		}
	}
	return m, nil
}

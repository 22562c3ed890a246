package compose

import (
	"os"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/mount"
)

// mounts converts volumes (named → <stack>_<name> volumes labelled with
// the stack, external → as named, anonymous, bind, tmpfs) and the tmpfs
// key.
func (c *converter) mounts(s types.ServiceConfig) ([]mount.Mount, error) {
	at := []string{"services", s.Name, "volumes"}
	var out []mount.Mount
	for i, v := range s.Volumes {
		m := mount.Mount{Target: v.Target, ReadOnly: v.ReadOnly}
		switch v.Type {
		case types.VolumeTypeBind:
			m.Type, m.Source = mount.TypeBind, v.Source
			if b := v.Bind; b != nil {
				m.BindOptions = &mount.BindOptions{Propagation: mount.Propagation(b.Propagation),
					CreateMountpoint: bool(b.CreateHostPath)}
				switch b.Recursive {
				case "", "enabled":
				case "disabled":
					m.BindOptions.NonRecursive = true
				case "writable":
					m.BindOptions.ReadOnlyNonRecursive = true
				case "readonly":
					m.BindOptions.ReadOnlyForceRecursive = true
				default:
					return nil, c.errAt(at, "volume %d: unknown bind.recursive %q", i, b.Recursive)
				}
				if *m.BindOptions == (mount.BindOptions{}) {
					m.BindOptions = nil
				}
			}
		case types.VolumeTypeTmpfs:
			m.Type = mount.TypeTmpfs
			if t := v.Tmpfs; t != nil {
				m.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: int64(t.Size), Mode: os.FileMode(t.Mode)}
			}
		case types.VolumeTypeVolume, "":
			m.Type = mount.TypeVolume
			opts := &mount.VolumeOptions{}
			if v.Volume != nil {
				opts.NoCopy, opts.Subpath = v.Volume.NoCopy, v.Volume.Subpath
			}
			if v.Source != "" { // else anonymous: the engine names it
				vol, ok := c.p.Volumes[v.Source]
				if !ok {
					return nil, c.errAt(at, "volume %d: undefined volume %q", i, v.Source)
				}
				m.Source = c.objectName(v.Source, vol.Name, bool(vol.External))
				if !bool(vol.External) {
					opts.Labels = c.labels(vol.Labels)
					if vol.Driver != "" || len(vol.DriverOpts) > 0 {
						opts.DriverConfig = &mount.Driver{Name: vol.Driver, Options: vol.DriverOpts}
					}
				}
			}
			if opts.NoCopy || opts.Subpath != "" || opts.Labels != nil || opts.DriverConfig != nil {
				m.VolumeOptions = opts
			}
		default:
			return nil, c.errAt(at, "volume %d: type %q is not supported in a swarm", i, v.Type)
		}
		out = append(out, m)
	}
	for _, t := range s.Tmpfs {
		m, err := tmpfsMount(t)
		if err != nil {
			return nil, c.errAt([]string{"services", s.Name, "tmpfs"}, "%v", err)
		}
		out = append(out, m)
	}
	return out, nil
}

// tmpfsMount reads the tmpfs key's "/path[:size=64m,mode=1777]" form.
func tmpfsMount(spec string) (mount.Mount, error) {
	target, opts, _ := strings.Cut(spec, ":")
	m := mount.Mount{Type: mount.TypeTmpfs, Target: target}
	if opts == "" {
		return m, nil
	}
	m.TmpfsOptions = &mount.TmpfsOptions{}
	for _, o := range strings.Split(opts, ",") {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "size":
			n, err := units.RAMInBytes(v)
			if err != nil {
				return m, err
			}
			m.TmpfsOptions.SizeBytes = n
		case "mode":
			n, err := strconv.ParseUint(v, 8, 32)
			if err != nil {
				return m, err
			}
			m.TmpfsOptions.Mode = os.FileMode(n)
		default:
			m.TmpfsOptions.Options = append(m.TmpfsOptions.Options, strings.SplitN(o, "=", 2))
		}
	}
	return m, nil
}

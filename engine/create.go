package engine

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/volume"

	"wharf.io/wharf/image"
	"wharf.io/wharf/internal/ids"
)

// minMemory is Docker's lower bound for --memory.
const minMemory = 6 * 1024 * 1024

// ContainerCreate implements POST /containers/create. On any error nothing
// is left behind: no snapshot, no directory, no metadata row, no volume it made.
func (e *Engine) ContainerCreate(ctx context.Context, name string, req *container.CreateRequest) (resp container.CreateResponse, err error) {
	if req == nil || req.Config == nil {
		return resp, fmt.Errorf("config cannot be empty in order to create a container: %w", errdefs.ErrInvalidArgument)
	}
	cfg := *req.Config
	hc := &container.HostConfig{}
	if req.HostConfig != nil {
		copied := *req.HostConfig
		hc = &copied
	}
	if name != "" {
		if err := ids.ValidateName(name); err != nil {
			return resp, err
		}
		name = strings.TrimPrefix(name, "/")
	}
	if cfg.Image == "" {
		return resp, fmt.Errorf("no image specified: %w", errdefs.ErrInvalidArgument)
	}
	img, err := e.images.Get(ctx, cfg.Image)
	if err != nil {
		return resp, err
	}
	mergeImageConfig(&cfg, img)
	if len(cfg.Entrypoint) == 0 && len(cfg.Cmd) == 0 {
		return resp, fmt.Errorf("no command specified: %w", errdefs.ErrInvalidArgument)
	}
	if err := e.validateHostConfig(hc); err != nil {
		return resp, err
	}
	nets, err := e.networkConfigs(hc, req.NetworkingConfig)
	if err != nil {
		return resp, err
	}
	if len(hc.PortBindings) > 0 && !usesNetNS(hc) {
		// Docker ignores -p with host or none networking; so do we, silently.
		hc.PortBindings = nil
	}
	if len(hc.PortBindings) > 0 {
		// A container removed a moment ago may still hold these ports: its
		// network release runs in the background. Docker frees them at rm.
		e.awaitNetworkReleases()
	}
	if err := checkHostPorts(hc.PortBindings); err != nil {
		return resp, err
	}

	id := ids.New()
	if cfg.Hostname == "" && !hc.NetworkMode.IsHost() {
		cfg.Hostname = ids.Short(id)
	}
	if hc.NetworkMode == "" {
		hc.NetworkMode = "bridge"
	}
	argv := append(append([]string{}, cfg.Entrypoint...), cfg.Cmd...)
	c := &Container{
		ID:         id,
		Created:    time.Now().UTC(),
		Path:       argv[0],
		Args:       argv[1:],
		Config:     &cfg,
		HostConfig: hc,
		ImageID:    string(img.ID),
		State:      state{Status: container.StateCreated},
		Networks:   nets,
	}

	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	if c.Mounts, err = e.resolveMounts(ctx, &cfg, hc, &undo); err != nil {
		return resp, err
	}
	// The rootfs snapshot (its commit syncs twice) is prepared while the
	// container's own files are written.
	prepared := make(chan error, 1)
	go func() {
		_, err := e.snaps.Prepare(ctx, id, string(img.ChainID))
		prepared <- err
	}()
	dir := e.containerDir(id)
	err = os.MkdirAll(dir, 0o700)
	if err == nil {
		err = e.writeEtcFiles(c)
	}
	if perr := <-prepared; perr != nil {
		os.RemoveAll(dir)
		return resp, fmt.Errorf("prepare rootfs: %w", perr)
	}
	undo = append(undo, func() { e.snaps.Remove(context.WithoutCancel(ctx), id) })
	undo = append(undo, func() { os.RemoveAll(dir) })
	if err != nil {
		return resp, err
	}

	// Reserve the name and persist in one critical section, so two creates
	// with the same name cannot both win.
	e.mu.Lock()
	if name == "" {
		name = e.uniqueName()
	} else if other, taken := e.names[name]; taken {
		e.mu.Unlock()
		return resp, fmt.Errorf("Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name: %w", name, other, errdefs.ErrConflict)
	}
	c.Name = name
	if err = e.save(c); err != nil {
		e.mu.Unlock()
		return resp, err
	}
	e.containers[id] = c
	e.names[name] = id
	e.mu.Unlock()

	e.events.publish(events.ContainerEventType, events.ActionCreate, id, e.containerAttrs(c))
	return container.CreateResponse{ID: id, Warnings: []string{}}, nil
}

// mergeImageConfig fills what the request left out from the image, as docker does.
func mergeImageConfig(cfg *container.Config, img *image.Image) {
	ic := img.Config.Config
	if len(cfg.Entrypoint) == 0 && len(cfg.Cmd) == 0 {
		cfg.Cmd = ic.Cmd
	}
	if cfg.Entrypoint == nil {
		cfg.Entrypoint = ic.Entrypoint
	} else if len(cfg.Entrypoint) == 1 && cfg.Entrypoint[0] == "" {
		// --entrypoint "" clears the image's entrypoint.
		cfg.Entrypoint = nil
	}
	cfg.Env = mergeEnv(ic.Env, cfg.Env)
	if cfg.WorkingDir == "" {
		cfg.WorkingDir = ic.WorkingDir
	}
	if cfg.User == "" {
		cfg.User = ic.User
	}
	if cfg.StopSignal == "" {
		cfg.StopSignal = ic.StopSignal
	}
	if cfg.Healthcheck == nil && img.Config.Config.Healthcheck != nil {
		hc := img.Config.Config.Healthcheck
		cfg.Healthcheck = &container.HealthConfig{Test: hc.Test, Interval: hc.Interval, Timeout: hc.Timeout, StartPeriod: hc.StartPeriod, Retries: hc.Retries}
	}
	if len(ic.Labels) > 0 {
		labels := map[string]string{}
		for k, v := range ic.Labels {
			labels[k] = v
		}
		for k, v := range cfg.Labels {
			labels[k] = v
		}
		cfg.Labels = labels
	}
	if len(ic.ExposedPorts) > 0 {
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = network.PortSet{}
		}
		for p := range ic.ExposedPorts {
			port, err := network.ParsePort(p)
			if err != nil {
				continue // a malformed EXPOSE in an image publishes nothing
			}
			cfg.ExposedPorts[port] = struct{}{}
		}
	}
	if len(ic.Volumes) > 0 {
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for v := range ic.Volumes {
			cfg.Volumes[v] = struct{}{}
		}
	}
}

// mergeEnv overlays container variables on image variables by key.
func mergeEnv(base, over []string) []string {
	out := append([]string{}, base...)
	idx := map[string]int{}
	for i, kv := range out {
		k, _, _ := strings.Cut(kv, "=")
		idx[k] = i
	}
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
}

func (e *Engine) validateHostConfig(hc *container.HostConfig) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf(format+": %w", append(a, errdefs.ErrInvalidArgument)...)
	}
	if hc.Memory < 0 || hc.MemorySwap < -1 || hc.NanoCPUs < 0 || hc.CPUQuota < 0 || hc.CPUPeriod < 0 || hc.CPUShares < 0 {
		return bad("resource limits must not be negative")
	}
	if hc.Memory > 0 && hc.Memory < minMemory {
		return bad("Minimum memory limit allowed is 6MB")
	}
	if hc.MemorySwap > 0 && hc.Memory > 0 && hc.MemorySwap < hc.Memory {
		return bad("Minimum memoryswap limit should be larger than memory limit, see usage")
	}
	if hc.NanoCPUs > 0 {
		n := int64(runtime.NumCPU())
		if hc.NanoCPUs < 1e7 || hc.NanoCPUs > n*1e9 {
			return bad("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", n, n)
		}
		if hc.CPUQuota > 0 || hc.CPUPeriod > 0 {
			return bad("Conflicting options: Nano CPUs and CPU Period cannot both be set")
		}
	}
	if hc.CPUPeriod != 0 && (hc.CPUPeriod < 1000 || hc.CPUPeriod > 1000000) {
		return bad("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
	}
	if hc.CPUQuota != 0 && hc.CPUQuota < 1000 {
		return bad("CPU cfs quota can not be less than 1ms (i.e. 1000)")
	}
	if hc.PidsLimit != nil && *hc.PidsLimit < -1 {
		return bad("invalid pids limit %d", *hc.PidsLimit)
	}
	rp := hc.RestartPolicy
	switch rp.Name {
	case "", container.RestartPolicyDisabled, container.RestartPolicyAlways, container.RestartPolicyUnlessStopped:
		if rp.MaximumRetryCount != 0 {
			return bad("invalid restart policy: maximum retry count can only be used with 'on-failure'")
		}
	case container.RestartPolicyOnFailure:
		if rp.MaximumRetryCount < 0 {
			return bad("invalid restart policy: maximum retry count cannot be negative")
		}
	default:
		return bad("invalid restart policy: unknown policy '%s'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'", rp.Name)
	}
	if hc.AutoRemove && rp.Name != "" && rp.Name != container.RestartPolicyDisabled {
		return bad("can't create 'AutoRemove' container with restart policy")
	}
	switch mode := hc.NetworkMode; {
	case mode == "", mode == "default", mode == "bridge", mode.IsNone(), mode.IsHost():
	case mode.IsContainer():
		return fmt.Errorf("network mode %q is not supported yet: %w", mode, errdefs.ErrNotImplemented)
	case e.nets == nil:
		return fmt.Errorf("network %s not found: %w", mode, errdefs.ErrNotFound)
	}
	if hc.Runtime != "" {
		if _, err := exec.LookPath(hc.Runtime); err != nil {
			return bad("unknown or invalid runtime name: %s", hc.Runtime)
		}
	}
	return nil
}

// resolveMounts turns -v, --mount, --tmpfs and the image's VOLUMEs into mount
// points, creating named and anonymous volumes as needed (undone on failure).
func (e *Engine) resolveMounts(ctx context.Context, cfg *container.Config, hc *container.HostConfig, undo *[]func()) ([]container.MountPoint, error) {
	var out []container.MountPoint
	seen := map[string]bool{}
	add := func(mp container.MountPoint) error {
		if !filepath.IsAbs(mp.Destination) {
			return fmt.Errorf("invalid mount config: mount path must be absolute: %s: %w", mp.Destination, errdefs.ErrInvalidArgument)
		}
		mp.Destination = filepath.Clean(mp.Destination)
		if mp.Destination == "/" {
			return fmt.Errorf("invalid specification: destination can't be '/': %w", errdefs.ErrInvalidArgument)
		}
		if seen[mp.Destination] {
			return fmt.Errorf("Duplicate mount point: %s: %w", mp.Destination, errdefs.ErrInvalidArgument)
		}
		seen[mp.Destination] = true
		out = append(out, mp)
		return nil
	}
	volumeMount := func(name, dst string, rw bool) error {
		existed := false
		if name != "" {
			_, err := e.vols.Get(ctx, name)
			existed = err == nil
		}
		v, err := e.vols.Create(ctx, volume.CreateRequest{Name: name})
		if err != nil {
			return err
		}
		if !existed {
			*undo = append(*undo, func() { e.vols.Remove(context.WithoutCancel(ctx), v.Name) })
			e.events.publish(events.VolumeEventType, events.ActionCreate, v.Name, map[string]string{"driver": "local"})
		}
		return add(container.MountPoint{Type: mount.TypeVolume, Name: v.Name, Source: v.Mountpoint, Destination: dst, Driver: "local", RW: rw, Mode: "z"})
	}
	for _, b := range hc.Binds {
		parts := strings.Split(b, ":")
		var src, dst, mode string
		switch len(parts) {
		case 1:
			dst = parts[0]
		case 2:
			src, dst = parts[0], parts[1]
		case 3:
			src, dst, mode = parts[0], parts[1], parts[2]
		default:
			return nil, fmt.Errorf("invalid volume specification: '%s': %w", b, errdefs.ErrInvalidArgument)
		}
		rw := true
		for _, o := range strings.Split(mode, ",") {
			switch o {
			case "ro":
				rw = false
			case "rw", "", "z", "Z", "private", "rprivate", "shared", "rshared", "slave", "rslave", "nocopy":
			default:
				return nil, fmt.Errorf("invalid mode: %s: %w", o, errdefs.ErrInvalidArgument)
			}
		}
		switch {
		case src == "":
			if err := volumeMount("", dst, rw); err != nil {
				return nil, err
			}
		case filepath.IsAbs(src):
			// -v creates a missing host directory, as Docker does; --mount does not.
			if _, err := os.Stat(src); os.IsNotExist(err) {
				if err := os.MkdirAll(src, 0o755); err != nil {
					return nil, fmt.Errorf("create bind source %s: %w", src, errdefs.ErrInvalidArgument)
				}
			}
			if err := add(container.MountPoint{Type: mount.TypeBind, Source: src, Destination: dst, RW: rw, Mode: mode, Propagation: mount.PropagationRPrivate}); err != nil {
				return nil, err
			}
		default:
			if err := volumeMount(src, dst, rw); err != nil {
				return nil, err
			}
		}
	}
	for _, m := range hc.Mounts {
		switch m.Type {
		case mount.TypeBind:
			if m.Source == "" || !filepath.IsAbs(m.Source) {
				return nil, fmt.Errorf("invalid mount config for type \"bind\": invalid mount path: '%s' mount path must be absolute: %w", m.Source, errdefs.ErrInvalidArgument)
			}
			if _, err := os.Stat(m.Source); err != nil {
				return nil, fmt.Errorf("invalid mount config for type \"bind\": bind source path does not exist: %s: %w", m.Source, errdefs.ErrInvalidArgument)
			}
			if err := add(container.MountPoint{Type: mount.TypeBind, Source: m.Source, Destination: m.Target, RW: !m.ReadOnly, Propagation: mount.PropagationRPrivate}); err != nil {
				return nil, err
			}
		case mount.TypeVolume:
			if err := volumeMount(m.Source, m.Target, !m.ReadOnly); err != nil {
				return nil, err
			}
		case mount.TypeTmpfs:
			if err := add(container.MountPoint{Type: mount.TypeTmpfs, Destination: m.Target, RW: !m.ReadOnly}); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("invalid mount config: mount type %q is not supported: %w", m.Type, errdefs.ErrInvalidArgument)
		}
	}
	for dst := range hc.Tmpfs {
		if err := add(container.MountPoint{Type: mount.TypeTmpfs, Destination: dst, RW: true}); err != nil {
			return nil, err
		}
	}
	for dst := range cfg.Volumes {
		if seen[filepath.Clean(dst)] {
			continue
		}
		if err := volumeMount("", dst, true); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (e *Engine) containerFile(id, name string) string {
	return filepath.Join(e.containerDir(id), name)
}

func (e *Engine) logPath(id string) string {
	return filepath.Join(e.containerDir(id), id+"-json.log")
}

// containerAttrs are the attributes docker puts on container events.
func (e *Engine) containerAttrs(c *Container) map[string]string {
	attrs := map[string]string{"name": c.Name, "image": c.Config.Image}
	for k, v := range c.Config.Labels {
		attrs[k] = v
	}
	return attrs
}

// uniqueName makes a docker-style adjective_noun name; e.mu must be held.
func (e *Engine) uniqueName() string {
	for i := 0; ; i++ {
		n := randomName(i > 5)
		if _, taken := e.names[n]; !taken {
			return n
		}
	}
}

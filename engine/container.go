package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	bolt "go.etcd.io/bbolt"

	"wharf.io/wharf/internal/ids"
	"wharf.io/wharf/runtime/shim"
)

var containersBucket = []byte("containers")

// state is a container's persisted run state.
type state struct {
	Status     container.ContainerState
	Pid        int
	ExitCode   int
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
	OOMKilled  bool
}

// Container is one container. Persisted fields are exported (JSON in bbolt);
// the rest is runtime bookkeeping guarded by mu.
type Container struct {
	ID           string
	Name         string // without the leading "/"
	Created      time.Time
	Path         string
	Args         []string
	Config       *container.Config
	HostConfig   *container.HostConfig
	ImageID      string
	State        state
	RestartCount int
	Mounts       []container.MountPoint
	// ManuallyStopped is set by stop/kill so restart policies leave the
	// container alone (and, for unless-stopped, across daemon restarts).
	ManuallyStopped bool
	// Networks are the networks the container joins when it starts, with
	// the endpoint settings asked for (aliases, --ip, --mac-address).
	Networks map[string]*network.EndpointSettings
	ExecIDs  []string `json:"-"`

	mu        sync.Mutex
	task      *shim.Task
	changed   chan struct{} // closed and replaced on every state change
	exits     int           // number of exits seen, for wait next-exit
	removed   bool
	attachQ   []*pendingAttach
	restartAt *time.Timer
	backoff   time.Duration
	// runtimeDeleted is closed once `runc delete` of the last run is done;
	// runtimeDelete is that delete, which may wait for a quiet moment.
	// released is closed before it, once the last run's rootfs is unmounted
	// and its network released: all a removal's disk reclaim waits for.
	runtimeDeleted chan struct{}
	runtimeDelete  *runtimeDelete
	released       chan struct{}
	// startingAt is taken just before the process of the current run is
	// started: every log record of this run is at or after it.
	startingAt time.Time
	// health is the HEALTHCHECK's state; nil without one.
	health *healthMonitor
}

// notify wakes everybody waiting for a state change; c.mu must be held.
func (c *Container) notify() {
	if c.changed != nil {
		close(c.changed)
	}
	c.changed = make(chan struct{})
}

// watch returns a channel closed at the next state change; c.mu must be held.
func (c *Container) watch() <-chan struct{} {
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	return c.changed
}

// await blocks until cond, called with c.mu held, holds, or ctx ends.
func (c *Container) await(ctx context.Context, cond func() bool) error {
	for {
		c.mu.Lock()
		if cond() {
			c.mu.Unlock()
			return nil
		}
		ch := c.watch()
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *Container) running() bool {
	return c.State.Status == container.StateRunning || c.State.Status == container.StatePaused
}

// save persists c; c.mu must be held.
func (e *Engine) save(c *Container) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return e.putRecord(c.ID, b)
}

// putRecord stores a container's encoded record.
func (e *Engine) putRecord(id string, rec []byte) error {
	return e.db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(containersBucket)
		if err != nil {
			return err
		}
		return bk.Put([]byte(id), rec)
	})
}

func (e *Engine) deleteRecord(id string) error {
	return e.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(containersBucket)
		if bk == nil {
			return nil
		}
		return bk.Delete([]byte(id))
	})
}

func (e *Engine) loadRecords() ([]*Container, error) {
	var out []*Container
	err := e.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(containersBucket)
		if bk == nil {
			return nil
		}
		return bk.ForEach(func(k, v []byte) error {
			c := &Container{}
			if err := json.Unmarshal(v, c); err != nil {
				return fmt.Errorf("container %s: %w", k, err)
			}
			out = append(out, c)
			return nil
		})
	})
	return out, err
}

// get finds a container by full ID, name (with or without "/") or unique ID prefix.
func (e *Engine) get(idOrName string) (*Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if idOrName == "" {
		return nil, fmt.Errorf("no container name or ID given: %w", errdefs.ErrInvalidArgument)
	}
	if c, ok := e.containers[idOrName]; ok {
		return c, nil
	}
	if id, ok := e.names[strings.TrimPrefix(idOrName, "/")]; ok {
		return e.containers[id], nil
	}
	if ids.IsHexPrefix(idOrName) {
		var found *Container
		for id, c := range e.containers {
			if strings.HasPrefix(id, idOrName) {
				if found != nil {
					return nil, fmt.Errorf("multiple IDs found with provided prefix: %s: %w", idOrName, errdefs.ErrInvalidArgument)
				}
				found = c
			}
		}
		if found != nil {
			return found, nil
		}
	}
	return nil, fmt.Errorf("No such container: %s: %w", idOrName, errdefs.ErrNotFound)
}

func (e *Engine) list() []*Container {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*Container, 0, len(e.containers))
	for _, c := range e.containers {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out
}

// ContainerInspect implements docker inspect.
func (e *Engine) ContainerInspect(ctx context.Context, idOrName string, size bool) (*container.InspectResponse, error) {
	c, err := e.get(idOrName)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.State
	resp := &container.InspectResponse{
		ID:      c.ID,
		Created: c.Created.Format(time.RFC3339Nano),
		Path:    c.Path,
		Args:    c.Args,
		State: &container.State{
			Status:     st.Status,
			Running:    st.Status == container.StateRunning || st.Status == container.StatePaused,
			Paused:     st.Status == container.StatePaused,
			Restarting: st.Status == container.StateRestarting,
			OOMKilled:  st.OOMKilled,
			Dead:       st.Status == container.StateDead,
			Pid:        st.Pid,
			ExitCode:   st.ExitCode,
			Error:      st.Error,
			StartedAt:  dockerTime(st.StartedAt),
			FinishedAt: dockerTime(st.FinishedAt),
			Health:     c.healthState(),
		},
		Image:          c.ImageID,
		ResolvConfPath: e.containerFile(c.ID, "resolv.conf"),
		HostnamePath:   e.containerFile(c.ID, "hostname"),
		HostsPath:      e.containerFile(c.ID, "hosts"),
		LogPath:        e.logPath(c.ID),
		Name:           "/" + c.Name,
		RestartCount:   c.RestartCount,
		Driver:         "overlay",
		Platform:       "linux",
		ExecIDs:        c.ExecIDs,
		HostConfig:     c.HostConfig,
		Mounts:         c.Mounts,
		Config:         c.Config,
	}
	nets, ports := e.endpointSettings(c)
	resp.NetworkSettings = &container.NetworkSettings{Networks: nets, Ports: ports}
	if e.nets != nil && c.task != nil && usesNetNS(c.HostConfig) {
		resp.NetworkSettings.SandboxKey = e.nets.NetNSPath(c.ID)
	}
	if resp.Mounts == nil {
		resp.Mounts = []container.MountPoint{}
	}
	return resp, nil
}

// dockerTime formats like Docker: RFC3339Nano, and the zero time as Go's zero.
func dockerTime(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// statusText is the human STATUS column of `docker ps`.
func statusText(c *Container, now time.Time) string {
	st := c.State
	switch st.Status {
	case container.StateRunning:
		return "Up " + units.HumanDuration(now.Sub(st.StartedAt)) + c.healthSuffix()
	case container.StatePaused:
		return "Up " + units.HumanDuration(now.Sub(st.StartedAt)) + " (Paused)"
	case container.StateRestarting:
		return fmt.Sprintf("Restarting (%d) %s ago", st.ExitCode, units.HumanDuration(now.Sub(st.FinishedAt)))
	case container.StateExited:
		return fmt.Sprintf("Exited (%d) %s ago", st.ExitCode, units.HumanDuration(now.Sub(st.FinishedAt)))
	case container.StateCreated:
		return "Created"
	case container.StateRemoving:
		return "Removal In Progress"
	default:
		return "Dead"
	}
}

// ContainerList implements docker ps.
func (e *Engine) ContainerList(ctx context.Context, opts ListOptions) ([]container.Summary, error) {
	if err := validateFilters(opts.Filters, "id", "name", "label", "status", "exited", "ancestor", "before", "since", "volume", "network", "health", "is-task", "publish", "expose"); err != nil {
		return nil, err
	}
	now := time.Now()
	out := []container.Summary{}
	all := e.list()
	var sinceT, beforeT time.Time
	if v := opts.Filters["since"]; len(v) > 0 {
		c, err := e.get(v[0])
		if err != nil {
			return nil, err
		}
		sinceT = c.Created
	}
	if v := opts.Filters["before"]; len(v) > 0 {
		c, err := e.get(v[0])
		if err != nil {
			return nil, err
		}
		beforeT = c.Created
	}
	for _, c := range all {
		c.mu.Lock()
		s := e.summary(c, now)
		running := c.running() || c.State.Status == container.StateRestarting
		hasStatusFilter := len(opts.Filters["status"]) > 0 || len(opts.Filters["exited"]) > 0
		match := (opts.All || running || hasStatusFilter) && e.matchContainer(c, opts.Filters)
		if !sinceT.IsZero() && !c.Created.After(sinceT) {
			match = false
		}
		if !beforeT.IsZero() && !c.Created.Before(beforeT) {
			match = false
		}
		c.mu.Unlock()
		if !match {
			continue
		}
		out = append(out, s)
		if opts.Limit > 0 && len(out) >= opts.Limit {
			break
		}
	}
	return out, nil
}

// summary is c's docker ps row; c.mu must be held.
func (e *Engine) summary(c *Container, now time.Time) container.Summary {
	s := container.Summary{
		ID:      c.ID,
		Names:   []string{"/" + c.Name},
		Image:   c.Config.Image,
		ImageID: c.ImageID,
		Command: strings.Join(append([]string{c.Path}, c.Args...), " "),
		Created: c.Created.Unix(),
		Labels:  c.Config.Labels,
		State:   c.State.Status,
		Status:  statusText(c, now),
		Mounts:  c.Mounts,
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	if s.Mounts == nil {
		s.Mounts = []container.MountPoint{}
	}
	s.HostConfig.NetworkMode = string(c.HostConfig.NetworkMode)
	nets, ports := e.endpointSettings(c)
	s.NetworkSettings = &container.NetworkSettingsSummary{Networks: nets}
	s.Ports = portSummaries(ports)
	return s
}

// matchContainer applies docker ps filters; c.mu must be held.
func (e *Engine) matchContainer(c *Container, f Filters) bool {
	anyOf := func(key string, pred func(string) bool) bool {
		vals := f[key]
		if len(vals) == 0 {
			return true
		}
		for _, v := range vals {
			if pred(v) {
				return true
			}
		}
		return false
	}
	return anyOf("id", func(v string) bool { return strings.HasPrefix(c.ID, v) }) &&
		anyOf("name", func(v string) bool { return strings.Contains(c.Name, strings.TrimPrefix(v, "/")) }) &&
		anyOf("status", func(v string) bool { return string(c.State.Status) == v }) &&
		anyOf("exited", func(v string) bool {
			return c.State.Status == container.StateExited && fmt.Sprint(c.State.ExitCode) == v
		}) &&
		anyOf("label", func(v string) bool {
			k, val, hasVal := strings.Cut(v, "=")
			got, ok := c.Config.Labels[k]
			return ok && (!hasVal || got == val)
		}) &&
		anyOf("ancestor", func(v string) bool {
			if c.Config.Image == v || strings.HasPrefix(c.ImageID, v) || strings.HasPrefix(strings.TrimPrefix(c.ImageID, "sha256:"), v) {
				return true
			}
			img, err := e.images.Get(context.Background(), v)
			return err == nil && string(img.ID) == c.ImageID
		}) &&
		anyOf("volume", func(v string) bool {
			for _, m := range c.Mounts {
				if m.Name == v || m.Destination == v || m.Source == v {
					return true
				}
			}
			return false
		}) &&
		anyOf("network", func(v string) bool {
			_, ok := c.Networks[v]
			return ok || string(c.HostConfig.NetworkMode) == v
		}) &&
		anyOf("health", func(v string) bool { return c.healthStatus() == v })
}

// validateFilters rejects unknown filter keys with docker's message.
func validateFilters(f Filters, allowed ...string) error {
	for k := range f {
		ok := false
		for _, a := range allowed {
			if k == a {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("invalid filter '%s': %w", k, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

package engine

import (
	"context"
	"fmt"
	"strings"
	"time"
	"wharf.io/wharf/cluster/agent"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"

	"wharf.io/wharf/internal/ids"
)

// NetworkCreate implements POST /networks/create.
func (e *Engine) NetworkCreate(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	if err := ids.ValidateName(req.Name); err != nil {
		return network.CreateResponse{}, fmt.Errorf("invalid network name %q: %w", req.Name, errdefs.ErrInvalidArgument)
	}
	resp, err := e.nets.CreateNetwork(ctx, req.Name, req)
	if err == nil {
		e.events.publish(events.NetworkEventType, events.ActionCreate, resp.ID, map[string]string{"name": req.Name, "type": "bridge"})
	}
	return resp, err
}

// NetworkList implements GET /networks.
func (e *Engine) NetworkList(ctx context.Context, filters Filters) ([]network.Summary, error) {
	if err := validateFilters(filters, "name", "id", "driver", "label", "type", "scope", "dangling"); err != nil {
		return nil, err
	}
	all, err := e.nets.Networks(ctx)
	if err != nil {
		return nil, err
	}
	out := []network.Summary{}
	for _, n := range all {
		if e.matchNetwork(n, filters) {
			out = append(out, network.Summary{Network: n.Network})
		}
	}
	return out, nil
}

func (e *Engine) matchNetwork(n network.Inspect, f Filters) bool {
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
	builtin := n.Name == "bridge" || n.Name == "host" || n.Name == "none"
	return anyOf("name", func(v string) bool { return strings.Contains(n.Name, v) }) &&
		anyOf("id", func(v string) bool { return strings.HasPrefix(n.ID, v) }) &&
		anyOf("driver", func(v string) bool { return n.Driver == v }) &&
		anyOf("scope", func(v string) bool { return n.Scope == v }) &&
		anyOf("type", func(v string) bool { return (v == "builtin") == builtin }) &&
		anyOf("dangling", func(v string) bool { return (v == "true" || v == "1") == (len(n.Containers) == 0 && !builtin) }) &&
		anyOf("label", func(v string) bool {
			k, val, hasVal := strings.Cut(v, "=")
			got, ok := n.Labels[k]
			return ok && (!hasVal || got == val)
		})
}

// NetworkInspect implements GET /networks/{id}.
func (e *Engine) NetworkInspect(ctx context.Context, idOrName string) (network.Inspect, error) {
	return e.nets.Inspect(ctx, idOrName)
}

// NetworkRemove implements DELETE /networks/{id}.
func (e *Engine) NetworkRemove(ctx context.Context, idOrName string) error {
	n, err := e.nets.Inspect(ctx, idOrName)
	if err != nil {
		return err
	}
	if n.Scope == "swarm" {
		if err := e.releaseSwarmNetwork(ctx, n.Name, n.ID); err != nil {
			return err
		}
	}
	e.awaitNetworkReleases()
	if users := e.containersOnNetwork(n.Name); len(users) > 0 {
		return fmt.Errorf("error while removing network: network %s has active endpoints (%s): %w", n.Name, strings.Join(users, ", "), errdefs.ErrConflict)
	}
	if err := e.nets.RemoveNetwork(ctx, n.ID); err != nil {
		return err
	}
	e.events.publish(events.NetworkEventType, events.ActionDestroy, n.ID, map[string]string{"name": n.Name, "type": n.Driver})
	return nil
}

// releaseSwarmNetwork prepares the removal of an overlay network the way
// swarm sees it: refused while a service uses it; the containers of tasks
// of removed services (still stopping, as after `stack rm`) are removed at
// once instead of blocking it.
func (e *Engine) releaseSwarmNetwork(ctx context.Context, name, id string) error {
	if st, err := e.cluster.Store(); err == nil {
		services, err := st.Services().List(ctx)
		if err != nil {
			return err
		}
		live := map[string]bool{}
		for _, s := range services {
			live[s.ID] = true
			for _, na := range s.Spec.TaskTemplate.Networks {
				if na.Target == name || na.Target == id {
					return fmt.Errorf("network %s is in use by service %s: %w", name, s.Spec.Name, errdefs.ErrConflict)
				}
			}
		}
		for _, c := range e.list() {
			c.mu.Lock()
			_, on := c.Networks[name]
			svc, isTask := c.Config.Labels[agent.LabelServiceID]
			cid := c.ID
			c.mu.Unlock()
			if on && isTask && !live[svc] {
				if err := e.removeForced(ctx, cid, true); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// containersOnNetwork names the containers configured to join network name,
// running or not: Docker refuses to remove a network they still reference.
func (e *Engine) containersOnNetwork(name string) []string {
	var out []string
	for _, c := range e.list() {
		c.mu.Lock()
		if _, ok := c.Networks[name]; ok && c.running() {
			out = append(out, c.Name)
		}
		c.mu.Unlock()
	}
	return out
}

// awaitNetworkReleases waits for the background network release of
// containers that just exited, so `rm -f c; network rm n` works.
func (e *Engine) awaitNetworkReleases() { e.releases.wait() }

// NetworkConnect implements POST /networks/{id}/connect.
func (e *Engine) NetworkConnect(ctx context.Context, idOrName, ctr string, cfg *network.EndpointSettings) error {
	n, err := e.nets.Inspect(ctx, idOrName)
	if err != nil {
		return err
	}
	c, err := e.get(ctr)
	if err != nil {
		return err
	}
	if cfg == nil {
		cfg = &network.EndpointSettings{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !usesNetNS(c.HostConfig) {
		return fmt.Errorf("container %s is in network mode %q and cannot join other networks: %w", c.Name, c.HostConfig.NetworkMode, errdefs.ErrInvalidArgument)
	}
	if _, ok := c.Networks[n.Name]; ok {
		return fmt.Errorf("endpoint with name %s already exists in network %s: %w", c.Name, n.Name, errdefs.ErrConflict)
	}
	if c.task != nil {
		req := attachRequest(c, n.Name, cfg)
		if _, err := e.nets.Attach(ctx, req); err != nil {
			return err
		}
	}
	if c.Networks == nil {
		c.Networks = map[string]*network.EndpointSettings{}
	}
	c.Networks[n.Name] = cfg
	e.events.publish(events.NetworkEventType, events.ActionConnect, n.ID, map[string]string{"name": n.Name, "container": c.ID, "type": "bridge"})
	return e.save(c)
}

// NetworkDisconnect implements POST /networks/{id}/disconnect.
func (e *Engine) NetworkDisconnect(ctx context.Context, idOrName, ctr string, force bool) error {
	n, err := e.nets.Inspect(ctx, idOrName)
	if err != nil {
		return err
	}
	c, err := e.get(ctr)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.Networks[n.Name]; !ok {
		return fmt.Errorf("container %s is not connected to network %s: %w", c.Name, n.Name, errdefs.ErrNotFound)
	}
	if c.task != nil {
		if err := e.nets.Detach(ctx, c.ID, n.ID); err != nil && !(force && errdefs.IsNotFound(err)) {
			return err
		}
	}
	delete(c.Networks, n.Name)
	e.events.publish(events.NetworkEventType, events.ActionDisconnect, n.ID, map[string]string{"name": n.Name, "container": c.ID, "type": "bridge"})
	return e.save(c)
}

// NetworkPrune implements POST /networks/prune.
func (e *Engine) NetworkPrune(ctx context.Context, filters Filters) (network.PruneReport, error) {
	if err := validateFilters(filters, "label", "until"); err != nil {
		return network.PruneReport{}, err
	}
	var until time.Time
	if v := filters["until"]; len(v) > 0 {
		t, err := parseUntil(v[0])
		if err != nil {
			return network.PruneReport{}, err
		}
		until = t
	}
	e.awaitNetworkReleases()
	rep, err := e.nets.Prune(ctx, func(n network.Inspect) bool {
		if len(e.containersOnNetwork(n.Name)) > 0 {
			return false
		}
		if !until.IsZero() && !n.Created.Before(until) {
			return false
		}
		return e.matchNetwork(n, Filters{"label": filters["label"]})
	})
	if rep.NetworksDeleted == nil {
		rep.NetworksDeleted = []string{}
	}
	return rep, err
}

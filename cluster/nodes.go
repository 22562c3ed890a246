package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
)

// withStatus adds what is live rather than stored: the raft leader.
func (m *member) withStatus(n *swarm.Node) swarm.Node {
	out := *n
	if out.ManagerStatus != nil {
		ms := *out.ManagerStatus
		ms.Leader = m.store.RaftLeader() == n.ID
		out.ManagerStatus = &ms
	}
	return out
}

// Nodes is GET /nodes with docker's filters: id (prefix), name (prefix of
// the name or hostname), role, membership, label (engine labels) and
// node.label (the node's own labels), each "key" or "key=value".
func (c *Cluster) Nodes(ctx context.Context, filters map[string][]string) ([]swarm.Node, error) {
	m, err := c.active()
	if err != nil {
		return nil, err
	}
	for k := range filters {
		switch k {
		case "id", "name", "role", "membership", "label", "node.label":
		default:
			return nil, fmt.Errorf("invalid filter '%s': %w", k, errdefs.ErrInvalidArgument)
		}
	}
	for _, r := range filters["role"] {
		if r != string(swarm.NodeRoleManager) && r != string(swarm.NodeRoleWorker) {
			return nil, fmt.Errorf("invalid filter 'role=%s': %w", r, errdefs.ErrInvalidArgument)
		}
	}
	for _, v := range filters["membership"] {
		if v != "accepted" && v != "pending" {
			return nil, fmt.Errorf("invalid filter 'membership=%s': %w", v, errdefs.ErrInvalidArgument)
		}
	}
	all, err := m.store.Nodes().List(ctx)
	if err != nil {
		return nil, err
	}
	out := []swarm.Node{}
	for _, n := range all {
		if nodeMatches(n, filters) {
			out = append(out, m.withStatus(n))
		}
	}
	return out, nil
}

func nodeMatches(n *swarm.Node, f map[string][]string) bool {
	anyOf := func(key string, match func(string) bool) bool {
		vals, ok := f[key]
		return !ok || slices.ContainsFunc(vals, match)
	}
	allOf := func(key string, labels map[string]string) bool {
		for _, v := range f[key] {
			k, val, hasVal := strings.Cut(v, "=")
			got, ok := labels[k]
			if !ok || hasVal && got != val {
				return false
			}
		}
		return true
	}
	return anyOf("id", func(v string) bool { return strings.HasPrefix(n.ID, v) }) &&
		anyOf("name", func(v string) bool {
			return strings.HasPrefix(n.Spec.Name, v) || strings.HasPrefix(n.Description.Hostname, v)
		}) &&
		anyOf("role", func(v string) bool { return string(n.Spec.Role) == v }) &&
		// Every node is accepted: wharf has no pending membership.
		anyOf("membership", func(v string) bool { return v == "accepted" }) &&
		allOf("label", n.Description.Engine.Labels) &&
		allOf("node.label", n.Spec.Labels)
}

// lookupNode finds a node by "self", full ID, then name or hostname, then unique
// ID prefix, as docker resolves node arguments.
func (m *member) lookupNode(ctx context.Context, ref string) (*swarm.Node, error) {
	if ref == "" {
		return nil, fmt.Errorf("node ID or name must not be empty: %w", errdefs.ErrInvalidArgument)
	}
	if ref == "self" {
		// The docker CLI sends "self" as is for update, promote and demote.
		ref = m.NodeID
	}
	if n, err := m.store.Nodes().Get(ctx, ref); err == nil {
		return n, nil
	} else if !errdefs.IsNotFound(err) {
		return nil, err
	}
	all, err := m.store.Nodes().List(ctx)
	if err != nil {
		return nil, err
	}
	var byName, byPrefix []*swarm.Node
	for _, n := range all {
		if n.Spec.Name == ref || n.Description.Hostname == ref {
			byName = append(byName, n)
		}
		if strings.HasPrefix(n.ID, ref) {
			byPrefix = append(byPrefix, n)
		}
	}
	for _, set := range [][]*swarm.Node{byName, byPrefix} {
		switch len(set) {
		case 0:
			continue
		case 1:
			return set[0], nil
		default:
			return nil, fmt.Errorf("node %s is ambiguous (%d matches found): %w", ref, len(set), errdefs.ErrInvalidArgument)
		}
	}
	return nil, fmt.Errorf("node %s not found: %w", ref, errdefs.ErrNotFound)
}

// Node is GET /nodes/{id}.
func (c *Cluster) Node(ctx context.Context, ref string) (swarm.Node, error) {
	m, err := c.active()
	if err != nil {
		return swarm.Node{}, err
	}
	n, err := m.lookupNode(ctx, ref)
	if err != nil {
		return swarm.Node{}, err
	}
	return m.withStatus(n), nil
}

// UpdateNode is POST /nodes/{id}/update: the spec (role, availability,
// labels, name) replaces the node's if version is current (Conflict "update
// out of sequence" otherwise).
func (c *Cluster) UpdateNode(ctx context.Context, ref string, version uint64, spec swarm.NodeSpec) error {
	m, err := c.active()
	if err != nil {
		return err
	}
	n, err := m.lookupNode(ctx, ref)
	if err != nil {
		return err
	}
	if err := validAvailability(spec.Availability); err != nil {
		return err
	}
	switch spec.Role {
	case swarm.NodeRoleManager:
	case swarm.NodeRoleWorker:
		if n.Spec.Role == swarm.NodeRoleManager {
			managers, err := m.countManagers(ctx)
			if err != nil {
				return err
			}
			if managers <= 1 {
				return fmt.Errorf("attempting to demote the last manager of the swarm: %w", errdefs.ErrFailedPrecondition)
			}
			return fmt.Errorf("demoting a manager is not supported by wharf yet: %w", errdefs.ErrNotImplemented)
		}
	default:
		return fmt.Errorf("invalid role %q: must be worker or manager: %w", spec.Role, errdefs.ErrInvalidArgument)
	}
	if spec.Labels == nil {
		spec.Labels = map[string]string{}
	}
	n.Spec = spec
	n.Version.Index = version
	return m.store.Nodes().Update(ctx, n)
}

func (m *member) countManagers(ctx context.Context) (int, error) {
	all, err := m.store.Nodes().List(ctx)
	if err != nil {
		return 0, err
	}
	count := 0
	for _, n := range all {
		if n.Spec.Role == swarm.NodeRoleManager {
			count++
		}
	}
	return count, nil
}

// RemoveNode is DELETE /nodes/{id}: a manager must be demoted first, and a
// node that is up only goes with force, as in docker.
func (c *Cluster) RemoveNode(ctx context.Context, ref string, force bool) error {
	m, err := c.active()
	if err != nil {
		return err
	}
	n, err := m.lookupNode(ctx, ref)
	if err != nil {
		return err
	}
	if n.Spec.Role == swarm.NodeRoleManager || n.ManagerStatus != nil {
		return fmt.Errorf("rpc error: code = FailedPrecondition desc = node %s is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal: %w", n.ID, errdefs.ErrFailedPrecondition)
	}
	if !force && n.Status.State == swarm.NodeStateReady {
		return fmt.Errorf("rpc error: code = FailedPrecondition desc = node %s is not down and can't be removed: %w", n.ID, errdefs.ErrFailedPrecondition)
	}
	return m.store.Nodes().Delete(ctx, n.ID, 0)
}

package scheduler

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// filter is one of swarmkit's pipeline filters; the order is theirs, and
// a node that fails several is counted against the first, as there.
type filter int

const (
	filterReady filter = iota
	filterResources
	filterConstraints
	filterPlatform
	filterHostPorts
	filterMaxReplicas
	numFilters
)

// explain is each filter's sentence for n failing nodes, in Docker's words.
func (f filter) explain(n int) string {
	nodes := "nodes"
	if n == 1 {
		nodes = "node"
	}
	switch f {
	case filterReady:
		return fmt.Sprintf("%d %s not available for new tasks", n, nodes)
	case filterResources:
		return fmt.Sprintf("insufficient resources on %d %s", n, nodes)
	case filterConstraints:
		return fmt.Sprintf("scheduling constraints not satisfied on %d %s", n, nodes)
	case filterPlatform:
		return fmt.Sprintf("unsupported platform on %d %s", n, nodes)
	case filterHostPorts:
		return fmt.Sprintf("host-mode port already in use on %d %s", n, nodes)
	case filterMaxReplicas:
		return "max replicas per node limit exceed"
	}
	return ""
}

// failures counts, per filter, the nodes it turned away.
type failures [numFilters]int

// reason is the task error swarm shows in `service ps`: the filters that
// failed, most failures first (ties in pipeline order).
func (f *failures) reason() string {
	order := make([]filter, 0, numFilters)
	for i := filter(0); i < numFilters; i++ {
		if f[i] > 0 {
			order = append(order, i)
		}
	}
	if len(order) == 0 {
		return "no suitable node"
	}
	sort.SliceStable(order, func(a, b int) bool { return f[order[a]] > f[order[b]] })
	parts := make([]string, len(order))
	for i, fl := range order {
		parts[i] = fl.explain(f[fl])
	}
	return "no suitable node (" + strings.Join(parts, "; ") + ")"
}

// group is what a set of tasks that place alike need from a node: one
// service, the same constraints, reservations, ports and preferences.
type group struct {
	proto       Task
	constraints []Constraint
	badSpec     bool  // a constraint did not parse: no node satisfies it
	tasks       []int // indexes into Schedule's tasks
}

func newGroup(t Task) *group {
	g := &group{proto: t}
	cs, err := ParseConstraints(t.Constraints)
	g.constraints, g.badSpec = cs, err != nil
	return g
}

// sameGroup reports whether t places exactly like the group's prototype.
func (g *group) sameGroup(t *Task) bool {
	p := &g.proto
	return p.ServiceID == t.ServiceID && p.CPU == t.CPU && p.Memory == t.Memory && p.MaxReplicas == t.MaxReplicas &&
		slices.Equal(p.Constraints, t.Constraints) && slices.Equal(p.HostPorts, t.HostPorts) &&
		slices.Equal(p.Spread, t.Spread) && slices.Equal(p.Platforms, t.Platforms)
}

// static runs the filters whose verdict cannot change while the group is
// placed (readiness, constraints, platform) and the first check of the
// dynamic ones, in pipeline order; it returns the failing filter or -1.
func (g *group) static(n *Node, svcCount int) filter {
	switch {
	case !n.Ready || !n.Active:
		return filterReady
	case !g.fitsResources(n):
		return filterResources
	case g.badSpec || !matchAll(n, g.constraints):
		return filterConstraints
	case !g.platformOK(n):
		return filterPlatform
	case !g.portsFree(n):
		return filterHostPorts
	case g.proto.MaxReplicas > 0 && uint64(svcCount) >= g.proto.MaxReplicas:
		return filterMaxReplicas
	}
	return -1
}

// dynamic re-checks what placing tasks uses up: reservations, host ports
// and the per-node cap. Each only shrinks while a group is placed, so a
// node that fails once is out for the rest of the group.
func (g *group) dynamic(n *Node, svcCount int) filter {
	switch {
	case !g.fitsResources(n):
		return filterResources
	case !g.portsFree(n):
		return filterHostPorts
	case g.proto.MaxReplicas > 0 && uint64(svcCount) >= g.proto.MaxReplicas:
		return filterMaxReplicas
	}
	return -1
}

func (g *group) fitsResources(n *Node) bool {
	return (n.FreeCPU < 0 || g.proto.CPU <= n.FreeCPU) && (n.FreeMemory < 0 || g.proto.Memory <= n.FreeMemory)
}

func (g *group) portsFree(n *Node) bool {
	for _, p := range g.proto.HostPorts {
		if n.UsedPorts[p] {
			return false
		}
	}
	return true
}

// platformOK accepts a node whose OS and architecture one of the image's
// platforms names (x86_64 and amd64, aarch64 and arm64 are the same).
func (g *group) platformOK(n *Node) bool {
	if len(g.proto.Platforms) == 0 {
		return true
	}
	arch := normArch(n.Arch)
	for _, p := range g.proto.Platforms {
		if (p.OS == "" || strings.EqualFold(p.OS, n.OS)) && (p.Arch == "" || normArch(p.Arch) == arch) {
			return true
		}
	}
	return false
}

func normArch(a string) string {
	switch a = strings.ToLower(a); a {
	case "x86_64", "x86-64":
		return "amd64"
	case "aarch64":
		return "arm64"
	}
	return a
}

// take books t on n: reservations, ports and counts.
func take(n *Node, t *Task) {
	n.Tasks++
	if n.FreeCPU >= 0 {
		n.FreeCPU -= t.CPU
	}
	if n.FreeMemory >= 0 {
		n.FreeMemory -= t.Memory
	}
	if len(t.HostPorts) > 0 && n.UsedPorts == nil {
		n.UsedPorts = make(map[string]bool, len(t.HostPorts))
	}
	for _, p := range t.HostPorts {
		n.UsedPorts[p] = true
	}
}

package scheduler

import (
	"container/heap"
	"fmt"
	"sort"
	"strings"
)

// Node is a node as the scheduler sees it.
type Node struct {
	ID, Hostname, Role string
	OS, Arch           string
	Labels             map[string]string // node.labels.*
	EngineLabels       map[string]string // engine.labels.*
	Ready, Active      bool              // status ready; availability active
	// FreeCPU (nanoCPUs) and FreeMemory (bytes) are what reservations of
	// tasks already there leave; negative means unlimited.
	FreeCPU, FreeMemory int64
	UsedPorts           map[string]bool // "tcp/80" host-mode ports taken
	Tasks               int             // tasks running or assigned there
}

// Task is a task to place.
type Task struct {
	ID, ServiceID string
	Constraints   []string
	CPU, Memory   int64    // reservations
	HostPorts     []string // "tcp/80"
}

// Result says where each task goes, or why it cannot go anywhere.
type Result struct {
	Assigned map[string]string // task ID → node ID
	Unplaced map[string]string // task ID → reason
}

// Schedule places tasks on nodes. serviceLoad counts, per service and
// node, the tasks already there (spread works across calls). Nodes and
// serviceLoad are updated as tasks are placed.
func Schedule(nodes []*Node, serviceLoad map[string]map[string]int, tasks []Task) Result {
	res := Result{Assigned: map[string]string{}, Unplaced: map[string]string{}}
	// Tasks of one service share constraints and reservations: filter the
	// nodes once per group, then place the group from a heap.
	groups := map[string][]Task{}
	var order []string
	for _, t := range tasks {
		key := groupKey(t)
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], t)
	}
	sorted := append([]*Node(nil), nodes...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	for _, key := range order {
		placeGroup(sorted, serviceLoad, groups[key], &res)
	}
	return res
}

func groupKey(t Task) string {
	return fmt.Sprintf("%s\x00%s\x00%d\x00%d\x00%s", t.ServiceID, strings.Join(t.Constraints, "\x01"), t.CPU, t.Memory, strings.Join(t.HostPorts, ","))
}

func placeGroup(nodes []*Node, serviceLoad map[string]map[string]int, tasks []Task, res *Result) {
	proto := tasks[0]
	svc := serviceLoad[proto.ServiceID]
	if svc == nil {
		svc = map[string]int{}
		serviceLoad[proto.ServiceID] = svc
	}
	var why reasons
	h := &nodeHeap{svc: svc}
	for _, n := range nodes {
		switch {
		case !n.Ready:
			why.down++
		case !n.Active:
			why.unavailable++
		case !Satisfies(n, proto.Constraints):
			why.constraints++
		default:
			h.nodes = append(h.nodes, n)
		}
	}
	heap.Init(h)
	for _, t := range tasks {
		placed := false
		for h.Len() > 0 {
			n := h.nodes[0]
			if !fits(n, t) {
				// Resources and ports only shrink while placing: the node
				// is out for the rest of this group.
				heap.Pop(h)
				why.resources++
				continue
			}
			res.Assigned[t.ID] = n.ID
			n.Tasks++
			svc[n.ID]++
			if n.FreeCPU >= 0 {
				n.FreeCPU -= t.CPU
			}
			if n.FreeMemory >= 0 {
				n.FreeMemory -= t.Memory
			}
			for _, p := range t.HostPorts {
				if n.UsedPorts == nil {
					n.UsedPorts = map[string]bool{}
				}
				n.UsedPorts[p] = true
			}
			heap.Fix(h, 0)
			placed = true
			break
		}
		if !placed {
			res.Unplaced[t.ID] = why.String()
		}
	}
}

func fits(n *Node, t Task) bool {
	if n.FreeCPU >= 0 && t.CPU > n.FreeCPU {
		return false
	}
	if n.FreeMemory >= 0 && t.Memory > n.FreeMemory {
		return false
	}
	for _, p := range t.HostPorts {
		if n.UsedPorts[p] {
			return false
		}
	}
	return true
}

// reasons counts why nodes were filtered out, in Docker's words.
type reasons struct{ down, unavailable, constraints, resources int }

func (r reasons) String() string {
	var parts []string
	plural := func(n int, one, many string) string {
		if n == 1 {
			return one
		}
		return many
	}
	if r.resources > 0 {
		parts = append(parts, fmt.Sprintf("insufficient resources on %d %s", r.resources, plural(r.resources, "node", "nodes")))
	}
	if r.constraints > 0 {
		parts = append(parts, fmt.Sprintf("scheduling constraints not satisfied on %d %s", r.constraints, plural(r.constraints, "node", "nodes")))
	}
	if r.unavailable > 0 {
		parts = append(parts, fmt.Sprintf("%d %s not available for new tasks", r.unavailable, plural(r.unavailable, "node", "nodes")))
	}
	if r.down > 0 {
		parts = append(parts, fmt.Sprintf("%d %s not ready", r.down, plural(r.down, "node", "nodes")))
	}
	if len(parts) == 0 {
		return "no suitable node (no nodes)"
	}
	return "no suitable node (" + strings.Join(parts, "; ") + ")"
}

// nodeHeap orders eligible nodes by the service's tasks there, then all
// tasks there, then ID.
type nodeHeap struct {
	nodes []*Node
	svc   map[string]int
}

func (h *nodeHeap) Len() int { return len(h.nodes) }
func (h *nodeHeap) Less(i, j int) bool {
	a, b := h.nodes[i], h.nodes[j]
	if sa, sb := h.svc[a.ID], h.svc[b.ID]; sa != sb {
		return sa < sb
	}
	if a.Tasks != b.Tasks {
		return a.Tasks < b.Tasks
	}
	return a.ID < b.ID
}
func (h *nodeHeap) Swap(i, j int) { h.nodes[i], h.nodes[j] = h.nodes[j], h.nodes[i] }
func (h *nodeHeap) Push(x any)    { h.nodes = append(h.nodes, x.(*Node)) }
func (h *nodeHeap) Pop() any {
	n := h.nodes[len(h.nodes)-1]
	h.nodes = h.nodes[:len(h.nodes)-1]
	return n
}

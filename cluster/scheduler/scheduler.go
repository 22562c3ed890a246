package scheduler

import (
	"slices"
	"strings"
)

// Schedule places tasks on nodes. serviceLoad counts, per service ID and
// node ID, the tasks already there so spreading works across calls; it and
// the nodes are updated as tasks are placed. A nil serviceLoad means no
// task is placed yet.
func Schedule(nodes []*Node, serviceLoad map[string]map[string]int, tasks []Task) Result {
	res := Result{Assigned: make(map[string]string, len(tasks)), Unplaced: map[string]string{}}
	if serviceLoad == nil {
		serviceLoad = map[string]map[string]int{}
	}
	sorted := slices.Clone(nodes)
	slices.SortFunc(sorted, byID)
	buf := make([]entry, 0, len(sorted)) // candidates, reused by every group without preferences
	// added counts, per node rank, the group's placements; they go into
	// serviceLoad once per node at the end of the group rather than with
	// a map write per placement.
	added := make([]int, len(sorted))
	var touched []int
	var path []*branch
	for _, g := range groupTasks(tasks) {
		svc := serviceLoad[g.proto.ServiceID]
		if svc == nil {
			svc = map[string]int{}
			serviceLoad[g.proto.ServiceID] = svc
		}
		var why failures
		cands := buf[:0]
		if len(g.proto.Spread) > 0 {
			cands = nil // the tree keeps slices of its own
		}
		for i, n := range sorted {
			c := 0
			if len(svc) > 0 {
				c = svc[n.ID]
			}
			if f := g.static(n, c); f >= 0 {
				why[f]++
				continue
			}
			cands = append(cands, entry{n: n, svc: c, rank: i})
		}
		root := buildTree(cands, g.proto.Spread)
		reason := ""
		touched = touched[:0]
		for _, ti := range g.tasks {
			t := &tasks[ti]
			var leaf *branch
			for {
				if path, leaf = root.pick(path); leaf == nil {
					break
				}
				top := &leaf.heap[0]
				if f := g.dynamic(top.n, top.svc); f >= 0 {
					why[f]++
					leaf.heap.pop()
					continue
				}
				take(top.n, t)
				top.svc++
				if added[top.rank] == 0 {
					touched = append(touched, top.rank)
				}
				added[top.rank]++
				res.Assigned[t.ID] = top.n.ID
				for _, b := range path {
					b.count++
				}
				leaf.heap.down(0)
				break
			}
			if leaf == nil {
				if reason == "" {
					reason = why.reason()
				}
				res.Unplaced[t.ID] = reason
			}
		}
		for _, r := range touched {
			svc[sorted[r].ID] += added[r]
			added[r] = 0
		}
	}
	return res
}

// groupTasks collects tasks that place alike, in order of first
// appearance; comparing with each service's few groups needs no key
// strings per task.
func groupTasks(tasks []Task) []*group {
	var order []*group
	byService := map[string][]*group{}
	for i := range tasks {
		t := &tasks[i]
		var g *group
		for _, c := range byService[t.ServiceID] {
			if c.sameGroup(t) {
				g = c
				break
			}
		}
		if g == nil {
			g = newGroup(*t)
			byService[t.ServiceID] = append(byService[t.ServiceID], g)
			order = append(order, g)
		}
		g.tasks = append(g.tasks, i)
	}
	return order
}

// Eligible lists, in ID order, the nodes a task like t can run on now, and
// otherwise why none can. A global service's orchestrator uses it to keep
// one task on each such node (MaxReplicas and Spread do not apply there).
func Eligible(nodes []*Node, t Task) ([]*Node, string) {
	g := newGroup(t)
	g.proto.MaxReplicas = 0
	var why failures
	var out []*Node
	for _, n := range nodes {
		if f := g.static(n, 0); f >= 0 {
			why[f]++
			continue
		}
		out = append(out, n)
	}
	slices.SortFunc(out, byID)
	if len(out) == 0 {
		return nil, why.reason()
	}
	return out, ""
}

// byID orders nodes by ID so placement does not depend on the order the
// store lists them in.
func byID(a, b *Node) int { return strings.Compare(a.ID, b.ID) }

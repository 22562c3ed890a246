package engine

import (
	"fmt"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/swarm"

	"wharf.io/wharf/cluster/controller"
)

// scheduler is the placement the swarm leader uses.
func (e *Engine) scheduler() controller.Scheduler { return spreadScheduler{} }

// spreadScheduler places each task on a ready, active node that satisfies
// its constraints, preferring the node with the fewest tasks of the same
// service, then the fewest tasks overall (swarm's spread strategy).
type spreadScheduler struct{}

func (spreadScheduler) Schedule(pending []*swarm.Task, nodes []*swarm.Node, tasks []*swarm.Task, _ map[string]*swarm.Service) (map[string]string, map[string]string) {
	assigned, unplaced := map[string]string{}, map[string]string{}
	total := map[string]int{}
	perService := map[string]map[string]int{}
	count := func(svc, node string) {
		total[node]++
		if perService[svc] == nil {
			perService[svc] = map[string]int{}
		}
		perService[svc][node]++
	}
	for _, t := range tasks {
		if t.NodeID != "" && t.DesiredState == swarm.TaskStateRunning {
			count(t.ServiceID, t.NodeID)
		}
	}
	sorted := append([]*swarm.Node(nil), nodes...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	for _, t := range pending {
		var best *swarm.Node
		notReady, unavailable, constrained := 0, 0, 0
		for _, n := range sorted {
			switch {
			case n.Status.State != swarm.NodeStateReady:
				notReady++
				continue
			case n.Spec.Availability != swarm.NodeAvailabilityActive:
				unavailable++
				continue
			case !satisfies(n, t.Spec.Placement):
				constrained++
				continue
			}
			if best == nil || less(perService[t.ServiceID], total, n.ID, best.ID) {
				best = n
			}
		}
		if best == nil {
			var why []string
			if unavailable > 0 {
				why = append(why, fmt.Sprintf("%d not available for new tasks", unavailable))
			}
			if constrained > 0 {
				why = append(why, fmt.Sprintf("scheduling constraints not satisfied on %d nodes", constrained))
			}
			if notReady > 0 {
				why = append(why, fmt.Sprintf("%d nodes not ready", notReady))
			}
			unplaced[t.ID] = "no suitable node (" + strings.Join(why, "; ") + ")"
			continue
		}
		assigned[t.ID] = best.ID
		count(t.ServiceID, best.ID)
	}
	return assigned, unplaced
}

func less(svc, total map[string]int, a, b string) bool {
	if svc[a] != svc[b] {
		return svc[a] < svc[b]
	}
	return total[a] < total[b]
}

// satisfies evaluates swarm placement constraints ("node.role==manager",
// "node.labels.disk!=ssd", …) against a node.
func satisfies(n *swarm.Node, p *swarm.Placement) bool {
	if p == nil {
		return true
	}
	for _, c := range p.Constraints {
		op := "=="
		k, v, ok := strings.Cut(c, "==")
		if !ok {
			if k, v, ok = strings.Cut(c, "!="); !ok {
				return false
			}
			op = "!="
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		var got string
		var present bool
		switch {
		case k == "node.id":
			got, present = n.ID, true
		case k == "node.hostname":
			got, present = n.Description.Hostname, true
		case k == "node.role":
			got, present = string(n.Spec.Role), true
		case k == "node.platform.os":
			got, present = n.Description.Platform.OS, true
		case k == "node.platform.arch":
			got, present = n.Description.Platform.Architecture, true
		case strings.HasPrefix(k, "node.labels."):
			got, present = n.Spec.Labels[strings.TrimPrefix(k, "node.labels.")]
		case strings.HasPrefix(k, "engine.labels."):
			got, present = n.Description.Engine.Labels[strings.TrimPrefix(k, "engine.labels.")]
		default:
			return false
		}
		eq := present && strings.EqualFold(got, v)
		if (op == "==") != eq {
			return false
		}
	}
	return true
}

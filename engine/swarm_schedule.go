package engine

import (
	"fmt"

	"github.com/moby/moby/api/types/swarm"

	"wharf.io/wharf/cluster/controller"
	"wharf.io/wharf/cluster/scheduler"
)

// scheduler is the placement the swarm leader uses.
func (e *Engine) scheduler() controller.Scheduler { return swarmScheduler{} }

// swarmScheduler adapts the store's objects to cluster/scheduler.
type swarmScheduler struct{}

func (swarmScheduler) Schedule(pending []*swarm.Task, nodes []*swarm.Node, tasks []*swarm.Task, services map[string]*swarm.Service) (map[string]string, map[string]string) {
	byID := map[string]*scheduler.Node{}
	list := make([]*scheduler.Node, 0, len(nodes))
	for _, n := range nodes {
		sn := &scheduler.Node{ID: n.ID, Hostname: n.Description.Hostname, Role: string(n.Spec.Role),
			OS: n.Description.Platform.OS, Arch: n.Description.Platform.Architecture,
			Labels: n.Spec.Labels, EngineLabels: n.Description.Engine.Labels,
			Ready: n.Status.State == swarm.NodeStateReady, Active: n.Spec.Availability == swarm.NodeAvailabilityActive,
			FreeCPU: n.Description.Resources.NanoCPUs, FreeMemory: n.Description.Resources.MemoryBytes}
		if sn.FreeCPU == 0 {
			sn.FreeCPU = -1
		}
		if sn.FreeMemory == 0 {
			sn.FreeMemory = -1
		}
		byID[n.ID] = sn
		list = append(list, sn)
	}
	load := map[string]map[string]int{}
	for _, t := range tasks {
		n := byID[t.NodeID]
		if n == nil || t.DesiredState != swarm.TaskStateRunning {
			continue
		}
		n.Tasks++
		if load[t.ServiceID] == nil {
			load[t.ServiceID] = map[string]int{}
		}
		load[t.ServiceID][t.NodeID]++
		r := reservations(t.Spec)
		if n.FreeCPU >= 0 {
			n.FreeCPU -= r.NanoCPUs
		}
		if n.FreeMemory >= 0 {
			n.FreeMemory -= r.MemoryBytes
		}
		for _, p := range hostPorts(services[t.ServiceID]) {
			if n.UsedPorts == nil {
				n.UsedPorts = map[string]bool{}
			}
			n.UsedPorts[p] = true
		}
	}
	in := make([]scheduler.Task, 0, len(pending))
	for _, t := range pending {
		r := reservations(t.Spec)
		st := scheduler.Task{ID: t.ID, ServiceID: t.ServiceID, CPU: r.NanoCPUs, Memory: r.MemoryBytes, HostPorts: hostPorts(services[t.ServiceID])}
		if p := t.Spec.Placement; p != nil {
			st.Constraints, st.MaxReplicas = p.Constraints, p.MaxReplicas
			for _, pref := range p.Preferences {
				if pref.Spread != nil && pref.Spread.SpreadDescriptor != "" {
					st.Spread = append(st.Spread, pref.Spread.SpreadDescriptor)
				}
			}
			for _, pl := range p.Platforms {
				st.Platforms = append(st.Platforms, scheduler.Platform{OS: pl.OS, Arch: pl.Architecture})
			}
		}
		in = append(in, st)
	}
	res := scheduler.Schedule(list, load, in)
	return res.Assigned, res.Unplaced
}

func reservations(ts swarm.TaskSpec) swarm.Resources {
	if ts.Resources != nil && ts.Resources.Reservations != nil {
		return *ts.Resources.Reservations
	}
	return swarm.Resources{}
}

// hostPorts are a service's host-mode published ports ("tcp/80").
func hostPorts(s *swarm.Service) []string {
	if s == nil || s.Spec.EndpointSpec == nil {
		return nil
	}
	var out []string
	for _, p := range s.Spec.EndpointSpec.Ports {
		if p.PublishMode == swarm.PortConfigPublishModeHost && p.PublishedPort != 0 {
			out = append(out, fmt.Sprintf("%s/%d", p.Protocol, p.PublishedPort))
		}
	}
	return out
}

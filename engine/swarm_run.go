package engine

import (
	"context"
	"net/netip"
	"path/filepath"
	"slices"

	"github.com/moby/moby/api/types/swarm"

	"wharf.io/wharf/cluster/agent"
	"wharf.io/wharf/cluster/controller"
	"wharf.io/wharf/cluster/dispatcher"
	"wharf.io/wharf/cluster/store"
	"wharf.io/wharf/network/nft"
)

// registerSwarmControllers wires what runs while this node is in a swarm:
// the leader's reconcile loop (orchestrator + scheduler) and, on every
// node, the dispatcher feeding the agent that runs this node's tasks as
// containers. Must run before the membership is restored.
func (e *Engine) registerSwarmControllers() {
	e.cluster.OnLeader("controller", func(ctx context.Context, st *store.Store) {
		controller.New(st, e.scheduler(), e.log).Run(ctx)
	})
	e.cluster.OnMember("agent", func(ctx context.Context, st *store.Store) {
		d := dispatcher.New(st, e.cluster.NodeID(), e.serviceTasksChanged, e.log)
		a := agent.New(ctx, e.cluster.NodeID(), taskRuntime{e}, d, filepath.Join(e.cfg.Root, "swarm", "tasks"), e.log)
		d.SetAgent(a)
		d.Run(ctx)
		a.Wait()
	})
	e.cluster.OnLeave(e.removeTaskContainers)
}

// removeTaskContainers removes every task container when the node leaves
// the swarm, as docker does.
func (e *Engine) removeTaskContainers(ctx context.Context) {
	if e.nets != nil {
		for id := range e.nets.ServicePorts() {
			if err := e.nets.SetServicePorts(id, nil); err != nil {
				e.log.Warn("routing mesh: remove service", "service", id, "err", err)
			}
		}
	}
	tasks, err := taskRuntime{e}.TaskContainers(ctx)
	if err != nil {
		e.log.Warn("list task containers", "err", err)
		return
	}
	for task, id := range tasks {
		if err := e.ContainerRemove(ctx, id, true, true); err != nil {
			e.log.Warn("remove task container", "task", task, "err", err)
		}
	}
}

// serviceTasksChanged points the routing mesh at the tasks that run on
// this node: every ingress port of a service spreads connections over its
// running tasks' addresses.
func (e *Engine) serviceTasksChanged(ctx context.Context, tasks []*swarm.Task, services map[string]*swarm.Service) {
	if e.nets == nil {
		return
	}
	containers, err := taskRuntime{e}.TaskContainers(ctx)
	if err != nil {
		e.log.Warn("routing mesh: list task containers", "err", err)
		return
	}
	backends := map[string][]netip.Addr{}
	for _, t := range tasks {
		if t.Status.State != swarm.TaskStateRunning || t.DesiredState != swarm.TaskStateRunning {
			continue
		}
		cid, ok := containers[t.ID]
		if !ok {
			continue
		}
		for _, ep := range e.nets.Endpoints(cid) {
			if ep.IPAddress.IsValid() {
				backends[t.ServiceID] = append(backends[t.ServiceID], ep.IPAddress)
				break
			}
		}
	}
	for id, svc := range services {
		var ports []nft.ServicePort
		for _, p := range svc.Endpoint.Ports {
			if p.PublishMode == swarm.PortConfigPublishModeHost || p.PublishedPort == 0 {
				continue
			}
			b := slices.Clone(backends[id])
			slices.SortFunc(b, func(x, y netip.Addr) int { return x.Compare(y) })
			ports = append(ports, nft.ServicePort{Proto: string(p.Protocol), HostPort: uint16(p.PublishedPort),
				TargetPort: uint16(p.TargetPort), Backends: b})
		}
		if err := e.nets.SetServicePorts(id, ports); err != nil {
			e.log.Warn("routing mesh", "service", svc.Spec.Name, "err", err)
		}
	}
	for id := range e.nets.ServicePorts() {
		if _, ok := services[id]; !ok {
			if err := e.nets.SetServicePorts(id, nil); err != nil {
				e.log.Warn("routing mesh: remove service", "service", id, "err", err)
			}
		}
	}
}

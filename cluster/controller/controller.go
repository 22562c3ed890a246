package controller

import (
	"context"
	"log/slog"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"

	"wharf.io/wharf/cluster/orchestrator"
	"wharf.io/wharf/cluster/store"
)

// Scheduler places tasks: for each pending task it returns a node ID, or
// a human reason why no node fits ("no suitable node (…)").
type Scheduler interface {
	Schedule(pending []*swarm.Task, nodes []*swarm.Node, tasks []*swarm.Task, services map[string]*swarm.Service) (assigned map[string]string, unplaced map[string]string)
}

// Controller reconciles every service of the cluster.
type Controller struct {
	st    *store.Store
	sched Scheduler
	log   *slog.Logger
	now   func() time.Time
}

// New makes a controller over st that places tasks with sched.
func New(st *store.Store, sched Scheduler, log *slog.Logger) *Controller {
	if log == nil {
		log = slog.Default()
	}
	return &Controller{st: st, sched: sched, log: log.With("component", "controller"), now: time.Now}
}

// Run reconciles until ctx ends: at once, on every change of services,
// tasks or nodes, and when a plan asks to be woken.
func (c *Controller) Run(ctx context.Context) {
	kick := make(chan struct{}, 1)
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	go c.st.Services().Notify(ctx, poke)
	go c.st.Tasks().Notify(ctx, poke)
	go c.st.Nodes().Notify(ctx, poke)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-timer.C:
		}
		wake, err := c.Reconcile(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case errdefs.IsConflict(err):
			poke() // someone wrote in between: look again
		case err != nil:
			c.log.Warn("reconcile", "err", err)
			wake = c.now().Add(time.Second)
		}
		timer.Stop()
		if !wake.IsZero() {
			timer.Reset(max(0, wake.Sub(c.now())))
		}
	}
}

// etcd's default limit on operations in one transaction.
const maxOpsPerTxn = 128

// Reconcile makes one pass over all services and returns when it wants to
// run again at the latest (zero: only on change).
func (c *Controller) Reconcile(ctx context.Context) (time.Time, error) {
	services, err := c.st.Services().List(ctx)
	if err != nil {
		return time.Time{}, err
	}
	tasks, err := c.st.Tasks().List(ctx)
	if err != nil {
		return time.Time{}, err
	}
	nodes, err := c.st.Nodes().List(ctx)
	if err != nil {
		return time.Time{}, err
	}
	now := c.now().UTC()
	byService := map[string][]swarm.Task{}
	for _, t := range tasks {
		byService[t.ServiceID] = append(byService[t.ServiceID], *t)
	}
	svcByID := map[string]*swarm.Service{}
	nodeList := make([]swarm.Node, len(nodes))
	for i, n := range nodes {
		nodeList[i] = *n
	}
	taskByID := map[string]*swarm.Task{}
	for _, t := range tasks {
		taskByID[t.ID] = t
	}

	var ops []store.Op
	// shutdown queues setting a task's desired state to Shutdown.
	shutdown := func(t swarm.Task) error {
		t.DesiredState = swarm.TaskStateShutdown
		t.UpdatedAt = now
		op, err := c.st.Tasks().UpdateOp(&t)
		if err != nil {
			return err
		}
		ops = append(ops, op)
		return nil
	}
	var wake time.Time
	var created []*swarm.Task
	for _, svc := range services {
		svcByID[svc.ID] = svc
		plan := orchestrator.Reconcile(orchestrator.Input{Now: now, Service: *svc, Tasks: byService[svc.ID],
			Nodes: nodeList, NewTaskID: store.NewID})
		for i := range plan.Create {
			t := plan.Create[i]
			t.Annotations.Name = svc.Spec.Name
			t.Status.State, t.Status.Message = swarm.TaskStatePending, "pending task scheduling"
			if t.NodeID != "" {
				t.Status.State, t.Status.Message = swarm.TaskStateAssigned, "scheduler assigned task to node"
			}
			created = append(created, &t)
		}
		// Dead tasks whose place gets a new one show "Shutdown" as their
		// desired state from now on, as in docker service ps.
		touched := map[string]bool{}
		for _, id := range plan.Shutdown {
			touched[id] = true
		}
		for _, id := range plan.Delete {
			touched[id] = true
		}
		for _, nt := range plan.Create {
			for _, old := range byService[svc.ID] {
				samePlace := (nt.Slot != 0 && old.Slot == nt.Slot) || (nt.Slot == 0 && old.NodeID == nt.NodeID)
				if !samePlace || touched[old.ID] || old.DesiredState != swarm.TaskStateRunning || !orchestrator.Terminal(old.Status.State) {
					continue
				}
				touched[old.ID] = true
				if err := shutdown(old); err != nil {
					return time.Time{}, err
				}
			}
		}
		for _, id := range plan.Shutdown {
			if err := shutdown(*taskByID[id]); err != nil {
				return time.Time{}, err
			}
		}
		for _, id := range plan.Delete {
			ops = append(ops, c.st.Tasks().DeleteOp(id, taskByID[id].Version.Index))
		}
		if plan.UpdateStatus != nil || plan.Rollback {
			s := *svc
			if plan.UpdateStatus != nil {
				s.UpdateStatus = plan.UpdateStatus
			}
			if plan.Rollback && s.PreviousSpec != nil {
				s.Spec, s.PreviousSpec = *s.PreviousSpec, &svc.Spec
			}
			op, err := c.st.Services().UpdateOp(&s)
			if err != nil {
				return time.Time{}, err
			}
			ops = append(ops, op)
		}
		if !plan.Wake.IsZero() && (wake.IsZero() || plan.Wake.Before(wake)) {
			wake = plan.Wake
		}
	}
	// Tasks of removed services: stop the live ones, forget the dead.
	for _, t := range tasks {
		if _, ok := svcByID[t.ServiceID]; ok {
			continue
		}
		if t.DesiredState == swarm.TaskStateRunning || t.DesiredState == swarm.TaskStateReady {
			s := *t
			s.DesiredState = swarm.TaskStateRemove
			op, err := c.st.Tasks().UpdateOp(&s)
			if err != nil {
				return time.Time{}, err
			}
			ops = append(ops, op)
		} else if orchestrator.Terminal(t.Status.State) || t.NodeID == "" {
			ops = append(ops, c.st.Tasks().DeleteOp(t.ID, t.Version.Index))
		}
	}

	// Place new tasks, and older ones still waiting for a node; global
	// tasks come with theirs.
	var pending []*swarm.Task
	for _, t := range created {
		if t.NodeID == "" && c.sched != nil {
			pending = append(pending, t)
			continue
		}
		op, err := c.st.Tasks().CreateOp(t)
		if err != nil {
			return time.Time{}, err
		}
		ops = append(ops, op)
	}
	for _, t := range tasks {
		if t.NodeID == "" && t.DesiredState == swarm.TaskStateRunning && t.Status.State == swarm.TaskStatePending {
			if _, ok := svcByID[t.ServiceID]; ok {
				cp := *t
				pending = append(pending, &cp)
			}
		}
	}
	var unplaced map[string]string
	if len(pending) > 0 && c.sched != nil {
		var assigned map[string]string
		assigned, unplaced = c.sched.Schedule(pending, nodes, tasks, svcByID)
		for _, t := range pending {
			changed := false
			if node, ok := assigned[t.ID]; ok {
				t.NodeID = node
				t.Status = swarm.TaskStatus{Timestamp: now, State: swarm.TaskStateAssigned, Message: "scheduler assigned task to node"}
				changed = true
			} else if why := unplaced[t.ID]; why != "" && t.Status.Err != why {
				t.Status.Err, t.Status.Timestamp = why, now
				changed = true
			}
			var op store.Op
			var err error
			switch {
			case t.Version.Index == 0: // made by this pass
				op, err = c.st.Tasks().CreateOp(t)
			case changed:
				t.UpdatedAt = now
				op, err = c.st.Tasks().UpdateOp(t)
			default:
				continue
			}
			if err != nil {
				return time.Time{}, err
			}
			ops = append(ops, op)
		}
	}
	for len(ops) > 0 {
		n := min(len(ops), maxOpsPerTxn)
		if err := c.st.Commit(ctx, ops[:n]...); err != nil {
			return wake, err
		}
		ops = ops[n:]
	}
	if len(unplaced) > 0 {
		// Nodes may change (a drain ends, resources free up): try again soon.
		retry := now.Add(5 * time.Second)
		if wake.IsZero() || retry.Before(wake) {
			wake = retry
		}
	}
	return wake, nil
}

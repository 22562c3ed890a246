package dispatcher

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"

	"wharf.io/wharf/cluster/agent"
	"wharf.io/wharf/cluster/orchestrator"
	"wharf.io/wharf/cluster/store"
)

// Syncer runs a node's assignments (the agent).
type Syncer interface {
	Sync(ctx context.Context, assignments []agent.Assignment) error
}

// Hook sees the node's tasks after every sync, with their services: the
// engine uses it to point service VIPs and published ports at the tasks
// that run.
type Hook func(ctx context.Context, tasks []*swarm.Task, services map[string]*swarm.Service)

// Dispatcher feeds one node's agent from the store.
type Dispatcher struct {
	st     *store.Store
	nodeID string
	agent  Syncer
	hook   Hook
	log    *slog.Logger
	kick   chan struct{}
}

// New makes the dispatcher of node nodeID; SetAgent must be called before
// Run (the agent reports through the dispatcher, so it is made after it).
func New(st *store.Store, nodeID string, hook Hook, log *slog.Logger) *Dispatcher {
	if log == nil {
		log = slog.Default()
	}
	return &Dispatcher{st: st, nodeID: nodeID, hook: hook, log: log.With("component", "dispatcher"), kick: make(chan struct{}, 1)}
}

// SetAgent sets the agent that runs the assignments.
func (d *Dispatcher) SetAgent(a Syncer) { d.agent = a }

func (d *Dispatcher) poke() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Run syncs the agent at once and after every change of tasks, services,
// secrets or configs, until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	go d.st.Tasks().Notify(ctx, d.poke)
	go d.st.Services().Notify(ctx, d.poke)
	go d.st.Secrets().Notify(ctx, d.poke)
	go d.st.Configs().Notify(ctx, d.poke)
	d.poke()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.kick:
		}
		if err := d.sync(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("sync tasks", "err", err)
			time.AfterFunc(time.Second, d.poke)
		}
	}
}

// sync hands the agent this node's tasks.
func (d *Dispatcher) sync(ctx context.Context) error {
	tasks, err := d.st.Tasks().List(ctx)
	if err != nil {
		return err
	}
	services, err := d.st.Services().List(ctx)
	if err != nil {
		return err
	}
	byID := map[string]*swarm.Service{}
	for _, s := range services {
		byID[s.ID] = s
	}
	var mine []*swarm.Task
	var secrets map[string][]byte
	var configs map[string][]byte
	for _, t := range tasks {
		if t.NodeID != d.nodeID {
			continue
		}
		mine = append(mine, t)
		if cs := t.Spec.ContainerSpec; cs != nil && (len(cs.Secrets) > 0 || len(cs.Configs) > 0) && secrets == nil {
			if secrets, configs, err = d.files(ctx); err != nil {
				return err
			}
		}
	}
	// Registry credentials are written with their service, so the
	// service notifications cover them.
	auths, err := d.st.ServiceAuths().List(ctx)
	if err != nil {
		return err
	}
	authByID := map[string]string{}
	for _, a := range auths {
		authByID[a.ID] = a.RegistryAuth
	}
	var as []agent.Assignment
	for _, t := range mine {
		a := agent.Assignment{Task: *t, ServiceName: t.Annotations.Name, Secrets: secrets, Configs: configs}
		if s := byID[t.ServiceID]; s != nil {
			a.ServiceName = s.Spec.Name
			a.RegistryAuth = authByID[s.ID]
			if s.Spec.EndpointSpec != nil {
				a.Ports = s.Spec.EndpointSpec.Ports
				for _, p := range a.Ports {
					if p.PublishMode != swarm.PortConfigPublishModeHost {
						a.Ingress = true
					}
				}
			}
		}
		if a.ServiceName == "" {
			a.ServiceName = t.ServiceID
		}
		as = append(as, a)
	}
	if err := d.agent.Sync(ctx, as); err != nil {
		return err
	}
	if d.hook != nil {
		d.hook(ctx, mine, byID)
	}
	return nil
}

// files reads every secret's and config's data by ID.
func (d *Dispatcher) files(ctx context.Context) (map[string][]byte, map[string][]byte, error) {
	secrets, err := d.st.Secrets().List(ctx)
	if err != nil {
		return nil, nil, err
	}
	configs, err := d.st.Configs().List(ctx)
	if err != nil {
		return nil, nil, err
	}
	sm, cm := map[string][]byte{}, map[string][]byte{}
	for _, s := range secrets {
		sm[s.ID] = s.Spec.Data
	}
	for _, c := range configs {
		cm[c.ID] = c.Spec.Data
	}
	return sm, cm, nil
}

// ReportTaskStatus records a status the agent reports. A report never
// moves a task backwards (a late "running" after "failed"), and a task
// that is gone is not an error: it was removed meanwhile.
func (d *Dispatcher) ReportTaskStatus(ctx context.Context, taskID string, st swarm.TaskStatus) error {
	_, err := d.st.Tasks().Modify(ctx, taskID, func(t *swarm.Task) error {
		if orchestrator.Rank(st.State) < orchestrator.Rank(t.Status.State) {
			return errStale
		}
		t.Status = st
		t.UpdatedAt = time.Now().UTC()
		return nil
	})
	if errors.Is(err, errStale) || errdefs.IsNotFound(err) {
		return nil
	}
	return err
}

var errStale = errors.New("stale task status")

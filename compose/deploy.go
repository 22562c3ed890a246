package compose

import (
	"strconv"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/swarm"
)

// deploy applies the deploy section: mode and replicas, service labels,
// resources, restart policy, update and rollback, placement, endpoint
// mode. A plain `restart:` stands in for a missing restart_policy.
func (c *converter) deploy(s types.ServiceConfig, spec *swarm.ServiceSpec) error {
	at := func(keys ...string) []string { return append([]string{"services", s.Name, "deploy"}, keys...) }
	one := uint64(1)
	spec.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}}

	d := s.Deploy
	if d == nil || d.RestartPolicy == nil {
		if s.Restart != "" {
			rp, ok := restartFromKey(s.Restart)
			if !ok {
				return c.errAt([]string{"services", s.Name, "restart"}, "unknown restart policy %q", s.Restart)
			}
			spec.TaskTemplate.RestartPolicy = rp
		}
	} else if s.Restart != "" {
		c.warn("Ignoring restart for service %s: deploy.restart_policy takes precedence", s.Name)
	}
	if d == nil {
		return nil
	}
	for k, v := range d.Labels {
		spec.Labels[k] = v
	}
	switch d.Mode {
	case "", "replicated":
		if d.Replicas != nil {
			if *d.Replicas < 0 {
				return c.errAt(at("replicas"), "must not be negative")
			}
			n := uint64(*d.Replicas)
			spec.Mode.Replicated.Replicas = &n
		}
	case "global":
		if d.Replicas != nil {
			return c.errAt(at("replicas"), "replicas cannot be used with mode global")
		}
		spec.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
	case "replicated-job":
		spec.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{}}
		if d.Replicas != nil {
			n := uint64(*d.Replicas)
			spec.Mode.ReplicatedJob.TotalCompletions = &n
		}
	case "global-job":
		spec.Mode = swarm.ServiceMode{GlobalJob: &swarm.GlobalJob{}}
	default:
		return c.errAt(at("mode"), "unknown mode %q (replicated, global, replicated-job, global-job)", d.Mode)
	}
	spec.TaskTemplate.Resources = resources(d.Resources)
	if rp := d.RestartPolicy; rp != nil {
		p := &swarm.RestartPolicy{Condition: swarm.RestartPolicyCondition(rp.Condition), MaxAttempts: rp.MaxAttempts}
		switch p.Condition {
		case "":
			p.Condition = swarm.RestartPolicyConditionAny
		case swarm.RestartPolicyConditionNone, swarm.RestartPolicyConditionOnFailure, swarm.RestartPolicyConditionAny:
		default:
			return c.errAt(at("restart_policy", "condition"), "unknown condition %q (none, on-failure, any)", rp.Condition)
		}
		p.Delay = duration(rp.Delay)
		p.Window = duration(rp.Window)
		spec.TaskTemplate.RestartPolicy = p
	}
	var err error
	if spec.UpdateConfig, err = c.updateConfig(d.UpdateConfig, at("update_config")); err != nil {
		return err
	}
	if spec.RollbackConfig, err = c.updateConfig(d.RollbackConfig, at("rollback_config")); err != nil {
		return err
	}
	if pl := d.Placement; len(pl.Constraints) > 0 || len(pl.Preferences) > 0 || pl.MaxReplicas > 0 {
		p := &swarm.Placement{Constraints: pl.Constraints, MaxReplicas: pl.MaxReplicas}
		for _, pref := range pl.Preferences {
			p.Preferences = append(p.Preferences, swarm.PlacementPreference{Spread: &swarm.SpreadOver{SpreadDescriptor: pref.Spread}})
		}
		spec.TaskTemplate.Placement = p
	}
	switch d.EndpointMode {
	case "":
	case string(swarm.ResolutionModeVIP), string(swarm.ResolutionModeDNSRR):
		if spec.EndpointSpec == nil {
			spec.EndpointSpec = &swarm.EndpointSpec{}
		}
		spec.EndpointSpec.Mode = swarm.ResolutionMode(d.EndpointMode)
	default:
		return c.errAt(at("endpoint_mode"), "unknown endpoint mode %q (vip, dnsrr)", d.EndpointMode)
	}
	return nil
}

// resources converts limits and reservations; cpus are a fraction of a
// CPU, swarm counts nanoCPUs.
func resources(r types.Resources) *swarm.ResourceRequirements {
	if r.Limits == nil && r.Reservations == nil {
		return nil
	}
	rr := &swarm.ResourceRequirements{}
	if l := r.Limits; l != nil {
		rr.Limits = &swarm.Limit{NanoCPUs: nanoCPUs(l.NanoCPUs), MemoryBytes: int64(l.MemoryBytes), Pids: l.Pids}
	}
	if l := r.Reservations; l != nil {
		rr.Reservations = &swarm.Resources{NanoCPUs: nanoCPUs(l.NanoCPUs), MemoryBytes: int64(l.MemoryBytes)}
		for _, g := range l.GenericResources {
			if g.DiscreteResourceSpec != nil {
				rr.Reservations.GenericResources = append(rr.Reservations.GenericResources, swarm.GenericResource{
					DiscreteResourceSpec: &swarm.DiscreteGenericResource{Kind: g.DiscreteResourceSpec.Kind, Value: g.DiscreteResourceSpec.Value}})
			}
		}
	}
	return rr
}

// nanoCPUs converts compose-go's float32 through its shortest decimal
// form and rounds, so that "0.1" is 100000000 and not 100000001.
func nanoCPUs(n types.NanoCPUs) int64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(n.Value()), 'g', -1, 32), 64)
	v := f * 1e9
	if v < 0 {
		return int64(v - 0.5)
	}
	return int64(v + 0.5)
}

func (c *converter) updateConfig(u *types.UpdateConfig, at []string) (*swarm.UpdateConfig, error) {
	if u == nil {
		return nil, nil
	}
	out := &swarm.UpdateConfig{Parallelism: 1, Delay: time.Duration(u.Delay), FailureAction: swarm.FailureAction(u.FailureAction),
		Monitor: time.Duration(u.Monitor), MaxFailureRatio: u.MaxFailureRatio, Order: swarm.UpdateOrder(u.Order)}
	if u.Parallelism != nil {
		out.Parallelism = *u.Parallelism
	}
	switch out.FailureAction {
	case "", swarm.UpdateFailureActionPause, swarm.UpdateFailureActionContinue, swarm.UpdateFailureActionRollback:
	default:
		return nil, c.errAt(append(at, "failure_action"), "unknown failure action %q (pause, continue, rollback)", u.FailureAction)
	}
	switch out.Order {
	case "", swarm.UpdateOrderStopFirst, swarm.UpdateOrderStartFirst:
	default:
		return nil, c.errAt(append(at, "order"), "unknown order %q (stop-first, start-first)", u.Order)
	}
	return out, nil
}

func duration(d *types.Duration) *time.Duration {
	if d == nil {
		return nil
	}
	v := time.Duration(*d)
	return &v
}

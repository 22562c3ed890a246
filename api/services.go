package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
)

// Request-level rules of the /services routes that belong to HTTP, not to
// the engine: docker's defaults for ?insertDefaults and the query values it
// accepts for updates.

// serviceUpdateQuery is what POST /services/{id}/update reads besides the
// spec.
type serviceUpdateQuery struct {
	version  uint64
	rollback bool
}

// parseServiceUpdateQuery also rejects a registryAuthFrom docker does not
// know. The value itself (and X-Registry-Auth) is not passed on: the
// engine's ServiceUpdate takes no registry credentials yet.
func parseServiceUpdateQuery(r *http.Request) (serviceUpdateQuery, error) {
	var q serviceUpdateQuery
	v, err := versionParam(r)
	if err != nil {
		return q, err
	}
	q.version = v
	switch from := swarm.RegistryAuthSource(r.URL.Query().Get("registryAuthFrom")); from {
	case "", swarm.RegistryAuthFromSpec, swarm.RegistryAuthFromPreviousSpec:
	default:
		return q, fmt.Errorf("unsupported registryAuthFrom value %q: %w", from, errdefs.ErrInvalidArgument)
	}
	// docker acts on "previous" and ignores any other value.
	q.rollback = r.URL.Query().Get("rollback") == "previous"
	return q, nil
}

// insertServiceDefaults fills the fields docker's ?insertDefaults=true
// shows (swarmkit's defaults.Service) where the stored spec left them
// unset, so `docker service inspect --pretty` and `service update` see the
// values the orchestrator applies.
func insertServiceDefaults(spec *swarm.ServiceSpec) {
	ts := &spec.TaskTemplate
	if cs := ts.ContainerSpec; cs != nil {
		c := *cs
		if c.StopGracePeriod == nil {
			d := 10 * time.Second
			c.StopGracePeriod = &d
		}
		if c.DNSConfig == nil {
			c.DNSConfig = &swarm.DNSConfig{}
		}
		ts.ContainerSpec = &c
	}
	if ts.Resources == nil {
		ts.Resources = &swarm.ResourceRequirements{}
	}
	if ts.RestartPolicy == nil {
		ts.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny}
	} else {
		rp := *ts.RestartPolicy
		ts.RestartPolicy = &rp
	}
	rp := ts.RestartPolicy
	if rp.Condition == "" {
		rp.Condition = swarm.RestartPolicyConditionAny
	}
	if rp.Delay == nil {
		d := 5 * time.Second
		rp.Delay = &d
	}
	if rp.MaxAttempts == nil {
		var zero uint64
		rp.MaxAttempts = &zero
	}
	if ts.Placement == nil {
		ts.Placement = &swarm.Placement{}
	}
	defaultUpdate := func() *swarm.UpdateConfig {
		return &swarm.UpdateConfig{Parallelism: 1, FailureAction: swarm.UpdateFailureActionPause,
			Monitor: 5 * time.Second, Order: swarm.UpdateOrderStopFirst}
	}
	if spec.UpdateConfig == nil {
		spec.UpdateConfig = defaultUpdate()
	}
	if spec.RollbackConfig == nil {
		spec.RollbackConfig = defaultUpdate()
	}
	if spec.EndpointSpec == nil {
		spec.EndpointSpec = &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP}
	} else if spec.EndpointSpec.Mode == "" {
		ep := *spec.EndpointSpec
		ep.Mode = swarm.ResolutionModeVIP
		spec.EndpointSpec = &ep
	}
}

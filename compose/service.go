package compose

import (
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/swarm"
)

// service converts one compose service into a swarm service spec named
// <stack>_<service>.
func (c *converter) service(s types.ServiceConfig) (swarm.ServiceSpec, error) {
	at := func(keys ...string) []string { return append([]string{"services", s.Name}, keys...) }
	if s.Image == "" {
		return swarm.ServiceSpec{}, c.errAt(at(), "no image given (a swarm does not build images)")
	}
	cs, err := c.containerSpec(s)
	if err != nil {
		return swarm.ServiceSpec{}, err
	}
	spec := swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: c.scope(s.Name), Labels: c.labels(nil)},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: cs},
	}
	// docker stack deploy records the image as written, so that a later
	// deploy can tell whether the file changed it.
	spec.Labels[LabelImage] = s.Image
	if s.Logging != nil && s.Logging.Driver != "" {
		spec.TaskTemplate.LogDriver = &swarm.Driver{Name: s.Logging.Driver, Options: s.Logging.Options}
	}
	if spec.TaskTemplate.Networks, err = c.serviceNetworks(s); err != nil {
		return swarm.ServiceSpec{}, err
	}
	if spec.EndpointSpec, err = c.endpoint(s); err != nil {
		return swarm.ServiceSpec{}, err
	}
	if err := c.deploy(s, &spec); err != nil {
		return swarm.ServiceSpec{}, err
	}
	return spec, nil
}

// serviceNetworks attaches the service to its networks (or the stack's
// default), aliased by its short name so that `redis` resolves inside the
// stack, as docker does.
func (c *converter) serviceNetworks(s types.ServiceConfig) ([]swarm.NetworkAttachmentConfig, error) {
	if len(s.Networks) == 0 {
		return []swarm.NetworkAttachmentConfig{{Target: c.scope("default"), Aliases: []string{s.Name}}}, nil
	}
	var out []swarm.NetworkAttachmentConfig
	for _, key := range sortedKeys(s.Networks) {
		target := c.scope(key)
		if cfg, ok := c.p.Networks[key]; ok {
			target = c.objectName(key, cfg.Name, bool(cfg.External))
		}
		var aliases []string
		useName := true
		if n := s.Networks[key]; n != nil {
			aliases = append(aliases, n.Aliases...)
			if n.UseServiceNameAlias != nil {
				useName = *n.UseServiceNameAlias
			}
		}
		if useName {
			aliases = append(aliases, s.Name)
		}
		out = append(out, swarm.NetworkAttachmentConfig{Target: target, Aliases: aliases})
	}
	return out, nil
}

// restartFromKey maps a plain `restart:` onto a restart policy, as docker
// stack deploy does when deploy.restart_policy is absent.
func restartFromKey(restart string) (*swarm.RestartPolicy, bool) {
	policy, arg, _ := strings.Cut(restart, ":")
	switch policy {
	case "no":
		return &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone}, true
	case "always", "unless-stopped":
		return &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny}, true
	case "on-failure":
		rp := &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure}
		if arg != "" {
			var n uint64
			for _, ch := range arg {
				if ch < '0' || ch > '9' {
					return nil, false
				}
				n = n*10 + uint64(ch-'0')
			}
			rp.MaxAttempts = &n
		}
		return rp, true
	}
	return nil, false
}

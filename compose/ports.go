package compose

import (
	"strconv"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
)

// endpoint publishes the service's ports: ingress (the routing mesh, the
// default) or host mode; a port without a published number gets one from
// the swarm's range at deploy. deploy.endpoint_mode (vip, dnsrr) is set in
// deploy().
func (c *converter) endpoint(s types.ServiceConfig) (*swarm.EndpointSpec, error) {
	if len(s.Ports) == 0 {
		return nil, nil
	}
	ep := &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP}
	for i, pc := range s.Ports {
		port := swarm.PortConfig{Name: pc.Name, TargetPort: pc.Target,
			Protocol:    network.IPProtocol(orDefault(pc.Protocol, "tcp")),
			PublishMode: swarm.PortConfigPublishMode(orDefault(pc.Mode, "ingress"))}
		switch port.PublishMode {
		case swarm.PortConfigPublishModeIngress, swarm.PortConfigPublishModeHost:
		default:
			return nil, c.errAt([]string{"services", s.Name, "ports"}, "port %d: mode %q is neither ingress nor host", i, pc.Mode)
		}
		if pc.Published != "" {
			n, err := strconv.ParseUint(pc.Published, 10, 16)
			if err != nil {
				return nil, c.errAt([]string{"services", s.Name, "ports"},
					"port %d: published port %q must be a single port number", i, pc.Published)
			}
			port.PublishedPort = uint32(n)
		}
		ep.Ports = append(ep.Ports, port)
	}
	return ep, nil
}

package opts

import (
	"fmt"
	"net/netip"

	"github.com/containerd/errdefs"
	"github.com/docker/go-connections/nat"
	"github.com/moby/moby/api/types/network"
)

// ParsePublish parses -p/--publish values ([ip:][hostPort:]containerPort[/proto], ranges
// allowed) with go-connections/nat and converts the result to the API's port types.
func ParsePublish(specs []string) (network.PortSet, network.PortMap, error) {
	exposed := network.PortSet{}
	bindings := network.PortMap{}
	for _, spec := range specs {
		mappings, err := nat.ParsePortSpec(spec)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid publish spec %q: %v: %w", spec, err, errdefs.ErrInvalidArgument)
		}
		for _, m := range mappings {
			port, err := network.ParsePort(string(m.Port))
			if err != nil {
				return nil, nil, fmt.Errorf("invalid publish spec %q: %v: %w", spec, err, errdefs.ErrInvalidArgument)
			}
			var b network.PortBinding
			b.HostPort = m.Binding.HostPort
			if m.Binding.HostIP != "" {
				ip, err := netip.ParseAddr(m.Binding.HostIP)
				if err != nil {
					return nil, nil, fmt.Errorf("invalid publish spec %q: bad host IP: %w", spec, errdefs.ErrInvalidArgument)
				}
				b.HostIP = ip
			}
			exposed[port] = struct{}{}
			bindings[port] = append(bindings[port], b)
		}
	}
	return exposed, bindings, nil
}

// ParseExpose parses --expose values (port[/proto] or a range).
func ParseExpose(specs []string) (network.PortSet, error) {
	exposed := network.PortSet{}
	for _, spec := range specs {
		proto, p := nat.SplitProtoPort(spec)
		start, end, err := nat.ParsePortRange(p)
		if err != nil {
			return nil, fmt.Errorf("invalid expose %q: %v: %w", spec, err, errdefs.ErrInvalidArgument)
		}
		for i := start; i <= end; i++ {
			port, err := network.ParsePort(fmt.Sprintf("%d/%s", i, proto))
			if err != nil {
				return nil, fmt.Errorf("invalid expose %q: %v: %w", spec, err, errdefs.ErrInvalidArgument)
			}
			exposed[port] = struct{}{}
		}
	}
	return exposed, nil
}

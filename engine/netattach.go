package engine

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	apinet "github.com/moby/moby/api/types/network"

	"wharf.io/wharf/network"
)

// primaryNetwork is the network a container's NetworkMode names: "bridge"
// for the default, "none", "host", or a user network's name.
func primaryNetwork(hc *container.HostConfig) string {
	switch mode := hc.NetworkMode; {
	case mode == "", mode == "default":
		return network.NetworkBridge
	default:
		return string(mode)
	}
}

// usesNetNS reports whether the container gets a namespace from the network
// manager (bridge and user networks) rather than the host's or a bare one.
func usesNetNS(hc *container.HostConfig) bool {
	p := primaryNetwork(hc)
	return p != network.NetworkHost && p != network.NetworkNone
}

// networkConfigs builds the container's requested attachments: the primary
// network first (with the endpoint settings the request gave for it), then
// any other network from NetworkingConfig.
func (e *Engine) networkConfigs(hc *container.HostConfig, nc *apinet.NetworkingConfig) (map[string]*apinet.EndpointSettings, error) {
	primary := primaryNetwork(hc)
	out := map[string]*apinet.EndpointSettings{primary: {}}
	if nc != nil {
		for name, es := range nc.EndpointsConfig {
			if es == nil {
				es = &apinet.EndpointSettings{}
			}
			if name == "default" || name == string(hc.NetworkMode) {
				// The docker CLI keys the primary network by the mode it sent.
				name = primary
			}
			if name != primary && !usesNetNS(hc) {
				return nil, fmt.Errorf("container cannot be connected to network %q with network mode %q: %w", name, primary, errdefs.ErrInvalidArgument)
			}
			out[name] = es
		}
	}
	if !usesNetNS(hc) {
		return out, nil
	}
	for name := range out {
		if e.nets == nil {
			return nil, fmt.Errorf("network %s not found: %w", name, errdefs.ErrNotFound)
		}
		if _, err := e.nets.Inspect(context.Background(), name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkHostPorts fails early, at create, when an explicitly requested host
// port is taken, so `run -p` leaves no container behind (the network manager
// reserves the port for real at start).
func checkHostPorts(bindings apinet.PortMap) error {
	for port, bs := range bindings {
		for _, b := range bs {
			if b.HostPort == "" || strings.Contains(b.HostPort, "-") {
				continue
			}
			n, err := strconv.ParseUint(b.HostPort, 10, 16)
			if err != nil {
				return fmt.Errorf("invalid host port %q: %w", b.HostPort, errdefs.ErrInvalidArgument)
			}
			ip := "0.0.0.0"
			if b.HostIP.IsValid() && !b.HostIP.IsUnspecified() {
				ip = b.HostIP.String()
			}
			addr := net.JoinHostPort(ip, strconv.FormatUint(n, 10))
			var closeFn func() error
			switch port.Proto() {
			case apinet.UDP:
				c, err := net.ListenPacket("udp4", addr)
				if err == nil {
					closeFn = c.Close
				}
			default:
				l, err := net.Listen("tcp4", addr)
				if err == nil {
					closeFn = l.Close
				}
			}
			if closeFn == nil {
				return fmt.Errorf("Bind for %s failed: port is already allocated: %w", addr, errdefs.ErrConflict)
			}
			closeFn()
		}
	}
	return nil
}

// attachNetworks joins c to its networks before its process starts and
// returns the namespace path for the runtime; c.mu must be held.
func (e *Engine) attachNetworks(ctx context.Context, c *Container) (string, error) {
	if !usesNetNS(c.HostConfig) {
		return "", nil
	}
	primary := primaryNetwork(c.HostConfig)
	names := make([]string, 0, len(c.Networks))
	for n := range c.Networks {
		if n != primary {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	names = append([]string{primary}, names...)
	for i, name := range names {
		req := attachRequest(c, name, c.Networks[name])
		if i == 0 {
			// Ports are published on the primary network, as in Docker.
			req.PortBindings = c.HostConfig.PortBindings
			req.ExposedPorts = c.Config.ExposedPorts
			req.PublishAll = c.HostConfig.PublishAllPorts
		}
		if _, err := e.nets.Attach(ctx, req); err != nil {
			return "", err
		}
	}
	if err := e.writeNetworkEtc(c); err != nil {
		return "", err
	}
	return e.nets.NetNSPath(c.ID), nil
}

// writeNetworkEtc adds the container's own addresses to /etc/hosts and
// points /etc/resolv.conf at the embedded DNS on user networks.
func (e *Engine) writeNetworkEtc(c *Container) error {
	if err := e.writeEtcFiles(c); err != nil {
		return err
	}
	var hosts bytes.Buffer
	b, _ := os.ReadFile(e.containerFile(c.ID, "hosts"))
	hosts.Write(b)
	for _, ep := range e.nets.Endpoints(c.ID) {
		if ep.IPAddress.IsValid() {
			fmt.Fprintf(&hosts, "%s\t%s\n", ep.IPAddress, c.Config.Hostname)
			break
		}
	}
	if err := os.WriteFile(e.containerFile(c.ID, "hosts"), hosts.Bytes(), 0o644); err != nil {
		return err
	}
	if len(c.HostConfig.DNS) == 0 && len(c.HostConfig.DNSSearch) == 0 && len(c.HostConfig.DNSOptions) == 0 {
		if rc := e.nets.ResolvConf(c.ID); len(rc) > 0 {
			return os.WriteFile(e.containerFile(c.ID, "resolv.conf"), rc, 0o644)
		}
	}
	return nil
}

// endpointSettings reports c's attachments for inspect and ps: live
// endpoints when it runs, the requested networks otherwise; c.mu held.
func (e *Engine) endpointSettings(c *Container) (map[string]*apinet.EndpointSettings, apinet.PortMap) {
	out := map[string]*apinet.EndpointSettings{}
	ports := apinet.PortMap{}
	if e.nets != nil && c.task != nil {
		for _, ep := range e.nets.Endpoints(c.ID) {
			out[ep.NetworkName] = ep.Settings()
			for p, b := range ep.Ports {
				ports[p] = append(ports[p], b...)
			}
		}
	}
	for name, es := range c.Networks {
		if _, ok := out[name]; !ok {
			cp := apinet.EndpointSettings{}
			if es != nil {
				cp.Aliases, cp.IPAMConfig, cp.MacAddress = es.Aliases, es.IPAMConfig, es.MacAddress
			}
			out[name] = &cp
		}
	}
	if len(out) == 0 {
		out[primaryNetwork(c.HostConfig)] = &apinet.EndpointSettings{}
	}
	// Exposed but unpublished ports show with no binding, as docker does.
	for p := range c.Config.ExposedPorts {
		if _, ok := ports[p]; !ok {
			ports[p] = nil
		}
	}
	return out, ports
}

// portSummaries turns published ports into docker ps's PORTS entries.
func portSummaries(ports apinet.PortMap) []container.PortSummary {
	out := []container.PortSummary{}
	for p, bs := range ports {
		if len(bs) == 0 {
			out = append(out, container.PortSummary{PrivatePort: p.Num(), Type: string(p.Proto())})
			continue
		}
		for _, b := range bs {
			hp, _ := strconv.ParseUint(b.HostPort, 10, 16)
			ip := b.HostIP
			if !ip.IsValid() {
				ip = netip.IPv4Unspecified()
			}
			out = append(out, container.PortSummary{IP: ip, PrivatePort: p.Num(), PublicPort: uint16(hp), Type: string(p.Proto())})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].PrivatePort != out[j].PrivatePort {
			return out[i].PrivatePort < out[j].PrivatePort
		}
		return out[i].Type < out[j].Type
	})
	return out
}

// attachRequest asks for c to join network name with the settings es.
func attachRequest(c *Container, name string, es *apinet.EndpointSettings) network.AttachRequest {
	if es == nil {
		es = &apinet.EndpointSettings{}
	}
	req := network.AttachRequest{ContainerID: c.ID, ContainerName: c.Name, Network: name, Aliases: es.Aliases}
	if es.IPAMConfig != nil {
		req.IPv4 = es.IPAMConfig.IPv4Address
	}
	if len(es.MacAddress) > 0 {
		req.MAC = net.HardwareAddr(es.MacAddress)
	}
	return req
}

package network

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"wharf.io/wharf/internal/ids"
	"wharf.io/wharf/network/ipam"
)

// defaultSubnet picks the default network's subnet.
func (m *Manager) defaultSubnet() (netip.Prefix, error) {
	if m.cfg.DefaultSubnet != "" {
		p, err := netip.ParsePrefix(m.cfg.DefaultSubnet)
		if err != nil {
			return p, fmt.Errorf("default subnet %q: %w", m.cfg.DefaultSubnet, errdefs.ErrInvalidArgument)
		}
		return p, ipam.ValidatePool(p, netip.Addr{})
	}
	cands := []netip.Prefix{netip.MustParsePrefix("172.30.0.0/16"), netip.MustParsePrefix("172.31.0.0/16")}
	for i := 200; i < 255; i++ {
		cands = append(cands, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16))
	}
	return m.pickSubnet(cands)
}

// pickSubnet avoids host routes and addresses (docker0's included, even when
// it is down, since its address stays) and every wharf network.
func (m *Manager) pickSubnet(cands []netip.Prefix) (netip.Prefix, error) {
	avoid, err := m.host.Routes()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("list host routes: %w", err)
	}
	for _, n := range m.networks {
		if n.Subnet.IsValid() {
			avoid = append(avoid, n.Subnet)
		}
	}
	return ipam.PickSubnet(cands, avoid)
}

func userSubnetCandidates() []netip.Prefix {
	var c []netip.Prefix
	for i := 18; i < 30; i++ {
		c = append(c, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(i), 0, 0}), 16))
	}
	for i := 0; i < 256; i += 16 {
		c = append(c, netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(i), 0}), 20))
	}
	for i := 100; i < 200; i++ {
		c = append(c, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16))
	}
	return c
}

// overlaySubnetCandidates follow Docker's default swarm address pool:
// 10.0.0.0/8 in /24s, 10.0.0.0/24 being the ingress network's.
func overlaySubnetCandidates() []netip.Prefix {
	var c []netip.Prefix
	for i := 1; i < 10*256; i++ {
		c = append(c, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i / 256), byte(i % 256), 0}), 24))
	}
	return c
}

// IngressName is the name of the routing mesh's network, as in Docker.
const IngressName = "ingress"

// ingressSubnet is Docker's default for the ingress network.
var ingressSubnet = netip.MustParsePrefix("10.0.0.0/24")

// EnsureIngress returns the ID of the ingress network (the routing mesh's
// overlay network, Ingress: true), creating it with Docker's default
// subnet 10.0.0.0/24 (or another free 10.0.x.0/24) when it does not exist.
// SetService calls it when a service publishes an ingress port.
func (m *Manager) EnsureIngress(ctx context.Context) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.ensureIngressLocked(ctx)
	if err != nil {
		return "", err
	}
	return n.ID, nil
}

func (m *Manager) ensureIngressLocked(ctx context.Context) (*netRecord, error) {
	for _, n := range m.networks {
		if n.Ingress {
			return n, nil
		}
	}
	subnet, err := m.pickSubnet(append([]netip.Prefix{ingressSubnet}, overlaySubnetCandidates()...))
	if err != nil {
		return nil, err
	}
	resp, err := m.createNetworkLocked(ctx, IngressName, network.CreateRequest{Driver: "overlay", Scope: "swarm", Ingress: true,
		IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet}}}})
	if err != nil {
		return nil, err
	}
	return m.networks[resp.ID], nil
}

// RemoveIngress removes the ingress network (swarm leave). A missing one is
// fine; one that a service still publishes ports on, or with containers
// attached, is a Conflict.
func (m *Manager) RemoveIngress(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range m.networks {
		if n.Ingress {
			return m.removeNetworkChecked(ctx, n)
		}
	}
	return nil
}

// CreateNetwork creates a user-defined network: "bridge", or "overlay"
// (scope swarm; on one node a bridge too, see driver).
func (m *Manager) CreateNetwork(ctx context.Context, name string, req network.CreateRequest) (network.CreateResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.createNetworkLocked(ctx, name, req)
}

func (m *Manager) createNetworkLocked(ctx context.Context, name string, req network.CreateRequest) (network.CreateResponse, error) {
	if name == "" {
		name = req.Name
	}
	if err := ids.ValidateName(name); err != nil {
		return network.CreateResponse{}, err
	}
	if req.Driver != "" && req.Driver != "bridge" && req.Driver != "overlay" {
		return network.CreateResponse{}, fmt.Errorf("network driver %q is not supported (only bridge and overlay): %w", req.Driver, errdefs.ErrNotImplemented)
	}
	overlay := req.Driver == "overlay"
	if req.EnableIPv6 != nil && *req.EnableIPv6 {
		return network.CreateResponse{}, fmt.Errorf("IPv6 networks are not supported yet: %w", errdefs.ErrNotImplemented)
	}
	if req.Scope != "" && req.Scope != "local" && !(overlay && req.Scope == "swarm") {
		return network.CreateResponse{}, fmt.Errorf("network scope %q is not supported: %w", req.Scope, errdefs.ErrNotImplemented)
	}
	if req.Ingress && !overlay {
		return network.CreateResponse{}, fmt.Errorf("an ingress network must use the overlay driver: %w", errdefs.ErrInvalidArgument)
	}
	var subnet netip.Prefix
	var gw netip.Addr
	if req.IPAM != nil {
		if req.IPAM.Driver != "" && req.IPAM.Driver != "default" {
			return network.CreateResponse{}, fmt.Errorf("IPAM driver %q is not supported: %w", req.IPAM.Driver, errdefs.ErrNotImplemented)
		}
		if len(req.IPAM.Config) > 1 {
			return network.CreateResponse{}, fmt.Errorf("only one IPAM config per network is supported: %w", errdefs.ErrInvalidArgument)
		}
		if len(req.IPAM.Config) == 1 {
			c := req.IPAM.Config[0]
			subnet, gw = c.Subnet, c.Gateway
			if !subnet.IsValid() && gw.IsValid() {
				return network.CreateResponse{}, fmt.Errorf("a gateway needs a subnet: %w", errdefs.ErrInvalidArgument)
			}
			if subnet.IsValid() {
				if err := ipam.ValidatePool(subnet, gw); err != nil {
					return network.CreateResponse{}, err
				}
			}
		}
	}
	if m.byName(name) != nil {
		return network.CreateResponse{}, fmt.Errorf("network with name %s already exists: %w", name, errdefs.ErrConflict)
	}
	if subnet.IsValid() {
		for _, n := range m.networks {
			if n.Subnet.IsValid() && n.Subnet.Overlaps(subnet) {
				return network.CreateResponse{}, fmt.Errorf("invalid pool request: pool %s overlaps with network %s (%s): %w", subnet, n.Name, n.Subnet, errdefs.ErrConflict)
			}
		}
	} else {
		cands := userSubnetCandidates()
		if overlay {
			cands = overlaySubnetCandidates()
		}
		var err error
		if subnet, err = m.pickSubnet(cands); err != nil {
			return network.CreateResponse{}, err
		}
	}
	if !gw.IsValid() {
		gw = ipam.DefaultGateway(subnet)
	}
	if req.Ingress {
		for _, n := range m.networks {
			if n.Ingress {
				return network.CreateResponse{}, fmt.Errorf("ingress network %s already exists: %w", n.Name, errdefs.ErrConflict)
			}
		}
	}
	id := ids.New()
	br := req.Options["com.docker.network.bridge.name"]
	if br == "" {
		br = "wb-" + id[:12]
	} else if len(br) > unix.IFNAMSIZ-1 || strings.ContainsAny(br, "/ \t") {
		return network.CreateResponse{}, fmt.Errorf("invalid bridge name %q: %w", br, errdefs.ErrInvalidArgument)
	}
	for _, n := range m.networks {
		if n.Bridge == br {
			return network.CreateResponse{}, fmt.Errorf("bridge %s is used by network %s: %w", br, n.Name, errdefs.ErrConflict)
		}
	}
	n := &netRecord{ID: id, Name: name, Driver: "bridge", Created: time.Now().UTC(), Subnet: subnet, Gateway: gw,
		Bridge: br, Internal: req.Internal, Labels: req.Labels, Options: req.Options, Overlay: overlay, Attachable: req.Attachable,
		Ingress: req.Ingress}
	drv := m.driver(n)
	if err := drv.create(n); err != nil {
		_ = drv.remove(n)
		return network.CreateResponse{}, err
	}
	if err := m.ipam.AddPool(id, ipam.Pool{Subnet: subnet, Gateway: gw}); err != nil {
		_ = drv.remove(n)
		return network.CreateResponse{}, err
	}
	if err := m.putNetwork(n); err != nil {
		_ = m.ipam.RemovePool(id)
		_ = drv.remove(n)
		return network.CreateResponse{}, err
	}
	if err := m.applyLocked(); err != nil {
		_ = m.removeNetworkLocked(n)
		return network.CreateResponse{}, err
	}
	m.log.InfoContext(ctx, "network created", "name", name, "id", id, "subnet", subnet, "bridge", br)
	return network.CreateResponse{ID: id}, nil
}

// RemoveNetwork deletes a user-defined network without endpoints.
func (m *Manager) RemoveNetwork(ctx context.Context, idOrName string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.resolve(idOrName)
	if err != nil {
		return err
	}
	return m.removeNetworkChecked(ctx, n)
}

// removeNetworkChecked removes n unless it is predefined, has endpoints or
// (ingress) carries a service's published ports. Services on n lose their
// VIP and backends there.
func (m *Manager) removeNetworkChecked(ctx context.Context, n *netRecord) error {
	if n.predefined() {
		return fmt.Errorf("%s is a pre-defined network and cannot be removed: %w", n.Name, errdefs.ErrPermissionDenied)
	}
	if c := m.containersOn(n.ID); len(c) > 0 {
		return fmt.Errorf("error while removing network: network %s has active endpoints (%s): %w", n.Name, strings.Join(c, ", "), errdefs.ErrConflict)
	}
	if n.Ingress {
		for _, s := range m.services {
			if len(s.ingressPorts()) > 0 {
				return fmt.Errorf("error while removing network: ingress network %s carries the published ports of service %s: %w", n.Name, s.Name, errdefs.ErrConflict)
			}
		}
	}
	if err := m.removeNetworkLocked(n); err != nil {
		return err
	}
	m.log.InfoContext(ctx, "network removed", "name", n.Name, "id", n.ID)
	return m.applyLocked()
}

func (m *Manager) removeNetworkLocked(n *netRecord) error {
	if err := m.dropNetworkFromServices(n.ID); err != nil {
		return err
	}
	if err := m.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketNetworks).Delete([]byte(n.ID)) }); err != nil {
		return err
	}
	delete(m.networks, n.ID)
	if err := m.ipam.RemovePool(n.ID); err != nil {
		return err
	}
	return m.driver(n).remove(n)
}

func (m *Manager) containersOn(networkID string) []string {
	var out []string
	for cid, eps := range m.eps {
		if e, ok := eps[networkID]; ok {
			name := e.ContainerName
			if name == "" {
				name = ids.Short(cid)
			}
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Prune removes user-defined networks without endpoints for which match
// (nil: all) returns true.
func (m *Manager) Prune(ctx context.Context, match func(network.Inspect) bool) (network.PruneReport, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var rep network.PruneReport
	for _, n := range m.sortedNetworks() {
		// Overlay networks belong to the swarm, as in Docker's prune.
		if n.predefined() || n.Overlay || len(m.containersOn(n.ID)) > 0 {
			continue
		}
		if match != nil && !match(m.inspectLocked(n)) {
			continue
		}
		if err := m.removeNetworkLocked(n); err != nil {
			return rep, err
		}
		rep.NetworksDeleted = append(rep.NetworksDeleted, n.Name)
	}
	if len(rep.NetworksDeleted) > 0 {
		m.log.InfoContext(ctx, "networks pruned", "names", rep.NetworksDeleted)
	}
	return rep, m.applyLocked()
}

func (m *Manager) sortedNetworks() []*netRecord {
	out := make([]*netRecord, 0, len(m.networks))
	for _, n := range m.networks {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *netRecord) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Networks lists all networks, sorted by name.
func (m *Manager) Networks(ctx context.Context) ([]network.Inspect, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []network.Inspect
	for _, n := range m.sortedNetworks() {
		out = append(out, m.inspectLocked(n))
	}
	return out, nil
}

// Inspect describes one network.
func (m *Manager) Inspect(ctx context.Context, idOrName string) (network.Inspect, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, err := m.resolve(idOrName)
	if err != nil {
		return network.Inspect{}, err
	}
	return m.inspectLocked(n), nil
}

func (m *Manager) inspectLocked(n *netRecord) network.Inspect {
	in := network.Inspect{
		Network: network.Network{
			Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: n.Driver,
			EnableIPv4: n.Driver == "bridge", Internal: n.Internal,
			IPAM:    network.IPAM{Driver: "default", Options: map[string]string{}, Config: []network.IPAMConfig{}},
			Options: map[string]string{}, Labels: map[string]string{},
		},
		Containers: map[string]network.EndpointResource{},
	}
	for k, v := range n.Options {
		in.Options[k] = v
	}
	if n.Overlay {
		in.Driver, in.Scope, in.Attachable, in.Ingress = "overlay", "swarm", n.Attachable, n.Ingress
	}
	for k, v := range n.Labels {
		in.Labels[k] = v
	}
	if n.Subnet.IsValid() {
		in.IPAM.Config = append(in.IPAM.Config, network.IPAMConfig{Subnet: n.Subnet, Gateway: n.Gateway})
	}
	for cid, eps := range m.eps {
		if e, ok := eps[n.ID]; ok {
			mac, _ := net.ParseMAC(e.MAC)
			in.Containers[cid] = network.EndpointResource{Name: e.ContainerName, EndpointID: e.ID,
				MacAddress: network.HardwareAddr(mac), IPv4Address: netip.PrefixFrom(e.IP, n.Subnet.Bits())}
		}
	}
	return in
}

package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"wharf.io/wharf/internal/ids"
	"wharf.io/wharf/network/bridge"
)

// Endpoint is a container's attachment to one network, as inspect shows it.
type Endpoint struct {
	ID          string
	NetworkID   string
	NetworkName string
	ContainerID string
	IfName      string // "" for the none network
	IPAddress   netip.Addr
	PrefixLen   int
	Gateway     netip.Addr
	MAC         net.HardwareAddr
	Aliases     []string
	// Ports are the bindings actually made, including host ports picked for -P.
	Ports network.PortMap
}

// Settings converts e to the API's per-network endpoint settings.
func (e *Endpoint) Settings() *network.EndpointSettings {
	s := &network.EndpointSettings{
		NetworkID:   e.NetworkID,
		EndpointID:  e.ID,
		Aliases:     slices.Clone(e.Aliases),
		Gateway:     e.Gateway,
		IPAddress:   e.IPAddress,
		IPPrefixLen: e.PrefixLen,
		MacAddress:  network.HardwareAddr(e.MAC),
	}
	if e.NetworkName != NetworkBridge && e.NetworkName != NetworkNone {
		s.DNSNames = append([]string{}, e.Aliases...)
	}
	return s
}

// AttachRequest asks for a container to join a network.
type AttachRequest struct {
	ContainerID   string
	ContainerName string // without the leading "/"
	Network       string // ID, name or ID prefix
	Aliases       []string
	IPv4          netip.Addr // --ip; invalid = allocate
	MAC           net.HardwareAddr
	PortBindings  network.PortMap
	ExposedPorts  network.PortSet
	PublishAll    bool
}

// Attach connects a container to a network. The first attachment creates the
// container's network namespace at NetNSPath. On error nothing is left behind.
func (m *Manager) Attach(ctx context.Context, req AttachRequest) (_ *Endpoint, err error) {
	if req.ContainerID == "" {
		return nil, fmt.Errorf("attach: container ID is empty: %w", errdefs.ErrInvalidArgument)
	}
	reqs, err := portRequests(req.PortBindings, req.ExposedPorts, req.PublishAll)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.resolve(req.Network)
	if err != nil {
		return nil, err
	}
	nsPath := m.NetNSPath(req.ContainerID)
	switch n.Driver {
	case "host":
		return nil, fmt.Errorf("container %s: the host network uses the host's namespace, there is nothing to attach: %w", ids.Short(req.ContainerID), errdefs.ErrInvalidArgument)
	case "null":
		if len(m.eps[req.ContainerID]) > 0 {
			return nil, fmt.Errorf("container %s: cannot join the none network while connected to others: %w", ids.Short(req.ContainerID), errdefs.ErrConflict)
		}
		if _, err := m.ensureNetNS(nsPath); err != nil {
			return nil, err
		}
		return &Endpoint{NetworkID: n.ID, NetworkName: n.Name, ContainerID: req.ContainerID}, nil
	}
	if _, ok := m.eps[req.ContainerID][n.ID]; ok {
		return nil, fmt.Errorf("container %s is already connected to network %s: %w", ids.Short(req.ContainerID), n.Name, errdefs.ErrConflict)
	}
	if len(req.Aliases) > 0 && !n.dns() {
		return nil, fmt.Errorf("network-scoped aliases are only supported for user-defined networks: %w", errdefs.ErrInvalidArgument)
	}
	if req.IPv4.IsValid() && n.Name == NetworkBridge {
		return nil, fmt.Errorf("user specified IP address is supported on user defined networks only: %w", errdefs.ErrInvalidArgument)
	}
	if len(reqs) > 0 && n.Internal {
		// Docker silently publishes nothing on internal networks; refusing is clearer.
		return nil, fmt.Errorf("network %s is internal: ports cannot be published: %w", n.Name, errdefs.ErrInvalidArgument)
	}

	epID := ids.New()
	ip, err := m.ipam.Allocate(n.ID, epID, req.IPv4)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = m.ipam.Release(n.ID, epID)
		}
	}()
	ports, closers, err := m.reservePorts(reqs)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			closeAll(closers)
		}
	}()
	createdNS, err := m.ensureNetNS(nsPath)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && createdNS {
			_ = bridge.DeleteNetNS(nsPath)
		}
	}()
	defaultRoute := !n.Internal
	used := map[string]bool{}
	for _, e := range m.eps[req.ContainerID] {
		used[e.IfName] = true
		if e.DefaultRoute {
			defaultRoute = false
		}
	}
	ifName := "eth0"
	for i := 1; used[ifName]; i++ {
		ifName = fmt.Sprintf("eth%d", i)
	}
	mac := req.MAC
	if mac == nil {
		mac = bridge.MACFor(ip)
	}
	e := &epRecord{ID: epID, ContainerID: req.ContainerID, ContainerName: strings.TrimPrefix(req.ContainerName, "/"),
		NetworkID: n.ID, IfName: ifName, HostVeth: m.cfg.VethPrefix + epID[:11], IP: ip, MAC: mac.String(),
		Aliases: slices.Clone(req.Aliases), Ports: ports, DefaultRoute: defaultRoute, Created: time.Now().UTC()}
	if err := m.driver(n).connect(n, bridge.Veth{HostName: e.HostVeth, NSPath: nsPath,
		IfName: ifName, Addr: netip.PrefixFrom(ip, n.Subnet.Bits()), Gateway: n.Gateway, MAC: mac, MTU: m.cfg.MTU,
		DefaultRoute: defaultRoute}); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = m.host.DeleteLink(e.HostVeth)
		}
	}()
	if err := m.putEP(e); err != nil {
		return nil, err
	}
	m.addEP(e)
	m.reserved[e.ID] = closers
	defer func() {
		if err != nil {
			delete(m.reserved, e.ID)
			_ = m.delEP(e)
		}
	}()
	if n.dns() {
		if err := m.serveDNS(req.ContainerID); err != nil {
			return nil, err
		}
	}
	if err := m.applyLocked(); err != nil {
		return nil, err
	}
	m.syncSandboxes(ctx, req.ContainerID)
	m.log.InfoContext(ctx, "endpoint attached", "container", ids.Short(req.ContainerID), "network", n.Name, "ip", ip, "ports", len(ports))
	return m.endpoint(e), nil
}

// ensureNetNS creates the namespace (with lo up) unless it exists.
func (m *Manager) ensureNetNS(path string) (created bool, err error) {
	if bridge.IsNetNS(path) {
		return false, nil
	}
	_ = os.Remove(path) // a stale file from a crash between create and mount
	if err := bridge.CreateNetNS(path); err != nil {
		return false, err
	}
	h, err := bridge.Open(path)
	if err == nil {
		err = h.SetUp("lo")
		_ = h.Close()
	}
	if err != nil {
		_ = bridge.DeleteNetNS(path)
		return false, fmt.Errorf("netns %s: %w", path, err)
	}
	return true, nil
}

func (m *Manager) serveDNS(containerID string) error {
	ns, err := netns.GetFromPath(m.NetNSPath(containerID))
	if err != nil {
		return err
	}
	defer ns.Close()
	return m.dns.Serve(containerID, ns)
}

// reservePorts binds a host socket per published port in the host namespace.
// The sockets are never read (DNAT steers traffic away before it reaches
// them): they reserve the port against other wharf containers and host
// services, and make "port is already allocated" an error at run time.
func (m *Manager) reservePorts(reqs []portRequest) (ports []boundPort, closers []io.Closer, err error) {
	if len(reqs) == 0 {
		return nil, nil, nil
	}
	err = bridge.Do(m.host.NS(), func() error {
		for _, r := range reqs {
			proto := string(r.container.Proto())
			hostIP := "0.0.0.0"
			if r.hostIP.IsValid() {
				hostIP = r.hostIP.String()
			}
			var c io.Closer
			var port uint16
			var lastErr error
			lo, hi := r.lo, r.hi
			for p := int(lo); p <= int(hi); p++ {
				c, port, lastErr = bindPort(proto, hostIP, uint16(p))
				if lastErr == nil {
					break
				}
			}
			if lastErr != nil {
				hp := fmt.Sprint(lo)
				if hi != lo {
					hp = fmt.Sprintf("%d-%d", lo, hi)
				}
				if errors.Is(lastErr, unix.EADDRINUSE) {
					return fmt.Errorf("Bind for %s:%s failed: port is already allocated: %w", hostIP, hp, errdefs.ErrConflict)
				}
				if errors.Is(lastErr, unix.EADDRNOTAVAIL) {
					return fmt.Errorf("Bind for %s:%s failed: address not available on the host: %w", hostIP, hp, errdefs.ErrInvalidArgument)
				}
				return fmt.Errorf("Bind for %s:%s failed: %w", hostIP, hp, lastErr)
			}
			closers = append(closers, c)
			ports = append(ports, boundPort{Proto: proto, HostIP: r.hostIP, HostPort: port, ContainerPort: r.container.Num()})
		}
		return nil
	})
	if err != nil {
		closeAll(closers)
		return nil, nil, err
	}
	return ports, closers, nil
}

func bindPort(proto, ip string, port uint16) (io.Closer, uint16, error) {
	addr := net.JoinHostPort(ip, fmt.Sprint(port))
	if proto == "udp" {
		pc, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return nil, 0, err
		}
		return pc, uint16(pc.LocalAddr().(*net.UDPAddr).Port), nil
	}
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return nil, 0, err
	}
	return ln, uint16(ln.Addr().(*net.TCPAddr).Port), nil
}

func closeAll(cs []io.Closer) {
	for _, c := range cs {
		_ = c.Close()
	}
}

func (m *Manager) endpoint(e *epRecord) *Endpoint {
	n := m.networks[e.NetworkID]
	mac, _ := net.ParseMAC(e.MAC)
	ep := &Endpoint{ID: e.ID, NetworkID: e.NetworkID, ContainerID: e.ContainerID, IfName: e.IfName, IPAddress: e.IP,
		MAC: mac, Aliases: slices.Clone(e.Aliases), Ports: network.PortMap{}}
	if n != nil {
		ep.NetworkName, ep.PrefixLen, ep.Gateway = n.Name, n.Subnet.Bits(), n.Gateway
	}
	for _, p := range e.Ports {
		cp, _ := network.PortFrom(p.ContainerPort, network.IPProtocol(p.Proto))
		hip := p.HostIP
		if !hip.IsValid() {
			hip = netip.IPv4Unspecified()
		}
		ep.Ports[cp] = append(ep.Ports[cp], network.PortBinding{HostIP: hip, HostPort: fmt.Sprint(p.HostPort)})
	}
	return ep
}

// Endpoints returns the container's attachments (for inspect, port, ps).
func (m *Manager) Endpoints(containerID string) []*Endpoint {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []*Endpoint
	for _, e := range m.eps[containerID] {
		out = append(out, m.endpoint(e))
	}
	slices.SortFunc(out, func(a, b *Endpoint) int { return strings.Compare(a.IfName, b.IfName) })
	return out
}

// Detach disconnects a container from one network.
func (m *Manager) Detach(ctx context.Context, containerID, idOrName string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.resolve(idOrName)
	if err != nil {
		return err
	}
	e, ok := m.eps[containerID][n.ID]
	if !ok {
		return fmt.Errorf("container %s is not connected to network %s: %w", ids.Short(containerID), n.Name, errdefs.ErrNotFound)
	}
	if err := m.teardownLocked(e, false); err != nil {
		return err
	}
	if !m.wantsDNS(containerID) {
		m.dns.Stop(containerID)
	}
	m.syncSandboxes(ctx, containerID)
	m.log.InfoContext(ctx, "endpoint detached", "container", ids.Short(containerID), "network", n.Name)
	return m.applyLocked()
}

func (m *Manager) wantsDNS(containerID string) bool {
	for nid := range m.eps[containerID] {
		if n := m.networks[nid]; n != nil && n.dns() {
			return true
		}
	}
	return false
}

// teardownLocked removes one endpoint's veth, ports, lease and record; it
// keeps going after errors so that a retry has less left to do. keepVeth
// leaves the veth to the kernel, which deletes the pair when the container's
// namespace goes away: deleting it here would cost an RCU grace period
// (~20 ms) on every container removal.
func (m *Manager) teardownLocked(e *epRecord, keepVeth bool) error {
	var errs []error
	if !keepVeth {
		errs = append(errs, m.host.DeleteLink(e.HostVeth))
	}
	closeAll(m.reserved[e.ID])
	delete(m.reserved, e.ID)
	errs = append(errs, m.ipam.Release(e.NetworkID, e.ID), m.delEP(e))
	return errors.Join(errs...)
}

// Release detaches the container from every network and deletes its
// namespace. Releasing an unknown container is fine. The kernel removes the
// container's veths asynchronously once nothing holds the namespace any more
// (the container's processes have exited); Restore deletes any left over.
func (m *Manager) Release(ctx context.Context, containerID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	err := m.releaseLocked(containerID)
	return errors.Join(err, m.applyLocked())
}

func (m *Manager) releaseLocked(containerID string) error {
	var errs []error
	m.dns.Stop(containerID)
	delete(m.vipText, containerID)
	for _, e := range m.eps[containerID] {
		errs = append(errs, m.teardownLocked(e, true))
	}
	errs = append(errs, bridge.DeleteNetNS(m.NetNSPath(containerID)))
	return errors.Join(errs...)
}

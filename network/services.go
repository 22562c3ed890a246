package network

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/vishvananda/netns"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"wharf.io/wharf/internal/ids"
	"wharf.io/wharf/network/bridge"
	"wharf.io/wharf/network/nft"
)

// ServiceSpec is what the network needs to know about a swarm service.
type ServiceSpec struct {
	ID   string
	Name string
	// Networks the service's tasks join (overlay networks, by ID, name or
	// ID prefix), with per-network aliases. The ingress network is never
	// listed: a port published in ingress mode joins it implicitly.
	Networks []swarm.NetworkAttachmentConfig
	// Endpoint is the service's endpoint spec: resolution mode ("" = vip)
	// and published ports. An ingress port with PublishedPort 0 gets a free
	// port of 30000-32767, as in Docker.
	Endpoint swarm.EndpointSpec
}

// Backend is one running task of a service on one of its networks. An
// invalid IP means the address of ContainerID's endpoint on NetworkID.
type Backend struct {
	TaskID      string
	ContainerID string
	NetworkID   string // ID, name or ID prefix
	IP          netip.Addr
}

// svcRecord is a service as persisted in bucketServices.
type svcRecord struct {
	ID       string                          `json:"id"`
	Name     string                          `json:"name"`
	Mode     swarm.ResolutionMode            `json:"mode"`
	Networks []swarm.NetworkAttachmentConfig `json:"networks,omitempty"` // Target resolved to the network ID, ingress included
	Ports    []swarm.PortConfig              `json:"ports,omitempty"`    // published ports resolved
	VIPs     map[string]netip.Addr           `json:"vips,omitempty"`     // network ID → VIP (vip mode)
	Backends []Backend                       `json:"backends,omitempty"` // network IDs and IPs resolved
}

var bucketServices = []byte("network.services")

// vipLease is the IPAM endpoint key of a service's VIP.
func vipLease(serviceID string) string { return "vip/" + serviceID }

// Range Docker picks published ingress ports from when none is given.
const (
	dynamicPortLo = 30000
	dynamicPortHi = 32767
)

// ingressPorts are the ports the service publishes on the routing mesh.
func (s *svcRecord) ingressPorts() []swarm.PortConfig {
	var out []swarm.PortConfig
	for _, p := range s.Ports {
		if p.PublishMode != swarm.PortConfigPublishModeHost && p.PublishedPort != 0 {
			out = append(out, p)
		}
	}
	return out
}

func (s *svcRecord) onNetwork(nid string) (swarm.NetworkAttachmentConfig, bool) {
	for _, n := range s.Networks {
		if n.Target == nid {
			return n, true
		}
	}
	return swarm.NetworkAttachmentConfig{}, false
}

// backendsOn returns the addresses of the service's tasks on network nid, sorted.
func (s *svcRecord) backendsOn(nid string) []netip.Addr {
	var out []netip.Addr
	for _, b := range s.Backends {
		if b.NetworkID == nid && !slices.Contains(out, b.IP) {
			out = append(out, b.IP)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// meshBackends are the addresses the routing mesh sends a published port
// to: the tasks' addresses on the ingress network, or, when the tasks were
// not attached to it, one address of each task.
func (s *svcRecord) meshBackends(ingressID string) []netip.Addr {
	if b := s.backendsOn(ingressID); len(b) > 0 {
		return b
	}
	seen := map[string]bool{}
	var out []netip.Addr
	for _, b := range s.Backends {
		task := cmp.Or(b.TaskID, b.ContainerID, b.IP.String())
		if !seen[task] && !slices.Contains(out, b.IP) {
			seen[task] = true
			out = append(out, b.IP)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// endpoint renders the record as the Endpoint of a swarm service.
func (s *svcRecord) endpoint(spec swarm.EndpointSpec, nets map[string]*netRecord) swarm.Endpoint {
	ep := swarm.Endpoint{Spec: spec, Ports: slices.Clone(s.Ports)}
	for _, n := range s.Networks {
		if vip, ok := s.VIPs[n.Target]; ok {
			bits := 32
			if nr := nets[n.Target]; nr != nil {
				bits = nr.Subnet.Bits()
			}
			ep.VirtualIPs = append(ep.VirtualIPs, swarm.EndpointVirtualIP{NetworkID: n.Target, Addr: netip.PrefixFrom(vip, bits)})
		}
	}
	return ep
}

// validateServiceSpec checks what needs no lock and fills defaults.
func validateServiceSpec(spec *ServiceSpec) error {
	if spec.ID == "" || strings.ContainsAny(spec.ID, "/\x00") {
		return fmt.Errorf("service ID %q is invalid: %w", spec.ID, errdefs.ErrInvalidArgument)
	}
	if err := ids.ValidateName(spec.Name); err != nil {
		return fmt.Errorf("service %s: %w", spec.ID, err)
	}
	switch spec.Endpoint.Mode {
	case "":
		spec.Endpoint.Mode = swarm.ResolutionModeVIP
	case swarm.ResolutionModeVIP, swarm.ResolutionModeDNSRR:
	default:
		return fmt.Errorf("invalid endpoint mode %q: must be vip or dnsrr: %w", spec.Endpoint.Mode, errdefs.ErrInvalidArgument)
	}
	seen := map[string]bool{}
	for i, p := range spec.Endpoint.Ports {
		if p.Protocol == "" {
			p.Protocol = network.TCP
		}
		if p.PublishMode == "" {
			p.PublishMode = swarm.PortConfigPublishModeIngress
		}
		if p.Protocol != network.TCP && p.Protocol != network.UDP {
			return fmt.Errorf("invalid protocol %q for port %d: only tcp and udp are supported: %w", p.Protocol, p.TargetPort, errdefs.ErrInvalidArgument)
		}
		if p.PublishMode != swarm.PortConfigPublishModeIngress && p.PublishMode != swarm.PortConfigPublishModeHost {
			return fmt.Errorf("invalid publish mode %q for port %d: must be ingress or host: %w", p.PublishMode, p.TargetPort, errdefs.ErrInvalidArgument)
		}
		if p.TargetPort == 0 || p.TargetPort > 65535 || p.PublishedPort > 65535 {
			return fmt.Errorf("invalid port %d:%d/%s: ports must be 1-65535: %w", p.PublishedPort, p.TargetPort, p.Protocol, errdefs.ErrInvalidArgument)
		}
		if p.PublishMode == swarm.PortConfigPublishModeIngress {
			if spec.Endpoint.Mode == swarm.ResolutionModeDNSRR {
				return fmt.Errorf("port published with ingress mode can't be used with dnsrr mode: %w", errdefs.ErrInvalidArgument)
			}
			key := fmt.Sprintf("%d/%s", p.PublishedPort, p.Protocol)
			if p.PublishedPort != 0 && seen[key] {
				return fmt.Errorf("port %s is published twice: %w", key, errdefs.ErrInvalidArgument)
			}
			seen[key] = true
		}
		spec.Endpoint.Ports[i] = p
	}
	for _, n := range spec.Networks {
		for _, a := range n.Aliases {
			if err := ids.ValidateName(a); err != nil {
				return fmt.Errorf("service %s: alias: %w", spec.Name, err)
			}
		}
	}
	return nil
}

// SetService creates or updates a service's networking: a VIP from each
// of its networks' pools (vip mode; persisted, kept across updates and
// restarts), DNS names (the service name and the network's aliases →
// VIP, or the tasks' addresses in dnsrr mode; tasks.<name> → the tasks'
// addresses) and its ingress ports on the routing mesh. The ingress
// network is created on first need. Backends are kept unless the service
// left their network. A port that another service or a container
// publishes is a Conflict; on any error nothing changes.
func (m *Manager) SetService(ctx context.Context, spec ServiceSpec) (_ swarm.Endpoint, err error) {
	spec.Endpoint.Ports = slices.Clone(spec.Endpoint.Ports)
	if err := validateServiceSpec(&spec); err != nil {
		return swarm.Endpoint{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.services[spec.ID]
	rec := &svcRecord{ID: spec.ID, Name: spec.Name, Mode: spec.Endpoint.Mode, VIPs: map[string]netip.Addr{}}
	for _, a := range spec.Networks {
		n, err := m.resolve(a.Target)
		if err != nil {
			return swarm.Endpoint{}, err
		}
		if n.Ingress {
			return swarm.Endpoint{}, fmt.Errorf("service cannot be explicitly attached to the ingress network %q: %w", n.Name, errdefs.ErrInvalidArgument)
		}
		if !n.Overlay {
			return swarm.Endpoint{}, fmt.Errorf("network %s is not eligible for swarm services (driver %s, scope local): %w", n.Name, n.Driver, errdefs.ErrInvalidArgument)
		}
		if _, dup := rec.onNetwork(n.ID); dup {
			return swarm.Endpoint{}, fmt.Errorf("service %s joins network %s twice: %w", spec.Name, n.Name, errdefs.ErrInvalidArgument)
		}
		rec.Networks = append(rec.Networks, swarm.NetworkAttachmentConfig{Target: n.ID, Aliases: slices.Clone(a.Aliases), DriverOpts: a.DriverOpts})
	}
	for _, s := range m.services {
		if s.ID != spec.ID && strings.EqualFold(s.Name, spec.Name) {
			return swarm.Endpoint{}, fmt.Errorf("service name %s is used by service %s: %w", spec.Name, ids.Short(s.ID), errdefs.ErrConflict)
		}
	}

	// Published ports: keep the reservations the service already holds,
	// make the new ones, give up the dropped ones only once all is done.
	oldRes := m.svcReserved[spec.ID]
	keep := map[string]io.Closer{}
	var made []io.Closer
	defer func() {
		if err != nil {
			closeAll(made)
		}
	}()
	needIngress := false
	for _, p := range spec.Endpoint.Ports {
		if p.PublishMode != swarm.PortConfigPublishModeIngress {
			rec.Ports = append(rec.Ports, p)
			continue
		}
		needIngress = true
		if p.PublishedPort == 0 && old != nil {
			// An update keeps the port picked before for the same target.
			for _, op := range old.ingressPorts() {
				if op.TargetPort == p.TargetPort && op.Protocol == p.Protocol && !m.portTaken(rec, op) {
					p.PublishedPort = op.PublishedPort
					break
				}
			}
		}
		if p.PublishedPort == 0 {
			c, port, err := m.reserveDynamic(rec, string(p.Protocol))
			if err != nil {
				return swarm.Endpoint{}, err
			}
			made = append(made, c)
			p.PublishedPort = uint32(port)
			rec.Ports = append(rec.Ports, p)
			keep[portKey(p)] = c
			continue
		}
		if err := m.checkPortFree(spec.ID, p); err != nil {
			return swarm.Endpoint{}, err
		}
		if c, ok := oldRes[portKey(p)]; ok {
			keep[portKey(p)] = c
		} else {
			c, err := reserveServicePort(m.host.NS(), string(p.Protocol), uint16(p.PublishedPort))
			if err != nil {
				return swarm.Endpoint{}, err
			}
			made = append(made, c)
			keep[portKey(p)] = c
		}
		rec.Ports = append(rec.Ports, p)
	}
	if needIngress {
		in, err := m.ensureIngressLocked(ctx)
		if err != nil {
			return swarm.Endpoint{}, err
		}
		rec.Networks = append(rec.Networks, swarm.NetworkAttachmentConfig{Target: in.ID})
	}

	// VIPs: kept per network, new ones leased, the rest released below.
	var leased []string
	defer func() {
		if err != nil {
			for _, nid := range leased {
				_ = m.ipam.Release(nid, vipLease(spec.ID))
			}
		}
	}()
	if rec.Mode == swarm.ResolutionModeVIP {
		for _, a := range rec.Networks {
			if old != nil {
				if vip, ok := old.VIPs[a.Target]; ok {
					rec.VIPs[a.Target] = vip
					continue
				}
			}
			vip, err := m.ipam.Allocate(a.Target, vipLease(spec.ID), netip.Addr{})
			if err != nil {
				return swarm.Endpoint{}, fmt.Errorf("service %s: VIP on network %s: %w", spec.Name, m.networks[a.Target].Name, err)
			}
			leased = append(leased, a.Target)
			rec.VIPs[a.Target] = vip
		}
	}
	if old != nil {
		for _, b := range old.Backends {
			if _, ok := rec.onNetwork(b.NetworkID); ok {
				rec.Backends = append(rec.Backends, b)
			}
		}
	}
	if err := m.putService(rec); err != nil {
		return swarm.Endpoint{}, err
	}
	m.services[spec.ID] = rec
	if err := m.applyLocked(); err != nil {
		if old != nil {
			m.services[spec.ID] = old
			_ = m.putService(old)
		} else {
			delete(m.services, spec.ID)
			_ = m.delService(spec.ID)
		}
		return swarm.Endpoint{}, err
	}
	// Committed: drop what the old spec held and the new one does not.
	m.svcReserved[spec.ID] = keep
	for k, c := range oldRes {
		if keep[k] != c {
			_ = c.Close()
		}
	}
	if old != nil {
		for nid := range old.VIPs {
			if _, ok := rec.VIPs[nid]; !ok {
				if err := m.ipam.Release(nid, vipLease(spec.ID)); err != nil {
					m.log.WarnContext(ctx, "release VIP", "service", spec.Name, "err", err)
				}
			}
		}
	}
	m.syncVIPsLocked(ctx, rec, old)
	m.log.InfoContext(ctx, "service networking set", "service", spec.Name, "id", ids.Short(spec.ID), "vips", len(rec.VIPs), "ingress_ports", len(rec.ingressPorts()))
	return rec.endpoint(spec.Endpoint, m.networks), nil
}

func portKey(p swarm.PortConfig) string { return fmt.Sprintf("%d/%s", p.PublishedPort, p.Protocol) }

// checkPortFree refuses an ingress port another service or a container publishes.
func (m *Manager) checkPortFree(serviceID string, p swarm.PortConfig) error {
	for _, s := range m.services {
		if s.ID == serviceID {
			continue
		}
		for _, op := range s.ingressPorts() {
			if op.PublishedPort == p.PublishedPort && op.Protocol == p.Protocol {
				return fmt.Errorf("port '%d' is already in use by service '%s' (%s) as an ingress port: %w", p.PublishedPort, s.Name, ids.Short(s.ID), errdefs.ErrConflict)
			}
		}
	}
	for cid, eps := range m.eps {
		for _, e := range eps {
			for _, bp := range e.Ports {
				if uint32(bp.HostPort) == p.PublishedPort && bp.Proto == string(p.Protocol) {
					return fmt.Errorf("port '%d' is already published by container %s: %w", p.PublishedPort, cmp.Or(e.ContainerName, ids.Short(cid)), errdefs.ErrConflict)
				}
			}
		}
	}
	return nil
}

func (m *Manager) portTaken(rec *svcRecord, p swarm.PortConfig) bool {
	return m.checkPortFree(rec.ID, p) != nil
}

// reserveDynamic reserves the first free port of Docker's dynamic range.
func (m *Manager) reserveDynamic(rec *svcRecord, proto string) (io.Closer, uint16, error) {
	for port := dynamicPortLo; port <= dynamicPortHi; port++ {
		p := swarm.PortConfig{Protocol: network.IPProtocol(proto), PublishedPort: uint32(port)}
		if slices.ContainsFunc(rec.Ports, func(q swarm.PortConfig) bool { return portKey(q) == portKey(p) }) || m.portTaken(rec, p) {
			continue
		}
		if c, err := reserveServicePort(m.host.NS(), proto, uint16(port)); err == nil {
			return c, uint16(port), nil
		}
	}
	return nil, 0, fmt.Errorf("no free port in %d-%d for an ingress port: %w", dynamicPortLo, dynamicPortHi, errdefs.ErrUnavailable)
}

// reserveServicePort binds, without listening and without SO_REUSEADDR, a
// socket on 0.0.0.0:port in the host namespace. That keeps the port from
// containers (their reservations fail with "port is already allocated")
// and host programs, while a TCP connection that no backend takes (the
// service has no running task) meets no listener and is refused at once
// instead of hanging in a backlog nobody accepts from.
func reserveServicePort(ns netns.NsHandle, proto string, port uint16) (io.Closer, error) {
	var f *os.File
	err := bridge.Do(ns, func() error {
		typ := unix.SOCK_STREAM
		if proto == "udp" {
			typ = unix.SOCK_DGRAM
		}
		fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(port)}); err != nil {
			_ = unix.Close(fd)
			return err
		}
		f = os.NewFile(uintptr(fd), fmt.Sprintf("ingress-%d-%s", port, proto))
		return nil
	})
	if errors.Is(err, unix.EADDRINUSE) {
		return nil, fmt.Errorf("Bind for 0.0.0.0:%d failed: port is already allocated: %w", port, errdefs.ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("reserve ingress port %d/%s: %w", port, proto, err)
	}
	return f, nil
}

// SetServiceBackends replaces the running tasks of a service: the VIP on
// each network spreads new connections over the tasks' addresses on that
// network, tasks.<name> resolves to them, and the service's ingress ports
// spread over the tasks' addresses on the ingress network (or one address
// per task when the tasks are not attached to it). An empty list leaves the
// VIP and the ports refusing connections.
func (m *Manager) SetServiceBackends(ctx context.Context, serviceID string, backends []Backend) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.services[serviceID]
	if !ok {
		return fmt.Errorf("service %s: %w", serviceID, errdefs.ErrNotFound)
	}
	var out []Backend
	for _, b := range backends {
		n, err := m.resolve(b.NetworkID)
		if err != nil {
			return fmt.Errorf("backend %s: %w", cmp.Or(b.TaskID, b.ContainerID), err)
		}
		if _, ok := rec.onNetwork(n.ID); !ok {
			return fmt.Errorf("backend %s: service %s is not on network %s: %w", cmp.Or(b.TaskID, b.ContainerID), rec.Name, n.Name, errdefs.ErrInvalidArgument)
		}
		b.NetworkID = n.ID
		if !b.IP.IsValid() {
			e, ok := m.eps[b.ContainerID][n.ID]
			if !ok {
				return fmt.Errorf("backend %s: container %s is not connected to network %s: %w", cmp.Or(b.TaskID, b.ContainerID), ids.Short(b.ContainerID), n.Name, errdefs.ErrNotFound)
			}
			b.IP = e.IP
		}
		if !b.IP.Is4() || !n.Subnet.Contains(b.IP) {
			return fmt.Errorf("backend %s: address %s is not in network %s (%s): %w", cmp.Or(b.TaskID, b.ContainerID), b.IP, n.Name, n.Subnet, errdefs.ErrInvalidArgument)
		}
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b Backend) int {
		return cmp.Or(strings.Compare(a.NetworkID, b.NetworkID), a.IP.Compare(b.IP), strings.Compare(a.TaskID, b.TaskID))
	})
	if slices.Equal(out, rec.Backends) {
		return nil
	}
	old := *rec
	next := *rec
	next.Backends = out
	if err := m.putService(&next); err != nil {
		return err
	}
	m.services[serviceID] = &next
	if len(rec.ingressPorts()) > 0 {
		if err := m.applyLocked(); err != nil {
			m.services[serviceID] = &old
			_ = m.putService(&old)
			return err
		}
	}
	m.syncVIPsLocked(ctx, &next, nil)
	return nil
}

// RemoveService deletes a service's networking: its VIPs go back to the
// pools, its ports are unpublished, its names stop resolving. Removing an
// unknown service is fine, so that a reconcile loop can repeat it.
func (m *Manager) RemoveService(ctx context.Context, serviceID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.removeServiceLocked(ctx, serviceID)
}

func (m *Manager) removeServiceLocked(ctx context.Context, serviceID string) error {
	rec, ok := m.services[serviceID]
	if !ok {
		return nil
	}
	if err := m.delService(serviceID); err != nil {
		return err
	}
	delete(m.services, serviceID)
	var errs []error
	for nid := range rec.VIPs {
		errs = append(errs, m.ipam.Release(nid, vipLease(serviceID)))
	}
	for _, c := range m.svcReserved[serviceID] {
		_ = c.Close()
	}
	delete(m.svcReserved, serviceID)
	errs = append(errs, m.applyLocked())
	m.syncVIPsLocked(ctx, nil, rec)
	m.log.InfoContext(ctx, "service networking removed", "service", rec.Name, "id", ids.Short(serviceID))
	return errors.Join(errs...)
}

// Services returns the endpoint of every service, by service ID.
func (m *Manager) Services() map[string]swarm.Endpoint {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[string]swarm.Endpoint, len(m.services))
	for id, s := range m.services {
		out[id] = s.endpoint(swarm.EndpointSpec{Mode: s.Mode, Ports: slices.Clone(s.Ports)}, m.networks)
	}
	return out
}

// ServiceOnNetwork reports whether service id is attached to network nid
// (an ID): one of its own networks, or ingress for its published ports.
func (m *Manager) ServiceOnNetwork(id, nid string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	rec, ok := m.services[id]
	if !ok {
		return false
	}
	_, on := rec.onNetwork(nid)
	return on
}

func (m *Manager) putService(s *svcRecord) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := m.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketServices).Put([]byte(s.ID), b) }); err != nil {
		return fmt.Errorf("store service %s: %w", s.Name, err)
	}
	return nil
}

func (m *Manager) delService(id string) error {
	return m.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketServices).Delete([]byte(id)) })
}

// dropNetworkFromServices forgets a network that is being removed in every
// service that uses it: its VIP goes back to the pool (the pool goes too)
// and its backends are dropped.
func (m *Manager) dropNetworkFromServices(nid string) error {
	var errs []error
	for id, s := range m.services {
		if _, ok := s.onNetwork(nid); !ok {
			continue
		}
		next := *s
		next.Networks = slices.DeleteFunc(slices.Clone(s.Networks), func(a swarm.NetworkAttachmentConfig) bool { return a.Target == nid })
		next.Backends = slices.DeleteFunc(slices.Clone(s.Backends), func(b Backend) bool { return b.NetworkID == nid })
		next.VIPs = map[string]netip.Addr{}
		for k, v := range s.VIPs {
			if k != nid {
				next.VIPs[k] = v
			}
		}
		if err := m.putService(&next); err != nil {
			errs = append(errs, err)
			continue
		}
		m.services[id] = &next
	}
	return errors.Join(errs...)
}

// vipsFor lists the VIPs a container sees on its networks.
func (m *Manager) vipsFor(containerID string) []nft.VIP {
	var out []nft.VIP
	for nid := range m.eps[containerID] {
		for _, s := range m.services {
			if vip, ok := s.VIPs[nid]; ok {
				out = append(out, nft.VIP{Addr: vip, Backends: s.backendsOn(nid)})
			}
		}
	}
	return out
}

// syncVIPsLocked brings the VIP table of every container on the networks
// of a and b (either may be nil) up to date.
func (m *Manager) syncVIPsLocked(ctx context.Context, a, b *svcRecord) {
	nets := map[string]bool{}
	for _, s := range []*svcRecord{a, b} {
		if s != nil {
			for nid := range s.VIPs {
				nets[nid] = true
			}
		}
	}
	var cids []string
	for cid, eps := range m.eps {
		for nid := range eps {
			if nets[nid] {
				cids = append(cids, cid)
				break
			}
		}
	}
	m.syncSandboxes(ctx, cids...)
}

// sandboxParallelism bounds the namespaces written at once. Each write
// replaces the table's rules, and the kernel waits an RCU grace period
// (~15 ms here) before a batch that deletes rules returns: one container
// after another, 30 containers took 460 ms; side by side the waits overlap.
const sandboxParallelism = 32

// syncSandboxes writes the VIP table of each container that changed (the
// last text applied is remembered), or deletes it when the container sees
// no VIP any more. Failures are logged: the container keeps running, and
// the next change or Restore retries.
func (m *Manager) syncSandboxes(ctx context.Context, cids ...string) {
	type job struct {
		cid, text string
		rs        *nft.Ruleset
		err       error
	}
	var jobs []*job
	for _, cid := range cids {
		j := &job{cid: cid}
		if vips := m.vipsFor(cid); len(vips) > 0 {
			if j.rs, j.err = nft.RenderVIPs(nft.VIPTable, vips); j.err == nil {
				j.text = j.rs.String()
			}
		}
		last, had := m.vipText[cid]
		if j.err == nil && (had && last == j.text || !had && j.text == "") {
			continue
		}
		jobs = append(jobs, j)
	}
	sem := make(chan struct{}, sandboxParallelism)
	var wg sync.WaitGroup
	for _, j := range jobs {
		if j.err != nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			j.err = writeVIPTable(m.NetNSPath(j.cid), j.rs)
		}()
	}
	wg.Wait()
	for _, j := range jobs {
		switch {
		case j.err != nil:
			delete(m.vipText, j.cid) // unknown: rewrite next time
			m.log.WarnContext(ctx, "service VIPs in container", "container", ids.Short(j.cid), "err", j.err)
		case j.rs == nil:
			delete(m.vipText, j.cid)
		default:
			m.vipText[j.cid] = j.text
		}
	}
}

// writeVIPTable replaces (rs nil: deletes) the VIP table in the namespace at nsPath.
func writeVIPTable(nsPath string, rs *nft.Ruleset) error {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return err
	}
	defer ns.Close()
	c, err := nft.Conn(int(ns))
	if err != nil {
		return err
	}
	if rs == nil {
		return nft.Delete(c, nft.VIPTable)
	}
	return nft.Apply(c, rs)
}

// serviceLookup answers DNS for services on network nid: a service name or
// one of its aliases on nid gives the VIP (vip mode) or the tasks'
// addresses (dnsrr), tasks.<name or alias> the tasks' addresses. found
// reports a name that belongs to a service, even one without tasks.
func serviceLookup(services map[string]*svcRecord, nid, name string) (addrs []netip.Addr, found bool) {
	bare, tasks := strings.CutPrefix(name, "tasks.")
	for _, s := range services {
		a, ok := s.onNetwork(nid)
		if !ok {
			continue
		}
		match := strings.EqualFold(bare, s.Name)
		for _, al := range a.Aliases {
			match = match || strings.EqualFold(bare, al)
		}
		if !match {
			continue
		}
		found = true
		vip, hasVIP := s.VIPs[nid]
		if hasVIP && !tasks {
			addrs = append(addrs, vip)
		} else {
			addrs = append(addrs, s.backendsOn(nid)...)
		}
	}
	return addrs, found
}

// restoreServicesLocked loads services, drops what refers to networks gone
// while the daemon was away, publishes their ports again and rewrites the
// VIP table of every container (the tables survive in the namespaces, but
// the last applied text does not).
func (m *Manager) restoreServicesLocked(ctx context.Context) error {
	var errs []error
	for id, s := range m.services {
		for _, a := range s.Networks {
			if _, ok := m.networks[a.Target]; !ok {
				errs = append(errs, m.dropNetworkFromServices(a.Target))
			}
		}
		if _, ok := m.svcReserved[id]; ok {
			continue
		}
		res := map[string]io.Closer{}
		for _, p := range m.services[id].ingressPorts() {
			c, err := reserveServicePort(m.host.NS(), string(p.Protocol), uint16(p.PublishedPort))
			if err != nil {
				m.log.WarnContext(ctx, "cannot re-reserve ingress port", "service", s.Name, "port", portKey(p), "err", err)
				continue
			}
			res[portKey(p)] = c
		}
		m.svcReserved[id] = res
	}
	for cid := range m.eps {
		// Unknown: a table a previous run left must be rewritten or deleted.
		m.vipText[cid] = "\x00unknown"
	}
	m.syncSandboxes(ctx, slices.Collect(maps.Keys(m.eps))...)
	return errors.Join(errs...)
}

// hasVIP reports whether epID is the VIP lease of a service on nid.
func (m *Manager) hasVIP(nid, epID string) bool {
	id, ok := strings.CutPrefix(epID, "vip/")
	if !ok {
		return false
	}
	s, ok := m.services[id]
	if !ok {
		return false
	}
	_, ok = s.VIPs[nid]
	return ok
}

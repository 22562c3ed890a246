package network

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/moby/api/types/network"

	"wharf.io/wharf/internal/ids"
	"wharf.io/wharf/network/bridge"
	"wharf.io/wharf/network/nft"
)

// Restore reconciles state after a daemon (re)start: containers alive says
// are gone lose their endpoints, leases and namespaces; the living get their
// port reservations and DNS back. Stray veths, bridges and namespaces that
// no record owns are deleted, then the nft table is rebuilt.
func (m *Manager) Restore(ctx context.Context, alive func(containerID string) bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for cid := range m.eps {
		if !alive(cid) {
			m.log.InfoContext(ctx, "releasing network of gone container", "container", ids.Short(cid))
			errs = append(errs, m.releaseLocked(cid))
			continue
		}
		for _, e := range m.eps[cid] {
			if _, ok := m.reserved[e.ID]; ok {
				continue
			}
			var reqs []portRequest
			for _, p := range e.Ports {
				cp, _ := network.PortFrom(p.ContainerPort, network.IPProtocol(p.Proto))
				reqs = append(reqs, portRequest{container: cp, hostIP: p.HostIP, lo: p.HostPort, hi: p.HostPort})
			}
			_, closers, err := m.reservePorts(reqs)
			if err != nil {
				m.log.WarnContext(ctx, "cannot re-reserve published ports", "container", ids.Short(cid), "err", err)
			}
			m.reserved[e.ID] = closers
		}
		if m.wantsDNS(cid) {
			if err := m.serveDNS(cid); err != nil {
				m.log.WarnContext(ctx, "cannot restart embedded DNS", "container", ids.Short(cid), "err", err)
			}
		}
	}
	// Namespaces without endpoints (none network, crash mid-attach).
	if ents, err := os.ReadDir(filepath.Join(m.cfg.ExecRoot, "netns")); err == nil {
		for _, ent := range ents {
			cid := ent.Name()
			if _, ok := m.eps[cid]; ok || alive(cid) {
				continue
			}
			errs = append(errs, bridge.DeleteNetNS(m.NetNSPath(cid)))
		}
	}
	// Links nobody owns: veths of endpoints lost in a crash, bridges of removed networks.
	owned := map[string]bool{}
	for _, n := range m.networks {
		owned[n.Bridge] = true
	}
	for _, eps := range m.eps {
		for _, e := range eps {
			owned[e.HostVeth] = true
		}
	}
	for _, prefix := range []string{m.cfg.VethPrefix, "wb-"} {
		names, err := m.host.OwnedLinks(prefix)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, name := range names {
			if !owned[name] && isOurs(name, prefix, m.cfg.VethPrefix) {
				m.log.InfoContext(ctx, "deleting stray link", "link", name)
				errs = append(errs, m.host.DeleteLink(name))
			}
		}
	}
	// Leases whose endpoint record is gone (crash between allocate and store).
	for nid, n := range m.networks {
		if n.Driver != "bridge" {
			continue
		}
		leases, err := m.ipam.Leases(nid)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for epID := range leases {
			if !m.hasEndpoint(nid, epID) && !m.hasVIP(nid, epID) {
				errs = append(errs, m.ipam.Release(nid, epID))
			}
		}
	}
	errs = append(errs, m.restoreServicesLocked(ctx), m.applyLocked())
	return errors.Join(errs...)
}

// isOurs guards against deleting links that merely share a prefix: ours
// are prefix + 11 hex digits (veths) or "wb-" + 12 hex digits (bridges).
func isOurs(name, prefix, vethPrefix string) bool {
	rest := strings.TrimPrefix(name, prefix)
	want := 11
	if prefix == "wb-" {
		want = 12
	}
	return len(rest) == want && ids.IsHexPrefix(rest) && (prefix != vethPrefix || len(name) == len(vethPrefix)+11)
}

func (m *Manager) hasEndpoint(networkID, epID string) bool {
	for _, eps := range m.eps {
		if e, ok := eps[networkID]; ok && e.ID == epID {
			return true
		}
	}
	return false
}

// Close stops the embedded DNS and gives up port reservations. Networks,
// namespaces and rules stay, so running containers keep working (live restore).
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dns.Close()
	for id, cs := range m.reserved {
		closeAll(cs)
		delete(m.reserved, id)
	}
	for id, cs := range m.svcReserved {
		for _, c := range cs {
			_ = c.Close()
		}
		delete(m.svcReserved, id)
	}
	return m.host.Close()
}

// Uninstall removes everything the manager put on the host: every
// container's network, every bridge and wharf's nft table. The database
// records of networks are kept (they are recreated at the next New).
func (m *Manager) Uninstall(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for cid := range m.eps {
		errs = append(errs, m.releaseLocked(cid))
	}
	for _, n := range m.networks {
		if n.Bridge != "" {
			errs = append(errs, m.host.DeleteLink(n.Bridge))
		}
	}
	c, err := nft.Conn(int(m.host.NS()))
	if err == nil {
		err = nft.Delete(c, m.cfg.TableName)
	}
	errs = append(errs, err)
	return errors.Join(errs...)
}

package network

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	mdns "github.com/miekg/dns"

	"wharf.io/wharf/internal/ids"
)

// lookup answers the embedded DNS: names, aliases and short IDs of endpoints
// on the user-defined networks the asking container is attached to, bare or
// qualified with the network name ("redis.appnet"). On a network where the
// name is a swarm service's (or tasks.<service>), the service answers alone
// (see serviceLookup), even with no address: the name is known, and task
// containers' own aliases for it must not add their addresses to a VIP.
func (m *Manager) lookup(containerID, name string) ([]netip.Addr, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []netip.Addr
	known := false
	for nid := range m.eps[containerID] {
		n := m.networks[nid]
		if n == nil || !n.dns() {
			continue
		}
		bare := strings.TrimSuffix(name, "."+strings.ToLower(n.Name))
		if addrs, ok := serviceLookup(m.services, nid, bare); ok {
			known = true
			for _, a := range addrs {
				if !slices.Contains(out, a) {
					out = append(out, a)
				}
			}
			continue
		}
		for cid, eps := range m.eps {
			e, ok := eps[nid]
			if !ok {
				continue
			}
			match := strings.EqualFold(bare, e.ContainerName) || bare == ids.Short(cid)
			for _, a := range e.Aliases {
				match = match || strings.EqualFold(bare, a)
			}
			if match && !slices.Contains(out, e.IP) {
				out = append(out, e.IP)
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out, known || len(out) > 0
}

// internalOnly reports whether every network of the container is --internal:
// as in Docker, such containers get no answers from outside resolvers.
func (m *Manager) internalOnly(containerID string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	eps := m.eps[containerID]
	for nid := range eps {
		if n := m.networks[nid]; n == nil || !n.Internal {
			return false
		}
	}
	return len(eps) > 0
}

// ResolvConf returns the resolv.conf for a container: the embedded server
// for containers on a user-defined network, else the host's resolvers minus
// loopback ones (unreachable from the container), falling back to public
// resolvers as Docker does.
func (m *Manager) ResolvConf(containerID string) []byte {
	m.mu.RLock()
	embedded := m.wantsDNS(containerID)
	m.mu.RUnlock()
	var b bytes.Buffer
	var search, options, servers []string
	if cc, err := mdns.ClientConfigFromFile(m.cfg.ResolvConf); err == nil {
		for _, srv := range cc.Servers {
			if a, err := netip.ParseAddr(srv); err == nil && a.Is4() && !a.IsLoopback() {
				servers = append(servers, srv)
			}
		}
		search = cc.Search
		if cc.Ndots != 1 {
			options = append(options, fmt.Sprintf("ndots:%d", cc.Ndots))
		}
	}
	if embedded {
		servers = []string{"127.0.0.11"}
		options = []string{"ndots:0"}
	} else if len(servers) == 0 {
		servers = []string{"8.8.8.8", "8.8.4.4"}
	}
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return b.Bytes()
}

package network

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	bolt "go.etcd.io/bbolt"

	"wharf.io/wharf/internal/ids"
	"wharf.io/wharf/network/bridge"
	"wharf.io/wharf/network/dns"
	"wharf.io/wharf/network/ipam"
	"wharf.io/wharf/network/nft"
)

// Config configures a Manager. Zero values pick Docker-like defaults.
type Config struct {
	// ExecRoot holds runtime state; namespaces are bind-mounted at ExecRoot/netns/<containerID>.
	ExecRoot string
	// BridgeName is the default network's bridge ("wharf0").
	BridgeName string
	// DefaultSubnet of the default network; "" picks a /16 that overlaps no
	// host route or address (docker0 included), trying 172.30/16, 172.31/16, 10.200-254/16.
	DefaultSubnet string
	// TableName is wharf's nftables table (family ip), "wharf" by default.
	TableName string
	// Logger; slog.Default() if nil.
	Logger *slog.Logger
	// HostNetNS is the path of the namespace that plays the host (bridges,
	// host veths, nft table, port reservations). "" is the daemon's own
	// namespace; tests use a private one.
	HostNetNS string
	// ResolvConf is the host's resolver file (/etc/resolv.conf).
	ResolvConf string
	// Upstreams overrides the resolvers read from ResolvConf for DNS forwarding.
	Upstreams []string
	// MTU of bridges and veths; 0 keeps the kernel default (1500).
	MTU int
	// VethPrefix names host-side veths (1-4 bytes, "wv" by default; the name
	// is the prefix plus 11 hex digits of the endpoint ID). Restore deletes
	// stray links of that shape.
	VethPrefix string
}

// Names of the networks every engine has, as in Docker.
const (
	NetworkBridge = network.NetworkBridge
	NetworkHost   = network.NetworkHost
	NetworkNone   = network.NetworkNone
)

// Bucket names in the shared metadata database.
var (
	bucketNetworks  = []byte("network.networks")
	bucketEndpoints = []byte("network.endpoints")
)

// netRecord is a network as persisted.
type netRecord struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Driver   string            `json:"driver"` // bridge, host, null
	Created  time.Time         `json:"created"`
	Subnet   netip.Prefix      `json:"subnet,omitzero"`
	Gateway  netip.Addr        `json:"gateway,omitzero"`
	Bridge   string            `json:"bridge,omitempty"`
	Internal bool              `json:"internal,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Options  map[string]string `json:"options,omitempty"`
	// Overlay marks a swarm-scoped "overlay" network. On one node it is a
	// bridge like a user network (VXLAN between machines comes later);
	// inspect shows it as docker's overlay driver, scope swarm.
	Overlay    bool `json:"overlay,omitempty"`
	Attachable bool `json:"attachable,omitempty"`
	// Ingress marks the routing mesh's overlay network: no name
	// resolution on it, as in Docker.
	Ingress bool `json:"ingress,omitempty"`
}

// predefined reports whether the network is one of bridge, host, none.
func (n *netRecord) predefined() bool {
	return n.Name == NetworkBridge || n.Name == NetworkHost || n.Name == NetworkNone
}

// dns reports whether containers on n get the embedded DNS server.
func (n *netRecord) dns() bool { return n.Driver == "bridge" && n.Name != NetworkBridge && !n.Ingress }

// epRecord is an endpoint as persisted.
type epRecord struct {
	ID            string      `json:"id"`
	ContainerID   string      `json:"container_id"`
	ContainerName string      `json:"container_name"`
	NetworkID     string      `json:"network_id"`
	IfName        string      `json:"ifname"`
	HostVeth      string      `json:"host_veth"`
	IP            netip.Addr  `json:"ip"`
	MAC           string      `json:"mac"`
	Aliases       []string    `json:"aliases,omitempty"`
	Ports         []boundPort `json:"ports,omitempty"`
	DefaultRoute  bool        `json:"default_route,omitempty"`
	Created       time.Time   `json:"created"`
}

// boundPort is a reserved host port mapped to a container port.
type boundPort struct {
	Proto         string     `json:"proto"`
	HostIP        netip.Addr `json:"host_ip,omitzero"` // invalid = all addresses
	HostPort      uint16     `json:"host_port"`
	ContainerPort uint16     `json:"container_port"`
}

// Manager owns wharf's networks. It is safe for concurrent use.
type Manager struct {
	cfg  Config
	db   *bolt.DB
	ipam *ipam.Allocator
	host *bridge.Host
	dns  *dns.Server
	nft  *nft.Applier
	log  *slog.Logger

	mu       sync.RWMutex
	networks map[string]*netRecord
	eps      map[string]map[string]*epRecord // containerID → networkID → endpoint
	reserved map[string][]io.Closer          // endpointID → host port sockets
	// services are the swarm services set through SetService (persisted).
	services map[string]*svcRecord
	// svcReserved holds the host sockets reserving each service's
	// ingress ports (service ID → "port/proto" → socket).
	svcReserved map[string]map[string]io.Closer
	// vipText is the VIP table last applied in each container's namespace.
	vipText map[string]string
	bridges *bridgeDriver
}

// New opens the manager over db: it loads persisted networks, creates the
// predefined ones on first start, makes sure every bridge exists and installs
// wharf's nftables table. Call Restore next to reconcile endpoints.
func New(db *bolt.DB, cfg Config) (*Manager, error) {
	if cfg.ExecRoot == "" {
		return nil, fmt.Errorf("network: ExecRoot is required: %w", errdefs.ErrInvalidArgument)
	}
	if cfg.BridgeName == "" {
		cfg.BridgeName = "wharf0"
	}
	if cfg.TableName == "" {
		cfg.TableName = "wharf"
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = "/etc/resolv.conf"
	}
	if cfg.VethPrefix == "" {
		cfg.VethPrefix = "wv"
	}
	if len(cfg.VethPrefix) > 4 || strings.HasPrefix(cfg.VethPrefix, "wb-") {
		return nil, fmt.Errorf("network: veth prefix %q must be 1-4 bytes and not wb-: %w", cfg.VethPrefix, errdefs.ErrInvalidArgument)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger.With("component", "network")
	a, err := ipam.New(db)
	if err != nil {
		return nil, err
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketNetworks, bucketEndpoints, bucketServices} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	host, err := bridge.Open(cfg.HostNetNS)
	if err != nil {
		return nil, err
	}
	// The table name is unique per daemon on a host: it tells this
	// daemon's links from another's (tests, a second daemon).
	host.SetOwner("wharf:" + cfg.TableName)
	m := &Manager{
		cfg: cfg, db: db, ipam: a, host: host, log: log,
		networks: map[string]*netRecord{},
		eps:      map[string]map[string]*epRecord{},
		reserved: map[string][]io.Closer{},
		services: map[string]*svcRecord{}, svcReserved: map[string]map[string]io.Closer{}, vipText: map[string]string{},
		bridges: &bridgeDriver{host: host, mtu: cfg.MTU},
	}
	ups := cfg.Upstreams
	if ups == nil {
		if ups, err = dns.HostResolvers(cfg.ResolvConf); err != nil {
			log.Warn("no upstream resolvers for embedded DNS", "err", err)
		}
	}
	m.dns = dns.New(m.lookup, ups, "", log)
	m.dns.NoForward = m.internalOnly
	conn, err := nft.Conn(int(host.NS()))
	if err != nil {
		_ = host.Close()
		return nil, fmt.Errorf("nftables: %w", err)
	}
	m.nft = nft.NewApplier(conn)
	if err := m.init(); err != nil {
		_ = host.Close()
		return nil, err
	}
	return m, nil
}

func (m *Manager) init() error {
	if err := m.load(); err != nil {
		return err
	}
	if err := m.host.Sysctl("net/ipv4/ip_forward", "1"); err != nil {
		return fmt.Errorf("network: enable ip_forward: %w", err)
	}
	if m.byName(NetworkBridge) == nil {
		subnet, err := m.defaultSubnet()
		if err != nil {
			return err
		}
		n := &netRecord{ID: ids.New(), Name: NetworkBridge, Driver: "bridge", Created: time.Now().UTC(),
			Subnet: subnet, Gateway: ipam.DefaultGateway(subnet), Bridge: m.cfg.BridgeName,
			Options: map[string]string{"com.docker.network.bridge.name": m.cfg.BridgeName, "com.docker.network.bridge.default_bridge": "true"}}
		if err := m.ipam.AddPool(n.ID, ipam.Pool{Subnet: n.Subnet, Gateway: n.Gateway}); err != nil {
			return err
		}
		if err := m.putNetwork(n); err != nil {
			return err
		}
	}
	for name, driver := range map[string]string{NetworkHost: "host", NetworkNone: "null"} {
		if m.byName(name) == nil {
			if err := m.putNetwork(&netRecord{ID: ids.New(), Name: name, Driver: driver, Created: time.Now().UTC()}); err != nil {
				return err
			}
		}
	}
	for _, n := range m.networks {
		if n.Driver != "bridge" {
			continue
		}
		if err := m.driver(n).create(n); err != nil {
			return err
		}
	}
	return m.applyLocked()
}

func (m *Manager) load() error {
	return m.db.View(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketNetworks).ForEach(func(k, v []byte) error {
			var n netRecord
			if err := json.Unmarshal(v, &n); err != nil {
				return fmt.Errorf("network record %s: %w", k, err)
			}
			m.networks[n.ID] = &n
			return nil
		}); err != nil {
			return err
		}
		if err := tx.Bucket(bucketEndpoints).ForEach(func(k, v []byte) error {
			var e epRecord
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("endpoint record %s: %w", k, err)
			}
			m.addEP(&e)
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bucketServices).ForEach(func(k, v []byte) error {
			var s svcRecord
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("service record %s: %w", k, err)
			}
			m.services[s.ID] = &s
			return nil
		})
	})
}

func (m *Manager) addEP(e *epRecord) {
	if m.eps[e.ContainerID] == nil {
		m.eps[e.ContainerID] = map[string]*epRecord{}
	}
	m.eps[e.ContainerID][e.NetworkID] = e
}

func (m *Manager) putNetwork(n *netRecord) error {
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	if err := m.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketNetworks).Put([]byte(n.ID), b) }); err != nil {
		return fmt.Errorf("store network %s: %w", n.Name, err)
	}
	m.networks[n.ID] = n
	return nil
}

func epKey(containerID, networkID string) []byte { return []byte(containerID + "/" + networkID) }

func (m *Manager) putEP(e *epRecord) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return m.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketEndpoints).Put(epKey(e.ContainerID, e.NetworkID), b) })
}

func (m *Manager) delEP(e *epRecord) error {
	if err := m.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketEndpoints).Delete(epKey(e.ContainerID, e.NetworkID)) }); err != nil {
		return err
	}
	delete(m.eps[e.ContainerID], e.NetworkID)
	if len(m.eps[e.ContainerID]) == 0 {
		delete(m.eps, e.ContainerID)
	}
	return nil
}

func (m *Manager) byName(name string) *netRecord {
	for _, n := range m.networks {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// resolve finds a network by full ID, name, or unique ID prefix, as Docker does.
func (m *Manager) resolve(idOrName string) (*netRecord, error) {
	if idOrName == "" {
		return nil, fmt.Errorf("network name is empty: %w", errdefs.ErrInvalidArgument)
	}
	if n, ok := m.networks[idOrName]; ok {
		return n, nil
	}
	if n := m.byName(idOrName); n != nil {
		return n, nil
	}
	var found *netRecord
	if ids.IsHexPrefix(idOrName) {
		for id, n := range m.networks {
			if strings.HasPrefix(id, idOrName) {
				if found != nil {
					return nil, fmt.Errorf("network %s is ambiguous: %w", idOrName, errdefs.ErrInvalidArgument)
				}
				found = n
			}
		}
	}
	if found == nil {
		return nil, fmt.Errorf("network %s not found: %w", idOrName, errdefs.ErrNotFound)
	}
	return found, nil
}

// NetNSPath is where the container's network namespace is bind-mounted; the
// engine puts it in the OCI spec's network namespace path.
func (m *Manager) NetNSPath(containerID string) string {
	return filepath.Join(m.cfg.ExecRoot, "netns", containerID)
}

// state is the input of nft.Render.
func (m *Manager) state() nft.State {
	s := nft.State{Table: m.cfg.TableName}
	for _, n := range m.networks {
		if n.Driver == "bridge" {
			s.Networks = append(s.Networks, nft.Network{Bridge: n.Bridge, Subnet: n.Subnet, Internal: n.Internal})
		}
	}
	for _, eps := range m.eps {
		for _, e := range eps {
			for _, p := range e.Ports {
				s.Ports = append(s.Ports, nft.Port{Proto: p.Proto, HostIP: p.HostIP, HostPort: p.HostPort, ContainerIP: e.IP, ContainerPort: p.ContainerPort})
			}
		}
	}
	ingressID := ""
	for _, n := range m.networks {
		if n.Ingress {
			ingressID = n.ID
		}
	}
	for _, svc := range m.services {
		ports := svc.ingressPorts()
		if len(ports) == 0 {
			continue
		}
		backends := svc.meshBackends(ingressID)
		for _, p := range ports {
			s.Services = append(s.Services, nft.ServicePort{Proto: string(p.Protocol), HostPort: uint16(p.PublishedPort),
				TargetPort: uint16(p.TargetPort), Backends: backends})
		}
	}
	return s
}

func (m *Manager) applyLocked() error {
	rs, err := nft.Render(m.state())
	if err != nil {
		return err
	}
	return m.nft.Apply(rs)
}

package cluster

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"

	"wharf.io/wharf/cluster/ca"
	"wharf.io/wharf/cluster/store"
)

// Init creates a swarm with this node as its only manager and returns the
// node's ID. The listen address defaults to 0.0.0.0:2377; the advertise
// address to the listen address, or (listening on all addresses) the
// address of the interface of the default route.
func (c *Cluster) Init(ctx context.Context, req swarm.InitRequest) (string, error) {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.mu.RLock()
	exists := c.st != nil
	c.mu.RUnlock()
	if exists {
		return "", ErrSwarmExists
	}
	if req.AutoLockManagers {
		return "", fmt.Errorf("autolock is not supported by wharf yet: %w", errdefs.ErrNotImplemented)
	}
	if req.ForceNewCluster {
		return "", fmt.Errorf("--force-new-cluster is not supported by wharf yet: %w", errdefs.ErrNotImplemented)
	}
	availability := req.Availability
	if availability == "" {
		availability = swarm.NodeAvailabilityActive
	}
	if err := validAvailability(availability); err != nil {
		return "", err
	}
	listen, err := resolveListenAddr(req.ListenAddr)
	if err != nil {
		return "", err
	}
	advertise, err := resolveAdvertiseAddr(req.AdvertiseAddr, listen)
	if err != nil {
		return "", err
	}
	spec := withSpecDefaults(req.Spec)

	// A swarm dir without state.json is the leftover of a failed or
	// interrupted init (or a leave cut short): start clean.
	if err := os.RemoveAll(c.dir()); err != nil {
		return "", err
	}
	if err := os.MkdirAll(c.dir(), 0o700); err != nil {
		return "", err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(c.dir())
		}
	}()

	now := time.Now().UTC()
	st := state{NodeID: store.NewID(), ClusterID: store.NewID(), ListenAddr: listen, AdvertiseAddr: advertise}
	advIP := net.ParseIP(hostOf(advertise))
	st.PeerURL = "https://" + net.JoinHostPort(advIP.String(), strconv.Itoa(c.cfg.EtcdPeerPort))
	root, err := ca.NewRootCA(now)
	if err != nil {
		return "", err
	}
	ips := []net.IP{advIP}
	if !advIP.IsLoopback() {
		ips = append(ips, net.IPv4(127, 0, 0, 1))
	}
	nc, err := root.IssueNodeCert(st.NodeID, st.ClusterID, ca.ManagerRole, ips, spec.CAConfig.NodeCertExpiry, now)
	if err != nil {
		return "", err
	}
	if err := ca.SaveNode(c.certDir(), root, nc); err != nil {
		return "", err
	}
	node, err := ca.LoadNode(c.certDir())
	if err != nil {
		return "", err
	}
	m, err := c.start(ctx, st, node, true)
	if err != nil {
		return "", err
	}
	defer func() {
		if !ok {
			c.stop(m)
		}
	}()
	st = m.state

	worker, err := ca.NewJoinToken(root)
	if err != nil {
		return "", err
	}
	manager, err := ca.NewJoinToken(root)
	if err != nil {
		return "", err
	}
	pool := req.DefaultAddrPool
	if len(pool) == 0 {
		pool = defaultAddrPool
	}
	subnetSize := req.SubnetSize
	if subnetSize == 0 {
		subnetSize = 24
	}
	dataPort := req.DataPathPort
	if dataPort == 0 {
		dataPort = 4789
	}
	cl := &store.Cluster{
		ClusterInfo: swarm.ClusterInfo{ID: st.ClusterID, Meta: swarm.Meta{CreatedAt: now}, Spec: spec,
			TLSInfo: tlsInfo(root.Cert), DefaultAddrPool: pool, SubnetSize: subnetSize, DataPathPort: dataPort},
		JoinTokens: swarm.JoinTokens{Worker: worker, Manager: manager},
		RootCA:     store.RootCA{CertPEM: root.CertPEM, KeyPEM: root.KeyPEM},
	}
	self := &swarm.Node{
		ID:   st.NodeID,
		Meta: swarm.Meta{CreatedAt: now},
		Spec: swarm.NodeSpec{Annotations: swarm.Annotations{Labels: map[string]string{}},
			Role: swarm.NodeRoleManager, Availability: availability},
		Description:   c.describe(node),
		Status:        swarm.NodeStatus{State: swarm.NodeStateReady, Addr: hostOf(advertise)},
		ManagerStatus: &swarm.ManagerStatus{Reachability: swarm.ReachabilityReachable, Addr: advertise},
	}
	clOp, err := m.store.Clusters().CreateOp(cl)
	if err != nil {
		return "", err
	}
	nodeOp, err := m.store.Nodes().CreateOp(self)
	if err != nil {
		return "", err
	}
	if err := m.store.Commit(ctx, clOp, nodeOp); err != nil {
		return "", err
	}
	// state.json last: from here on a restart brings the swarm back.
	if err := c.saveState(st); err != nil {
		return "", err
	}
	ok = true
	c.mu.Lock()
	c.restoreErr = nil
	c.mu.Unlock()
	c.activate(m)
	c.log.Info("swarm initialized", "node", st.NodeID, "cluster", st.ClusterID, "listen", listen, "advertise", advertise, "etcd_peer", st.PeerURL)
	return st.NodeID, nil
}

// Join answers NotImplemented: a second node needs the dispatcher and
// etcd member-add, which come next.
func (c *Cluster) Join(ctx context.Context, req swarm.JoinRequest) error {
	c.mu.RLock()
	exists := c.st != nil
	c.mu.RUnlock()
	if exists {
		return ErrSwarmExists
	}
	return fmt.Errorf("joining another node is not supported yet: %w", errdefs.ErrNotImplemented)
}

// Leave takes the node out of its swarm. The last manager refuses unless
// force, since leaving erases the swarm; with force everything under
// <root>/swarm goes, after the OnLeave hooks ran.
func (c *Cluster) Leave(ctx context.Context, force bool) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.mu.RLock()
	m, restoreErr := c.st, c.restoreErr
	hooks := append([]func(context.Context){}, c.leaveHooks...)
	c.mu.RUnlock()
	if m == nil {
		if restoreErr == nil {
			return ErrNoSwarm
		}
		// A membership that failed to come back can still be left.
		if !force {
			return fmt.Errorf("this node's swarm could not be restored (%v); use `--force` to leave it: %w", restoreErr, errdefs.ErrUnavailable)
		}
	}
	if m != nil && !force {
		// Every node is a manager until join exists, and the only one:
		// leaving erases the swarm.
		return fmt.Errorf("You are attempting to leave the swarm on a node that is participating as a manager. Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message.: %w", errdefs.ErrUnavailable)
	}
	if m != nil {
		m.cancel()
		m.wg.Wait()
	}
	for _, h := range hooks {
		h(ctx)
	}
	c.mu.Lock()
	c.st, c.restoreErr = nil, nil
	c.mu.Unlock()
	if m != nil {
		c.stop(m)
	}
	if err := os.RemoveAll(c.dir()); err != nil {
		return fmt.Errorf("remove swarm state: %w", err)
	}
	c.log.Info("left the swarm")
	return nil
}

// describe is the node's description plus its certificate's TLS info.
func (c *Cluster) describe(node *ca.Node) swarm.NodeDescription {
	d := c.cfg.Describe()
	d.TLSInfo = tlsInfo(node.Root.Cert)
	return d
}

// tlsInfo is how docker shows a root: PEM, issuer subject and public key.
func tlsInfo(root *x509.Certificate) swarm.TLSInfo {
	return swarm.TLSInfo{
		TrustRoot:           string(pemCert(root)),
		CertIssuerSubject:   root.RawSubject,
		CertIssuerPublicKey: root.RawSubjectPublicKeyInfo,
	}
}

func validAvailability(a swarm.NodeAvailability) error {
	switch a {
	case swarm.NodeAvailabilityActive, swarm.NodeAvailabilityPause, swarm.NodeAvailabilityDrain:
		return nil
	}
	return fmt.Errorf("invalid availability %q: must be active, pause or drain: %w", a, errdefs.ErrInvalidArgument)
}

// resolveListenAddr accepts docker's forms: "", "host", "host:port",
// ":port", "iface", "iface:port"; the default port is 2377.
func resolveListenAddr(addr string) (string, error) {
	if addr == "" {
		addr = DefaultListenAddr
	}
	host, port, err := splitAddr(addr, "2377")
	if err != nil {
		return "", fmt.Errorf("invalid listen address %q: %v: %w", addr, err, errdefs.ErrInvalidArgument)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	ip, err := ipOf(host)
	if err != nil {
		return "", fmt.Errorf("invalid listen address %q: %v: %w", addr, err, errdefs.ErrInvalidArgument)
	}
	return net.JoinHostPort(ip.String(), port), nil
}

// resolveAdvertiseAddr picks the address other nodes reach this one at.
func resolveAdvertiseAddr(addr, listen string) (string, error) {
	_, listenPort, _ := net.SplitHostPort(listen)
	if addr != "" {
		host, port, err := splitAddr(addr, listenPort)
		if err != nil || host == "" {
			return "", fmt.Errorf("invalid advertise address %q: %w", addr, errdefs.ErrInvalidArgument)
		}
		ip, err := ipOf(host)
		if err != nil {
			return "", fmt.Errorf("invalid advertise address %q: %v: %w", addr, err, errdefs.ErrInvalidArgument)
		}
		if ip.IsUnspecified() {
			return "", fmt.Errorf("advertise address must be a non-zero IP address or network interface (with optional port number): %w", errdefs.ErrInvalidArgument)
		}
		return net.JoinHostPort(ip.String(), port), nil
	}
	if ip := net.ParseIP(hostOf(listen)); ip != nil && !ip.IsUnspecified() {
		return listen, nil
	}
	ip, err := defaultRouteIP()
	if err != nil {
		return "", fmt.Errorf("could not find the system's IP address - specify one with --advertise-addr: %w", errdefs.ErrInvalidArgument)
	}
	return net.JoinHostPort(ip.String(), listenPort), nil
}

// splitAddr splits host[:port], defaulting the port.
func splitAddr(addr, defPort string) (host, port string, err error) {
	if h, p, err := net.SplitHostPort(addr); err == nil {
		host, port = h, p
	} else {
		host, port = addr, defPort
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("invalid port %q", port)
	}
	return host, port, nil
}

// ipOf is host as an IP, or the first IPv4 of the interface named host.
func ipOf(host string) (net.IP, error) {
	if ip := net.ParseIP(host); ip != nil {
		return ip, nil
	}
	iface, err := net.InterfaceByName(host)
	if err != nil {
		return nil, fmt.Errorf("%q is neither an IP address nor a network interface", host)
	}
	addrs, err := iface.Addrs()
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			return n.IP.To4(), nil
		}
	}
	return nil, fmt.Errorf("interface %s has no IPv4 address", host)
}

// defaultRouteIP is the source address the kernel would use to reach the
// outside world (a UDP "connect" sends nothing).
func defaultRouteIP() (net.IP, error) {
	conn, err := net.Dial("udp4", "192.0.2.1:9")
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).IP, nil
}

func hostOf(hostport string) string {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	return h
}

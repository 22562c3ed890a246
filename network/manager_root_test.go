package network

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	mdns "github.com/miekg/dns"
	"github.com/moby/moby/api/types/network"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	bolt "go.etcd.io/bbolt"

	"wharf.io/wharf/internal/ids"
	"wharf.io/wharf/internal/testutil"
	"wharf.io/wharf/network/bridge"
	"wharf.io/wharf/network/nft"
)

// hostAddr plays the host's own address in the private "host" namespace.
var hostAddr = netip.MustParseAddr("203.0.113.1")

type env struct {
	t      *testing.T
	dir    string
	hostNS string
	dbPath string
	db     *bolt.DB
	cfg    Config
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// newEnv makes a private network namespace that plays the host, a bbolt
// database and a Config with unique names. Everything is removed in
// t.Cleanup, and the real host's links and nft tables are checked unchanged.
func newEnv(t *testing.T) *env {
	testutil.RequiresRoot(t)
	realLinks, realTables := hostCounts(t)
	t.Cleanup(func() {
		l, tb := hostCounts(t)
		assert.Equal(t, realLinks, l, "links of the real host namespace changed")
		assert.Equal(t, realTables, tb, "nft tables of the real host namespace changed")
	})
	dir := t.TempDir()
	e := &env{t: t, dir: dir, hostNS: filepath.Join(dir, "hostns"), dbPath: filepath.Join(dir, "meta.db")}
	require.NoError(t, bridge.CreateNetNS(e.hostNS))
	t.Cleanup(func() { assert.NoError(t, bridge.DeleteNetNS(e.hostNS)) })
	h, err := bridge.Open(e.hostNS)
	require.NoError(t, err)
	require.NoError(t, h.SetUp("lo"))
	require.NoError(t, h.Close())
	ns, err := netns.GetFromPath(e.hostNS)
	require.NoError(t, err)
	nh, err := netlink.NewHandleAt(ns)
	require.NoError(t, err)
	// The kernel here has no dummy links; a local address on lo is as local.
	lo, err := nh.LinkByName("lo")
	require.NoError(t, err)
	require.NoError(t, nh.AddrAdd(lo, &netlink.Addr{IPNet: &net.IPNet{IP: hostAddr.AsSlice(), Mask: net.CIDRMask(32, 32)}}))
	nh.Close()
	_ = ns.Close()

	e.db, err = bolt.Open(e.dbPath, 0o600, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.db.Close() })
	e.cfg = Config{
		ExecRoot:   filepath.Join(dir, "exec"),
		BridgeName: "wt" + randHex(6),
		TableName:  "wharf-test-" + randHex(8),
		HostNetNS:  e.hostNS,
		Upstreams:  []string{stubUpstream(t)},
		Logger:     slog.New(slog.NewTextHandler(tWriter{t}, nil)),
	}
	return e
}

// tWriter sends the manager's logs to t.Log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// hostCounts returns the number of links and nft tables in the test process's real namespace.
func hostCounts(t *testing.T) (int, int) {
	links, err := netlink.LinkList()
	require.NoError(t, err)
	c, err := nft.Conn(-1)
	require.NoError(t, err)
	tables, err := c.ListTables()
	require.NoError(t, err)
	return len(links), len(tables)
}

func (e *env) manager() *Manager {
	m, err := New(e.db, e.cfg)
	require.NoError(e.t, err)
	return m
}

// teardown removes everything and asserts nothing is left.
func (e *env) teardown(m *Manager) {
	t := e.t
	ctx := context.Background()
	for cid := range m.eps {
		assert.NoError(t, m.Release(ctx, cid))
	}
	nets, _ := m.Networks(ctx)
	for _, n := range nets {
		if n.Name != NetworkBridge && n.Name != NetworkHost && n.Name != NetworkNone {
			assert.NoError(t, m.RemoveNetwork(ctx, n.ID))
		}
	}
	e.assertNoLeaks(m, 0)
	require.NoError(t, m.Uninstall(ctx))
	require.NoError(t, m.Close())
	h, err := bridge.Open(e.hostNS)
	require.NoError(t, err)
	defer h.Close()
	links, err := h.Links(e.cfg.BridgeName)
	require.NoError(t, err)
	assert.Empty(t, links, "default bridge left after Uninstall")
	c, err := nft.Conn(int(h.NS()))
	require.NoError(t, err)
	ok, err := nft.Exists(c, e.cfg.TableName)
	require.NoError(t, err)
	assert.False(t, ok, "nft table left after Uninstall")
}

// assertNoLeaks checks veths, namespaces and leases against the expected number of endpoints.
func (e *env) assertNoLeaks(m *Manager, endpoints int) {
	t := e.t
	t.Helper()
	// Released veths vanish with their namespace, asynchronously.
	var veths []string
	assert.Eventually(t, func() bool {
		var err error
		veths, err = m.host.Links(m.cfg.VethPrefix)
		return err == nil && len(veths) == endpoints
	}, 10*time.Second, 10*time.Millisecond, "veths: want %d", endpoints)
	ents, _ := os.ReadDir(filepath.Join(e.cfg.ExecRoot, "netns"))
	if endpoints == 0 {
		assert.Empty(t, ents, "netns files")
	}
	leases := 0
	for nid, n := range m.networks {
		if n.Driver == "bridge" {
			l, err := m.ipam.Leases(nid)
			require.NoError(t, err)
			leases += len(l)
		}
	}
	assert.Equal(t, endpoints, leases, "ipam leases")
}

// abandon simulates kill -9: the process's sockets vanish, nothing is torn down.
func (m *Manager) abandon() {
	m.dns.Close()
	for _, cs := range m.reserved {
		closeAll(cs)
	}
	for _, cs := range m.svcReserved {
		for _, c := range cs {
			_ = c.Close()
		}
	}
	_ = m.host.Close()
}

func stubUpstream(t *testing.T) string {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 5}, A: net.ParseIP("192.0.2.99")})
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func inNS(t *testing.T, path string, fn func() error) error {
	ns, err := netns.GetFromPath(path)
	require.NoError(t, err)
	defer ns.Close()
	return bridge.Do(ns, fn)
}

func ping(t *testing.T, nsPath string, ip netip.Addr) error {
	out, err := exec.Command("nsenter", "--net="+nsPath, "busybox", "ping", "-c1", "-W2", ip.String()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s from %s: %w: %s", ip, filepath.Base(nsPath), err, out)
	}
	return nil
}

// serveTCP runs a server inside nsPath that answers each connection with reply.
func serveTCP(t *testing.T, nsPath, addr, reply string) {
	var ln net.Listener
	require.NoError(t, inNS(t, nsPath, func() (err error) { ln, err = net.Listen("tcp4", addr); return err }))
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, reply+"\n")
			_ = c.Close()
		}
	}()
}

// serveUDP echoes datagrams with a prefix inside nsPath.
func serveUDP(t *testing.T, nsPath, addr string) {
	var pc net.PacketConn
	require.NoError(t, inNS(t, nsPath, func() (err error) { pc, err = net.ListenPacket("udp4", addr); return err }))
	t.Cleanup(func() { _ = pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(append([]byte("echo "), buf[:n]...), from)
		}
	}()
}

func dialTCP(t *testing.T, nsPath, addr string) (string, error) {
	var got string
	err := inNS(t, nsPath, func() error {
		c, err := net.DialTimeout("tcp4", addr, 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		got, err = bufio.NewReader(c).ReadString('\n')
		return err
	})
	return strings.TrimSpace(got), err
}

func dialUDP(t *testing.T, nsPath, addr string) (string, error) {
	var got string
	err := inNS(t, nsPath, func() error {
		c, err := net.DialTimeout("udp4", addr, 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("hi")); err != nil {
			return err
		}
		buf := make([]byte, 100)
		n, err := c.Read(buf)
		got = string(buf[:n])
		return err
	})
	return got, err
}

func query(t *testing.T, nsPath, name string) ([]string, error) {
	var out []string
	err := inNS(t, nsPath, func() error {
		m := new(mdns.Msg)
		m.SetQuestion(mdns.Fqdn(name), mdns.TypeA)
		r, _, err := (&mdns.Client{Timeout: time.Second}).Exchange(m, "127.0.0.11:53")
		if err != nil {
			return err
		}
		for _, a := range r.Answer {
			if a, ok := a.(*mdns.A); ok {
				out = append(out, a.A.String())
			}
		}
		return nil
	})
	return out, err
}

func TestManagerEndToEnd(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	m := e.manager()
	t.Cleanup(func() { e.teardown(m) })

	nets, err := m.Networks(ctx)
	require.NoError(t, err)
	require.Len(t, nets, 3)
	assert.Equal(t, []string{"bridge", "host", "none"}, []string{nets[0].Name, nets[1].Name, nets[2].Name})
	def := nets[0]
	require.Len(t, def.IPAM.Config, 1)
	assert.Equal(t, "172.30.0.0/16", def.IPAM.Config[0].Subnet.String())
	gw := def.IPAM.Config[0].Gateway

	c1, c2 := ids.New(), ids.New()
	p80 := network.MustParsePort("80/tcp")
	p53 := network.MustParsePort("53/udp")
	p8080 := network.MustParsePort("8080/tcp")
	ep1, err := m.Attach(ctx, AttachRequest{ContainerID: c1, ContainerName: "/web", Network: "bridge",
		PortBindings: network.PortMap{p80: {{HostPort: "4000"}}, p53: {{HostPort: "5353"}}},
		ExposedPorts: network.PortSet{p80: {}, p8080: {}}, PublishAll: true})
	require.NoError(t, err)
	assert.Equal(t, "eth0", ep1.IfName)
	assert.Equal(t, gw, ep1.Gateway)
	assert.Equal(t, "4000", ep1.Ports[p80][0].HostPort)
	assert.Equal(t, "0.0.0.0", ep1.Ports[p80][0].HostIP.String())
	require.Len(t, ep1.Ports[p8080], 1, "-P publishes exposed ports")
	assert.NotEqual(t, "0", ep1.Ports[p8080][0].HostPort)
	ep2, err := m.Attach(ctx, AttachRequest{ContainerID: c2, ContainerName: "other", Network: def.ID[:8]})
	require.NoError(t, err)
	assert.True(t, bridge.IsNetNS(m.NetNSPath(c1)))
	e.assertNoLeaks(m, 2)

	t.Run("ping", func(t *testing.T) {
		require.NoError(t, ping(t, m.NetNSPath(c1), ep2.IPAddress))
		require.NoError(t, ping(t, m.NetNSPath(c2), ep1.IPAddress))
		require.NoError(t, ping(t, m.NetNSPath(c1), gw), "container reaches the host")
		require.NoError(t, ping(t, m.NetNSPath(c1), hostAddr), "container reaches the host's other addresses")
	})

	serveTCP(t, m.NetNSPath(c1), ":80", "hello from web")
	serveUDP(t, m.NetNSPath(c1), ":53")
	t.Run("published tcp", func(t *testing.T) {
		for _, addr := range []string{"127.0.0.1:4000", hostAddr.String() + ":4000", gw.String() + ":4000"} {
			got, err := dialTCP(t, e.hostNS, addr)
			require.NoError(t, err, addr)
			assert.Equal(t, "hello from web", got, addr)
		}
		got, err := dialTCP(t, m.NetNSPath(c2), hostAddr.String()+":4000")
		require.NoError(t, err, "from another container via the host address")
		assert.Equal(t, "hello from web", got)
		got, err = dialTCP(t, m.NetNSPath(c1), hostAddr.String()+":4000")
		require.NoError(t, err, "hairpin to itself")
		assert.Equal(t, "hello from web", got)
	})
	t.Run("published udp", func(t *testing.T) {
		got, err := dialUDP(t, e.hostNS, "127.0.0.1:5353")
		require.NoError(t, err)
		assert.Equal(t, "echo hi", got)
		got, err = dialUDP(t, e.hostNS, hostAddr.String()+":5353")
		require.NoError(t, err)
		assert.Equal(t, "echo hi", got)
	})
	t.Run("port already allocated", func(t *testing.T) {
		c3 := ids.New()
		_, err := m.Attach(ctx, AttachRequest{ContainerID: c3, Network: "bridge", PortBindings: network.PortMap{p80: {{HostPort: "4000"}}}})
		require.True(t, errdefs.IsConflict(err), "%v", err)
		assert.Contains(t, err.Error(), "Bind for 0.0.0.0:4000 failed: port is already allocated")
		_, err = os.Stat(m.NetNSPath(c3))
		assert.True(t, os.IsNotExist(err), "no netns left behind")
		e.assertNoLeaks(m, 2)
		_, err = m.Attach(ctx, AttachRequest{ContainerID: c3, Network: "bridge", PortBindings: network.PortMap{network.MustParsePort("80/sctp"): nil}})
		assert.True(t, errdefs.IsInvalidArgument(err), "%v", err)
		_, err = m.Attach(ctx, AttachRequest{ContainerID: c3, Network: "nope"})
		assert.True(t, errdefs.IsNotFound(err), "%v", err)
		e.assertNoLeaks(m, 2)
	})
	t.Run("no dns on default bridge", func(t *testing.T) {
		_, err := query(t, m.NetNSPath(c1), "other")
		assert.Error(t, err)
	})

	// A user network with DNS.
	_, err = m.CreateNetwork(ctx, "appnet", network.CreateRequest{IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: netip.MustParsePrefix("10.123.0.0/24")}}}, Labels: map[string]string{"a": "b"}})
	require.NoError(t, err)
	_, err = m.CreateNetwork(ctx, "appnet", network.CreateRequest{})
	assert.True(t, errdefs.IsConflict(err), "duplicate name: %v", err)
	_, err = m.CreateNetwork(ctx, "overlap", network.CreateRequest{IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: netip.MustParsePrefix("10.123.0.128/25")}}}})
	assert.True(t, errdefs.IsConflict(err), "overlap: %v", err)
	_, err = m.CreateNetwork(ctx, "bad", network.CreateRequest{IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: netip.MustParsePrefix("10.124.0.1/24")}}}})
	assert.True(t, errdefs.IsInvalidArgument(err), "bad cidr: %v", err)
	auto, err := m.CreateNetwork(ctx, "auto", network.CreateRequest{})
	require.NoError(t, err)
	ai, err := m.Inspect(ctx, auto.ID)
	require.NoError(t, err)
	assert.Equal(t, "172.18.0.0/16", ai.IPAM.Config[0].Subnet.String())

	r1, r2 := ids.New(), ids.New()
	epR1, err := m.Attach(ctx, AttachRequest{ContainerID: r1, ContainerName: "redis", Network: "appnet", Aliases: []string{"cache"}, IPv4: netip.MustParseAddr("10.123.0.9")})
	require.NoError(t, err)
	assert.Equal(t, "10.123.0.9", epR1.IPAddress.String())
	_, err = m.Attach(ctx, AttachRequest{ContainerID: r2, ContainerName: "client", Network: "appnet"})
	require.NoError(t, err)
	// c1 joins appnet too: a second interface, DNS starts for it.
	ep1b, err := m.Attach(ctx, AttachRequest{ContainerID: c1, ContainerName: "web", Network: "appnet"})
	require.NoError(t, err)
	assert.Equal(t, "eth1", ep1b.IfName)
	t.Run("dns", func(t *testing.T) {
		for _, name := range []string{"redis", "cache", "REDIS.appnet", ids.Short(r1)} {
			got, err := query(t, m.NetNSPath(r2), name)
			require.NoError(t, err, name)
			assert.Equal(t, []string{"10.123.0.9"}, got, name)
		}
		got, err := query(t, m.NetNSPath(r2), "example.org")
		require.NoError(t, err)
		assert.Equal(t, []string{"192.0.2.99"}, got, "forwarded to the host's resolver")
		got, err = query(t, m.NetNSPath(c1), "redis")
		require.NoError(t, err)
		assert.Equal(t, []string{"10.123.0.9"}, got)
		require.NoError(t, ping(t, m.NetNSPath(r2), epR1.IPAddress))
		assert.Error(t, ping(t, m.NetNSPath(c2), epR1.IPAddress), "networks are isolated")
	})
	in, err := m.Inspect(ctx, "appnet")
	require.NoError(t, err)
	assert.Len(t, in.Containers, 3)
	assert.Equal(t, "b", in.Labels["a"])
	err = m.RemoveNetwork(ctx, "appnet")
	assert.True(t, errdefs.IsConflict(err), "%v", err)
	assert.True(t, errdefs.IsPermissionDenied(m.RemoveNetwork(ctx, "bridge")))

	require.NoError(t, m.Detach(ctx, c1, "appnet"))
	assert.True(t, errdefs.IsNotFound(m.Detach(ctx, c1, "appnet")))
	// The resolver shuts down in the background: a query may still be
	// answered just after the detach, but not for long.
	assert.Eventually(t, func() bool {
		_, err := query(t, m.NetNSPath(c1), "redis")
		return err != nil
	}, 10*time.Second, 50*time.Millisecond, "DNS stops with the last user network")

	t.Run("internal", func(t *testing.T) {
		_, err := m.CreateNetwork(ctx, "inside", network.CreateRequest{Internal: true, IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: netip.MustParsePrefix("10.125.0.0/24")}}}})
		require.NoError(t, err)
		i1 := ids.New()
		ep, err := m.Attach(ctx, AttachRequest{ContainerID: i1, ContainerName: "i1", Network: "inside"})
		require.NoError(t, err)
		assert.Error(t, ping(t, m.NetNSPath(i1), hostAddr), "no route out")
		assert.Error(t, ping(t, m.NetNSPath(c1), ep.IPAddress), "nothing gets in from other bridges")
		got, err := query(t, m.NetNSPath(i1), "i1")
		require.NoError(t, err)
		assert.Equal(t, []string{ep.IPAddress.String()}, got, "names resolve on internal networks")
		got, err = query(t, m.NetNSPath(i1), "example.org")
		require.NoError(t, err)
		assert.Empty(t, got, "no forwarding from internal networks")
		require.NoError(t, m.Release(ctx, i1))
		require.NoError(t, m.RemoveNetwork(ctx, "inside"))
	})

	rep, err := m.Prune(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"auto"}, rep.NetworksDeleted)
	assert.Contains(t, string(m.ResolvConf(r2)), "nameserver 127.0.0.11")
	assert.NotContains(t, string(m.ResolvConf(c2)), "127.0.0.11")
	e.assertNoLeaks(m, 4)
	require.NoError(t, m.Release(ctx, r1))
	require.NoError(t, m.Release(ctx, r1), "release is idempotent")
	e.assertNoLeaks(m, 3)
}

func TestManagerCrashRestore(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	m := e.manager()
	// Registered before the servers below, so it runs after they are closed,
	// as the engine releases a container after its processes have exited.
	t.Cleanup(func() { e.teardown(m) })
	p80 := network.MustParsePort("80/tcp")
	_, err := m.CreateNetwork(ctx, "appnet", network.CreateRequest{})
	require.NoError(t, err)
	keep, gone, none := ids.New(), ids.New(), ids.New()
	epKeep, err := m.Attach(ctx, AttachRequest{ContainerID: keep, ContainerName: "keep", Network: "bridge", PortBindings: network.PortMap{p80: {{HostPort: "4000"}}}})
	require.NoError(t, err)
	_, err = m.Attach(ctx, AttachRequest{ContainerID: keep, ContainerName: "keep", Network: "appnet"})
	require.NoError(t, err)
	_, err = m.Attach(ctx, AttachRequest{ContainerID: gone, ContainerName: "gone", Network: "bridge", PortBindings: network.PortMap{network.MustParsePort("81/tcp"): {{HostPort: "4001"}}}})
	require.NoError(t, err)
	_, err = m.Attach(ctx, AttachRequest{ContainerID: gone, ContainerName: "gone", Network: "appnet"})
	require.NoError(t, err)
	_, err = m.Attach(ctx, AttachRequest{ContainerID: none, Network: "none"})
	require.NoError(t, err)
	serveTCP(t, m.NetNSPath(keep), ":80", "kept")

	m.abandon() // kill -9
	require.NoError(t, e.db.Close())
	e.db, err = bolt.Open(e.dbPath, 0o600, nil)
	require.NoError(t, err)
	m = e.manager()
	require.NoError(t, m.Restore(ctx, func(id string) bool { return id == keep }))

	e.assertNoLeaks(m, 2)
	_, err = os.Stat(m.NetNSPath(gone))
	assert.True(t, os.IsNotExist(err))
	_, err = os.Stat(m.NetNSPath(none))
	assert.True(t, os.IsNotExist(err))
	got, err := dialTCP(t, e.hostNS, "127.0.0.1:4000")
	require.NoError(t, err)
	assert.Equal(t, "kept", got)
	_, err = dialTCP(t, e.hostNS, "127.0.0.1:4001")
	assert.Error(t, err, "the gone container's port is unpublished")
	// The reservation came back, and a new container gets a fresh address.
	nc := ids.New()
	_, err = m.Attach(ctx, AttachRequest{ContainerID: nc, Network: "bridge", PortBindings: network.PortMap{p80: {{HostPort: "4000"}}}})
	assert.True(t, errdefs.IsConflict(err), "%v", err)
	ep, err := m.Attach(ctx, AttachRequest{ContainerID: nc, Network: "bridge", PortBindings: network.PortMap{p80: {{HostPort: "4001"}}}})
	require.NoError(t, err)
	assert.NotEqual(t, epKeep.IPAddress, ep.IPAddress)
	names, err := query(t, m.NetNSPath(keep), "keep")
	require.NoError(t, err, "DNS restarted for the surviving container")
	assert.Len(t, names, 1)
}

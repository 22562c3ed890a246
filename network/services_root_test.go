package network

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/google/nftables"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	bolt "go.etcd.io/bbolt"

	"wharf.io/wharf/internal/ids"
	"wharf.io/wharf/network/bridge"
	"wharf.io/wharf/network/nft"
)

// remoteAddr plays a client on another machine, reaching the host over a veth.
var remoteAddr = netip.MustParseAddr("198.51.100.2")

// newRemote makes a namespace joined to the env's host namespace by a veth,
// with a default route through it: a client that is not on the host.
func (e *env) newRemote(t *testing.T) string {
	path := filepath.Join(e.dir, "remote")
	require.NoError(t, bridge.CreateNetNS(path))
	t.Cleanup(func() { assert.NoError(t, bridge.DeleteNetNS(path)) }) // the veth dies with it
	hns, err := netns.GetFromPath(e.hostNS)
	require.NoError(t, err)
	defer hns.Close()
	rns, err := netns.GetFromPath(path)
	require.NoError(t, err)
	defer rns.Close()
	hh, err := netlink.NewHandleAt(hns)
	require.NoError(t, err)
	defer hh.Close()
	rh, err := netlink.NewHandleAt(rns)
	require.NoError(t, err)
	defer rh.Close()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = "rm-host"
	require.NoError(t, hh.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "rm-peer"}))
	peer, err := hh.LinkByName("rm-peer")
	require.NoError(t, err)
	require.NoError(t, hh.LinkSetNsFd(peer, int(rns)))
	hostEnd, err := hh.LinkByName("rm-host")
	require.NoError(t, err)
	require.NoError(t, hh.AddrAdd(hostEnd, &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP("198.51.100.1"), Mask: net.CIDRMask(24, 32)}}))
	require.NoError(t, hh.LinkSetUp(hostEnd))
	peer, err = rh.LinkByName("rm-peer")
	require.NoError(t, err)
	require.NoError(t, rh.AddrAdd(peer, &netlink.Addr{IPNet: &net.IPNet{IP: remoteAddr.AsSlice(), Mask: net.CIDRMask(24, 32)}}))
	require.NoError(t, rh.LinkSetUp(peer))
	lo, err := rh.LinkByName("lo")
	require.NoError(t, err)
	require.NoError(t, rh.LinkSetUp(lo))
	require.NoError(t, rh.RouteAdd(&netlink.Route{Gw: net.ParseIP("198.51.100.1")}))
	return path
}

// serveWho answers each connection with "<name> <peer address>", as a
// task that echoes who called it.
func serveWho(t *testing.T, nsPath, addr, name string) {
	var ln net.Listener
	require.NoError(t, inNS(t, nsPath, func() (err error) { ln, err = net.Listen("tcp4", addr); return err }))
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = fmt.Fprintf(c, "%s %s\n", name, c.RemoteAddr().(*net.TCPAddr).IP)
			_ = c.Close()
		}
	}()
}

// dialN makes n connections to addr from nsPath and returns the answers.
func dialN(t *testing.T, nsPath, addr string, n int) []string {
	t.Helper()
	var out []string
	for range n {
		got, err := dialTCP(t, nsPath, addr)
		require.NoError(t, err, addr)
		out = append(out, got)
	}
	return out
}

// refused reports whether a connection to addr from nsPath is refused at once.
func refused(t *testing.T, nsPath, addr string) bool {
	var err error
	start := time.Now()
	_ = inNS(t, nsPath, func() error {
		var c net.Conn
		c, err = net.DialTimeout("tcp4", addr, 2*time.Second)
		if err == nil {
			_ = c.Close()
		}
		return nil
	})
	t.Logf("dial %s: %v after %v", addr, err, time.Since(start))
	return errors.Is(err, syscall.ECONNREFUSED)
}

// vipTableRules counts the rules of the VIP table in a container's namespace (-1: no table).
func vipTableRules(t *testing.T, nsPath string) int {
	ns, err := netns.GetFromPath(nsPath)
	require.NoError(t, err)
	defer ns.Close()
	c, err := nft.Conn(int(ns))
	require.NoError(t, err)
	ok, err := nft.Exists(c, nft.VIPTable)
	require.NoError(t, err)
	if !ok {
		return -1
	}
	tb := &nftables.Table{Name: nft.VIPTable, Family: nftables.TableFamilyIPv4}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	require.NoError(t, err)
	n := 0
	for _, ch := range chains {
		if ch.Table.Name == nft.VIPTable {
			rules, err := c.GetRules(tb, ch)
			require.NoError(t, err)
			n += len(rules)
		}
	}
	return n
}

func hostChains(t *testing.T, m *Manager) []string {
	c, err := nft.Conn(int(m.host.NS()))
	require.NoError(t, err)
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	require.NoError(t, err)
	var out []string
	for _, ch := range chains {
		if ch.Table.Name == m.cfg.TableName {
			out = append(out, ch.Name)
		}
	}
	return out
}

func TestServiceVIPAndRoutingMesh(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	m := e.manager()
	t.Cleanup(func() { e.teardown(m) })
	remote := e.newRemote(t)

	app, err := m.CreateNetwork(ctx, "appnet", network.CreateRequest{Driver: "overlay", Scope: "swarm", Attachable: true})
	require.NoError(t, err)
	in, err := m.Inspect(ctx, "appnet")
	require.NoError(t, err)
	assert.Equal(t, "overlay", in.Driver)
	assert.Equal(t, "swarm", in.Scope)
	assert.True(t, in.Attachable)
	assert.Equal(t, "10.0.1.0/24", in.IPAM.Config[0].Subnet.String(), "docker's default swarm pool")

	_, err = m.SetService(ctx, ServiceSpec{ID: "x", Name: "x", Networks: []swarm.NetworkAttachmentConfig{{Target: "bridge"}}})
	assert.True(t, errdefs.IsInvalidArgument(err), "local networks are not for services: %v", err)

	svcID := ids.New()
	spec := ServiceSpec{ID: svcID, Name: "stack_web",
		Networks: []swarm.NetworkAttachmentConfig{{Target: "appnet", Aliases: []string{"web"}}},
		Endpoint: swarm.EndpointSpec{Ports: []swarm.PortConfig{{Protocol: "tcp", TargetPort: 8080, PublishedPort: 80}}}}
	ep, err := m.SetService(ctx, spec)
	require.NoError(t, err)
	ingress, err := m.Inspect(ctx, IngressName)
	require.NoError(t, err, "the ingress network is created on first need")
	assert.True(t, ingress.Ingress)
	assert.Equal(t, "10.0.0.0/24", ingress.IPAM.Config[0].Subnet.String())
	require.Len(t, ep.VirtualIPs, 2)
	vips := map[string]netip.Addr{}
	for _, v := range ep.VirtualIPs {
		vips[v.NetworkID] = v.Addr.Addr()
		assert.Equal(t, 24, v.Addr.Bits())
	}
	vip := vips[app.ID]
	require.True(t, in.IPAM.Config[0].Subnet.Contains(vip), "VIP %s from the network's pool", vip)
	require.True(t, ingress.IPAM.Config[0].Subnet.Contains(vips[ingress.ID]))
	ep2, err := m.SetService(ctx, spec)
	require.NoError(t, err)
	assert.Equal(t, ep.VirtualIPs, ep2.VirtualIPs, "an update keeps the VIPs")
	bridgeNet, err := m.Inspect(ctx, "bridge")
	require.NoError(t, err)
	assert.True(t, m.ServiceOnNetwork(svcID, app.ID))
	assert.True(t, m.ServiceOnNetwork(svcID, ingress.ID), "published ports put it on ingress")
	assert.False(t, m.ServiceOnNetwork(svcID, bridgeNet.ID))
	assert.False(t, m.ServiceOnNetwork("no-such-service", app.ID))

	// Two tasks on appnet and ingress, as docker attaches them; a client on appnet.
	tasks := []string{ids.New(), ids.New()}
	var backends []Backend
	for i, cid := range tasks {
		name := fmt.Sprintf("stack_web.%d", i+1)
		_, err := m.Attach(ctx, AttachRequest{ContainerID: cid, ContainerName: name, Network: "appnet"})
		require.NoError(t, err)
		_, err = m.Attach(ctx, AttachRequest{ContainerID: cid, ContainerName: name, Network: IngressName})
		require.NoError(t, err)
		serveWho(t, m.NetNSPath(cid), ":8080", name)
		backends = append(backends, Backend{TaskID: name, ContainerID: cid, NetworkID: "appnet"}, Backend{TaskID: name, ContainerID: cid, NetworkID: IngressName})
	}
	client := ids.New()
	cep, err := m.Attach(ctx, AttachRequest{ContainerID: client, ContainerName: "client", Network: app.ID})
	require.NoError(t, err)
	require.NoError(t, m.SetServiceBackends(ctx, svcID, backends))
	taskIP := func(i int, net string) string {
		for _, ep := range m.Endpoints(tasks[i]) {
			if ep.NetworkName == net {
				return ep.IPAddress.String()
			}
		}
		return ""
	}

	t.Run("dns", func(t *testing.T) {
		for _, name := range []string{"stack_web", "web", "stack_web.appnet"} {
			got, err := query(t, m.NetNSPath(client), name)
			require.NoError(t, err, name)
			assert.Equal(t, []string{vip.String()}, got, name)
		}
		got, err := query(t, m.NetNSPath(client), "tasks.stack_web")
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{taskIP(0, "appnet"), taskIP(1, "appnet")}, got)
		got, err = query(t, m.NetNSPath(client), "stack_web.2")
		require.NoError(t, err)
		assert.Equal(t, []string{taskIP(1, "appnet")}, got, "task containers resolve by name")
	})

	want := func(name, peer string) string { return name + " " + peer }
	t.Run("vip round robin", func(t *testing.T) {
		got := dialN(t, m.NetNSPath(client), vip.String()+":8080", 10)
		c := cep.IPAddress.String()
		for i, g := range got {
			assert.Equal(t, want(fmt.Sprintf("stack_web.%d", i%2+1), c), g, "request %d: alternate, client address kept", i)
		}
	})
	t.Run("mesh from a remote client", func(t *testing.T) {
		got := dialN(t, remote, hostAddr.String()+":80", 10)
		first := got[0][:len("stack_web.1")]
		for i, g := range got {
			n := first
			if i%2 == 1 {
				n = map[string]string{"stack_web.1": "stack_web.2", "stack_web.2": "stack_web.1"}[first]
			}
			assert.Equal(t, want(n, remoteAddr.String()), g, "request %d: alternate, no SNAT", i)
		}
		got = dialN(t, e.hostNS, "127.0.0.1:80", 2)
		assert.NotEqual(t, got[0], got[1], "localhost too")
	})

	t.Run("conflicts", func(t *testing.T) {
		_, err := m.SetService(ctx, ServiceSpec{ID: ids.New(), Name: "other",
			Endpoint: swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: 80}}}})
		require.True(t, errdefs.IsConflict(err), "%v", err)
		assert.Contains(t, err.Error(), "already in use by service 'stack_web'")
		_, err = m.Attach(ctx, AttachRequest{ContainerID: ids.New(), Network: "bridge",
			PortBindings: network.PortMap{network.MustParsePort("80/tcp"): {{HostPort: "80"}}}})
		require.True(t, errdefs.IsConflict(err), "a container cannot take the service's port: %v", err)
		_, err = m.SetService(ctx, ServiceSpec{ID: ids.New(), Name: "STACK_WEB"})
		assert.True(t, errdefs.IsConflict(err), "%v", err)
		assert.Len(t, m.Services(), 1, "nothing changed")
	})

	t.Run("dynamic port and network removal", func(t *testing.T) {
		_, err := m.CreateNetwork(ctx, "side", network.CreateRequest{Driver: "overlay"})
		require.NoError(t, err)
		id := ids.New()
		sp := ServiceSpec{ID: id, Name: "dyn", Networks: []swarm.NetworkAttachmentConfig{{Target: "side"}},
			Endpoint: swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 9000}}}}
		got, err := m.SetService(ctx, sp)
		require.NoError(t, err)
		assert.Equal(t, uint32(30000), got.Ports[0].PublishedPort, "docker's dynamic range")
		got, err = m.SetService(ctx, sp)
		require.NoError(t, err)
		assert.Equal(t, uint32(30000), got.Ports[0].PublishedPort, "an update keeps the picked port")
		require.Len(t, got.VirtualIPs, 2)
		require.NoError(t, m.RemoveNetwork(ctx, "side"))
		assert.Len(t, m.Services()[id].VirtualIPs, 1, "the removed network's VIP is gone, ingress stays")
		assert.True(t, errdefs.IsConflict(m.RemoveIngress(ctx)), "ingress carries published ports")
		require.NoError(t, m.RemoveService(ctx, id))
		c, err := reserveServicePort(m.host.NS(), "tcp", 30000)
		require.NoError(t, err, "the dynamic port is free again")
		require.NoError(t, c.Close())
	})

	t.Run("one backend left", func(t *testing.T) {
		require.NoError(t, m.SetServiceBackends(ctx, svcID, []Backend{backends[2], backends[3]}))
		for _, g := range dialN(t, m.NetNSPath(client), vip.String()+":8080", 4) {
			assert.Equal(t, want("stack_web.2", cep.IPAddress.String()), g)
		}
		for _, g := range dialN(t, remote, hostAddr.String()+":80", 4) {
			assert.Equal(t, want("stack_web.2", remoteAddr.String()), g)
		}
		got, err := query(t, m.NetNSPath(client), "tasks.web")
		require.NoError(t, err)
		assert.Equal(t, []string{taskIP(1, "appnet")}, got)
	})
	t.Run("no backend refuses", func(t *testing.T) {
		require.NoError(t, m.SetServiceBackends(ctx, svcID, nil))
		assert.True(t, refused(t, m.NetNSPath(client), vip.String()+":8080"))
		assert.True(t, refused(t, remote, hostAddr.String()+":80"))
		got, err := query(t, m.NetNSPath(client), "web")
		require.NoError(t, err)
		assert.Equal(t, []string{vip.String()}, got, "the name still resolves")
		require.NoError(t, m.SetServiceBackends(ctx, svcID, backends))
	})

	t.Run("restart", func(t *testing.T) {
		m.abandon() // kill -9
		require.NoError(t, e.db.Close())
		e.db, err = bolt.Open(e.dbPath, 0o600, nil)
		require.NoError(t, err)
		m = e.manager()
		alive := map[string]bool{client: true, tasks[0]: true, tasks[1]: true}
		require.NoError(t, m.Restore(ctx, func(id string) bool { return alive[id] }))
		assert.Equal(t, ep.VirtualIPs, m.Services()[svcID].VirtualIPs)
		got := dialN(t, m.NetNSPath(client), vip.String()+":8080", 2)
		assert.NotEqual(t, got[0], got[1])
		got = dialN(t, remote, hostAddr.String()+":80", 2)
		assert.NotEqual(t, got[0], got[1])
		_, err = m.SetService(ctx, ServiceSpec{ID: ids.New(), Name: "other",
			Endpoint: swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: 80}}}})
		assert.True(t, errdefs.IsConflict(err), "the port is reserved again: %v", err)
	})

	t.Run("remove", func(t *testing.T) {
		assert.Positive(t, vipTableRules(t, m.NetNSPath(client)))
		require.NoError(t, m.RemoveService(ctx, svcID))
		require.NoError(t, m.RemoveService(ctx, svcID), "idempotent")
		assert.Empty(t, m.Services())
		assert.Equal(t, -1, vipTableRules(t, m.NetNSPath(client)), "no VIP table left")
		for _, ch := range hostChains(t, m) {
			assert.False(t, strings.HasPrefix(ch, "mesh-"), "mesh chain %s left", ch)
		}
		for _, nid := range []string{app.ID, ingress.ID} {
			leases, err := m.ipam.Leases(nid)
			require.NoError(t, err)
			for k := range leases {
				assert.False(t, strings.HasPrefix(k, "vip/"), "VIP lease %s left", k)
			}
		}
		assert.True(t, refused(t, remote, hostAddr.String()+":80"))
		c, err := reserveServicePort(m.host.NS(), "tcp", 80)
		require.NoError(t, err, "the port is free again")
		require.NoError(t, c.Close())
		got, err := query(t, m.NetNSPath(client), "web")
		require.NoError(t, err)
		assert.Equal(t, []string{"192.0.2.99"}, got, "an unknown name again: forwarded upstream")
	})
	for _, cid := range append(tasks, client) {
		require.NoError(t, m.Release(ctx, cid))
	}
	require.NoError(t, m.RemoveIngress(ctx))
	_, err = m.Inspect(ctx, IngressName)
	assert.True(t, errdefs.IsNotFound(err))
}

// TestServiceVIPCost measures (and only logs) what the VIP path costs:
// connections through a VIP against connections to a task directly, and
// the time to push a backend change into every container's table.
func TestServiceVIPCost(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	e := newEnv(t)
	ctx := context.Background()
	m := e.manager()
	t.Cleanup(func() { e.teardown(m) })
	_, err := m.CreateNetwork(ctx, "appnet", network.CreateRequest{Driver: "overlay"})
	require.NoError(t, err)
	const clients = 30
	var cids []string
	attach := func() time.Duration {
		cid := ids.New()
		start := time.Now()
		_, err := m.Attach(ctx, AttachRequest{ContainerID: cid, ContainerName: "c" + cid[:6], Network: "appnet"})
		require.NoError(t, err)
		cids = append(cids, cid)
		return time.Since(start)
	}
	var plain time.Duration
	for range clients {
		plain += attach()
	}
	t.Cleanup(func() {
		for _, cid := range cids {
			assert.NoError(t, m.Release(ctx, cid))
		}
	})
	svc := ids.New()
	start := time.Now()
	ep, err := m.SetService(ctx, ServiceSpec{ID: svc, Name: "web", Networks: []swarm.NetworkAttachmentConfig{{Target: "appnet"}}})
	require.NoError(t, err)
	setSvc := time.Since(start)
	vip := ep.VirtualIPs[0].Addr.Addr()
	task := cids[0]
	serveWho(t, m.NetNSPath(task), ":8080", "task")
	start = time.Now()
	require.NoError(t, m.SetServiceBackends(ctx, svc, []Backend{{ContainerID: task, NetworkID: "appnet"}}))
	setBackends := time.Since(start)
	var withVIP time.Duration
	for range 10 {
		withVIP += attach()
	}
	taskIP := m.Endpoints(task)[0].IPAddress
	rate := func(addr string) time.Duration {
		const n = 500
		start := time.Now()
		require.NoError(t, inNS(t, m.NetNSPath(cids[1]), func() error {
			for range n {
				c, err := net.Dial("tcp4", addr)
				if err != nil {
					return err
				}
				if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
					return err
				}
				_ = c.Close()
			}
			return nil
		}))
		return time.Since(start) / n
	}
	direct := rate(taskIP.String() + ":8080")
	viaVIP := rate(vip.String() + ":8080")
	t.Logf("attach: %v without services, %v with a VIP on the network", plain/clients, withVIP/10)
	t.Logf("SetService (VIP table into %d containers): %v; SetServiceBackends: %v", clients, setSvc, setBackends)
	t.Logf("connect+read+close: %v direct, %v through the VIP", direct, viaVIP)
}

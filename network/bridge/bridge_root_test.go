package bridge

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"wharf.io/wharf/internal/testutil"
)

func newNS(t *testing.T, dir, name string) string {
	p := filepath.Join(dir, name)
	require.NoError(t, CreateNetNS(p))
	t.Cleanup(func() { assert.NoError(t, DeleteNetNS(p)) })
	return p
}

func TestNetNSLifecycle(t *testing.T) {
	testutil.RequiresRoot(t)
	p := filepath.Join(t.TempDir(), "sub", "ns")
	require.NoError(t, CreateNetNS(p))
	assert.True(t, IsNetNS(p))
	assert.Error(t, CreateNetNS(p), "no double create")
	require.NoError(t, DeleteNetNS(p))
	assert.False(t, IsNetNS(p))
	_, err := os.Stat(p)
	assert.True(t, os.IsNotExist(err))
	require.NoError(t, DeleteNetNS(p), "idempotent")
}

func TestBridgeAndVeth(t *testing.T) {
	testutil.RequiresRoot(t)
	dir := t.TempDir()
	hostPath := newNS(t, dir, "host")
	ctrPath := newNS(t, dir, "ctr")
	h, err := Open(hostPath)
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })

	gw := netip.MustParsePrefix("10.77.0.1/24")
	require.NoError(t, h.EnsureBridge("wtbr0", gw, 0))
	require.NoError(t, h.EnsureBridge("wtbr0", gw, 0), "idempotent")
	routes, err := h.Routes()
	require.NoError(t, err)
	assert.Contains(t, routes, netip.MustParsePrefix("10.77.0.0/24"))

	ip := netip.MustParseAddr("10.77.0.2")
	v := Veth{Bridge: "wtbr0", HostName: "wvtest0", NSPath: ctrPath, IfName: "eth0",
		Addr: netip.PrefixFrom(ip, 24), Gateway: gw.Addr(), MAC: MACFor(ip), DefaultRoute: true}
	require.NoError(t, h.AddVeth(v))

	ns, err := netns.GetFromPath(ctrPath)
	require.NoError(t, err)
	defer ns.Close()
	in, err := netlink.NewHandleAt(ns)
	require.NoError(t, err)
	defer in.Close()
	eth0, err := in.LinkByName("eth0")
	require.NoError(t, err)
	assert.Equal(t, "02:42:0a:4d:00:02", eth0.Attrs().HardwareAddr.String())
	addrs, err := in.AddrList(eth0, netlink.FAMILY_V4)
	require.NoError(t, err)
	require.Len(t, addrs, 1)
	assert.Equal(t, "10.77.0.2/24", addrs[0].IPNet.String())
	routesIn, err := in.RouteList(nil, netlink.FAMILY_V4)
	require.NoError(t, err)
	var def bool
	for _, r := range routesIn {
		def = def || (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw.String() == "10.77.0.1"
	}
	assert.True(t, def, "default route via gateway")

	// A second endpoint with the same interface name fails and leaves nothing.
	v2 := v
	v2.HostName, v2.Addr = "wvtest1", netip.MustParsePrefix("10.77.0.3/24")
	err = h.AddVeth(v2)
	assert.True(t, errdefs.IsConflict(err), "%v", err)
	links, err := h.Links("wv")
	require.NoError(t, err)
	assert.Equal(t, []string{"wvtest0"}, links)

	require.NoError(t, h.DeleteLink("wvtest0"))
	require.NoError(t, h.DeleteLink("wvtest0"), "idempotent")
	_, err = in.LinkByName("eth0")
	assert.Error(t, err, "deleting the host side removes the peer")
	require.NoError(t, h.DeleteLink("wtbr0"))
	links, err = h.Links("wt")
	require.NoError(t, err)
	assert.Empty(t, links)
}

func TestDoRunsInNamespace(t *testing.T) {
	testutil.RequiresRoot(t)
	p := newNS(t, t.TempDir(), "ns")
	target, err := netns.GetFromPath(p)
	require.NoError(t, err)
	defer target.Close()
	require.NoError(t, Do(target, func() error {
		cur, err := netns.Get()
		if err != nil {
			return err
		}
		defer cur.Close()
		assert.True(t, cur.Equal(target))
		return nil
	}))
	cur, err := netns.Get()
	require.NoError(t, err)
	defer cur.Close()
	assert.False(t, cur.Equal(target), "caller's thread is untouched")
}

package network

import (
	"net/netip"

	"wharf.io/wharf/network/bridge"
)

// driver is a network's data path on this node. Every network, overlay
// included, is a Linux bridge on one node; an overlay driver that spans
// nodes (a bridge plus a VXLAN device and peer entries) implements the same
// calls and is picked by driver() for networks with Overlay set.
type driver interface {
	// create makes the network's devices exist; it is called again at
	// every start and must be idempotent.
	create(n *netRecord) error
	// remove deletes them; missing devices are fine.
	remove(n *netRecord) error
	// connect plugs a container's veth into the network.
	connect(n *netRecord, v bridge.Veth) error
}

// bridgeDriver backs a network with a bridge in the host namespace.
type bridgeDriver struct {
	host *bridge.Host
	mtu  int
}

func (d *bridgeDriver) create(n *netRecord) error {
	return d.host.EnsureBridge(n.Bridge, netip.PrefixFrom(n.Gateway, n.Subnet.Bits()), d.mtu)
}

func (d *bridgeDriver) remove(n *netRecord) error { return d.host.DeleteLink(n.Bridge) }

func (d *bridgeDriver) connect(n *netRecord, v bridge.Veth) error {
	v.Bridge = n.Bridge
	return d.host.AddVeth(v)
}

// driver picks n's data path.
func (m *Manager) driver(n *netRecord) driver { return m.bridges }

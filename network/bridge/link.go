package bridge

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Host manipulates links in one network namespace (the daemon's "host" side).
type Host struct {
	ns netns.NsHandle
	h  *netlink.Handle
	// owner, when set, is written as the alias (ifalias) of every bridge
	// and veth this Host creates, and OwnedLinks lists only links carrying
	// it: several daemons share the host's link namespace, and one's sweep
	// of stray links must never take another's.
	owner string
}

// SetOwner names the links this Host creates (see OwnedLinks).
func (h *Host) SetOwner(owner string) { h.owner = owner }

// mark writes the owner alias on a link this Host just created.
func (h *Host) mark(link netlink.Link) error {
	if h.owner == "" {
		return nil
	}
	return h.h.LinkSetAlias(link, h.owner)
}

// Open returns a Host for the namespace mounted at nsPath, or for the caller's
// current namespace when nsPath is "".
func Open(nsPath string) (*Host, error) {
	var ns netns.NsHandle
	var err error
	if nsPath == "" {
		ns, err = netns.Get()
	} else {
		ns, err = netns.GetFromPath(nsPath)
	}
	if err != nil {
		return nil, fmt.Errorf("open netns %q: %w", nsPath, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		_ = ns.Close()
		return nil, fmt.Errorf("netlink: %w", err)
	}
	return &Host{ns: ns, h: h}, nil
}

// Close releases the namespace handle and netlink socket.
func (h *Host) Close() error {
	h.h.Close()
	return h.ns.Close()
}

// NS is the namespace handle (valid until Close).
func (h *Host) NS() netns.NsHandle { return h.ns }

// Sysctl writes value to /proc/sys/<key> (key with slashes) inside the namespace.
func (h *Host) Sysctl(key, value string) error {
	return Do(h.ns, func() error {
		return os.WriteFile("/proc/sys/"+key, []byte(value), 0o644)
	})
}

// EnsureBridge creates bridge name if needed, gives it gw (address/prefix
// length of the subnet), sets it up and allows 127.0.0.0/8 sources to be
// routed out of it (route_localnet), which DNAT of localhost ports needs.
func (h *Host) EnsureBridge(name string, gw netip.Prefix, mtu int) error {
	link, err := h.h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return fmt.Errorf("bridge %s: %w", name, err)
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name = name
		if mtu > 0 {
			attrs.MTU = mtu
		}
		if err := h.h.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create bridge %s: %w", name, err)
		}
		if link, err = h.h.LinkByName(name); err != nil {
			return fmt.Errorf("bridge %s: %w", name, err)
		}
		if err := h.mark(link); err != nil {
			return fmt.Errorf("bridge %s: %w", name, err)
		}
	} else if link.Type() != "bridge" {
		return fmt.Errorf("link %s exists and is a %s, not a bridge: %w", name, link.Type(), errdefs.ErrConflict)
	}
	addr := &netlink.Addr{IPNet: ipNet(gw)}
	if err := h.h.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("bridge %s: set address %s: %w", name, gw, err)
	}
	if err := h.h.LinkSetUp(link); err != nil {
		return fmt.Errorf("bridge %s: up: %w", name, err)
	}
	return h.Sysctl("net/ipv4/conf/"+name+"/route_localnet", "1")
}

// DeleteLink removes a link (bridge or veth) by name; a missing link is fine.
func (h *Host) DeleteLink(name string) error {
	link, err := h.h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	if err := h.h.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

// Links returns the names of links whose name starts with prefix.
func (h *Host) Links(prefix string) ([]string, error) {
	return h.links(prefix, false)
}

// OwnedLinks is Links restricted to links this Host's owner created.
func (h *Host) OwnedLinks(prefix string) ([]string, error) {
	return h.links(prefix, true)
}

func (h *Host) links(prefix string, owned bool) ([]string, error) {
	links, err := h.h.LinkList()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, prefix) && (!owned || (h.owner != "" && l.Attrs().Alias == h.owner)) {
			out = append(out, l.Attrs().Name)
		}
	}
	return out, nil
}

// Routes returns the IPv4 destinations routed in the main table (default
// routes excluded) plus the subnets of addresses on links, for overlap checks.
func (h *Host) Routes() ([]netip.Prefix, error) {
	routes, err := h.h.RouteList(nil, unix.AF_INET)
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		if p, ok := prefixOf(r.Dst); ok && p.Bits() > 0 {
			out = append(out, p)
		}
	}
	addrs, err := h.h.AddrList(nil, unix.AF_INET)
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if p, ok := prefixOf(a.IPNet); ok {
			out = append(out, p.Masked())
		}
	}
	return out, nil
}

// Veth describes one endpoint: a veth pair with HostName on Bridge and the
// peer created directly inside the namespace at NSPath as IfName.
type Veth struct {
	Bridge       string
	HostName     string // host side, ≤ 15 bytes
	NSPath       string
	IfName       string // name inside the namespace, e.g. eth0
	Addr         netip.Prefix
	Gateway      netip.Addr
	MAC          net.HardwareAddr
	MTU          int
	DefaultRoute bool // add "default via Gateway" (first non-internal network)
}

// MACFor derives a locally administered MAC from an IPv4 address, as Docker does
// (02:42 followed by the four address bytes), so that it is stable per lease.
func MACFor(ip netip.Addr) net.HardwareAddr {
	b := ip.As4()
	return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}
}

// AddVeth creates the pair, attaches the host side to the bridge and
// configures the peer inside the namespace (address, MAC, route). The peer
// is born in the namespace: moving a device between namespaces costs an RCU
// grace period, which dominates attach time. On error nothing is left behind.
func (h *Host) AddVeth(v Veth) (err error) {
	br, err := h.h.LinkByName(v.Bridge)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", v.Bridge, err)
	}
	target, err := netns.GetFromPath(v.NSPath)
	if err != nil {
		return fmt.Errorf("netns %s: %w", v.NSPath, err)
	}
	defer target.Close()
	in, err := netlink.NewHandleAt(target)
	if err != nil {
		return err
	}
	defer in.Close()
	if _, err := in.LinkByName(v.IfName); err == nil {
		return fmt.Errorf("interface %s already exists in %s: %w", v.IfName, v.NSPath, errdefs.ErrConflict)
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = v.HostName
	attrs.MasterIndex = br.Attrs().Index
	if v.MTU > 0 {
		attrs.MTU = v.MTU
	}
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: v.IfName, PeerHardwareAddr: v.MAC, PeerNamespace: netlink.NsFd(target)}
	if err := h.h.LinkAdd(veth); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("veth %s: %w", v.HostName, errdefs.ErrConflict)
		}
		return fmt.Errorf("create veth %s: %w", v.HostName, err)
	}
	defer func() {
		if err != nil {
			_ = h.DeleteLink(v.HostName)
		}
	}()
	if hostEnd, err := h.h.LinkByName(v.HostName); err != nil {
		return fmt.Errorf("veth %s: %w", v.HostName, err)
	} else if err := h.mark(hostEnd); err != nil {
		return fmt.Errorf("veth %s: %w", v.HostName, err)
	}
	peer, err := in.LinkByName(v.IfName)
	if err != nil {
		return fmt.Errorf("veth peer %s: %w", v.IfName, err)
	}
	if err := in.AddrAdd(peer, &netlink.Addr{IPNet: ipNet(v.Addr)}); err != nil {
		return fmt.Errorf("add address %s: %w", v.Addr, err)
	}
	if err := in.LinkSetUp(peer); err != nil {
		return err
	}
	host, err := h.h.LinkByName(v.HostName)
	if err != nil {
		return err
	}
	// Hairpin lets a container reach its own published port through the
	// host address: the DNATed packet leaves by the port it came in on.
	if err := h.h.LinkSetHairpin(host, true); err != nil {
		return fmt.Errorf("hairpin on %s: %w", v.HostName, err)
	}
	if err := h.h.LinkSetUp(host); err != nil {
		return err
	}
	if v.DefaultRoute && v.Gateway.IsValid() {
		gw := v.Gateway.As4()
		err := in.RouteAdd(&netlink.Route{LinkIndex: peer.Attrs().Index, Gw: net.IP(gw[:]), Scope: netlink.SCOPE_UNIVERSE})
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("default route via %s: %w", v.Gateway, err)
		}
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	a := p.Addr().As4()
	return &net.IPNet{IP: net.IP(a[:]), Mask: net.CIDRMask(p.Bits(), 32)}
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP.To4())
	if !ok {
		return netip.Prefix{}, false
	}
	ones, bits := n.Mask.Size()
	if bits != 32 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones), true
}

// SetUp brings link name up (e.g. "lo" of a fresh namespace).
func (h *Host) SetUp(name string) error {
	link, err := h.h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	return h.h.LinkSetUp(link)
}

package nft

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Network is one bridge network as the firewall sees it.
type Network struct {
	Bridge   string
	Subnet   netip.Prefix
	Internal bool // no traffic in or out of the bridge except to its own members
}

// Port is one published port: HostIP:HostPort/Proto → ContainerIP:ContainerPort.
// An invalid HostIP means every local address (0.0.0.0).
type Port struct {
	Proto         string // "tcp" or "udp"
	HostIP        netip.Addr
	HostPort      uint16
	ContainerIP   netip.Addr
	ContainerPort uint16
}

// ServicePort is a port of a swarm service published through the routing
// mesh: connections to HostPort on any local address are spread round
// robin over the backends (the service's running tasks).
type ServicePort struct {
	Proto      string // "tcp" or "udp"
	HostPort   uint16
	TargetPort uint16
	Backends   []netip.Addr
}

// State is everything the rule set depends on.
type State struct {
	Table    string // table name in family ip, e.g. "wharf"
	Networks []Network
	Ports    []Port
	Services []ServicePort
}

// Rule is one rendered rule: its nft-syntax description (for humans and golden
// files) and the expressions actually sent to the kernel.
type Rule struct {
	Chain *nftables.Chain
	Text  string
	Exprs []expr.Any
}

// Ruleset is a complete rendering of wharf's table.
type Ruleset struct {
	Table  *nftables.Table
	Chains []*nftables.Chain
	Rules  []Rule
}

// Chain names inside wharf's table.
const (
	ChainPrerouting  = "prerouting"
	ChainOutput      = "output"
	ChainPostrouting = "postrouting"
	ChainForward     = "forward"
	ChainPorts       = "ports"
)

const ipsDstNAT = 1 << 5 // IPS_DST_NAT in ct status

// ValidatePort checks a published port before it reaches the kernel.
func ValidatePort(p Port) error {
	if p.Proto != "tcp" && p.Proto != "udp" {
		return fmt.Errorf("invalid protocol %q for published port: only tcp and udp are supported: %w", p.Proto, errdefs.ErrInvalidArgument)
	}
	if p.HostPort == 0 || p.ContainerPort == 0 {
		return fmt.Errorf("invalid port mapping %d:%d/%s: ports must be 1-65535: %w", p.HostPort, p.ContainerPort, p.Proto, errdefs.ErrInvalidArgument)
	}
	if p.HostIP.IsValid() && !p.HostIP.Is4() {
		return fmt.Errorf("invalid host IP %s: only IPv4 is supported: %w", p.HostIP, errdefs.ErrInvalidArgument)
	}
	if !p.ContainerIP.Is4() {
		return fmt.Errorf("invalid container IP %s: %w", p.ContainerIP, errdefs.ErrInvalidArgument)
	}
	return nil
}

// Render builds the rule set for s. It is deterministic: inputs are sorted, so
// equal states render identically regardless of map iteration order.
func Render(s State) (*Ruleset, error) {
	if s.Table == "" {
		return nil, fmt.Errorf("nft: empty table name: %w", errdefs.ErrInvalidArgument)
	}
	nets := slices.Clone(s.Networks)
	for _, n := range nets {
		if n.Bridge == "" || len(n.Bridge) > unix.IFNAMSIZ-1 {
			return nil, fmt.Errorf("nft: invalid bridge name %q: %w", n.Bridge, errdefs.ErrInvalidArgument)
		}
		if !n.Subnet.IsValid() || !n.Subnet.Addr().Is4() {
			return nil, fmt.Errorf("nft: invalid subnet %s for %s: %w", n.Subnet, n.Bridge, errdefs.ErrInvalidArgument)
		}
	}
	slices.SortFunc(nets, func(a, b Network) int { return strings.Compare(a.Bridge, b.Bridge) })
	ports := slices.Clone(s.Ports)
	for _, p := range ports {
		if err := ValidatePort(p); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(ports, func(a, b Port) int {
		return cmp.Or(strings.Compare(a.Proto, b.Proto), cmp.Compare(a.HostPort, b.HostPort), a.HostIP.Compare(b.HostIP))
	})

	t := &nftables.Table{Name: s.Table, Family: nftables.TableFamilyIPv4}
	accept := nftables.ChainPolicyAccept
	pre := &nftables.Chain{Name: ChainPrerouting, Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest}
	out := &nftables.Chain{Name: ChainOutput, Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest}
	post := &nftables.Chain{Name: ChainPostrouting, Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource}
	fwd := &nftables.Chain{Name: ChainForward, Table: t, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept}
	portsChain := &nftables.Chain{Name: ChainPorts, Table: t}
	rs := &Ruleset{Table: t, Chains: []*nftables.Chain{portsChain, pre, out, post, fwd}}
	add := func(c *nftables.Chain, text string, e ...expr.Any) {
		rs.Rules = append(rs.Rules, Rule{Chain: c, Text: text, Exprs: e})
	}
	svcs, err := sortedServices(s.Services)
	if err != nil {
		return nil, err
	}
	for _, sp := range svcs {
		if len(sp.Backends) == 0 {
			continue // nothing listens on the host's port: connections are refused
		}
		ch := &nftables.Chain{Name: fmt.Sprintf("mesh-%s-%d", sp.Proto, sp.HostPort), Table: t}
		rs.Chains = append(rs.Chains, ch)
		meshRules(ch, sp, add)
	}

	// Published ports: packets to any local address (or the one HostIP) are
	// DNATed. The output hook covers connections made on the host itself,
	// including to 127.0.0.1 (the bridge has route_localnet=1 for that).
	for _, c := range []*nftables.Chain{pre, out} {
		add(c, "fib daddr type local jump "+ChainPorts,
			&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: u32(unix.RTN_LOCAL)},
			&expr.Verdict{Kind: expr.VerdictJump, Chain: ChainPorts})
	}
	for _, p := range ports {
		text, e := dnat(p)
		add(portsChain, text, e...)
	}
	for _, sp := range svcs {
		if len(sp.Backends) > 0 {
			name := fmt.Sprintf("mesh-%s-%d", sp.Proto, sp.HostPort)
			add(portsChain, fmt.Sprintf("%s dport %d jump %s", sp.Proto, sp.HostPort, name),
				append(matchDport(sp.Proto, sp.HostPort), &expr.Verdict{Kind: expr.VerdictJump, Chain: name})...)
		}
	}

	loopback := netip.MustParsePrefix("127.0.0.0/8")
	for _, n := range nets {
		if !n.Internal {
			add(post, fmt.Sprintf("ip saddr %s oifname != %q masquerade", n.Subnet, n.Bridge),
				append(append(matchPrefix(12, n.Subnet), ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, n.Bridge)...), &expr.Masq{})...)
		}
		// Connections to 127.0.0.1:published keep their loopback source after
		// DNAT; the container could not answer them.
		add(post, fmt.Sprintf("oifname %q ip saddr %s masquerade", n.Bridge, loopback),
			append(append(ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, n.Bridge), matchPrefix(12, loopback)...), &expr.Masq{})...)
		// Hairpin: a member reaching a published port of its own bridge would
		// get the reply straight from the peer, bypassing the reverse NAT.
		add(post, fmt.Sprintf("oifname %q ip saddr %s ct status dnat masquerade", n.Bridge, n.Subnet),
			append(append(append(ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, n.Bridge), matchPrefix(12, n.Subnet)...), ctDNAT()...), &expr.Masq{})...)
	}

	for _, n := range nets {
		if !n.Internal {
			continue
		}
		add(fwd, fmt.Sprintf("iifname %q oifname != %q drop", n.Bridge, n.Bridge),
			append(append(ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, n.Bridge), ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, n.Bridge)...), &expr.Verdict{Kind: expr.VerdictDrop})...)
		add(fwd, fmt.Sprintf("oifname %q iifname != %q drop", n.Bridge, n.Bridge),
			append(append(ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, n.Bridge), ifname(expr.MetaKeyIIFNAME, expr.CmpOpNeq, n.Bridge)...), &expr.Verdict{Kind: expr.VerdictDrop})...)
	}
	if len(nets) > 1 {
		// Published ports stay reachable from other networks, as through the host.
		add(fwd, "ct status dnat accept", append(ctDNAT(), &expr.Verdict{Kind: expr.VerdictAccept})...)
	}
	for _, a := range nets {
		for _, b := range nets {
			if a.Bridge == b.Bridge {
				continue
			}
			add(fwd, fmt.Sprintf("iifname %q oifname %q drop", a.Bridge, b.Bridge),
				append(append(ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, a.Bridge), ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, b.Bridge)...), &expr.Verdict{Kind: expr.VerdictDrop})...)
		}
	}
	return rs, nil
}

// String renders rs as text: chains with their rules in nft syntax, each
// followed by the kernel expressions. Golden files compare this form.
func (rs *Ruleset) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s\n", rs.Table.Name)
	for _, c := range rs.Chains {
		if c.Hooknum != nil {
			fmt.Fprintf(&b, "chain %s { type %s hook %d priority %d", c.Name, c.Type, *c.Hooknum, *c.Priority)
			if c.Policy != nil {
				fmt.Fprintf(&b, " policy %d", *c.Policy)
			}
			b.WriteString(" }\n")
		} else {
			fmt.Fprintf(&b, "chain %s {}\n", c.Name)
		}
		for _, r := range rs.Rules {
			if r.Chain != c {
				continue
			}
			fmt.Fprintf(&b, "  %s\n", r.Text)
			for _, e := range r.Exprs {
				fmt.Fprintf(&b, "    %T%+v\n", e, e)
			}
		}
	}
	return b.String()
}

func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func ifname(key expr.MetaKey, op expr.CmpOp, name string) []expr.Any {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: b},
	}
}

// matchAddr compares the IPv4 header field at offset (12 saddr, 16 daddr).
func matchAddr(offset uint32, a netip.Addr) []expr.Any {
	v := a.As4()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: v[:]},
	}
}

func matchPrefix(offset uint32, p netip.Prefix) []expr.Any {
	p = p.Masked()
	mask := binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-p.Bits()))
	if p.Bits() == 0 {
		mask = []byte{0, 0, 0, 0}
	}
	v := p.Addr().As4()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: v[:]},
	}
}

func ctDNAT() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: u32(ipsDstNAT), Xor: u32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: u32(0)},
	}
}

// dnat renders "[ip daddr H] proto dport HP dnat to C:CP".
func dnat(p Port) (string, []expr.Any) {
	var e []expr.Any
	text := ""
	if p.HostIP.IsValid() && !p.HostIP.IsUnspecified() {
		e = append(e, matchAddr(16, p.HostIP)...)
		text = "ip daddr " + p.HostIP.String() + " "
	}
	proto := byte(unix.IPPROTO_TCP)
	if p.Proto == "udp" {
		proto = unix.IPPROTO_UDP
	}
	cip := p.ContainerIP.As4()
	e = append(e,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: be16(p.HostPort)},
		&expr.Immediate{Register: 1, Data: cip[:]},
		&expr.Immediate{Register: 2, Data: be16(p.ContainerPort)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	)
	return fmt.Sprintf("%s%s dport %d dnat to %s:%d", text, p.Proto, p.HostPort, p.ContainerIP, p.ContainerPort), e
}

// RenderRedirect builds the small table installed inside a container's
// namespace that sends queries for addr:53 to the ports the embedded DNS
// server really listens on. The server does not bind port 53 itself so that
// containers stay free to run their own DNS server on 0.0.0.0:53; replies
// are translated back by conntrack.
func RenderRedirect(table string, addr netip.Addr, udpPort, tcpPort uint16) (*Ruleset, error) {
	if table == "" || !addr.Is4() || udpPort == 0 || tcpPort == 0 {
		return nil, fmt.Errorf("nft: invalid redirect %s %s udp %d tcp %d: %w", table, addr, udpPort, tcpPort, errdefs.ErrInvalidArgument)
	}
	t := &nftables.Table{Name: table, Family: nftables.TableFamilyIPv4}
	out := &nftables.Chain{Name: ChainOutput, Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest}
	rs := &Ruleset{Table: t, Chains: []*nftables.Chain{out}}
	for _, p := range []Port{{Proto: "udp", HostIP: addr, HostPort: 53, ContainerIP: addr, ContainerPort: udpPort},
		{Proto: "tcp", HostIP: addr, HostPort: 53, ContainerIP: addr, ContainerPort: tcpPort}} {
		text, e := dnat(p)
		rs.Rules = append(rs.Rules, Rule{Chain: out, Text: text, Exprs: e})
	}
	return rs, nil
}

// sortedServices validates and orders the mesh ports.
func sortedServices(in []ServicePort) ([]ServicePort, error) {
	out := slices.Clone(in)
	for _, sp := range out {
		if sp.Proto != "tcp" && sp.Proto != "udp" {
			return nil, fmt.Errorf("invalid protocol %q for service port %d: %w", sp.Proto, sp.HostPort, errdefs.ErrInvalidArgument)
		}
		if sp.HostPort == 0 || sp.TargetPort == 0 {
			return nil, fmt.Errorf("invalid service port %d:%d: %w", sp.HostPort, sp.TargetPort, errdefs.ErrInvalidArgument)
		}
		for _, b := range sp.Backends {
			if !b.Is4() {
				return nil, fmt.Errorf("invalid backend %s for service port %d: %w", b, sp.HostPort, errdefs.ErrInvalidArgument)
			}
		}
	}
	slices.SortFunc(out, func(a, b ServicePort) int {
		return cmp.Or(strings.Compare(a.Proto, b.Proto), cmp.Compare(a.HostPort, b.HostPort))
	})
	for i := 1; i < len(out); i++ {
		if out[i].Proto == out[i-1].Proto && out[i].HostPort == out[i-1].HostPort {
			return nil, fmt.Errorf("service port %d/%s appears twice: %w", out[i].HostPort, out[i].Proto, errdefs.ErrInvalidArgument)
		}
	}
	return out, nil
}

// meshRules spreads new connections to a published port round robin over
// the service's backends.
func meshRules(ch *nftables.Chain, sp ServicePort, add func(*nftables.Chain, string, ...expr.Any)) {
	roundRobin(ch, sp.Backends, sp.TargetPort, add)
}

// roundRobin fills ch with rules that DNAT each new connection to the next
// backend: the connection's mark takes the next number of an incrementing
// counter, and one rule per backend DNATs the connection whose mark is its
// number. (A rule cannot branch on a value it computed itself; the
// connection mark carries it to the next rules. Only new connections pass
// NAT chains.) port 0 keeps the destination port.
func roundRobin(ch *nftables.Chain, backends []netip.Addr, port uint16, add func(*nftables.Chain, string, ...expr.Any)) {
	n := uint32(len(backends))
	add(ch, fmt.Sprintf("ct mark set numgen inc mod %d", n),
		&expr.Numgen{Register: 1, Modulus: n, Type: unix.NFT_NG_INCREMENTAL},
		&expr.Ct{Register: 1, Key: expr.CtKeyMARK, SourceRegister: true})
	for i, b := range backends {
		ip := b.As4()
		e := []expr.Any{
			&expr.Ct{Register: 1, Key: expr.CtKeyMARK},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: u32(uint32(i))},
			&expr.Immediate{Register: 1, Data: ip[:]},
		}
		text := fmt.Sprintf("ct mark %d dnat to %s", i, b)
		if port != 0 {
			text += fmt.Sprintf(":%d", port)
			e = append(e, &expr.Immediate{Register: 2, Data: be16(port)},
				&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true})
		} else {
			e = append(e, &expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1})
		}
		add(ch, text, e...)
	}
}

// matchDport matches the layer 4 protocol and destination port.
func matchDport(proto string, port uint16) []expr.Any {
	p := byte(unix.IPPROTO_TCP)
	if proto == "udp" {
		p = unix.IPPROTO_UDP
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: be16(port)},
	}
}

package nft

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/containerd/errdefs"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// VIPTable is the table the network manager installs in a container's
// namespace to load-balance the service VIPs of the container's networks.
const VIPTable = "wharf-vip"

// ChainVIPReject is the VIP table's filter chain.
const ChainVIPReject = "reject"

// icmpPortUnreachable is ICMP's destination-unreachable code 3.
const icmpPortUnreachable = 3

// VIP is a swarm service's virtual address on one network and the
// addresses of the service's running tasks on that network.
type VIP struct {
	Addr     netip.Addr
	Backends []netip.Addr
}

// RenderVIPs builds the VIP table of one container's namespace. Each new
// connection (any protocol, any port) the container opens to a VIP is
// DNATed, address only, to the next backend round robin, in the
// container's own output hook: the packet leaves the namespace already
// addressed to the task, the task sees the client's own address and
// answers it directly, and the client's conntrack turns the answer back
// into one from the VIP. No address answers ARP for the VIP and nothing
// is SNATed. Traffic to a VIP left untranslated (no backend) is refused at
// once: TCP gets a reset, the rest an ICMP port unreachable.
func RenderVIPs(table string, vips []VIP) (*Ruleset, error) {
	if table == "" {
		return nil, fmt.Errorf("nft: empty table name: %w", errdefs.ErrInvalidArgument)
	}
	sorted := slices.Clone(vips)
	for _, v := range sorted {
		if !v.Addr.Is4() {
			return nil, fmt.Errorf("nft: invalid VIP %s: %w", v.Addr, errdefs.ErrInvalidArgument)
		}
		for _, b := range v.Backends {
			if !b.Is4() {
				return nil, fmt.Errorf("nft: invalid backend %s of VIP %s: %w", b, v.Addr, errdefs.ErrInvalidArgument)
			}
		}
	}
	slices.SortFunc(sorted, func(a, b VIP) int { return a.Addr.Compare(b.Addr) })
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Addr == sorted[i-1].Addr {
			return nil, fmt.Errorf("nft: VIP %s appears twice: %w", sorted[i].Addr, errdefs.ErrInvalidArgument)
		}
	}
	t := &nftables.Table{Name: table, Family: nftables.TableFamilyIPv4}
	accept := nftables.ChainPolicyAccept
	out := &nftables.Chain{Name: ChainOutput, Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest}
	// The filter chain runs after the NAT one (priority 0 > -100), so it
	// sees only packets still addressed to a VIP: those no backend took.
	rej := &nftables.Chain{Name: ChainVIPReject, Table: t, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter, Policy: &accept}
	rs := &Ruleset{Table: t, Chains: []*nftables.Chain{out, rej}}
	add := func(c *nftables.Chain, text string, e ...expr.Any) {
		rs.Rules = append(rs.Rules, Rule{Chain: c, Text: text, Exprs: e})
	}
	for _, v := range sorted {
		if len(v.Backends) == 0 {
			continue
		}
		name := "vip-" + v.Addr.String()
		ch := &nftables.Chain{Name: name, Table: t}
		rs.Chains = append(rs.Chains, ch)
		add(out, fmt.Sprintf("ip daddr %s jump %s", v.Addr, name),
			append(matchAddr(16, v.Addr), &expr.Verdict{Kind: expr.VerdictJump, Chain: name})...)
		roundRobin(ch, v.Backends, 0, add)
	}
	for _, v := range sorted {
		add(rej, fmt.Sprintf("ip daddr %s meta l4proto tcp reject with tcp reset", v.Addr),
			append(matchAddr(16, v.Addr),
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
				&expr.Reject{Type: unix.NFT_REJECT_TCP_RST})...)
		add(rej, fmt.Sprintf("ip daddr %s reject", v.Addr),
			append(matchAddr(16, v.Addr), &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: icmpPortUnreachable})...)
	}
	return rs, nil
}

// Package nft renders wharf's nftables rule set (outbound NAT, published-port
// DNAT, the routing mesh, localhost and hairpin masquerade, bridge isolation,
// internal networks) as a pure function of the network state, and applies it
// by atomically replacing wharf's own table. No other table is ever read or
// changed. RenderRedirect and RenderVIPs render the small tables wharf puts
// in a container's own namespace (embedded DNS, service VIPs).
package nft

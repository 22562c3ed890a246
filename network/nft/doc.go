// Package nft renders wharf's nftables rule set (outbound NAT, published-port
// DNAT, localhost and hairpin masquerade, bridge isolation, internal networks)
// as a pure function of the network state, and applies it by atomically
// replacing wharf's own table. No other table is ever read or changed.
package nft

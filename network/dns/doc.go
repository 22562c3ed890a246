// Package dns is wharf's embedded DNS server for user-defined networks: it
// answers container names, aliases and short IDs of the endpoints that share a
// network with the asking container and forwards every other query to the
// host's resolvers.
//
// Like Docker, it answers on 127.0.0.11:53 inside each container's network
// namespace: sockets on free ports of 127.0.0.11 are opened on a thread that
// joined the namespace, and a two-rule nft table there redirects port 53 to
// them, so a container may still run its own DNS server on 0.0.0.0:53. The
// forwarding sockets live in the daemon's own namespace. Compared to listening
// on the bridge gateway this needs no host port 53 (no clash with a host
// dnsmasq), is not subject to the host's INPUT firewall, works on --internal
// networks, tells the asking container by socket rather than by source
// address, and can forward to host-loopback resolvers such as 127.0.0.53.
package dns

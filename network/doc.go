// Package network is wharf's container networking: bridge networks with
// persisted IPAM, per-container network namespaces joined by runc by path,
// published ports and NAT in wharf's own nftables table, and an embedded DNS
// server for user-defined networks; for swarm mode on one node, overlay
// networks (bridges behind a driver interface), the ingress network, service
// VIPs load-balanced in each container's namespace, tasks.<name> DNS and the
// ingress routing mesh. Manager is the only entry point the engine uses; the
// mechanisms live in the sub-packages ipam, bridge, nft and dns.
//
// Lock order: Manager.mu is the only lock held while calling into the
// sub-packages; the DNS server's own lock is never held while taking
// Manager.mu (DNS lookups take Manager.mu for reading only).
package network

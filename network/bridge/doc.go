// Package bridge creates and removes Linux bridges, veth pairs and
// bind-mounted network namespaces with netlink. Every operation names the
// namespace it acts in, so the daemon (and tests) never depend on which
// namespace the calling OS thread happens to be in.
package bridge

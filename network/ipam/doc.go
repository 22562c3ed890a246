// Package ipam allocates IPv4 addresses inside a network's subnet and keeps the
// leases in wharf's bbolt metadata database, so that addresses survive a daemon
// restart without clashes.
package ipam

// Package cli implements wharf's client commands with the docker CLI's grammar, flags,
// output and exit codes; it reaches the daemon only through the moby Go SDK.
package cli

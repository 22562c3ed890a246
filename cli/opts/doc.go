// Package opts turns the docker-style flag values of wharf's client commands
// (mount and volume specs, restart policies, env files, ports, resources) into
// the Engine API's container.Config and container.HostConfig; it is pure and
// never talks to the daemon.
package opts

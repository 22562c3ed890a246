// Package compose turns Compose files into what `stack deploy` creates in
// a swarm: overlay networks, secrets, configs and service specs (moby's
// swarm types), named and labelled the way the docker CLI names them
// (<stack>_<name>, com.docker.stack.namespace, com.docker.stack.image).
//
// Files are loaded with compose-go (interpolation from the environment and
// .env, the tutorial's `version: "3"` files included). Every attribute the
// translation does not carry into a spec comes back as a warning, never a
// silent drop: the loader screens the file against an allowlist of the
// attributes this package implements, so a key the specification adds
// later is reported until someone wires it in. Invalid files fail with
// file:line and the key.
//
// depends_on has no place in a ServiceSpec; Stack.DependsOn keeps it (with
// its condition) so that deploy can start services in order and wait for
// service_healthy.
//
// The daemon (wharfd compose convert) runs this package for the client:
// compose-go costs every process that links it ~4 ms of start-up.
package compose

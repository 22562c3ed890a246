// Package compose turns Compose files into what `stack deploy` creates in
// a swarm: overlay networks, secrets, configs and service specs (moby's
// swarm types), named and labelled the way the docker CLI names them
// (<stack>_<name>, com.docker.stack.namespace). Files are loaded with
// compose-go; keys swarm does not use come back as warnings, never
// silently dropped. The daemon (wharfd compose convert) runs it: compose-go
// costs every process that links it ~4 ms of start-up, too much for the
// lean client.
package compose

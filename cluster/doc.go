// Package cluster is this node's swarm membership: `swarm init` (a root
// CA, this node's certificate, the first etcd member, the cluster and node
// objects, join tokens and the mTLS manager endpoint on the listen
// address), leave, inspect/update of the cluster, node list/inspect/
// update/remove, the Swarm section of /info, and Restore, which brings all
// of it back when the daemon restarts.
//
// On disk, under <daemon root>/swarm:
//
//	state.json      who we are in which cluster, and where we listen
//	                (written last at init: its presence means "in a swarm")
//	certificates/   swarm-root-ca.crt, swarm-node.crt, swarm-node.key (0600)
//	etcd/           the etcd member's data (cluster state: store package)
//
// Controllers (orchestrator, scheduler, dispatcher…) register with
// OnLeader and run only on the elected leader while the node is in a
// swarm; OnLeave hooks clean up what they made when the node leaves.
//
// Locking: opMu serialises the state changes (Init, Leave, Restore,
// Close); mu guards the pointer to the active membership and the hook
// lists and is never held across I/O. opMu is taken before mu.
package cluster

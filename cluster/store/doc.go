// Package store keeps swarm cluster state in an embedded etcd member: typed
// get/list/create/update/delete/watch of the cluster's objects (moby's swarm
// types stored as JSON under one key prefix per kind), optimistic
// concurrency through etcd's ModRevision (exposed as Version.Index), and a
// leader-election hook so controllers run on exactly one manager.
//
// Keys:
//
//	/wharf/swarm/clusters/<id>   Cluster (info, spec, join tokens, root CA)
//	/wharf/swarm/nodes/<id>      swarm.Node
//	/wharf/swarm/services/<id>   swarm.Service
//	/wharf/swarm/tasks/<id>      swarm.Task
//	/wharf/swarm/networks/<id>   swarm.Network
//	/wharf/swarm/secrets/<id>    swarm.Secret
//	/wharf/swarm/configs/<id>    swarm.Config
//	/wharf/swarm/election/<name>/…  concurrency.Election keys
//
// Every write of an existing object compares the caller's Version.Index
// with the key's ModRevision in one etcd transaction, so a writer that read
// stale state gets a Conflict ("update out of sequence", as swarmkit says)
// instead of silently overwriting a newer change.
package store

// Package scheduler places swarm tasks on nodes. It is a pure function over
// a snapshot — nodes with their free resources, ports and load, and the
// tasks to place — so every decision is unit-tested and benchmarked without
// a cluster, and the leader's controller calls it inside one reconcile pass.
//
// Filters run in swarmkit's pipeline order (readiness and availability,
// reservations, constraints, platform, host-mode ports, max replicas per
// node) and a task nobody can take gets Docker's reason, e.g. "no suitable
// node (insufficient resources on 3 nodes; scheduling constraints not
// satisfied on 2 nodes)". Among the nodes left the score is: placement
// preferences (spread over label values), then fewest tasks of the same
// service, then fewest tasks overall, then node ID, so results are
// deterministic.
//
// Tasks of one service usually share their constraints and reservations:
// Schedule filters the nodes once per such group and places the group from
// a heap, O(log N) per placement and no per-task allocation of node lists.
package scheduler

// Package scheduler places swarm tasks on nodes. It is a pure function
// over a snapshot — nodes with their free resources and current load, and
// the tasks to place — so every decision is unit-tested and benchmarked
// without a cluster. Filters: readiness and availability, placement
// constraints (node.id, node.hostname, node.role, node.platform.os/arch,
// node.labels.*, engine.labels.*; == and !=), CPU and memory reservations,
// host-mode published ports. Score: fewest tasks of the same service
// (spread), then fewest tasks overall, then node ID (deterministic).
// Unplaceable tasks get Docker's reason ("no suitable node (…)").
package scheduler

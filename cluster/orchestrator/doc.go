// Package orchestrator decides, for one swarm service at a time, which tasks
// must exist: it turns a service's spec and its tasks (running and dead) into
// a Plan — tasks to create, tasks to shut down, dead tasks to forget, the
// service's update status and when to look again. It is a pure function over
// a snapshot, like the scheduler: the leader's reconcile loop reads the
// store, calls Reconcile and writes the plan back, and every rule (replicas,
// global mode, restart policy, rolling update and rollback, drained nodes)
// is unit-tested here without a store or a clock.
package orchestrator

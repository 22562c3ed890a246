package orchestrator

import "github.com/moby/moby/api/types/swarm"

// rank orders task states the way they progress; terminal states share
// the highest ranks.
var rank = map[swarm.TaskState]int{
	swarm.TaskStateNew: 0, swarm.TaskStateAllocated: 1, swarm.TaskStatePending: 2,
	swarm.TaskStateAssigned: 3, swarm.TaskStateAccepted: 4, swarm.TaskStatePreparing: 5,
	swarm.TaskStateReady: 6, swarm.TaskStateStarting: 7, swarm.TaskStateRunning: 8,
	swarm.TaskStateComplete: 9, swarm.TaskStateShutdown: 10, swarm.TaskStateFailed: 11,
	swarm.TaskStateRejected: 12, swarm.TaskStateRemove: 13, swarm.TaskStateOrphaned: 14,
}

// Terminal reports whether a task in state s will never run again.
func Terminal(s swarm.TaskState) bool { return rank[s] > rank[swarm.TaskStateRunning] }

// Rank orders task states the way they progress (unknown states first):
// a status report must never move a task to a lower rank.
func Rank(s swarm.TaskState) int {
	if r, ok := rank[s]; ok {
		return r
	}
	return -1
}

func terminal(s swarm.TaskState) bool { return Terminal(s) }

// live reports whether t runs or is on its way to running, and is still
// wanted: the task that occupies its slot.
func live(t *swarm.Task) bool {
	return !terminal(t.Status.State) && rank[t.DesiredState] <= rank[swarm.TaskStateRunning]
}

// stopping reports whether t was asked to stop but has not stopped yet: it
// still holds its slot's resources (ports, name) until it is dead.
func stopping(t *swarm.Task) bool {
	return !terminal(t.Status.State) && rank[t.DesiredState] > rank[swarm.TaskStateRunning]
}

// failed reports whether t ended on its own with an error, which is what
// the "on-failure" restart condition restarts.
func failed(t *swarm.Task) bool {
	switch t.Status.State {
	case swarm.TaskStateFailed, swarm.TaskStateRejected:
		return true
	case swarm.TaskStateComplete:
		return t.Status.ContainerStatus != nil && t.Status.ContainerStatus.ExitCode != 0
	}
	return false
}

// diedOnItsOwn reports whether a dead task stopped without being asked to:
// it failed, completed or was rejected (a task the orchestrator shut down —
// scale, update, drain — ends "shutdown" and is replaced at once). Only
// such deaths are restarts. Its desired state may have been set to
// shutdown since, once a replacement was made: that does not change how
// it ended.
func diedOnItsOwn(t *swarm.Task) bool {
	switch t.Status.State {
	case swarm.TaskStateComplete, swarm.TaskStateFailed, swarm.TaskStateRejected, swarm.TaskStateOrphaned:
		return true
	}
	return false
}

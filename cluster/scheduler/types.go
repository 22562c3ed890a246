package scheduler

// Node is a node as the scheduler sees it. Callers build it from the
// cluster's node objects and the tasks already assigned; Schedule updates
// FreeCPU, FreeMemory, UsedPorts and Tasks as it places tasks, so a caller
// can chain calls over the same snapshot.
type Node struct {
	ID, Hostname, Role string            // Role is "manager" or "worker"
	OS, Arch           string            // node.platform.os / node.platform.arch
	Labels             map[string]string // node.labels.*
	EngineLabels       map[string]string // engine.labels.*
	// Ready is status "ready" (not "down" or "unknown"); Active is
	// availability "active". Pause and drain both take a node out of
	// scheduling — drain additionally makes the orchestrator move its
	// tasks away, which is not the scheduler's business.
	Ready, Active bool
	// FreeCPU (nanoCPUs) and FreeMemory (bytes) are the node's resources
	// minus the reservations of tasks already there; negative means the
	// node did not report the resource (unlimited).
	FreeCPU, FreeMemory int64
	UsedPorts           map[string]bool // host-mode published ports taken, "tcp/80"
	Tasks               int             // tasks running or assigned there, any service
}

// Platform is an OS/architecture pair an image runs on.
type Platform struct{ OS, Arch string }

// Task is a task to place.
type Task struct {
	ID, ServiceID string
	Constraints   []string // "node.role==manager", "node.labels.zone!=east"
	CPU, Memory   int64    // reservations: nanoCPUs, bytes
	HostPorts     []string // host-mode published ports, "tcp/80"
	// MaxReplicas caps the service's tasks per node (0: no cap).
	MaxReplicas uint64
	// Spread lists placement preferences, outermost first: each is a
	// descriptor such as "node.labels.zone" whose values the service's
	// tasks are spread evenly over (nodes without the label form one more
	// group, as in swarm).
	Spread []string
	// Platforms the image supports; empty means any.
	Platforms []Platform
}

// Result says where each task goes, or why it cannot go anywhere.
type Result struct {
	Assigned map[string]string // task ID → node ID
	Unplaced map[string]string // task ID → reason, in Docker's words
}

package orchestrator

import (
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/swarm"
)

// Input is everything Reconcile looks at: one service, all of its tasks
// (live and dead), and the cluster's nodes.
type Input struct {
	Now     time.Time
	Service swarm.Service
	Tasks   []swarm.Task
	Nodes   []swarm.Node
	// Eligible says whether a node may run a task of this service (the
	// scheduler's filters: constraints, platform). nil accepts every node.
	// Availability and readiness are checked here in any case.
	Eligible func(*swarm.Node) bool
	// NewTaskID makes the ID of a task to create.
	NewTaskID func() string
	// HistoryLimit is how many dead tasks to keep per slot (Docker keeps
	// 5: `docker service ps` shows them); 0 means 5.
	HistoryLimit int
}

// Plan is what the caller writes back to the store.
type Plan struct {
	// Create are new tasks (desired state running, state new): replicated
	// ones carry a Slot and go to the scheduler, global ones a NodeID.
	Create []swarm.Task
	// Shutdown are IDs of tasks whose desired state becomes shutdown.
	Shutdown []string
	// Delete are IDs of dead tasks beyond the history limit.
	Delete []string
	// UpdateStatus, when not nil, is the service's new update status.
	UpdateStatus *swarm.UpdateStatus
	// Rollback asks the caller to roll the service back: its PreviousSpec
	// becomes its Spec (the update status already says rollback_started).
	Rollback bool
	// Wake, when not zero, is when Reconcile wants to run again even if
	// nothing changes (a restart delay or an update delay ends).
	Wake time.Time
}

// Docker's defaults for a service whose spec leaves them out.
const (
	defaultRestartDelay = 5 * time.Second
	defaultMonitor      = 5 * time.Second
	defaultHistoryLimit = 5
)

// Reconcile computes the plan that brings the service's tasks to its spec.
// It never blocks and has no side effects: calling it twice on the same
// input gives the same plan (task IDs aside).
func Reconcile(in Input) Plan {
	r := &reconciler{in: in, nodes: map[string]*swarm.Node{}, groups: map[string][]*swarm.Task{}}
	r.spec = specKey(in.Service.Spec.TaskTemplate)
	for i := range in.Nodes {
		r.nodes[in.Nodes[i].ID] = &in.Nodes[i]
	}
	mode := in.Service.Spec.Mode
	r.global = mode.Global != nil
	for i := range in.Tasks {
		t := &in.Tasks[i]
		r.groups[r.key(t)] = append(r.groups[r.key(t)], t)
	}
	r.desired = r.desiredKeys()
	r.retire()
	r.fill()
	r.update()
	r.forget()
	return r.plan
}

type reconciler struct {
	in      Input
	plan    Plan
	spec    string
	global  bool
	nodes   map[string]*swarm.Node
	groups  map[string][]*swarm.Task // by slot (replicated) or node ID (global)
	desired map[string]bool
	down    map[string]bool // task IDs this plan shuts down
}

// key names the place a task holds: its slot, or its node in global mode.
func (r *reconciler) key(t *swarm.Task) string {
	if r.global {
		return t.NodeID
	}
	return strconv.Itoa(t.Slot)
}

// desiredKeys are the slots 1..replicas, or the nodes a global service
// should run on.
func (r *reconciler) desiredKeys() map[string]bool {
	keys := map[string]bool{}
	if !r.global {
		n := uint64(1)
		if rep := r.in.Service.Spec.Mode.Replicated; rep != nil && rep.Replicas != nil {
			n = *rep.Replicas
		}
		for i := uint64(1); i <= n; i++ {
			keys[strconv.FormatUint(i, 10)] = true
		}
		return keys
	}
	for id, n := range r.nodes {
		if n.Spec.Availability == swarm.NodeAvailabilityActive && n.Status.State == swarm.NodeStateReady && r.eligible(n) {
			keys[id] = true
		}
	}
	return keys
}

func (r *reconciler) eligible(n *swarm.Node) bool { return r.in.Eligible == nil || r.in.Eligible(n) }

// shutdown adds t to the plan's shutdowns once.
func (r *reconciler) shutdown(t *swarm.Task) {
	if r.down == nil {
		r.down = map[string]bool{}
	}
	if !r.down[t.ID] {
		r.down[t.ID] = true
		r.plan.Shutdown = append(r.plan.Shutdown, t.ID)
	}
}

// running reports whether t is live and not being shut down by this plan.
func (r *reconciler) running(t *swarm.Task) bool { return live(t) && !r.down[t.ID] }

// retire shuts down live tasks that no longer have a place: slots above
// the replica count, nodes drained, removed or no longer eligible. A
// paused node keeps its tasks; it just gets no new ones.
func (r *reconciler) retire() {
	for _, key := range sortedKeys(r.groups) {
		for _, t := range r.groups[key] {
			if !live(t) {
				continue
			}
			node, placed := r.nodes[t.NodeID]
			switch {
			case !r.global && !r.desired[key]:
				r.shutdown(t) // scaled down
			case t.NodeID != "" && !placed:
				r.shutdown(t) // its node left the cluster
			case placed && node.Spec.Availability == swarm.NodeAvailabilityDrain:
				r.shutdown(t)
			case r.global && placed && node.Spec.Availability != swarm.NodeAvailabilityPause && !r.desired[key]:
				r.shutdown(t) // constraints or readiness no longer hold
			}
		}
	}
}

// fill creates a task in every desired place that has none, following the
// restart policy for places whose last task died on its own.
func (r *reconciler) fill() {
	for _, key := range sortedKeys(r.desired) {
		tasks := r.groups[key]
		if slices.ContainsFunc(tasks, r.running) {
			continue
		}
		// The old task still holds the place's resources (published host
		// ports, the name): wait until it is gone.
		if slices.ContainsFunc(tasks, func(t *swarm.Task) bool { return stopping(t) || r.down[t.ID] }) {
			continue
		}
		if at, ok := r.restartAt(tasks); !ok {
			continue
		} else if at.After(r.in.Now) {
			r.wake(at)
			continue
		}
		r.create(key)
	}
}

// create adds a new task for place key with the service's current spec.
func (r *reconciler) create(key string) *swarm.Task {
	now := r.in.Now
	t := swarm.Task{
		ID:           r.in.NewTaskID(),
		Meta:         swarm.Meta{CreatedAt: now, UpdatedAt: now},
		Spec:         r.in.Service.Spec.TaskTemplate,
		ServiceID:    r.in.Service.ID,
		DesiredState: swarm.TaskStateRunning,
		Status:       swarm.TaskStatus{Timestamp: now, State: swarm.TaskStateNew, Message: "created"},
	}
	if r.global {
		t.NodeID = key
	} else {
		t.Slot, _ = strconv.Atoi(key)
	}
	r.plan.Create = append(r.plan.Create, t)
	return &r.plan.Create[len(r.plan.Create)-1]
}

func (r *reconciler) wake(at time.Time) {
	if r.plan.Wake.IsZero() || at.Before(r.plan.Wake) {
		r.plan.Wake = at
	}
}

// forget deletes the oldest dead tasks of each place beyond the history
// limit, and every dead task of a place that is gone for good.
func (r *reconciler) forget() {
	limit := r.in.HistoryLimit
	if limit <= 0 {
		limit = defaultHistoryLimit
	}
	for _, key := range sortedKeys(r.groups) {
		var dead []*swarm.Task
		for _, t := range r.groups[key] {
			if terminal(t.Status.State) {
				dead = append(dead, t)
			}
		}
		slices.SortFunc(dead, func(a, b *swarm.Task) int { return b.Status.Timestamp.Compare(a.Status.Timestamp) })
		for _, t := range dead[min(limit, len(dead)):] {
			r.plan.Delete = append(r.plan.Delete, t.ID)
		}
	}
}

// upToDate reports whether t runs the service's current task spec.
func (r *reconciler) upToDate(t *swarm.Task) bool { return specKey(t.Spec) == r.spec }

// specKey is a canonical form of a task spec for comparison (the JSON
// encoding: maps are sorted, and it is what the store holds anyway).
func specKey(s swarm.TaskSpec) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		// Slots sort numerically so "10" comes after "9".
		ai, aerr := strconv.Atoi(a)
		bi, berr := strconv.Atoi(b)
		if aerr == nil && berr == nil {
			return cmp.Compare(ai, bi)
		}
		return cmp.Compare(a, b)
	})
	return keys
}

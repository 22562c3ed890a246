package orchestrator

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// world is a tiny cluster the tests drive by hand: it applies plans the
// way the leader's loop will, and moves tasks along as agents would.
type world struct {
	t     *testing.T
	now   time.Time
	svc   swarm.Service
	tasks []swarm.Task
	nodes []swarm.Node
	seq   int
}

func newWorld(t *testing.T, replicas uint64) *world {
	w := &world{t: t, now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	w.svc = swarm.Service{ID: "svc", Spec: swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: "web"},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "app:v1"}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
	}}
	w.addNode("n1")
	return w
}

func (w *world) addNode(id string) {
	w.nodes = append(w.nodes, swarm.Node{ID: id,
		Spec:   swarm.NodeSpec{Availability: swarm.NodeAvailabilityActive},
		Status: swarm.NodeStatus{State: swarm.NodeStateReady}})
}

func (w *world) node(id string) *swarm.Node {
	for i := range w.nodes {
		if w.nodes[i].ID == id {
			return &w.nodes[i]
		}
	}
	w.t.Fatalf("no node %s", id)
	return nil
}

func (w *world) reconcile() Plan {
	return Reconcile(Input{Now: w.now, Service: w.svc, Tasks: w.tasks, Nodes: w.nodes,
		NewTaskID: func() string { w.seq++; return fmt.Sprintf("t%d", w.seq) }})
}

// step reconciles and applies the plan; new replicated tasks land on n1.
func (w *world) step() Plan {
	p := w.reconcile()
	for _, t := range p.Create {
		if t.NodeID == "" {
			t.NodeID = "n1"
		}
		w.tasks = append(w.tasks, t)
	}
	for _, id := range p.Shutdown {
		w.task(id).DesiredState = swarm.TaskStateShutdown
	}
	w.tasks = slices.DeleteFunc(w.tasks, func(t swarm.Task) bool { return slices.Contains(p.Delete, t.ID) })
	if p.UpdateStatus != nil {
		w.svc.UpdateStatus = p.UpdateStatus
	}
	if p.Rollback {
		w.svc.Spec, w.svc.PreviousSpec = *w.svc.PreviousSpec, &w.svc.Spec
	}
	return p
}

func (w *world) task(id string) *swarm.Task {
	for i := range w.tasks {
		if w.tasks[i].ID == id {
			return &w.tasks[i]
		}
	}
	w.t.Fatalf("no task %s", id)
	return nil
}

func (w *world) set(id string, s swarm.TaskState, exit int) {
	t := w.task(id)
	t.Status.State, t.Status.Timestamp = s, w.now
	if s == swarm.TaskStateComplete || s == swarm.TaskStateFailed {
		t.Status.ContainerStatus = &swarm.ContainerStatus{ExitCode: exit}
	}
}

// settle is the agents' turn: wanted tasks start, unwanted ones stop.
func (w *world) settle() {
	for i := range w.tasks {
		t := &w.tasks[i]
		switch {
		case terminal(t.Status.State):
		case t.DesiredState == swarm.TaskStateRunning:
			t.Status.State, t.Status.Timestamp = swarm.TaskStateRunning, w.now
		default:
			t.Status.State, t.Status.Timestamp = swarm.TaskStateShutdown, w.now
		}
	}
}

// converge alternates reconcile and settle until nothing changes.
func (w *world) converge() {
	for range 50 {
		p := w.step()
		w.settle()
		if len(p.Create) == 0 && len(p.Shutdown) == 0 && p.UpdateStatus == nil && !p.Rollback {
			if p.Wake.IsZero() {
				return
			}
			w.now = p.Wake // the loop's timer fires
			continue
		}
		w.now = w.now.Add(time.Second)
	}
	w.t.Fatal("did not converge")
}

// running lists the running tasks as "slot:image" (or "node:image").
func (w *world) running() []string {
	var out []string
	for _, t := range w.tasks {
		if t.Status.State == swarm.TaskStateRunning {
			place := fmt.Sprint(t.Slot)
			if w.svc.Spec.Mode.Global != nil {
				place = t.NodeID
			}
			out = append(out, place+":"+t.Spec.ContainerSpec.Image)
		}
	}
	slices.Sort(out)
	return out
}

func (w *world) setReplicas(n uint64) { w.svc.Spec.Mode.Replicated.Replicas = &n }

func (w *world) setImage(img string) {
	prev := w.svc.Spec
	w.svc.PreviousSpec = &prev
	w.svc.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: img}
	w.svc.UpdateStatus = nil // a new spec starts a new update, as the API does
}

func TestReplicatedCreatesSlotsAndIsIdempotent(t *testing.T) {
	w := newWorld(t, 3)
	p := w.step()
	require.Len(t, p.Create, 3)
	for i, task := range p.Create {
		assert.Equal(t, i+1, task.Slot)
		assert.Equal(t, swarm.TaskStateRunning, task.DesiredState)
		assert.Equal(t, "app:v1", task.Spec.ContainerSpec.Image)
	}
	w.settle()
	p = w.step()
	assert.Empty(t, p.Create, "a converged service needs nothing")
	assert.Empty(t, p.Shutdown)
	assert.Nil(t, p.UpdateStatus)
	assert.Equal(t, []string{"1:app:v1", "2:app:v1", "3:app:v1"}, w.running())
}

func TestScaleUpAndDown(t *testing.T) {
	w := newWorld(t, 2)
	w.converge()
	w.setReplicas(5)
	p := w.step()
	assert.Equal(t, []int{3, 4, 5}, slots(p.Create))
	w.settle()
	w.setReplicas(1)
	p = w.step()
	assert.Len(t, p.Shutdown, 4, "slots 2..5 go")
	w.settle()
	assert.Equal(t, []string{"1:app:v1"}, w.running())
	assert.Empty(t, w.step().Create, "scaled-down slots are not refilled")
}

func slots(ts []swarm.Task) []int {
	var out []int
	for _, t := range ts {
		out = append(out, t.Slot)
	}
	return out
}

func TestRestartPolicyAnyWaitsForTheDelay(t *testing.T) {
	w := newWorld(t, 1)
	delay := 10 * time.Second
	w.svc.Spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny, Delay: &delay}
	w.converge()
	w.set(w.tasks[0].ID, swarm.TaskStateComplete, 0)
	died := w.now

	p := w.step()
	assert.Empty(t, p.Create, "not before the delay")
	assert.Equal(t, died.Add(delay), p.Wake)

	w.now = died.Add(delay)
	p = w.step()
	require.Len(t, p.Create, 1)
	assert.Equal(t, 1, p.Create[0].Slot, "the replacement takes the same slot")
}

func TestRestartConditions(t *testing.T) {
	zero := time.Duration(0)
	for _, tc := range []struct {
		cond    swarm.RestartPolicyCondition
		state   swarm.TaskState
		exit    int
		restart bool
	}{
		{swarm.RestartPolicyConditionAny, swarm.TaskStateComplete, 0, true},
		{swarm.RestartPolicyConditionOnFailure, swarm.TaskStateComplete, 0, false},
		{swarm.RestartPolicyConditionOnFailure, swarm.TaskStateFailed, 3, true},
		{swarm.RestartPolicyConditionOnFailure, swarm.TaskStateRejected, 0, true},
		{swarm.RestartPolicyConditionNone, swarm.TaskStateFailed, 1, false},
		{"", swarm.TaskStateFailed, 1, true}, // Docker's default is any
	} {
		t.Run(fmt.Sprintf("%s/%s/%d", tc.cond, tc.state, tc.exit), func(t *testing.T) {
			w := newWorld(t, 1)
			w.svc.Spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: tc.cond, Delay: &zero}
			w.converge()
			w.set(w.tasks[0].ID, tc.state, tc.exit)
			assert.Equal(t, tc.restart, len(w.step().Create) == 1)
		})
	}
}

func TestRestartMaxAttempts(t *testing.T) {
	zero := time.Duration(0)
	two := uint64(2)
	w := newWorld(t, 1)
	w.svc.Spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure, Delay: &zero, MaxAttempts: &two}
	w.converge()
	restarts := 0
	for range 5 {
		w.now = w.now.Add(time.Second)
		w.set(w.tasks[len(w.tasks)-1].ID, swarm.TaskStateFailed, 1)
		if len(w.step().Create) == 0 {
			break
		}
		restarts++
		w.settle()
	}
	assert.Equal(t, 2, restarts)
}

func TestRestartMaxAttemptsWithinWindow(t *testing.T) {
	zero := time.Duration(0)
	one := uint64(1)
	window := time.Minute
	w := newWorld(t, 1)
	w.svc.Spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny, Delay: &zero, MaxAttempts: &one, Window: &window}
	w.converge()
	w.set(w.tasks[0].ID, swarm.TaskStateFailed, 1)
	require.Len(t, w.step().Create, 1, "first restart")
	restartedAt := w.now
	w.settle()
	w.now = w.now.Add(time.Second)
	w.set(w.tasks[1].ID, swarm.TaskStateFailed, 1)
	p := w.step()
	assert.Empty(t, p.Create, "one restart per minute")
	assert.Equal(t, restartedAt.Add(window), p.Wake)
	w.now = restartedAt.Add(window)
	assert.Len(t, w.step().Create, 1, "the window moved on")
}

func TestDrainMovesTasks(t *testing.T) {
	w := newWorld(t, 2)
	w.addNode("n2")
	w.converge()
	w.node("n1").Spec.Availability = swarm.NodeAvailabilityDrain
	p := w.step()
	assert.Len(t, p.Shutdown, 2)
	assert.Empty(t, p.Create, "the replacement waits until the old task stopped")
	w.settle()
	p = w.step()
	require.Len(t, p.Create, 2, "then it is replaced at once, whatever the restart policy")
	assert.Empty(t, p.Create[0].NodeID, "the scheduler places it")
}

func TestGlobalOnePerEligibleNode(t *testing.T) {
	w := newWorld(t, 0)
	w.svc.Spec.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
	w.addNode("n2")
	w.addNode("n3")
	w.node("n3").Status.State = swarm.NodeStateDown
	w.converge()
	assert.Equal(t, []string{"n1:app:v1", "n2:app:v1"}, w.running())

	w.node("n2").Spec.Availability = swarm.NodeAvailabilityPause
	assert.Empty(t, w.step().Shutdown, "a paused node keeps its task")
	w.node("n2").Spec.Availability = swarm.NodeAvailabilityDrain
	w.node("n3").Status.State = swarm.NodeStateReady
	w.converge()
	assert.Equal(t, []string{"n1:app:v1", "n3:app:v1"}, w.running())

	// Constraints are the caller's filter.
	p := Reconcile(Input{Now: w.now, Service: w.svc, Tasks: w.tasks, Nodes: w.nodes,
		Eligible:  func(n *swarm.Node) bool { return n.ID != "n3" },
		NewTaskID: func() string { return "x" }})
	require.Len(t, p.Shutdown, 1)
	assert.Equal(t, "n3", w.task(p.Shutdown[0]).NodeID)
}

func TestRollingUpdateStopFirst(t *testing.T) {
	w := newWorld(t, 3)
	w.converge()
	w.setImage("app:v2")

	p := w.step()
	require.Len(t, p.Shutdown, 1, "parallelism 1 by default")
	require.NotNil(t, p.UpdateStatus)
	assert.Equal(t, swarm.UpdateStateUpdating, p.UpdateStatus.State)
	assert.Empty(t, p.Create, "stop-first: the new task comes once the old one is gone")

	w.settle()
	p = w.step()
	require.Len(t, p.Create, 1)
	assert.Empty(t, p.Shutdown, "the next batch waits for this one to run")
	w.settle()
	w.converge()
	assert.Equal(t, []string{"1:app:v2", "2:app:v2", "3:app:v2"}, w.running())
	assert.Equal(t, swarm.UpdateStateCompleted, w.svc.UpdateStatus.State)
	assert.NotNil(t, w.svc.UpdateStatus.CompletedAt)
}

func TestRollingUpdateStartFirstAndParallelism(t *testing.T) {
	w := newWorld(t, 4)
	w.svc.Spec.UpdateConfig = &swarm.UpdateConfig{Parallelism: 2, Order: swarm.UpdateOrderStartFirst}
	w.converge()
	w.setImage("app:v2")
	p := w.step()
	assert.Len(t, p.Create, 2, "two new tasks next to the old ones")
	assert.Empty(t, p.Shutdown)
	w.settle()
	p = w.step()
	assert.Len(t, p.Shutdown, 2, "old ones go once the new ones run")
	w.settle()
	w.converge()
	assert.Equal(t, []string{"1:app:v2", "2:app:v2", "3:app:v2", "4:app:v2"}, w.running())
}

func TestUpdateDelay(t *testing.T) {
	w := newWorld(t, 2)
	w.svc.Spec.UpdateConfig = &swarm.UpdateConfig{Parallelism: 1, Delay: 30 * time.Second}
	w.converge()
	w.setImage("app:v2")
	w.step()
	w.settle()
	w.step() // creates slot 1's new task
	created := w.now
	w.settle()
	p := w.step()
	assert.Empty(t, p.Shutdown, "the second batch waits out the delay")
	assert.Equal(t, created.Add(30*time.Second), p.Wake)
	w.now = created.Add(30 * time.Second)
	assert.Len(t, w.step().Shutdown, 1)
}

func TestUpdateFailurePauses(t *testing.T) {
	w := newWorld(t, 2)
	w.converge()
	w.setImage("app:broken")
	w.step()
	w.settle()
	p := w.step()
	require.Len(t, p.Create, 1)
	w.now = w.now.Add(time.Second)
	w.set(p.Create[0].ID, swarm.TaskStateFailed, 1)
	p = w.step()
	require.NotNil(t, p.UpdateStatus)
	assert.Equal(t, swarm.UpdateStatePaused, p.UpdateStatus.State)
	assert.Contains(t, p.UpdateStatus.Message, "update paused due to failure or early termination of task")
	w.settle()
	w.now = w.now.Add(time.Minute)
	p = w.step()
	assert.Empty(t, p.Shutdown, "a paused update touches no more old tasks")
}

func TestUpdateFailureRollsBack(t *testing.T) {
	w := newWorld(t, 2)
	w.svc.Spec.UpdateConfig = &swarm.UpdateConfig{Parallelism: 1, FailureAction: swarm.UpdateFailureActionRollback}
	w.converge()
	w.setImage("app:broken")
	w.svc.Spec.UpdateConfig = &swarm.UpdateConfig{Parallelism: 1, FailureAction: swarm.UpdateFailureActionRollback}
	w.step()
	w.settle()
	p := w.step()
	require.Len(t, p.Create, 1)
	w.now = w.now.Add(time.Second)
	w.set(p.Create[0].ID, swarm.TaskStateFailed, 1)
	p = w.step()
	assert.True(t, p.Rollback)
	assert.Equal(t, swarm.UpdateStateRollbackStarted, w.svc.UpdateStatus.State)
	assert.Equal(t, "app:v1", w.svc.Spec.TaskTemplate.ContainerSpec.Image, "the previous spec is back")
	w.settle()
	w.converge()
	assert.Equal(t, []string{"1:app:v1", "2:app:v1"}, w.running())
	assert.Equal(t, swarm.UpdateStateRollbackCompleted, w.svc.UpdateStatus.State)
}

func TestHistoryLimit(t *testing.T) {
	zero := time.Duration(0)
	w := newWorld(t, 1)
	w.svc.Spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Delay: &zero}
	w.converge()
	for range 8 {
		w.now = w.now.Add(time.Second)
		for _, tk := range w.tasks {
			if tk.Status.State == swarm.TaskStateRunning {
				w.set(tk.ID, swarm.TaskStateFailed, 1)
			}
		}
		w.step()
		w.settle()
	}
	dead := 0
	for _, tk := range w.tasks {
		if terminal(tk.Status.State) {
			dead++
		}
	}
	assert.LessOrEqual(t, dead, defaultHistoryLimit)
	assert.Equal(t, []string{"1:app:v1"}, w.running())
}

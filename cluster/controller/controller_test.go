package controller

import (
	"context"
	"log/slog"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wharf.io/wharf/cluster/store"
)

// firstNode places every task on the first ready, active node.
type firstNode struct{}

func (firstNode) Schedule(pending []*swarm.Task, nodes []*swarm.Node, _ []*swarm.Task, _ map[string]*swarm.Service) (map[string]string, map[string]string) {
	assigned, unplaced := map[string]string{}, map[string]string{}
	for _, t := range pending {
		for _, n := range nodes {
			if n.Spec.Availability == swarm.NodeAvailabilityActive && n.Status.State == swarm.NodeStateReady {
				assigned[t.ID] = n.ID
				break
			}
		}
		if assigned[t.ID] == "" {
			unplaced[t.ID] = "no suitable node (1 node not available for new tasks)"
		}
	}
	return assigned, unplaced
}

func setup(t *testing.T) (context.Context, *store.Store, *swarm.Node) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	st, err := store.Open(ctx, store.Config{Dir: t.TempDir(), Name: "node1", Logger: log})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	n := &swarm.Node{Spec: swarm.NodeSpec{Role: swarm.NodeRoleManager, Availability: swarm.NodeAvailabilityActive},
		Status: swarm.NodeStatus{State: swarm.NodeStateReady}}
	require.NoError(t, st.Nodes().Create(ctx, n))
	return ctx, st, n
}

func service(replicas uint64) *swarm.Service {
	return &swarm.Service{Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "web"},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "app:v1"}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}}}}
}

func liveTasks(t *testing.T, ctx context.Context, st *store.Store) []*swarm.Task {
	all, err := st.Tasks().List(ctx)
	require.NoError(t, err)
	var out []*swarm.Task
	for _, task := range all {
		if task.DesiredState == swarm.TaskStateRunning {
			out = append(out, task)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slot < out[j].Slot })
	return out
}

func TestReconcileCreatesPlacesAndScales(t *testing.T) {
	ctx, st, node := setup(t)
	c := New(st, firstNode{}, nil)
	svc := service(3)
	require.NoError(t, st.Services().Create(ctx, svc))

	_, err := c.Reconcile(ctx)
	require.NoError(t, err)
	tasks := liveTasks(t, ctx, st)
	require.Len(t, tasks, 3)
	for i, task := range tasks {
		assert.Equal(t, i+1, task.Slot)
		assert.Equal(t, node.ID, task.NodeID)
		assert.Equal(t, swarm.TaskStateAssigned, task.Status.State)
		assert.Equal(t, "web", task.Annotations.Name)
		_, err := st.Tasks().Modify(ctx, task.ID, func(x *swarm.Task) error {
			x.Status = swarm.TaskStatus{State: swarm.TaskStateRunning, Timestamp: time.Now()}
			return nil
		})
		require.NoError(t, err)
	}

	before, rev, err := st.Tasks().ListRev(ctx)
	require.NoError(t, err)
	_, err = c.Reconcile(ctx)
	require.NoError(t, err)
	after, rev2, err := st.Tasks().ListRev(ctx)
	require.NoError(t, err)
	assert.Equal(t, len(before), len(after))
	assert.Equal(t, rev, rev2, "a converged cluster writes nothing")

	_, err = st.Services().Modify(ctx, svc.ID, func(s *swarm.Service) error {
		one := uint64(1)
		s.Spec.Mode.Replicated.Replicas = &one
		return nil
	})
	require.NoError(t, err)
	_, err = c.Reconcile(ctx)
	require.NoError(t, err)
	assert.Len(t, liveTasks(t, ctx, st), 1)
}

func TestUnplaceableTasksSayWhy(t *testing.T) {
	ctx, st, node := setup(t)
	_, err := st.Nodes().Modify(ctx, node.ID, func(n *swarm.Node) error {
		n.Spec.Availability = swarm.NodeAvailabilityDrain
		return nil
	})
	require.NoError(t, err)
	require.NoError(t, st.Services().Create(ctx, service(1)))
	wake, err := New(st, firstNode{}, nil).Reconcile(ctx)
	require.NoError(t, err)
	assert.False(t, wake.IsZero(), "pending tasks are retried")
	tasks := liveTasks(t, ctx, st)
	require.Len(t, tasks, 1)
	assert.Equal(t, swarm.TaskStatePending, tasks[0].Status.State)
	assert.Empty(t, tasks[0].NodeID)
	assert.Contains(t, tasks[0].Status.Err, "no suitable node")
}

func TestRemovedServiceTasksGo(t *testing.T) {
	ctx, st, _ := setup(t)
	c := New(st, firstNode{}, nil)
	svc := service(2)
	require.NoError(t, st.Services().Create(ctx, svc))
	_, err := c.Reconcile(ctx)
	require.NoError(t, err)
	got, err := st.Services().Get(ctx, svc.ID)
	require.NoError(t, err)
	require.NoError(t, st.Services().Delete(ctx, svc.ID, got.Version.Index))
	_, err = c.Reconcile(ctx)
	require.NoError(t, err)
	all, err := st.Tasks().List(ctx)
	require.NoError(t, err)
	require.Len(t, all, 2)
	for _, task := range all {
		assert.Equal(t, swarm.TaskStateRemove, task.DesiredState, "the agent stops them")
		_, err := st.Tasks().Modify(ctx, task.ID, func(x *swarm.Task) error {
			x.Status.State = swarm.TaskStateShutdown
			return nil
		})
		require.NoError(t, err)
	}
	_, err = c.Reconcile(ctx)
	require.NoError(t, err)
	all, err = st.Tasks().List(ctx)
	require.NoError(t, err)
	assert.Empty(t, all, "and once they are down they are forgotten")
}

func TestRunReactsToChanges(t *testing.T) {
	ctx, st, _ := setup(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() { New(st, firstNode{}, nil).Run(ctx); close(done) }()
	require.NoError(t, st.Services().Create(ctx, service(2)))
	require.Eventually(t, func() bool { return len(liveTasks(t, ctx, st)) == 2 }, 10*time.Second, 20*time.Millisecond)
	cancel()
	<-done
}

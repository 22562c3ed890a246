package dispatcher

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wharf.io/wharf/cluster/agent"
	"wharf.io/wharf/cluster/store"
)

// syncRecorder keeps the assignments the dispatcher hands out.
type syncRecorder struct{ got chan []agent.Assignment }

func (s syncRecorder) Sync(_ context.Context, as []agent.Assignment) error {
	s.got <- as
	return nil
}

// quiet logs errors only.
var quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

// openStore opens a one-node store in a temp dir, closed after the test.
func openStore(ctx context.Context, t *testing.T) *store.Store {
	st, err := store.Open(ctx, store.Config{Dir: t.TempDir(), Name: "n1", Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

func TestAssignmentsAndStatusReports(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := openStore(ctx, t)

	svc := &swarm.Service{Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "web"},
		EndpointSpec: &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: 8080, PublishMode: swarm.PortConfigPublishModeHost}}}}}
	require.NoError(t, st.Services().Create(ctx, svc))
	mine := &swarm.Task{ServiceID: svc.ID, NodeID: "n1", Slot: 1, DesiredState: swarm.TaskStateRunning,
		Status: swarm.TaskStatus{State: swarm.TaskStateAssigned}, Spec: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "x"}}}
	other := &swarm.Task{ServiceID: svc.ID, NodeID: "n2", Slot: 2, DesiredState: swarm.TaskStateRunning}
	require.NoError(t, st.Tasks().Create(ctx, mine))
	require.NoError(t, st.Tasks().Create(ctx, other))

	rec := syncRecorder{got: make(chan []agent.Assignment, 16)}
	d := New(st, "n1", nil, quiet)
	d.SetAgent(rec)
	go d.Run(ctx)
	var as []agent.Assignment
	select {
	case as = <-rec.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no sync")
	}
	require.Len(t, as, 1, "only this node's tasks")
	assert.Equal(t, mine.ID, as[0].Task.ID)
	assert.Equal(t, "web", as[0].ServiceName)
	assert.Equal(t, uint32(8080), as[0].Ports[0].PublishedPort)
	assert.False(t, as[0].Ingress, "a host-mode port needs no routing mesh")

	require.NoError(t, d.ReportTaskStatus(ctx, mine.ID, swarm.TaskStatus{State: swarm.TaskStateFailed, Err: "task: non-zero exit (1)"}))
	require.NoError(t, d.ReportTaskStatus(ctx, mine.ID, swarm.TaskStatus{State: swarm.TaskStateRunning}), "a late report is no error")
	got, err := st.Tasks().Get(ctx, mine.ID)
	require.NoError(t, err)
	assert.Equal(t, swarm.TaskStateFailed, got.Status.State, "and never moves the task backwards")
	assert.NoError(t, d.ReportTaskStatus(ctx, "gone", swarm.TaskStatus{State: swarm.TaskStateRunning}), "a removed task is no error")
}

// TestAssignmentCarriesRegistryAuth: the credentials kept beside a
// service reach the agent with each of its tasks, and follow an update.
func TestAssignmentCarriesRegistryAuth(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := openStore(ctx, t)

	svc := &swarm.Service{Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "web"}}}
	op, err := st.Services().CreateOp(svc)
	require.NoError(t, err)
	put, err := st.ServiceAuths().PutOp(&store.ServiceAuth{ID: svc.ID, RegistryAuth: "first"})
	require.NoError(t, err)
	require.NoError(t, st.Commit(ctx, op, put))
	plain := &swarm.Service{Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "plain"}}}
	require.NoError(t, st.Services().Create(ctx, plain))
	for i, s := range []*swarm.Service{svc, plain} {
		require.NoError(t, st.Tasks().Create(ctx, &swarm.Task{ServiceID: s.ID, NodeID: "n1", Slot: i + 1, DesiredState: swarm.TaskStateRunning,
			Spec: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "x"}}}))
	}

	rec := syncRecorder{got: make(chan []agent.Assignment, 16)}
	d := New(st, "n1", nil, quiet)
	d.SetAgent(rec)
	go d.Run(ctx)
	authOf := func(as []agent.Assignment) map[string]string {
		m := map[string]string{}
		for _, a := range as {
			m[a.ServiceName] = a.RegistryAuth
		}
		return m
	}
	next := func() []agent.Assignment {
		select {
		case as := <-rec.got:
			return as
		case <-time.After(10 * time.Second):
			t.Fatal("no sync")
			return nil
		}
	}
	assert.Equal(t, map[string]string{"web": "first", "plain": ""}, authOf(next()))

	cur, err := st.Services().Get(ctx, svc.ID)
	require.NoError(t, err)
	up, err := st.Services().UpdateOp(cur)
	require.NoError(t, err)
	put, err = st.ServiceAuths().PutOp(&store.ServiceAuth{ID: svc.ID, RegistryAuth: "second", PreviousRegistryAuth: "first"})
	require.NoError(t, err)
	require.NoError(t, st.Commit(ctx, up, put))
	for {
		if authOf(next())["web"] == "second" {
			break
		}
	}
}

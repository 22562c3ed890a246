package store

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

func openStore(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), Config{Dir: dir, Name: "node1", Logger: quietLogger()})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestCRUDAndVersions(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	nodes := s.Nodes()

	n := &swarm.Node{Spec: swarm.NodeSpec{Role: swarm.NodeRoleManager, Availability: swarm.NodeAvailabilityActive}}
	require.NoError(t, nodes.Create(ctx, n))
	require.Len(t, n.ID, 25)
	require.NotZero(t, n.Version.Index)
	require.False(t, n.CreatedAt.IsZero())

	got, err := nodes.Get(ctx, n.ID)
	require.NoError(t, err)
	assert.Equal(t, n.Version, got.Version)
	assert.Equal(t, swarm.NodeRoleManager, got.Spec.Role)

	err = nodes.Create(ctx, &swarm.Node{ID: n.ID})
	assert.True(t, errdefs.IsAlreadyExists(err), "%v", err)

	// Two writers read the same version: the second is out of sequence.
	a, _ := nodes.Get(ctx, n.ID)
	b, _ := nodes.Get(ctx, n.ID)
	a.Spec.Availability = swarm.NodeAvailabilityDrain
	require.NoError(t, nodes.Update(ctx, a))
	assert.Greater(t, a.Version.Index, n.Version.Index)
	b.Spec.Labels = map[string]string{"k": "v"}
	err = nodes.Update(ctx, b)
	require.True(t, errdefs.IsConflict(err), "%v", err)
	assert.Contains(t, err.Error(), "update out of sequence")

	got, _ = nodes.Get(ctx, n.ID)
	assert.Equal(t, swarm.NodeAvailabilityDrain, got.Spec.Availability)
	assert.Nil(t, got.Spec.Labels, "the stale write must not land")

	// Modify retries from a fresh read.
	got, err = nodes.Modify(ctx, n.ID, func(n *swarm.Node) error {
		n.Spec.Labels = map[string]string{"k": "v"}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, "v", got.Spec.Labels["k"])

	list, err := nodes.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, got.Version, list[0].Version)

	err = nodes.Delete(ctx, n.ID, a.Version.Index)
	assert.True(t, errdefs.IsConflict(err), "%v", err)
	require.NoError(t, nodes.Delete(ctx, n.ID, got.Version.Index))
	_, err = nodes.Get(ctx, n.ID)
	assert.True(t, errdefs.IsNotFound(err), "%v", err)
	assert.True(t, errdefs.IsNotFound(nodes.Delete(ctx, n.ID, 0)))
	err = nodes.Update(ctx, got)
	assert.True(t, errdefs.IsNotFound(err), "%v", err)
}

func TestCommitIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	svc := &swarm.Service{Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "web"}}}
	require.NoError(t, s.Services().Create(ctx, svc))

	stale := *svc
	svc.Spec.Labels = map[string]string{"x": "1"}
	require.NoError(t, s.Services().Update(ctx, svc))

	t1 := &swarm.Task{ServiceID: svc.ID, Slot: 1}
	op1, err := s.Tasks().CreateOp(t1)
	require.NoError(t, err)
	opSvc, err := s.Services().UpdateOp(&stale)
	require.NoError(t, err)
	err = s.Commit(ctx, op1, opSvc)
	require.True(t, errdefs.IsConflict(err), "%v", err)
	tasks, err := s.Tasks().List(ctx)
	require.NoError(t, err)
	assert.Empty(t, tasks, "no task may be created by a failed plan")

	t2 := &swarm.Task{ServiceID: svc.ID, Slot: 2}
	op1, _ = s.Tasks().CreateOp(t1)
	op2, _ := s.Tasks().CreateOp(t2)
	opSvc, _ = s.Services().UpdateOp(svc)
	require.NoError(t, s.Commit(ctx, op1, op2, opSvc))
	assert.Equal(t, t1.Version, t2.Version, "one transaction, one revision")
	assert.Equal(t, svc.Version, t1.Version)
	tasks, _ = s.Tasks().List(ctx)
	assert.Len(t, tasks, 2)
}

func TestWatch(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := openStore(t, t.TempDir())
	tasks := s.Tasks()

	before := &swarm.Task{Slot: 1}
	require.NoError(t, tasks.Create(ctx, before))
	_, rev, err := tasks.ListRev(ctx)
	require.NoError(t, err)
	ch := tasks.Watch(ctx, rev+1)

	after := &swarm.Task{Slot: 2}
	require.NoError(t, tasks.Create(ctx, after))
	after.DesiredState = swarm.TaskStateShutdown
	require.NoError(t, tasks.Update(ctx, after))
	require.NoError(t, tasks.Delete(ctx, after.ID, 0))
	// Other kinds do not show up.
	require.NoError(t, s.Nodes().Create(ctx, &swarm.Node{}))

	next := func() Event[swarm.Task] {
		select {
		case ev := <-ch:
			require.NoError(t, ev.Err)
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
		}
		panic("unreachable")
	}
	ev := next()
	assert.Equal(t, EventPut, ev.Type)
	assert.Equal(t, after.ID, ev.Object.ID)
	assert.Equal(t, uint64(ev.Revision), ev.Object.Version.Index)
	ev = next()
	assert.Equal(t, swarm.TaskStateShutdown, ev.Object.DesiredState)
	assert.Equal(t, after.Version, ev.Object.Version)
	ev = next()
	assert.Equal(t, EventDelete, ev.Type)
	assert.Equal(t, after.ID, ev.Object.ID)

	cancel()
	for range ch {
	}
}

func TestRestartKeepsState(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Config{Dir: dir, Name: "node1", Logger: quietLogger()})
	require.NoError(t, err)
	c := &Cluster{ClusterInfo: swarm.ClusterInfo{Spec: swarm.Spec{Annotations: swarm.Annotations{Name: "default"}}},
		JoinTokens: swarm.JoinTokens{Worker: "w"}, RootCA: RootCA{CertPEM: []byte("cert")}}
	require.NoError(t, s.Clusters().Create(ctx, c))
	require.NoError(t, s.Close())

	s2 := openStore(t, dir)
	got, err := s2.Clusters().Get(ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, "w", got.JoinTokens.Worker)
	assert.Equal(t, []byte("cert"), got.RootCA.CertPEM)
	assert.Equal(t, c.Version, got.Version)
	assert.True(t, s2.IsRaftLeader())
	assert.Contains(t, s2.Members(), "node1")
	_, err = os.Stat(filepath.Join(dir, "client.sock"))
	assert.NoError(t, err, "client API on a unix socket")
}

func TestRunAsLeader(t *testing.T) {
	s := openStore(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	var runs atomic.Int32
	leading := make(chan struct{}, 4)
	done := make(chan error)
	go func() {
		done <- s.RunAsLeader(ctx, "orchestrator", func(ctx context.Context) {
			runs.Add(1)
			leading <- struct{}{}
			if runs.Load() == 1 {
				return // a controller that gives up is restarted
			}
			<-ctx.Done()
		})
	}()
	for range 2 {
		select {
		case <-leading:
		case <-time.After(20 * time.Second):
			t.Fatal("never elected")
		}
	}
	leader, err := s.Leader(context.Background(), "orchestrator")
	require.NoError(t, err)
	assert.Equal(t, "node1", leader)

	// A second candidate under the same name (another member, as far as
	// the election can tell) waits while the first leads.
	var second atomic.Bool
	other := &Store{name: "node2", cli: s.cli, log: s.log, sessionTTL: 5}
	octx, ocancel := context.WithCancel(context.Background())
	odone := make(chan struct{})
	go func() {
		defer close(odone)
		other.RunAsLeader(octx, "orchestrator", func(ctx context.Context) { second.Store(true); <-ctx.Done() })
	}()
	time.Sleep(300 * time.Millisecond) // give the rival a chance to (wrongly) win
	assert.False(t, second.Load())

	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	// Resigning hands the role over at once.
	require.Eventually(t, second.Load, 10*time.Second, 20*time.Millisecond)
	ocancel()
	<-odone
}

func TestLoggingBridge(t *testing.T) {
	var n atomic.Int32
	h := slog.New(countHandler{&n})
	lg := newZapLogger(h, 1, nil) // zap's WarnLevel
	lg.Info("dropped")
	lg.Warn("kept")
	lg.With().Error("kept too")
	assert.EqualValues(t, 2, n.Load())
}

type countHandler struct{ n *atomic.Int32 }

func (h countHandler) Enabled(context.Context, slog.Level) bool  { return true }
func (h countHandler) Handle(context.Context, slog.Record) error { h.n.Add(1); return nil }
func (h countHandler) WithAttrs([]slog.Attr) slog.Handler        { return h }
func (h countHandler) WithGroup(string) slog.Handler             { return h }

func BenchmarkTaskPutGet(b *testing.B) {
	ctx := context.Background()
	s := openStore(b, b.TempDir())
	tasks := s.Tasks()
	proto := swarm.Task{ServiceID: NewID(), NodeID: NewID(), Slot: 3, DesiredState: swarm.TaskStateRunning,
		Spec: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "friendlyhello:latest", Env: []string{"NAME=World"},
			Labels: map[string]string{"com.docker.stack.namespace": "getstartedlab"}}},
		Status: swarm.TaskStatus{State: swarm.TaskStateRunning, Message: "started"}}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		t := proto
		t.ID = fmt.Sprintf("task%09d", i)
		if err := tasks.Create(ctx, &t); err != nil {
			b.Fatal(err)
		}
		if _, err := tasks.Get(ctx, t.ID); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "put+get/s")
}

// A reconcile loop reads everything once, then relies on Notify: a change
// made right after Notify's first poke, before any other event, must still
// be reported (the watch starts at the revision read before that poke).
func TestNotifyMissesNoChangeAfterItsFirstPoke(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := openStore(t, t.TempDir())
	pokes := make(chan struct{}, 16)
	go s.Nodes().Notify(ctx, func() { pokes <- struct{}{} })
	select {
	case <-pokes:
	case <-time.After(10 * time.Second):
		t.Fatal("no poke when the watch started")
	}
	require.NoError(t, s.Nodes().Create(ctx, &swarm.Node{}))
	select {
	case <-pokes:
	case <-time.After(10 * time.Second):
		t.Fatal("the change after the first poke was not reported")
	}
}

package agent

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/swarm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeRuntime has one running container per task and creates nothing.
type fakeRuntime struct {
	containers map[string]string // task ID → container ID
	pid        int
	created    int
	pulls      []string // "ref auth" of each EnsureImage
	pullErr    error
}

func (f *fakeRuntime) CreateContainer(context.Context, string, *container.CreateRequest) (string, error) {
	f.created++
	return "new", nil
}
func (f *fakeRuntime) StartContainer(context.Context, string) error { return nil }
func (f *fakeRuntime) StopContainer(context.Context, string) error  { return nil }
func (f *fakeRuntime) RemoveContainer(context.Context, string) error {
	return nil
}

func (f *fakeRuntime) WaitContainer(ctx context.Context, _ string) (<-chan container.WaitResponse, error) {
	return make(chan container.WaitResponse), nil // never exits
}

func (f *fakeRuntime) InspectContainer(_ context.Context, id string) (*container.InspectResponse, error) {
	for _, c := range f.containers {
		if c == id {
			return &container.InspectResponse{State: &container.State{Status: container.StateRunning, Running: true, Pid: f.pid}}, nil
		}
	}
	return nil, errdefs.ErrNotFound
}

func (f *fakeRuntime) TaskContainers(context.Context) (map[string]string, error) {
	return f.containers, nil
}
func (f *fakeRuntime) EnsureImage(_ context.Context, ref, auth string) error {
	f.pulls = append(f.pulls, ref+" "+auth)
	return f.pullErr
}

type reports struct {
	mu  sync.Mutex
	got []swarm.TaskStatus
}

func (r *reports) ReportTaskStatus(_ context.Context, _ string, st swarm.TaskStatus) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, st)
	return nil
}

func (r *reports) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// TestAdoptKeepsStatus: after a daemon restart the agent adopts the task's
// running container; a status that still holds is not reported again (its
// timestamp stays), one that changed is.
func TestAdoptKeepsStatus(t *testing.T) {
	spec := swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox"}}
	task := swarm.Task{ID: "t1", ServiceID: "s1", Slot: 1, DesiredState: swarm.TaskStateRunning, Spec: spec,
		Status: swarm.TaskStatus{State: swarm.TaskStateRunning, Timestamp: time.Now().Add(-time.Hour),
			ContainerStatus: &swarm.ContainerStatus{ContainerID: "c1", PID: 42}}}

	for _, tc := range []struct {
		name    string
		pid     int
		reports int
	}{{"as reported", 42, 0}, {"another process", 43, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			rt := &fakeRuntime{containers: map[string]string{"t1": "c1"}, pid: tc.pid}
			rep := &reports{}
			a := New(ctx, "n1", rt, rep, t.TempDir(), nil)
			require.NoError(t, a.Sync(ctx, []Assignment{{Task: task, ServiceName: "web"}}))
			if tc.reports > 0 {
				require.Eventually(t, func() bool { return rep.count() == tc.reports }, 5*time.Second, 10*time.Millisecond)
			}
			cancel()
			a.Wait()
			assert.Equal(t, tc.reports, rep.count())
			assert.Zero(t, rt.created, "the running container is adopted, not replaced")
		})
	}
}

// TestPullUsesServiceAuth: the task's image is pulled with the credentials
// of its assignment, and a refused pull rejects the task with the
// registry's error, which `service ps` shows.
func TestPullUsesServiceAuth(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	spec := swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "127.0.0.1:5000/a/b:1"}}
	task := swarm.Task{ID: "t1", ServiceID: "s1", Slot: 1, DesiredState: swarm.TaskStateRunning, Spec: spec}
	rt := &fakeRuntime{containers: map[string]string{}, pullErr: errdefs.ErrNotFound.WithMessage("pull access denied for 127.0.0.1:5000/a/b")}
	rep := &reports{}
	a := New(ctx, "n1", rt, rep, t.TempDir(), nil)
	require.NoError(t, a.Sync(ctx, []Assignment{{Task: task, ServiceName: "web", RegistryAuth: "ZW5jb2RlZA=="}}))
	require.Eventually(t, func() bool { return rep.count() == 1 }, 5*time.Second, 10*time.Millisecond)
	cancel()
	a.Wait()
	assert.Equal(t, []string{"127.0.0.1:5000/a/b:1 ZW5jb2RlZA=="}, rt.pulls)
	rep.mu.Lock()
	defer rep.mu.Unlock()
	assert.Equal(t, swarm.TaskStateRejected, rep.got[0].State)
	assert.Contains(t, rep.got[0].Err, "pull access denied")
	assert.Zero(t, rt.created)
}

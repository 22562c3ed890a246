package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/swarm"

	"wharf.io/wharf/cluster/orchestrator"
)

// Runtime is what the agent needs from the local engine.
type Runtime interface {
	CreateContainer(ctx context.Context, name string, req *container.CreateRequest) (id string, err error)
	StartContainer(ctx context.Context, id string) error
	// StopContainer stops with the container's own stop signal and timeout.
	StopContainer(ctx context.Context, id string) error
	RemoveContainer(ctx context.Context, id string) error
	// WaitContainer reports the container's next exit (at once if it is
	// not running); registered before it returns.
	WaitContainer(ctx context.Context, id string) (<-chan container.WaitResponse, error)
	InspectContainer(ctx context.Context, id string) (*container.InspectResponse, error)
	// TaskContainers maps task ID → container ID for every task container
	// on this node (found by the com.docker.swarm.task.id label).
	TaskContainers(ctx context.Context) (map[string]string, error)
	// EnsureImage makes ref available locally, pulling it if it is
	// missing with registryAuth (an encoded X-Registry-Auth, "" for none).
	EnsureImage(ctx context.Context, ref, registryAuth string) error
}

// Reporter takes the status of this node's tasks.
type Reporter interface {
	ReportTaskStatus(ctx context.Context, taskID string, status swarm.TaskStatus) error
}

// Agent runs the tasks assigned to one node.
type Agent struct {
	nodeID  string
	rt      Runtime
	report  Reporter
	fileDir string
	log     *slog.Logger

	mu      sync.Mutex
	runners map[string]*runner // by task ID
	ctx     context.Context
	wg      sync.WaitGroup
}

// New makes an agent for node nodeID; task files (secrets, configs) go
// below fileDir. It runs nothing until Sync.
func New(ctx context.Context, nodeID string, rt Runtime, report Reporter, fileDir string, log *slog.Logger) *Agent {
	if log == nil {
		log = slog.Default()
	}
	return &Agent{nodeID: nodeID, rt: rt, report: report, fileDir: fileDir, log: log.With("component", "agent"),
		runners: map[string]*runner{}, ctx: ctx}
}

// runner follows one task's container.
type runner struct {
	id          string
	containerID string
	stop        chan struct{} // closed when the task's desired state passes running
	stopOnce    sync.Once
	done        chan struct{}
}

func (r *runner) requestStop() { r.stopOnce.Do(func() { close(r.stop) }) }

func (r *runner) stopping() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// Sync makes this node run exactly the given assignments: it starts the
// tasks it does not run yet, stops those whose desired state is past
// running, and removes the containers of tasks no longer assigned. It is
// called with the node's full assignment list every time it changes (and
// once after a daemon restart, when running containers are adopted).
func (a *Agent) Sync(ctx context.Context, assignments []Assignment) error {
	existing, err := a.rt.TaskContainers(ctx)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	wanted := map[string]bool{}
	for i := range assignments {
		as := assignments[i]
		t := &as.Task
		wanted[t.ID] = true
		r, ok := a.runners[t.ID]
		wantsRun := t.DesiredState == swarm.TaskStateRunning
		switch {
		case ok && !wantsRun:
			r.requestStop()
		case ok:
		case wantsRun && !orchestrator.Terminal(t.Status.State):
			r = &runner{id: t.ID, containerID: existing[t.ID], stop: make(chan struct{}), done: make(chan struct{})}
			a.runners[t.ID] = r
			a.wg.Add(1)
			go a.run(r, as)
		case !wantsRun && !orchestrator.Terminal(t.Status.State):
			// Asked to stop a task this agent does not follow (it was never
			// started, or the daemon restarted): stop what there is.
			a.wg.Add(1)
			go a.stopUnfollowed(t.ID, existing[t.ID])
		}
	}
	for id, r := range a.runners {
		if !wanted[id] {
			r.requestStop()
			delete(a.runners, id)
			a.wg.Add(1)
			go a.removeAfter(r)
		}
	}
	for id, cid := range existing {
		if !wanted[id] && a.runners[id] == nil {
			a.wg.Add(1)
			go a.remove(id, cid)
		}
	}
	return nil
}

// Wait blocks until every task goroutine has returned (after ctx of New
// ended): containers keep running, the next agent adopts them.
func (a *Agent) Wait() { a.wg.Wait() }

// run takes a task from assigned to its end.
func (a *Agent) run(r *runner, as Assignment) {
	defer a.wg.Done()
	defer close(r.done)
	ctx := a.ctx
	t := &as.Task
	log := a.log.With("task", t.ID)
	adopted := r.containerID != ""

	if r.containerID == "" {
		if r.stopping() {
			a.set(ctx, t.ID, swarm.TaskStatus{State: swarm.TaskStateShutdown, Message: "shutdown"})
			return
		}
		if err := a.rt.EnsureImage(ctx, t.Spec.ContainerSpec.Image, as.RegistryAuth); err != nil {
			a.set(ctx, t.ID, swarm.TaskStatus{State: swarm.TaskStateRejected, Message: "preparing", Err: err.Error()})
			return
		}
		dir := filepath.Join(a.fileDir, t.ID)
		name, req, files, err := containerFor(&as, a.nodeID, dir)
		if err == nil {
			err = writeFiles(dir, files)
		}
		if err != nil {
			a.set(ctx, t.ID, swarm.TaskStatus{State: swarm.TaskStateRejected, Message: "preparing", Err: err.Error()})
			return
		}
		id, err := a.rt.CreateContainer(ctx, name, req)
		if err != nil {
			a.set(ctx, t.ID, swarm.TaskStatus{State: swarm.TaskStateRejected, Message: "preparing", Err: err.Error()})
			return
		}
		a.mu.Lock()
		r.containerID = id
		a.mu.Unlock()
	}
	cid := r.containerID
	info, err := a.rt.InspectContainer(ctx, cid)
	if err != nil {
		a.set(ctx, t.ID, swarm.TaskStatus{State: swarm.TaskStateFailed, Message: "started", Err: err.Error()})
		return
	}
	exited := info.State != nil && info.State.Status == container.StateExited && t.Status.State == swarm.TaskStateRunning
	if exited {
		// It ended while no agent watched (daemon restart).
		a.set(ctx, t.ID, exitStatus(cid, info.State.ExitCode, r.stopping()))
		return
	}
	waitC, err := a.rt.WaitContainer(ctx, cid)
	if err != nil {
		a.set(ctx, t.ID, swarm.TaskStatus{State: swarm.TaskStateFailed, Message: "started", Err: err.Error()})
		return
	}
	if info.State == nil || !info.State.Running {
		if r.stopping() {
			a.set(ctx, t.ID, swarm.TaskStatus{State: swarm.TaskStateShutdown, Message: "shutdown"})
			return
		}
		if err := a.rt.StartContainer(ctx, cid); err != nil {
			a.set(ctx, t.ID, swarm.TaskStatus{State: swarm.TaskStateFailed, Message: "starting",
				Err: "starting container failed: " + err.Error(), ContainerStatus: &swarm.ContainerStatus{ContainerID: cid}})
			return
		}
		if info, err = a.rt.InspectContainer(ctx, cid); err != nil {
			log.Warn("inspect started task container", "err", err)
		}
	}
	st := swarm.TaskStatus{State: swarm.TaskStateRunning, Message: "started", ContainerStatus: &swarm.ContainerStatus{ContainerID: cid}}
	if info != nil && info.State != nil {
		st.ContainerStatus.PID = info.State.Pid
	}
	// A task adopted after a daemon restart, running as reported before:
	// its status stands, with its time ("Running 2 hours ago").
	asReported := adopted && t.Status.State == swarm.TaskStateRunning && t.Status.ContainerStatus != nil &&
		t.Status.ContainerStatus.ContainerID == cid && t.Status.ContainerStatus.PID == st.ContainerStatus.PID
	if !asReported {
		a.set(ctx, t.ID, st)
	}

	stopC := r.stop
	for {
		select {
		case res := <-waitC:
			a.set(ctx, t.ID, exitStatus(cid, int(res.StatusCode), r.stopping()))
			return
		case <-stopC:
			stopC = nil // a nil channel never fires again
			go func() {
				if err := a.rt.StopContainer(ctx, cid); err != nil && !errdefs.IsNotFound(err) {
					log.Warn("stop task container", "err", err)
				}
			}()
		case <-ctx.Done():
			return // the daemon stops; the container keeps running
		}
	}
}

// exitStatus is Docker's report of a task container's exit.
func exitStatus(cid string, code int, stopped bool) swarm.TaskStatus {
	cs := &swarm.ContainerStatus{ContainerID: cid, ExitCode: code}
	switch {
	case stopped:
		return swarm.TaskStatus{State: swarm.TaskStateShutdown, Message: "shutdown", ContainerStatus: cs}
	case code == 0:
		return swarm.TaskStatus{State: swarm.TaskStateComplete, Message: "finished", ContainerStatus: cs}
	default:
		return swarm.TaskStatus{State: swarm.TaskStateFailed, Message: "started",
			Err: fmt.Sprintf("task: non-zero exit (%d)", code), ContainerStatus: cs}
	}
}

func (a *Agent) set(ctx context.Context, taskID string, st swarm.TaskStatus) {
	st.Timestamp = time.Now().UTC()
	if err := a.report.ReportTaskStatus(ctx, taskID, st); err != nil && ctx.Err() == nil {
		a.log.Warn("report task status", "task", taskID, "state", st.State, "err", err)
	}
}

// stopUnfollowed stops a task container no runner follows and reports it.
func (a *Agent) stopUnfollowed(taskID, cid string) {
	defer a.wg.Done()
	st := swarm.TaskStatus{State: swarm.TaskStateShutdown, Message: "shutdown"}
	if cid != "" {
		if err := a.rt.StopContainer(a.ctx, cid); err != nil && !errdefs.IsNotFound(err) {
			a.log.Warn("stop task container", "task", taskID, "err", err)
		}
		st.ContainerStatus = &swarm.ContainerStatus{ContainerID: cid}
		if info, err := a.rt.InspectContainer(a.ctx, cid); err == nil && info.State != nil {
			st.ContainerStatus.ExitCode = info.State.ExitCode
		}
	}
	a.set(a.ctx, taskID, st)
}

// removeAfter removes a forgotten task's container once its runner ended.
func (a *Agent) removeAfter(r *runner) {
	defer a.wg.Done()
	<-r.done
	a.mu.Lock()
	cid := r.containerID
	a.mu.Unlock()
	a.wg.Add(1)
	a.remove(r.id, cid)
}

// remove deletes a task's container and files.
func (a *Agent) remove(taskID, cid string) {
	defer a.wg.Done()
	if cid != "" {
		if err := a.rt.RemoveContainer(a.ctx, cid); err != nil && !errdefs.IsNotFound(err) {
			a.log.Warn("remove task container", "task", taskID, "err", err)
		}
	}
	// The directory holds the task's secrets: a failure to remove them
	// must be seen.
	if err := os.RemoveAll(filepath.Join(a.fileDir, taskID)); err != nil {
		a.log.Warn("remove task files", "task", taskID, "err", err)
	}
}

// writeFiles writes a task's secrets and configs, owned and moded as the
// spec asks.
func writeFiles(dir string, files []fileMount) error {
	if len(files) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, f := range files {
		if err := os.WriteFile(f.Source, f.Data, f.Mode); err != nil {
			return err
		}
		if err := os.Chmod(f.Source, f.Mode); err != nil {
			return err
		}
		if err := os.Chown(f.Source, f.UID, f.GID); err != nil {
			return err
		}
	}
	return nil
}

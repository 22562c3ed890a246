package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"wharf.io/wharf/internal/ids"
	"wharf.io/wharf/runtime/shim"
	"wharf.io/wharf/runtime/spec"
)

// execProcess is one `docker exec` session. Execs live in memory only, as in
// Docker: they do not survive a daemon restart.
type execProcess struct {
	mu          sync.Mutex
	ID          string
	ContainerID string
	Config      container.ExecCreateRequest
	Running     bool
	Started     bool
	ExitCode    *int
	Pid         int
	task        *shim.Task
}

// ExecCreate implements POST /containers/{id}/exec.
func (e *Engine) ExecCreate(ctx context.Context, idOrName string, req *container.ExecCreateRequest) (string, error) {
	if req == nil || len(req.Cmd) == 0 {
		return "", fmt.Errorf("no exec command specified: %w", errdefs.ErrInvalidArgument)
	}
	c, err := e.get(idOrName)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.State.Status == container.StatePaused {
		return "", fmt.Errorf("container %s is paused, unpause the container before exec: %w", c.ID, errdefs.ErrConflict)
	}
	if !c.running() {
		return "", fmt.Errorf("container %s is not running: %w", c.ID, errdefs.ErrConflict)
	}
	x := &execProcess{ID: ids.New(), ContainerID: c.ID, Config: *req}
	e.execMu.Lock()
	e.execs[x.ID] = x
	e.execMu.Unlock()
	c.ExecIDs = append(c.ExecIDs, x.ID)
	e.events.publish(events.ContainerEventType, events.Action("exec_create: "+strings.Join(req.Cmd, " ")), c.ID, e.containerAttrs(c))
	return x.ID, nil
}

func (e *Engine) getExec(id string) (*execProcess, error) {
	e.execMu.Lock()
	defer e.execMu.Unlock()
	if x, ok := e.execs[id]; ok {
		return x, nil
	}
	return nil, fmt.Errorf("No such exec instance: %s: %w", id, errdefs.ErrNotFound)
}

// ExecStart implements POST /exec/{id}/start.
func (e *Engine) ExecStart(ctx context.Context, execID string, detach bool, s AttachStreams) error {
	x, err := e.getExec(execID)
	if err != nil {
		return err
	}
	x.mu.Lock()
	if x.Started {
		x.mu.Unlock()
		return fmt.Errorf("exec %s has already been started: %w", execID, errdefs.ErrConflict)
	}
	x.Started = true
	x.mu.Unlock()
	c, err := e.get(x.ContainerID)
	if err != nil {
		return err
	}
	c.mu.Lock()
	running := c.running()
	c.mu.Unlock()
	if !running {
		return fmt.Errorf("container %s is not running: %w", c.ID, errdefs.ErrConflict)
	}
	proc, err := e.execSpec(c, &x.Config)
	if err != nil {
		return err
	}
	sd := filepath.Join(e.stateDir(c.ID), "exec", execID)
	if err := os.MkdirAll(sd, 0o700); err != nil {
		return err
	}
	rt := e.runtimeFor(c.HostConfig.Runtime)
	bg := context.WithoutCancel(ctx)
	task, err := shim.Create(bg, shim.Config{
		ID:          c.ID,
		StateDir:    sd,
		Runtime:     rt.Binary,
		RuntimeRoot: rt.Root,
		Terminal:    x.Config.Tty,
		OpenStdin:   x.Config.AttachStdin,
		StdinOnce:   true,
		Exec:        proc,
		ShimBinary:  e.cfg.ShimBinary,
	})
	if err != nil {
		os.RemoveAll(sd)
		e.execFailed(x, err)
		return err
	}
	// Resizes may come as soon as the client sees the stream, before the
	// process runs: the shim keeps the size until the pty exists.
	x.mu.Lock()
	x.task = task
	x.mu.Unlock()
	if cs := x.Config.ConsoleSize; cs != nil && x.Config.Tty {
		task.Resize(bg, uint16(cs[1]), uint16(cs[0]))
	}
	var stream func() error
	if !detach {
		var stdin = s.Stdin
		if !x.Config.AttachStdin {
			stdin = nil
		}
		if stream, err = task.OpenAttach(bg, stdin, s.Stdout, s.Stderr); err != nil {
			task.Close()
			os.RemoveAll(sd)
			return err
		}
	}
	if err := task.Start(bg); err != nil {
		task.Close()
		os.RemoveAll(sd)
		e.execFailed(x, err)
		return err
	}
	x.mu.Lock()
	x.Running, x.Pid, x.task = true, task.Pid(), task
	x.mu.Unlock()
	e.events.publish(events.ContainerEventType, events.Action("exec_start: "+strings.Join(x.Config.Cmd, " ")), c.ID, e.containerAttrs(c))
	// The exit is recorded as soon as the process ends, but the connections
	// to the shim are closed only once the attached stream has drained:
	// closing them earlier cuts the stream before the shim's end-of-output
	// frame (docker exec then fails with "connection to shim lost").
	done, drained := make(chan struct{}), make(chan struct{})
	if detach {
		close(drained)
	}
	go func() {
		defer close(done)
		exit, err := task.Wait(context.Background())
		code := exit.Code
		if err != nil {
			code = 126
		}
		x.mu.Lock()
		x.Running, x.ExitCode, x.task = false, &code, nil
		x.mu.Unlock()
		<-drained
		task.Close()
		os.RemoveAll(sd)
		e.events.publish(events.ContainerEventType, events.ActionExecDie, c.ID, map[string]string{"execID": x.ID, "exitCode": fmt.Sprint(code)})
	}()
	if detach {
		return nil
	}
	err = stream()
	close(drained)
	<-done // the exit code must be recorded before the client inspects it
	return err
}

func (e *Engine) execFailed(x *execProcess, err error) {
	code := 126
	if errors.Is(err, shim.ErrCommandNotFound) {
		code = 127
	}
	x.mu.Lock()
	x.task = nil
	x.ExitCode = &code
	x.mu.Unlock()
}

// execSpec derives the exec'd process from the container's own process spec,
// so it gets the same capabilities, rlimits and security settings.
func (e *Engine) execSpec(c *Container, req *container.ExecCreateRequest) (*specs.Process, error) {
	b, err := os.ReadFile(filepath.Join(e.stateDir(c.ID), "config.json"))
	if err != nil {
		return nil, fmt.Errorf("container %s has no runtime spec: %w", c.ID, errdefs.ErrFailedPrecondition)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	p := *s.Process
	p.Args = req.Cmd
	p.Terminal = req.Tty
	p.ConsoleSize = nil
	p.Env = mergeEnv(p.Env, req.Env)
	if req.WorkingDir != "" {
		p.Cwd = req.WorkingDir
	}
	if req.User != "" {
		u, err := spec.ResolveUser(s.Root.Path, req.User)
		if err != nil {
			return nil, err
		}
		p.User = u
	}
	if req.Privileged && p.Capabilities != nil {
		// Privileged execs get the full bounding set the container has.
		p.Capabilities.Effective = p.Capabilities.Bounding
		p.Capabilities.Permitted = p.Capabilities.Bounding
	}
	return &p, nil
}

// ExecInspect implements GET /exec/{id}/json.
func (e *Engine) ExecInspect(ctx context.Context, execID string) (*container.ExecInspectResponse, error) {
	x, err := e.getExec(execID)
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	entry := ""
	var args []string
	if len(x.Config.Cmd) > 0 {
		entry, args = x.Config.Cmd[0], x.Config.Cmd[1:]
	}
	return &container.ExecInspectResponse{
		ID:       x.ID,
		Running:  x.Running,
		ExitCode: x.ExitCode,
		ProcessConfig: &container.ExecProcessConfig{
			Tty: x.Config.Tty, Entrypoint: entry, Arguments: args, Privileged: &x.Config.Privileged, User: x.Config.User,
		},
		OpenStdin:   x.Config.AttachStdin,
		OpenStdout:  x.Config.AttachStdout,
		OpenStderr:  x.Config.AttachStderr,
		ContainerID: x.ContainerID,
		Pid:         x.Pid,
	}, nil
}

// ExecResize implements POST /exec/{id}/resize.
func (e *Engine) ExecResize(ctx context.Context, execID string, height, width uint) error {
	x, err := e.getExec(execID)
	if err != nil {
		return err
	}
	x.mu.Lock()
	t := x.task
	x.mu.Unlock()
	if t == nil {
		return fmt.Errorf("exec %s is not running: %w", execID, errdefs.ErrConflict)
	}
	return t.Resize(ctx, uint16(width), uint16(height))
}

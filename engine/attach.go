package engine

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"wharf.io/wharf/runtime/shim"
)

// pendingAttach is a client attached to a container that has not started
// yet. start connects it to the new task before the process runs, so the
// client sees every byte of output.
type pendingAttach struct {
	streams AttachStreams
	ready   chan func() error // the streaming function, once connected
	failed  chan error
}

// connectPendingAttach hands each waiting client its connection; c.mu held.
func (c *Container) connectPendingAttach(ctx context.Context, t *shim.Task) {
	for _, p := range c.attachQ {
		stream, err := t.OpenAttach(ctx, p.streams.Stdin, p.streams.Stdout, p.streams.Stderr)
		if err != nil {
			p.failed <- err
			continue
		}
		p.ready <- stream
	}
	c.attachQ = nil
}

// failPendingAttach tells waiting clients that the start failed; c.mu held.
func (c *Container) failPendingAttach(err error) {
	for _, p := range c.attachQ {
		p.failed <- err
	}
	c.attachQ = nil
}

// ContainerAttach implements POST /containers/{id}/attach.
func (e *Engine) ContainerAttach(ctx context.Context, idOrName string, s AttachStreams) error {
	c, err := e.get(idOrName)
	if err != nil {
		return err
	}
	if s.Logs {
		if err := s.attached(); err != nil {
			return err
		}
		if err := e.ContainerLogs(ctx, c.ID, LogsOptions{Stdout: s.Stdout != nil, Stderr: s.Stderr != nil, Tail: -1}, s.Stdout, s.Stderr); err != nil {
			return err
		}
	}
	if !s.Stream {
		return nil
	}
	c.mu.Lock()
	if c.task != nil && c.running() {
		t, since, exits := c.task, c.startingAt, c.exits
		c.mu.Unlock()
		stream, err := t.OpenAttach(ctx, s.Stdin, s.Stdout, s.Stderr)
		if err == nil {
			if err = s.attached(); err != nil {
				return err
			}
			err = stream()
		} else if aerr := s.attached(); aerr != nil {
			return aerr
		}
		if err != nil && (errdefs.IsNotFound(err) || errdefs.IsUnavailable(err)) && ctx.Err() == nil {
			// The process finished before this client reached its shim
			// (docker run's attach can lose that race to a fast container):
			// everything it printed is in the log, so replay this run.
			if werr := waitExit(ctx, c, exits); werr != nil {
				return err
			}
			return e.ContainerLogs(ctx, c.ID, LogsOptions{Stdout: s.Stdout != nil, Stderr: s.Stderr != nil, Since: since, Tail: -1}, s.Stdout, s.Stderr)
		}
		return err
	}
	if c.State.Status == container.StateExited && !s.Requested.IsZero() && !c.startingAt.IsZero() && !c.startingAt.Before(s.Requested) {
		// This run started, and already ended, after the client asked to
		// attach (docker run's attach racing a fast container): replay it.
		since := c.startingAt
		c.mu.Unlock()
		if err := s.attached(); err != nil {
			return err
		}
		return e.ContainerLogs(ctx, c.ID, LogsOptions{Stdout: s.Stdout != nil, Stderr: s.Stderr != nil, Since: since, Tail: -1}, s.Stdout, s.Stderr)
	}
	switch c.State.Status {
	case container.StateCreated, container.StateRestarting, container.StateExited:
		// docker run attaches before it starts; `docker start -a` likewise.
	default:
		c.mu.Unlock()
		return fmt.Errorf("you cannot attach to a stopped container, start it first: %w", errdefs.ErrConflict)
	}
	p := &pendingAttach{streams: s, ready: make(chan func() error, 1), failed: make(chan error, 1)}
	c.attachQ = append(c.attachQ, p)
	c.mu.Unlock()
	if err := s.attached(); err != nil {
		c.mu.Lock()
		c.dropPendingAttach(p)
		c.mu.Unlock()
		return err
	}
	select {
	case stream := <-p.ready:
		return stream()
	case err := <-p.failed:
		return err
	case <-ctx.Done():
		c.mu.Lock()
		c.dropPendingAttach(p)
		c.mu.Unlock()
		return ctx.Err()
	}
}

// dropPendingAttach forgets a waiting client; c.mu must be held.
func (c *Container) dropPendingAttach(p *pendingAttach) {
	for i, q := range c.attachQ {
		if q == p {
			c.attachQ = append(c.attachQ[:i], c.attachQ[i+1:]...)
			return
		}
	}
}

// attached tells the caller the attachment is registered (see
// AttachStreams.Attached).
func (s AttachStreams) attached() error {
	if s.Attached == nil {
		return nil
	}
	return s.Attached()
}

// ContainerResize implements POST /containers/{id}/resize.
func (e *Engine) ContainerResize(ctx context.Context, idOrName string, height, width uint) error {
	c, err := e.get(idOrName)
	if err != nil {
		return err
	}
	c.mu.Lock()
	t := c.task
	c.mu.Unlock()
	if t == nil {
		return fmt.Errorf("container %s is not running: %w", c.ID, errdefs.ErrConflict)
	}
	return t.Resize(ctx, uint16(width), uint16(height))
}

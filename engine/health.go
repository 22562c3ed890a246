package engine

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
)

// Docker's healthcheck defaults and limits.
const (
	defaultProbeInterval = 30 * time.Second
	defaultProbeTimeout  = 30 * time.Second
	defaultProbeRetries  = 3
	probeOutputLimit     = 4096 // bytes of a probe's output kept
	healthLogLength      = 5    // results kept in State.Health.Log
)

// healthMonitor runs a container's HEALTHCHECK while it runs. Its fields
// are guarded by the container's mu.
type healthMonitor struct {
	status container.HealthStatus
	streak int
	log    []*container.HealthcheckResult
	cancel context.CancelFunc
}

// probeCommand turns a healthcheck test into the command to exec, or nil
// when the check is disabled.
func probeCommand(hc *container.HealthConfig) []string {
	if hc == nil || len(hc.Test) == 0 {
		return nil
	}
	switch hc.Test[0] {
	case "CMD":
		return hc.Test[1:]
	case "CMD-SHELL":
		return []string{"/bin/sh", "-c", strings.Join(hc.Test[1:], " ")}
	case "NONE":
		return nil
	}
	return hc.Test // docker treats a bare list as CMD
}

// startHealth starts probing a container that just started (or was found
// running after a daemon restart); c.mu must be held.
func (e *Engine) startHealth(c *Container) {
	e.stopHealth(c)
	cmd := probeCommand(c.Config.Healthcheck)
	if cmd == nil {
		c.health = nil
		return
	}
	ctx, cancel := context.WithCancel(e.ctx)
	c.health = &healthMonitor{status: container.Starting, cancel: cancel}
	hc := *c.Config.Healthcheck
	startedAt := c.State.StartedAt
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.probeLoop(ctx, c, &hc, cmd, startedAt)
	}()
}

// stopHealth ends probing (the container stopped); the last results stay
// visible in inspect. c.mu must be held.
func (e *Engine) stopHealth(c *Container) {
	if c.health != nil && c.health.cancel != nil {
		c.health.cancel()
		c.health.cancel = nil
	}
}

func (e *Engine) probeLoop(ctx context.Context, c *Container, hc *container.HealthConfig, cmd []string, startedAt time.Time) {
	interval, timeout, retries := hc.Interval, hc.Timeout, hc.Retries
	if interval <= 0 {
		interval = defaultProbeInterval
	}
	if timeout <= 0 {
		timeout = defaultProbeTimeout
	}
	if retries <= 0 {
		retries = defaultProbeRetries
	}
	// During the start period Docker probes every start interval (when
	// set) and does not count failures.
	first := interval
	if hc.StartInterval > 0 && hc.StartPeriod > 0 {
		first = hc.StartInterval
	}
	timer := time.NewTimer(first)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		res := e.probe(ctx, c, cmd, timeout)
		if ctx.Err() != nil {
			return
		}
		inStart := hc.StartPeriod > 0 && res.Start.Sub(startedAt) < hc.StartPeriod
		c.mu.Lock()
		h := c.health
		if h == nil || h.cancel == nil {
			c.mu.Unlock()
			return
		}
		old := h.status
		h.log = append(h.log, res)
		if len(h.log) > healthLogLength {
			h.log = slices.Delete(h.log, 0, len(h.log)-healthLogLength)
		}
		switch {
		case res.ExitCode == 0:
			h.status, h.streak = container.Healthy, 0
		case inStart && h.status == container.Starting:
			// not counted
		default:
			h.streak++
			if h.streak >= retries {
				h.status = container.Unhealthy
			}
		}
		changed := h.status != old
		if changed {
			c.notify()
		}
		attrs := e.containerAttrs(c)
		status := h.status
		c.mu.Unlock()
		if changed {
			e.events.publish(events.ContainerEventType, events.Action("health_status: "+string(status)), c.ID, attrs)
		}
		next := interval
		if inStart && status == container.Starting && hc.StartInterval > 0 {
			next = hc.StartInterval
		}
		timer.Reset(next)
	}
}

// probe runs the check once as an exec in the container.
func (e *Engine) probe(ctx context.Context, c *Container, cmd []string, timeout time.Duration) *container.HealthcheckResult {
	res := &container.HealthcheckResult{Start: time.Now()}
	out := &limitedBuffer{max: probeOutputLimit}
	id, err := e.ExecCreate(ctx, c.ID, &container.ExecCreateRequest{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		res.End, res.ExitCode, res.Output = time.Now(), -1, err.Error()
		return res
	}
	defer e.forgetExec(c, id)
	done := make(chan error, 1)
	go func() { done <- e.ExecStart(ctx, id, false, AttachStreams{Stdout: out, Stderr: out}) }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err = <-done:
	case <-timer.C:
		if x, xerr := e.getExec(id); xerr == nil {
			x.mu.Lock()
			pid := x.Pid
			x.mu.Unlock()
			if pid > 0 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		<-done
		res.End, res.ExitCode = time.Now(), -1
		res.Output = fmt.Sprintf("Health check exceeded timeout (%s)", timeout)
		return res
	}
	res.End = time.Now()
	res.Output = out.String()
	res.ExitCode = -1
	if x, xerr := e.getExec(id); xerr == nil {
		x.mu.Lock()
		if x.ExitCode != nil {
			res.ExitCode = *x.ExitCode
		}
		x.mu.Unlock()
	}
	if err != nil && res.Output == "" {
		res.Output = err.Error()
	}
	return res
}

// forgetExec drops a probe's exec record: probes run every few seconds for
// the container's whole life, and docker does not list them either.
func (e *Engine) forgetExec(c *Container, id string) {
	e.execMu.Lock()
	delete(e.execs, id)
	e.execMu.Unlock()
	c.mu.Lock()
	c.ExecIDs = slices.DeleteFunc(c.ExecIDs, func(x string) bool { return x == id })
	c.mu.Unlock()
}

// healthState is State.Health for inspect; c.mu must be held.
func (c *Container) healthState() *container.Health {
	if c.health == nil {
		return nil
	}
	return &container.Health{Status: c.health.status, FailingStreak: c.health.streak, Log: slices.Clone(c.health.log)}
}

// healthSuffix is what docker ps appends to "Up …"; c.mu must be held.
func (c *Container) healthSuffix() string {
	if c.health == nil {
		return ""
	}
	switch c.health.status {
	case container.Starting:
		return " (health: starting)"
	case container.Healthy:
		return " (healthy)"
	case container.Unhealthy:
		return " (unhealthy)"
	}
	return ""
}

// healthStatus is the value of docker ps's health filter; c.mu held.
func (c *Container) healthStatus() string {
	if c.health == nil {
		return string(container.NoHealthcheck)
	}
	return string(c.health.status)
}

// limitedBuffer keeps the first max bytes written to it and discards the
// rest, so a chatty probe cannot grow the daemon.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

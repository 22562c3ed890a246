package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"wharf.io/wharf/internal/ids"
	"wharf.io/wharf/runtime/shim"
	"wharf.io/wharf/runtime/spec"
	"wharf.io/wharf/snapshot"
)

// Restart back-off as Docker does it: 100 ms doubling up to a minute, reset
// once a container has run for 10 s.
const (
	backoffMin   = 100 * time.Millisecond
	backoffMax   = time.Minute
	backoffReset = 10 * time.Second
)

const defaultStopTimeout = 10

// ContainerStart implements POST /containers/{id}/start.
func (e *Engine) ContainerStart(ctx context.Context, idOrName string) error {
	c, err := e.get(idOrName)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.State.Status {
	case container.StateRunning:
		return nil
	case container.StatePaused:
		return fmt.Errorf("cannot start a paused container, try unpause instead: %w", errdefs.ErrConflict)
	case container.StateRemoving, container.StateDead:
		return fmt.Errorf("container is marked for removal and cannot be started: %w", errdefs.ErrConflict)
	case container.StateRestarting:
		if c.restartAt != nil {
			c.restartAt.Stop()
			c.restartAt = nil
		}
	}
	c.ManuallyStopped = false
	err = e.start(ctx, c)
	if err != nil && c.HostConfig.AutoRemove {
		// docker run --rm removes a container whose start failed.
		go e.remove(c, true)
	}
	return err
}

// start runs c's process; c.mu must be held. On failure the container is left
// in its previous (not running) state with the error recorded, and everything
// start set up is torn down again.
func (e *Engine) start(ctx context.Context, c *Container) (err error) {
	ctx = context.WithoutCancel(ctx) // the shim must outlive the request
	t0 := time.Now()
	defer func() { e.log.Debug("start", "id", c.ID, "took", time.Since(t0), "err", err) }()
	e.deletes.startBegin()
	defer e.deletes.startEnd()
	sd := e.stateDir(c.ID)
	rootfs := filepath.Join(sd, "rootfs")
	c.awaitRuntimeDelete(e.deletes)
	// The "running" record is written while the runtime works (see below);
	// every later write of the record waits for it.
	var saved chan error
	awaitSaved := func() {
		if saved != nil {
			if err := <-saved; err != nil {
				e.log.Error("persist started container", "id", c.ID, "err", err)
			}
			saved = nil
		}
	}
	defer func() {
		if err != nil {
			awaitSaved()
			e.teardown(c)
			c.State.Error = err.Error()
			if errors.Is(err, shim.ErrCommandNotFound) {
				c.State.ExitCode = 127
			} else if errors.Is(err, shim.ErrCannotInvoke) {
				c.State.ExitCode = 126
			} else {
				c.State.ExitCode = 128
			}
			if c.State.Status == container.StateRestarting {
				c.State.Status = container.StateExited
			}
			e.persist(c)
			c.notify()
			c.failPendingAttach(err)
		}
	}()
	if err := os.MkdirAll(rootfs, 0o711); err != nil {
		return err
	}
	if err := e.ensureEtcFiles(c); err != nil {
		return err
	}
	mounts, err := e.snaps.Mounts(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("rootfs of %s: %w", c.ID, err)
	}
	if err := snapshot.MountAll(mounts, rootfs); err != nil {
		return fmt.Errorf("mount rootfs: %w", err)
	}
	if len(c.HostConfig.PortBindings) > 0 {
		e.awaitNetworkReleases() // ports of a container just removed (see create)
	}
	netns, err := e.attachNetworks(ctx, c)
	if err != nil {
		return err
	}
	s, err := e.buildSpec(c, rootfs, netns)
	if err != nil {
		return err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	// The bundle lives in the runtime state directory and is written anew
	// at every start: nothing to gain from an fsync (~1 ms here), which
	// only matters across a host crash, after which no container runs.
	if err := os.WriteFile(filepath.Join(sd, "config.json"), b, 0o600); err != nil {
		return err
	}
	rt := e.runtimeFor(c.HostConfig.Runtime)
	os.Remove(filepath.Join(sd, "exit.json"))
	c.startingAt = time.Now()
	// Record "running" now, in the background: the commit's two fdatasyncs
	// (1–2 ms here) overlap the ~40 ms runc takes instead of delaying a
	// short-lived container's exit, which waits for this start to finish.
	// A daemon killed in between finds a "running" record and no monitor:
	// it records the container as exited, as for a monitor that died. The
	// pid is known only once the runtime ran; a restored daemon asks the
	// monitor for it.
	prev := c.State
	c.State = state{Status: container.StateRunning, StartedAt: time.Now().UTC()}
	rec, merr := json.Marshal(c)
	c.State = prev
	if merr != nil {
		return merr
	}
	saved = make(chan error, 1)
	go func(ch chan<- error) { ch <- e.putRecord(c.ID, rec) }(saved)
	task, err := shim.Create(ctx, shim.Config{
		ID:          c.ID,
		Bundle:      sd,
		StateDir:    sd,
		Runtime:     rt.Binary,
		RuntimeRoot: rt.Root,
		LogPath:     e.logPath(c.ID),
		Terminal:    c.Config.Tty,
		OpenStdin:   c.Config.OpenStdin,
		StdinOnce:   c.Config.StdinOnce,
		ShimBinary:  e.cfg.ShimBinary,
		CgroupsPath: s.Linux.CgroupsPath,
	})
	if err != nil {
		return err
	}
	// Attach clients that were waiting for this start before the process
	// can print anything (docker run attaches, then starts).
	if cs := c.HostConfig.ConsoleSize; c.Config.Tty && cs[0] > 0 && cs[1] > 0 {
		task.Resize(ctx, uint16(cs[1]), uint16(cs[0]))
	}
	c.connectPendingAttach(ctx, task)
	if err := task.Start(ctx); err != nil {
		task.Close()
		return err
	}
	c.task = task
	c.State = state{Status: container.StateRunning, Pid: task.Pid(), StartedAt: time.Now().UTC()}
	awaitSaved()
	c.notify()
	e.events.publish(events.ContainerEventType, events.ActionStart, c.ID, e.containerAttrs(c))
	e.wg.Add(1)
	go e.monitor(c, task)
	e.startHealth(c)
	return nil
}

// buildSpec turns the container's config into an OCI runtime spec.
func (e *Engine) buildSpec(c *Container, rootfs, netns string) (*specs.Spec, error) {
	user, err := spec.ResolveUser(rootfs, c.Config.User)
	if err != nil {
		return nil, err
	}
	cwd := c.Config.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	if cwd != "/" {
		// Docker creates a missing working directory.
		if err := mkdirInRoot(rootfs, cwd); err != nil {
			return nil, fmt.Errorf("create working directory %s: %w", cwd, err)
		}
	}
	env := c.Config.Env
	if !hasEnv(env, "PATH") {
		env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	}
	if !hasEnv(env, "HOSTNAME") && !c.HostConfig.NetworkMode.IsHost() {
		env = append(env, "HOSTNAME="+c.Config.Hostname)
	}
	if c.Config.Tty && !hasEnv(env, "TERM") {
		env = append(env, "TERM=xterm")
	}
	var mounts []specs.Mount
	for _, f := range []string{"hostname", "hosts", "resolv.conf"} {
		opts := []string{"rbind", "rprivate"}
		if c.HostConfig.ReadonlyRootfs {
			opts = append(opts, "ro")
		}
		mounts = append(mounts, specs.Mount{Destination: "/etc/" + f, Type: "bind", Source: e.containerFile(c.ID, f), Options: opts})
	}
	for _, m := range c.Mounts {
		switch m.Type {
		case mount.TypeTmpfs:
			mounts = append(mounts, specs.Mount{Destination: m.Destination, Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "noexec", "mode=1777"}})
		default:
			opts := []string{"rbind", "rprivate"}
			if !m.RW {
				opts = append(opts, "ro")
			}
			mounts = append(mounts, specs.Mount{Destination: m.Destination, Type: "bind", Source: m.Source, Options: opts})
		}
	}
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	return spec.Generate(spec.Options{
		ID:       c.ID,
		Hostname: c.Config.Hostname,
		Rootfs:   rootfs,
		Process: specs.Process{
			Terminal: c.Config.Tty,
			Args:     append([]string{c.Path}, c.Args...),
			Env:      env,
			Cwd:      cwd,
			User:     user,
		},
		HostConfig:     c.HostConfig,
		Mounts:         mounts,
		HostNetwork:    c.HostConfig.NetworkMode.IsHost(),
		NetNSPath:      netns,
		CgroupsPath:    filepath.Join(e.cfg.CgroupParent, c.ID),
		HostNofileHard: lim.Max,
		StopSignal:     c.Config.StopSignal,
	})
}

// mkdirInRoot creates dir inside rootfs without following symlinks out of it.
func mkdirInRoot(rootfs, dir string) error {
	cur := rootfs
	for _, part := range strings.Split(filepath.Clean("/"+dir), "/") {
		if part == "" {
			continue
		}
		next := filepath.Join(cur, part)
		fi, err := os.Lstat(next)
		switch {
		case err == nil && fi.Mode()&os.ModeSymlink != 0:
			// A symlink could point anywhere on the host: let the runtime,
			// which resolves inside the container's root, deal with it.
			return nil
		case err == nil:
		case os.IsNotExist(err):
			if err := os.Mkdir(next, 0o755); err != nil {
				return err
			}
		default:
			return err
		}
		cur = next
	}
	return nil
}

func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return true
		}
	}
	return false
}

// teardown undoes what start set up: rootfs mount, bundle, network
// endpoints, then runtime state. c.mu must be held. All of it runs in the
// background, off the exit → wait → remove path: unmounting the rootfs alone
// takes 5–8 ms here (the kernel waits out an RCU grace period), and `runc
// delete` is a whole Go program, which even waits for a moment when no
// container starts (runtimedelete.go). A later start, whoever needs the ports
// or the network, and a removal's reclaim wait for their part
// (awaitRuntimeDelete, e.releases, c.released).
func (e *Engine) teardown(c *Container) { e.teardownThen(c, nil) }

// removedTeardownGrace holds an auto-removed container's teardown back a
// little longer after the removal: the client waiting for the removal
// (docker run --rm) still has to read the answer and exit, and unmounting
// (an expedited RCU grace period: IPIs to every CPU) and `runc delete` (a
// whole Go program) competing with it for two CPUs delay it by 3–5 ms here.
const removedTeardownGrace = 10 * time.Millisecond

// teardownThen is teardown held back until after is closed and a grace
// period passed (nil: at once). An auto-removed container's client waits for
// the removal: the teardown competing with it for two CPUs only delays it.
func (e *Engine) teardownThen(c *Container, after <-chan struct{}) {
	rt := e.runtimeFor(c.HostConfig.Runtime)
	done, released := make(chan struct{}), make(chan struct{})
	c.runtimeDeleted, c.released = done, released
	job := newRuntimeDelete(c.ID, rt)
	c.runtimeDelete = job
	releaseNet := e.nets != nil && usesNetNS(c.HostConfig)
	id := c.ID
	finish := e.releases.begin(id)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer close(done)
		if after != nil {
			<-after
			time.Sleep(removedTeardownGrace)
		}
		sd := e.stateDir(id)
		if err := snapshot.Unmount(filepath.Join(sd, "rootfs")); err != nil {
			// Never RemoveAll through a live mount: that would delete the
			// container's files. Leave the directory for the next attempt.
			e.log.Warn("unmount rootfs", "id", id, "err", err)
		} else {
			os.RemoveAll(sd)
		}
		if releaseNet {
			if err := e.nets.Release(context.Background(), id); err != nil {
				e.log.Warn("release network", "id", id, "err", err)
			}
		}
		finish()
		close(released)
		e.deletes.add(job, e.log) // see runtimedelete.go
	}()
}

// awaitRuntimeDelete waits until the runtime has forgotten c's previous run,
// so that the same ID can be created again, hurrying its delete; c.mu must
// be held.
func (c *Container) awaitRuntimeDelete(d *runtimeDeletes) {
	if c.runtimeDeleted != nil {
		if c.runtimeDelete != nil {
			c.runtimeDelete.hurry(d)
		}
		<-c.runtimeDeleted
		c.runtimeDeleted, c.runtimeDelete = nil, nil
	}
}

// monitor waits for the task to exit and records it. When the engine closes
// first it just returns: the shim keeps the container and the next daemon
// picks it up again.
func (e *Engine) monitor(c *Container, t *shim.Task) {
	defer e.wg.Done()
	exit, err := t.Wait(e.ctx)
	if e.ctx.Err() != nil {
		return
	}
	if err != nil {
		e.log.Error("wait for container", "id", c.ID, "err", err)
		exit = shim.Exit{Code: 255, ExitedAt: time.Now()}
		if x, rerr := shim.ReadExit(e.stateDir(c.ID)); rerr == nil {
			exit = x
		}
	}
	e.handleExit(c, t, exit)
}

// handleExit records an exit and applies the restart policy.
func (e *Engine) handleExit(c *Container, t *shim.Task, exit shim.Exit) {
	c.mu.Lock()
	if t != nil && c.task != t {
		c.mu.Unlock()
		return // already handled (e.g. by a forced remove)
	}
	// Attach streams may still be draining the last output from the shim,
	// which closes them itself once everything is sent: just let go.
	c.task = nil
	e.stopHealth(c)
	ran := exit.ExitedAt.Sub(c.State.StartedAt)
	t0 := time.Now()
	removed := make(chan struct{}) // closed once an auto-remove is done
	defer close(removed)
	if c.HostConfig.AutoRemove {
		e.teardownThen(c, removed)
	} else {
		e.teardown(c)
	}
	e.log.Debug("exit: teardown", "id", c.ID, "took", time.Since(t0), "since-exit", time.Since(exit.ExitedAt))
	if exit.ExitedAt.IsZero() {
		exit.ExitedAt = time.Now()
	}
	c.State.Status = container.StateExited
	c.State.Pid = 0
	c.State.ExitCode = exit.Code
	c.State.OOMKilled = exit.OOMKilled
	c.State.FinishedAt = exit.ExitedAt.UTC()
	c.exits++
	attrs := e.containerAttrs(c)
	attrs["exitCode"] = strconv.Itoa(exit.Code)
	e.events.publish(events.ContainerEventType, events.ActionDie, c.ID, attrs)

	restart := e.shouldRestart(c)
	if restart {
		if ran >= backoffReset || c.backoff == 0 {
			c.backoff = backoffMin
		} else {
			c.backoff *= 2
			if c.backoff > backoffMax {
				c.backoff = backoffMax
			}
		}
		c.State.Status = container.StateRestarting
		e.scheduleRestart(c, c.backoff)
	}
	autoRemove := c.HostConfig.AutoRemove && !restart
	// A container about to be auto-removed skips recording its exit: its
	// record is deleted a moment later, and if the daemon dies in between,
	// the next start finds the record still "running" with the process
	// gone, and handles the exit (and the removal) again.
	if !autoRemove {
		if err := e.save(c); err != nil {
			e.log.Error("persist exit", "id", c.ID, "err", err)
		}
	}
	c.notify()
	c.mu.Unlock()
	if autoRemove {
		if err := e.removeAuto(c); err != nil {
			e.log.Error("auto-remove", "id", c.ID, "err", err)
		}
	}
}

// shouldRestart applies the restart policy; c.mu must be held.
func (e *Engine) shouldRestart(c *Container) bool {
	if c.ManuallyStopped || c.removed || c.State.Status == container.StateRemoving {
		return false
	}
	rp := c.HostConfig.RestartPolicy
	switch rp.Name {
	case container.RestartPolicyAlways, container.RestartPolicyUnlessStopped:
		return true
	case container.RestartPolicyOnFailure:
		return c.State.ExitCode != 0 && (rp.MaximumRetryCount == 0 || c.RestartCount < rp.MaximumRetryCount)
	}
	return false
}

// scheduleRestart starts c again after delay; c.mu must be held.
func (e *Engine) scheduleRestart(c *Container, delay time.Duration) {
	if c.restartAt != nil {
		c.restartAt.Stop()
	}
	c.restartAt = time.AfterFunc(delay, func() {
		if e.ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.restartAt = nil
		if c.State.Status != container.StateRestarting || c.ManuallyStopped || c.removed {
			return
		}
		c.RestartCount++
		if err := e.start(e.ctx, c); err != nil {
			e.log.Warn("restart failed", "id", c.ID, "err", err)
		}
	})
}

// parseSignal accepts "TERM", "SIGTERM", "sigterm" or "15".
func parseSignal(s string) (syscall.Signal, error) {
	if s == "" {
		return syscall.SIGTERM, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal: %s: %w", s, errdefs.ErrInvalidArgument)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("invalid signal: %s: %w", s, errdefs.ErrInvalidArgument)
}

// waitExit blocks until c has exited more than `before` times or ctx ends.
func waitExit(ctx context.Context, c *Container, before int) error {
	return c.await(ctx, func() bool { return c.exits > before || c.removed })
}

// ContainerStop implements POST /containers/{id}/stop.
func (e *Engine) ContainerStop(ctx context.Context, idOrName, signal string, timeout *int) error {
	c, err := e.get(idOrName)
	if err != nil {
		return err
	}
	return e.stop(ctx, c, signal, timeout)
}

func (e *Engine) stop(ctx context.Context, c *Container, signal string, timeout *int) error {
	c.mu.Lock()
	c.ManuallyStopped = true
	if c.State.Status == container.StateRestarting {
		if c.restartAt != nil {
			c.restartAt.Stop()
			c.restartAt = nil
		}
		c.State.Status = container.StateExited
		e.persist(c)
		c.notify()
		c.mu.Unlock()
		return nil
	}
	if !c.running() {
		e.persist(c)
		c.mu.Unlock()
		return nil
	}
	e.persist(c)
	if signal == "" {
		signal = c.Config.StopSignal
	}
	secs := defaultStopTimeout
	if c.Config.StopTimeout != nil {
		secs = *c.Config.StopTimeout
	}
	if timeout != nil {
		secs = *timeout
	}
	before := c.exits
	paused := c.State.Status == container.StatePaused
	c.mu.Unlock()
	sig, err := parseSignal(signal)
	if err != nil {
		return err
	}
	rt := e.runtimeFor(c.HostConfig.Runtime)
	if err := rt.Kill(ctx, c.ID, sig, false); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	if paused {
		rt.Resume(ctx, c.ID) // a paused process cannot handle the signal
	}
	if secs >= 0 {
		wctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second)
		err = waitExit(wctx, c, before)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := rt.Kill(ctx, c.ID, syscall.SIGKILL, true); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
	}
	return waitExit(ctx, c, before)
}

// ContainerKill implements POST /containers/{id}/kill.
func (e *Engine) ContainerKill(ctx context.Context, idOrName, signal string) error {
	c, err := e.get(idOrName)
	if err != nil {
		return err
	}
	if signal == "" {
		signal = "KILL"
	}
	sig, err := parseSignal(signal)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if !c.running() {
		c.mu.Unlock()
		return fmt.Errorf("cannot kill container: %s: container %s is not running: %w", idOrName, c.ID, errdefs.ErrConflict)
	}
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM || sig == syscall.SIGINT {
		// Docker treats a kill like a stop: the restart policy no longer applies.
		c.ManuallyStopped = true
		e.persist(c)
	}
	before := c.exits
	c.mu.Unlock()
	if err := e.runtimeFor(c.HostConfig.Runtime).Kill(ctx, c.ID, sig, false); err != nil {
		return err
	}
	if sig == syscall.SIGKILL {
		return waitExit(ctx, c, before)
	}
	return nil
}

// ContainerRestart implements POST /containers/{id}/restart.
func (e *Engine) ContainerRestart(ctx context.Context, idOrName, signal string, timeout *int) error {
	c, err := e.get(idOrName)
	if err != nil {
		return err
	}
	if err := e.stop(ctx, c, signal, timeout); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running() {
		return nil // restarted by its policy meanwhile
	}
	c.ManuallyStopped = false
	e.events.publish(events.ContainerEventType, events.ActionRestart, c.ID, e.containerAttrs(c))
	return e.start(ctx, c)
}

// ContainerPause implements POST /containers/{id}/pause.
func (e *Engine) ContainerPause(ctx context.Context, idOrName string) error {
	return e.setPaused(ctx, idOrName, true)
}

// ContainerUnpause implements POST /containers/{id}/unpause.
func (e *Engine) ContainerUnpause(ctx context.Context, idOrName string) error {
	return e.setPaused(ctx, idOrName, false)
}

func (e *Engine) setPaused(ctx context.Context, idOrName string, pause bool) error {
	c, err := e.get(idOrName)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running() {
		return fmt.Errorf("container %s is not running: %w", c.ID, errdefs.ErrConflict)
	}
	rt := e.runtimeFor(c.HostConfig.Runtime)
	if pause {
		if c.State.Status == container.StatePaused {
			return fmt.Errorf("container %s is already paused: %w", c.ID, errdefs.ErrConflict)
		}
		if err := rt.Pause(ctx, c.ID); err != nil {
			return err
		}
		c.State.Status = container.StatePaused
		e.events.publish(events.ContainerEventType, events.ActionPause, c.ID, e.containerAttrs(c))
	} else {
		if c.State.Status != container.StatePaused {
			return fmt.Errorf("container %s is not paused: %w", c.ID, errdefs.ErrConflict)
		}
		if err := rt.Resume(ctx, c.ID); err != nil {
			return err
		}
		c.State.Status = container.StateRunning
		e.events.publish(events.ContainerEventType, events.ActionUnPause, c.ID, e.containerAttrs(c))
	}
	c.notify()
	return e.save(c)
}

// removeForced removes container id, running or not, for the engine's own
// cleanups (tasks of removed services, their networks): a removal already
// under way — the swarm agent removing the same task — is waited for rather
// than reported as a conflict, and a container already gone is fine.
func (e *Engine) removeForced(ctx context.Context, id string, removeVolumes bool) error {
	err := e.ContainerRemove(ctx, id, true, removeVolumes)
	switch {
	case errdefs.IsNotFound(err):
		return nil
	case errdefs.IsConflict(err):
		c, gerr := e.get(id)
		if gerr != nil {
			return nil // gone meanwhile
		}
		return c.await(ctx, func() bool { return c.removed })
	}
	return err
}

// ContainerRemove implements DELETE /containers/{id}.
func (e *Engine) ContainerRemove(ctx context.Context, idOrName string, force, removeVolumes bool) error {
	c, err := e.get(idOrName)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.State.Status == container.StateRemoving {
		c.mu.Unlock()
		return fmt.Errorf("removal of container %s is already in progress: %w", c.Name, errdefs.ErrConflict)
	}
	if c.running() && !force {
		c.mu.Unlock()
		return fmt.Errorf("cannot remove container \"/%s\": container is running: stop the container before removing or force remove: %w", c.Name, errdefs.ErrConflict)
	}
	c.ManuallyStopped = true
	if c.restartAt != nil {
		c.restartAt.Stop()
		c.restartAt = nil
	}
	running := c.running()
	before := c.exits
	c.mu.Unlock()
	if running {
		rt := e.runtimeFor(c.HostConfig.Runtime)
		if c.State.Status == container.StatePaused {
			rt.Resume(ctx, c.ID)
		}
		if err := rt.Kill(ctx, c.ID, syscall.SIGKILL, true); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
		if err := waitExit(ctx, c, before); err != nil {
			return err
		}
	}
	return e.remove(c, removeVolumes)
}

// remove deletes a stopped container and everything it owns. The record
// goes first, in one commit, and the files after, in the background (see
// reclaim): what the user waits for is the name and the container gone. A
// daemon that dies before the commit still has the container; one that
// dies after it removes the files at its next start (reclaimOrphans), so no
// "removing" state needs recording first.
func (e *Engine) remove(c *Container, removeVolumes bool) error {
	return e.removeThen(c, removeVolumes, false)
}

// removeAuto is remove for a container removed because it exited (run
// --rm). Its waiters (the client of docker run --rm) have their answer
// before the record's deletion is committed, not after its two syncs: a
// daemon that dies in between finds the record at its next start, with the
// process gone, and removes the container again before it serves anything
// (restore), so the removal it answered stands.
func (e *Engine) removeAuto(c *Container) error { return e.removeThen(c, true, true) }

func (e *Engine) removeThen(c *Container, removeVolumes, answerFirst bool) error {
	ctx := context.Background()
	c.mu.Lock()
	if c.removed {
		c.mu.Unlock()
		return nil
	}
	c.State.Status = container.StateRemoving
	c.notify()
	var deleted chan struct{} // closed once the record's deletion is committed
	if answerFirst {
		deleted = make(chan struct{})
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			defer close(deleted)
			if err := e.deleteRecord(c.ID); err != nil {
				e.log.Error("delete record of removed container", "id", c.ID, "err", err)
			}
		}()
	} else if err := e.deleteRecord(c.ID); err != nil {
		c.State.Status = container.StateDead // as docker: removal failed, rm may try again
		c.notify()
		c.mu.Unlock()
		return err
	}
	c.removed = true
	c.notify()
	// The disk is reclaimed once the rootfs is unmounted; the runtime's
	// delete may still wait for a quiet moment (see runtimedelete.go).
	var torndown <-chan struct{} = c.released
	if deleted != nil {
		torndown = both(torndown, deleted)
	}
	e.reclaim(c.ID, torndown)
	mounts := c.Mounts
	c.mu.Unlock()

	e.mu.Lock()
	delete(e.containers, c.ID)
	if e.names[c.Name] == c.ID {
		delete(e.names, c.Name)
	}
	e.mu.Unlock()
	if removeVolumes {
		for _, m := range mounts {
			if m.Type == mount.TypeVolume && e.vols.IsAnonymous(m.Name) && !e.volumeInUse(m.Name) {
				if err := e.vols.Remove(ctx, m.Name); err == nil {
					e.events.publish(events.VolumeEventType, events.ActionDestroy, m.Name, map[string]string{"driver": "local"})
				}
			}
		}
	}
	e.events.publish(events.ContainerEventType, events.ActionDestroy, c.ID, e.containerAttrs(c))
	return nil
}

// ContainerRename implements POST /containers/{id}/rename.
func (e *Engine) ContainerRename(ctx context.Context, idOrName, newName string) error {
	newName = strings.TrimPrefix(newName, "/")
	if newName == "" {
		return fmt.Errorf("Neither old nor new names may be empty: %w", errdefs.ErrInvalidArgument)
	}
	if err := ids.ValidateName(newName); err != nil {
		return err
	}
	c, err := e.get(idOrName)
	if err != nil {
		return err
	}
	e.mu.Lock()
	if other, taken := e.names[newName]; taken {
		e.mu.Unlock()
		if other == c.ID {
			return fmt.Errorf("Renaming a container with the same name as its current name: %w", errdefs.ErrInvalidArgument)
		}
		return fmt.Errorf("Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name: %w", newName, other, errdefs.ErrConflict)
	}
	c.mu.Lock()
	old := c.Name
	c.Name = newName
	if err := e.save(c); err != nil {
		c.Name = old
		c.mu.Unlock()
		e.mu.Unlock()
		return err
	}
	delete(e.names, old)
	e.names[newName] = c.ID
	attrs := e.containerAttrs(c)
	c.mu.Unlock()
	e.mu.Unlock()
	attrs["oldName"] = "/" + old
	e.events.publish(events.ContainerEventType, events.ActionRename, c.ID, attrs)
	return nil
}

// ContainerWait implements POST /containers/{id}/wait.
func (e *Engine) ContainerWait(ctx context.Context, idOrName string, cond container.WaitCondition) (<-chan container.WaitResponse, error) {
	c, err := e.get(idOrName)
	if err != nil {
		return nil, err
	}
	switch cond {
	case "", container.WaitConditionNotRunning, container.WaitConditionNextExit, container.WaitConditionRemoved:
	default:
		return nil, fmt.Errorf("invalid condition: %q: %w", cond, errdefs.ErrInvalidArgument)
	}
	c.mu.Lock()
	before := c.exits
	c.mu.Unlock()
	out := make(chan container.WaitResponse, 1)
	go func() {
		defer close(out)
		var resp container.WaitResponse
		err := c.await(ctx, func() bool {
			var done bool
			switch cond {
			case container.WaitConditionRemoved:
				done = c.removed
			case container.WaitConditionNextExit:
				done = c.exits > before || c.removed
			default:
				done = !c.running() && c.State.Status != container.StateRestarting
			}
			// A failed start is reported by the start request itself; the
			// waiter gets just the exit code, as with Docker.
			resp.StatusCode = int64(c.State.ExitCode)
			return done
		})
		if err == nil {
			out <- resp
		}
	}()
	return out, nil
}

// persist saves c where the caller cannot undo what already happened (the
// process stopped, the runtime was told): a failure is logged, not returned.
// c.mu must be held.
func (e *Engine) persist(c *Container) {
	if err := e.save(c); err != nil {
		e.log.Error("persist container state", "id", c.ID, "err", err)
	}
}

// both is closed once a and b are (a nil channel counts as closed).
func both(a, b <-chan struct{}) <-chan struct{} {
	out := make(chan struct{})
	go func() {
		defer close(out)
		if a != nil {
			<-a
		}
		if b != nil {
			<-b
		}
	}()
	return out
}

package engine

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"wharf.io/wharf/runtime/shim"
)

// restore loads the containers from metadata and reconciles them with what
// happened while no daemon was running: running containers are re-attached
// through their shims; those that exited meanwhile get their exit recorded
// and their restart policy applied.
func (e *Engine) restore(ctx context.Context) error {
	recs, err := e.loadRecords()
	if err != nil {
		return err
	}
	for _, c := range recs {
		e.containers[c.ID] = c
		e.names[c.Name] = c.ID
	}
	e.deleteStaleRuntimeStates(ctx)
	for _, c := range recs {
		switch c.State.Status {
		case container.StateRunning, container.StatePaused:
			t, err := shim.Connect(ctx, e.stateDir(c.ID))
			if err == nil {
				c.task = t
				c.State.Pid = t.Pid() // the record may predate the runtime's answer
				e.wg.Add(1)
				go e.monitor(c, t)
				c.mu.Lock()
				e.startHealth(c)
				c.mu.Unlock()
				continue
			}
			exit, rerr := shim.ReadExit(e.stateDir(c.ID))
			if rerr != nil {
				if !errdefs.IsNotFound(err) {
					e.log.Warn("reconnect to shim", "id", c.ID, "err", err)
				}
				// The monitor vanished without a record (host reboot, kill -9
				// of the shim): report it like Docker reports a lost task.
				exit = shim.Exit{Code: 255, ExitedAt: time.Now()}
			}
			e.handleExit(c, nil, exit)
		case container.StateRestarting:
			c.mu.Lock()
			c.backoff = backoffMin
			e.scheduleRestart(c, backoffMin)
			c.mu.Unlock()
		case container.StateRemoving, container.StateDead:
			if err := e.remove(c, false); err != nil {
				e.log.Warn("finish removal", "id", c.ID, "err", err)
			}
		}
	}
	e.reclaimOrphans(ctx)
	return nil
}

// deleteStaleRuntimeStates deletes the runtime's state of every container
// that was not running: a delete the last daemon still had queued (see
// runtimedelete.go) when it died, which would keep the container from
// starting again.
func (e *Engine) deleteStaleRuntimeStates(ctx context.Context) {
	runtimes, _ := os.ReadDir(filepath.Join(e.cfg.ExecRoot, "runtime"))
	for _, r := range runtimes {
		if !r.IsDir() {
			continue
		}
		rt := e.runtimeFor(r.Name())
		states, _ := os.ReadDir(rt.Root)
		for _, st := range states {
			c := e.containers[st.Name()]
			if !st.IsDir() || c != nil && (c.State.Status == container.StateRunning || c.State.Status == container.StatePaused) {
				continue
			}
			if err := rt.Delete(ctx, st.Name(), true); err != nil && !errdefs.IsNotFound(err) {
				e.log.Warn("delete stale runtime state", "id", st.Name(), "err", err)
			}
		}
	}
}

package orchestrator

import (
	"fmt"
	"time"

	"github.com/moby/moby/api/types/swarm"
)

// update rolls the service's live tasks over to its current spec, batch by
// batch: Parallelism places at a time (0 = all), each batch Delay after the
// previous one reached running; stop-first shuts the old task down and the
// place is refilled once it is gone (fill), start-first starts the new task
// next to the old one and shuts the old one down once the new one runs. New
// tasks that fail within Monitor of their creation count as failures; above
// MaxFailureRatio the FailureAction pauses the update or rolls it back.
func (r *reconciler) update() {
	status := r.in.Service.UpdateStatus
	rollingBack := status != nil && (status.State == swarm.UpdateStateRollbackStarted || status.State == swarm.UpdateStateRollbackPaused)
	cfg := r.in.Service.Spec.UpdateConfig
	if rollingBack {
		cfg = r.in.Service.Spec.RollbackConfig
	}
	c := withDefaults(cfg)

	var dirty []string // places whose only live task runs an old spec
	inFlight := 0
	for _, key := range sortedKeys(r.desired) {
		var old, fresh *swarm.Task
		replacing := false // an old task is stopping; fill makes the new one after
		for _, t := range r.groups[key] {
			if !r.running(t) {
				replacing = replacing || stopping(t) || r.down[t.ID]
				continue
			}
			if r.upToDate(t) {
				fresh = t
			} else {
				old = t
			}
		}
		switch {
		case old != nil && fresh != nil: // start-first in progress
			if fresh.Status.State == swarm.TaskStateRunning {
				r.shutdown(old)
			} else {
				inFlight++
			}
		case old != nil:
			dirty = append(dirty, key)
		case fresh != nil && fresh.Status.State != swarm.TaskStateRunning && r.createdSince(fresh, status):
			inFlight++
		case old == nil && fresh == nil && replacing && status != nil && status.State != swarm.UpdateStateCompleted:
			inFlight++
		}
	}

	// Tasks fill is making right now (a stop-first batch's replacements)
	// are the batch in flight too.
	inFlight += len(r.plan.Create)

	if len(dirty) == 0 {
		if inFlight == 0 && status != nil {
			switch status.State {
			case swarm.UpdateStateUpdating:
				r.setStatus(swarm.UpdateStateCompleted, "update completed")
			case swarm.UpdateStateRollbackStarted:
				r.setStatus(swarm.UpdateStateRollbackCompleted, "rollback completed")
			}
		}
		return
	}
	if status != nil && (status.State == swarm.UpdateStatePaused || status.State == swarm.UpdateStateRollbackPaused) {
		return // until the next update (a new spec resets the status)
	}
	if status == nil || (status.State != swarm.UpdateStateUpdating && !rollingBack) {
		status = r.setStatus(swarm.UpdateStateUpdating, "update in progress")
	}

	if bad, ratio := r.failures(status, c.Monitor); bad != nil && c.FailureAction != swarm.UpdateFailureActionContinue &&
		ratio > float64(c.MaxFailureRatio) {
		why := fmt.Sprintf("due to failure or early termination of task %s", bad.ID)
		switch {
		case c.FailureAction == swarm.UpdateFailureActionRollback && !rollingBack && r.in.Service.PreviousSpec != nil:
			r.setStatus(swarm.UpdateStateRollbackStarted, "update rolled back "+why)
			r.plan.Rollback = true
		case rollingBack:
			r.setStatus(swarm.UpdateStateRollbackPaused, "rollback paused "+why)
		default:
			r.setStatus(swarm.UpdateStatePaused, "update paused "+why)
		}
		return
	}

	budget := len(dirty)
	if c.Parallelism > 0 {
		budget = int(c.Parallelism) - inFlight
	}
	if budget <= 0 {
		return
	}
	if last := r.lastBatch(status); c.Delay > 0 && !last.IsZero() {
		if next := last.Add(c.Delay); next.After(r.in.Now) {
			r.wake(next)
			return
		}
	}
	for _, key := range dirty[:min(budget, len(dirty))] {
		for _, t := range r.groups[key] {
			if !r.running(t) {
				continue
			}
			if c.Order == swarm.UpdateOrderStartFirst {
				r.create(key)
			} else {
				r.shutdown(t) // fill makes the new task once this one is gone
			}
		}
	}
}

// withDefaults fills in Docker's defaults for an update or rollback config.
func withDefaults(cfg *swarm.UpdateConfig) swarm.UpdateConfig {
	c := swarm.UpdateConfig{Parallelism: 1, FailureAction: swarm.UpdateFailureActionPause, Monitor: defaultMonitor, Order: swarm.UpdateOrderStopFirst}
	if cfg == nil {
		return c
	}
	c.Parallelism, c.Delay, c.MaxFailureRatio = cfg.Parallelism, cfg.Delay, cfg.MaxFailureRatio
	if cfg.FailureAction != "" {
		c.FailureAction = cfg.FailureAction
	}
	if cfg.Monitor > 0 {
		c.Monitor = cfg.Monitor
	}
	if cfg.Order != "" {
		c.Order = cfg.Order
	}
	return c
}

// setStatus records a new update status in the plan and returns it.
func (r *reconciler) setStatus(state swarm.UpdateState, msg string) *swarm.UpdateStatus {
	now := r.in.Now
	s := &swarm.UpdateStatus{State: state, Message: msg}
	if old := r.in.Service.UpdateStatus; old != nil && old.StartedAt != nil &&
		state != swarm.UpdateStateUpdating {
		s.StartedAt = old.StartedAt
	} else {
		s.StartedAt = &now
	}
	switch state {
	case swarm.UpdateStateCompleted, swarm.UpdateStateRollbackCompleted:
		s.CompletedAt = &now
	}
	r.plan.UpdateStatus = s
	return s
}

// createdSince reports whether t was made by the update in progress.
func (r *reconciler) createdSince(t *swarm.Task, status *swarm.UpdateStatus) bool {
	return status != nil && status.StartedAt != nil && !t.CreatedAt.Before(*status.StartedAt)
}

// failures finds the update's tasks that died within monitor of their
// creation: the first of them, and their share of the update's tasks.
func (r *reconciler) failures(status *swarm.UpdateStatus, monitor time.Duration) (*swarm.Task, float64) {
	var first *swarm.Task
	bad, total := 0, 0
	for _, key := range sortedKeys(r.groups) {
		for _, t := range r.groups[key] {
			if !r.upToDate(t) || !r.createdSince(t, status) {
				continue
			}
			total++
			if diedOnItsOwn(t) && t.Status.Timestamp.Sub(t.CreatedAt) < monitor {
				bad++
				if first == nil {
					first = t
				}
			}
		}
	}
	if total == 0 {
		return nil, 0
	}
	return first, float64(bad) / float64(total)
}

// lastBatch is when the update last made a task.
func (r *reconciler) lastBatch(status *swarm.UpdateStatus) time.Time {
	var last time.Time
	for _, ts := range r.groups {
		for _, t := range ts {
			if r.upToDate(t) && r.createdSince(t, status) && t.CreatedAt.After(last) {
				last = t.CreatedAt
			}
		}
	}
	return last
}

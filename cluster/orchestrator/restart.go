package orchestrator

import (
	"slices"
	"time"

	"github.com/moby/moby/api/types/swarm"
)

// restartAt says whether a place whose tasks are all dead gets a new one,
// and when. A place that never had a task, or whose last task was shut down
// on purpose, gets one now; a task that died on its own is restarted per
// the restart policy: condition (any, on-failure, none), delay after its
// death, and at most MaxAttempts restarts within Window.
func (r *reconciler) restartAt(tasks []*swarm.Task) (time.Time, bool) {
	var last *swarm.Task
	for _, t := range tasks {
		if last == nil || t.Status.Timestamp.After(last.Status.Timestamp) {
			last = t
		}
	}
	if last == nil || !diedOnItsOwn(last) {
		return r.in.Now, true
	}
	p := r.in.Service.Spec.TaskTemplate.RestartPolicy
	if p == nil {
		p = &swarm.RestartPolicy{}
	}
	switch p.Condition {
	case swarm.RestartPolicyConditionNone:
		return time.Time{}, false
	case swarm.RestartPolicyConditionOnFailure:
		if !failed(last) {
			return time.Time{}, false
		}
	}
	if p.MaxAttempts != nil && *p.MaxAttempts > 0 {
		var window time.Duration
		if p.Window != nil {
			window = *p.Window
		}
		// Every task of the place but its first is a restart; a window
		// counts only the restarts made inside it. (Dead tasks beyond the
		// history limit are forgotten, and their restarts with them.)
		first := slices.MinFunc(tasks, func(a, b *swarm.Task) int { return a.CreatedAt.Compare(b.CreatedAt) })
		var inWindow []time.Time
		for _, t := range tasks {
			if t != first && (window == 0 || r.in.Now.Sub(t.CreatedAt) < window) {
				inWindow = append(inWindow, t.CreatedAt)
			}
		}
		if uint64(len(inWindow)) >= *p.MaxAttempts {
			if window == 0 {
				return time.Time{}, false
			}
			// Try again when the oldest restart leaves the window.
			return slices.MinFunc(inWindow, time.Time.Compare).Add(window), true
		}
	}
	delay := defaultRestartDelay
	if p.Delay != nil {
		delay = *p.Delay
	}
	return last.Status.Timestamp.Add(delay), true
}

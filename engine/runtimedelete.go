package engine

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"wharf.io/wharf/runtime/runc"
)

// A finished container's `runtime delete` (its cgroups and the runtime's
// state) waits until no container is starting. The delete is a whole runtime
// process, mostly Go's start-up; run 10 ms after a container ended it lands
// on the next container's start: back-to-back `run --rm` was 1.3–1.9 ms
// slower with it (600-run A/Bs). A delete runs once no start happened for
// deleteQuiet, after deleteMaxWait at the latest, and at once when a start
// of the same container needs it or the daemon shuts down.
const (
	deleteQuiet   = 100 * time.Millisecond
	deleteMaxWait = 5 * time.Second
)

type runtimeDeletes struct {
	mu        sync.Mutex
	queue     []*runtimeDelete
	wake      chan struct{}
	starting  int       // starts in progress
	lastStart time.Time // when the last start ended
	closed    bool      // the loop has ended: deletes run in their caller
}

type runtimeDelete struct {
	id      string
	rt      *runc.Runtime
	queued  time.Time
	urgent  chan struct{}
	hurried sync.Once
	done    chan struct{}
}

func newRuntimeDeletes() *runtimeDeletes {
	return &runtimeDeletes{wake: make(chan struct{}, 1)}
}

func newRuntimeDelete(id string, rt *runc.Runtime) *runtimeDelete {
	return &runtimeDelete{id: id, rt: rt, urgent: make(chan struct{}), done: make(chan struct{})}
}

// hurry makes the delete run without waiting for a quiet moment.
func (j *runtimeDelete) hurry(d *runtimeDeletes) {
	j.hurried.Do(func() { close(j.urgent) })
	d.kick()
}

func (j *runtimeDelete) run(log *slog.Logger) {
	if err := j.rt.Delete(context.Background(), j.id, true); err != nil && !errdefs.IsNotFound(err) {
		log.Warn("runtime delete", "id", j.id, "err", err)
	}
	close(j.done)
}

func (d *runtimeDeletes) kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// add queues j and waits until it ran.
func (d *runtimeDeletes) add(j *runtimeDelete, log *slog.Logger) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		j.run(log)
		return
	}
	j.queued = time.Now()
	d.queue = append(d.queue, j)
	d.mu.Unlock()
	d.kick()
	<-j.done
}

// startBegin and startEnd bracket a container's start.
func (d *runtimeDeletes) startBegin() {
	d.mu.Lock()
	d.starting++
	d.mu.Unlock()
}

func (d *runtimeDeletes) startEnd() {
	d.mu.Lock()
	d.starting--
	d.lastStart = time.Now()
	d.mu.Unlock()
	d.kick()
}

// loop runs the queued deletes, each when it is due, until ctx ends; then
// it runs what is left and lets later deletes run in their callers.
func (d *runtimeDeletes) loop(ctx context.Context, log *slog.Logger) {
	for {
		j, wait := d.next(ctx.Err() != nil)
		switch {
		case j != nil:
			j.run(log)
			continue
		case wait == 0 && ctx.Err() != nil:
			if d.closeIfEmpty() {
				return
			}
			continue
		case wait == 0:
			wait = deleteMaxWait // nothing queued: a kick or the end wakes us
		}
		t := time.NewTimer(wait)
		select {
		case <-d.wake:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
}

// closeIfEmpty ends the queue if nothing is left in it: later deletes run
// in their callers.
func (d *runtimeDeletes) closeIfEmpty() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = len(d.queue) == 0
	return d.closed
}

func (j *runtimeDelete) isUrgent() bool {
	select {
	case <-j.urgent:
		return true
	default:
		return false
	}
}

// next takes the delete to run now, if one is due: a hurried one first,
// else the oldest once no start happened for deleteQuiet, it waited
// deleteMaxWait, or the daemon is closing. Otherwise it says how long until
// one may be (0: none queued).
func (d *runtimeDeletes) next(closing bool) (*runtimeDelete, time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.queue) == 0 {
		return nil, 0
	}
	pick := slices.IndexFunc(d.queue, (*runtimeDelete).isUrgent)
	now := time.Now()
	quietIn := deleteQuiet - now.Sub(d.lastStart)
	if d.starting > 0 {
		quietIn = deleteQuiet
	}
	maxIn := deleteMaxWait - now.Sub(d.queue[0].queued)
	if pick < 0 && (closing || quietIn <= 0 || maxIn <= 0) {
		pick = 0
	}
	if pick < 0 {
		return nil, max(min(quietIn, maxIn), time.Millisecond)
	}
	j := d.queue[pick]
	d.queue = slices.Delete(d.queue, pick, pick+1)
	return j, 0
}

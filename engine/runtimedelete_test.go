package engine

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wharf.io/wharf/runtime/runc"
)

// fakeRuntime "deletes" with /bin/true: the queue's timing is under test.
var fakeRuntime = &runc.Runtime{Binary: "true"}

func ranWithin(j *runtimeDelete, d time.Duration) bool {
	select {
	case <-j.done:
		return true
	case <-time.After(d):
		return false
	}
}

// runLoop runs a delete queue's loop; stop ends it and waits until it did.
func runLoop(t *testing.T) (d *runtimeDeletes, log *slog.Logger, stop func()) {
	log = slog.New(slog.NewTextHandler(io.Discard, nil))
	d = newRuntimeDeletes()
	ctx, cancel := context.WithCancel(context.Background())
	loopDone := make(chan struct{})
	go func() { d.loop(ctx, log); close(loopDone) }()
	stop = func() { cancel(); <-loopDone }
	t.Cleanup(stop)
	return d, log, stop
}

// ran tells whether j has run, without waiting.
func ran(j *runtimeDelete) bool {
	select {
	case <-j.done:
		return true
	default:
		return false
	}
}

func TestRuntimeDeletesWaitForQuiet(t *testing.T) {
	d, log, _ := runLoop(t)

	// Queued while a container starts: it waits for the start to end and
	// for a quiet moment after it.
	d.startBegin()
	j := newRuntimeDelete("a", fakeRuntime)
	go d.add(j, log)
	assert.False(t, ranWithin(j, 3*deleteQuiet), "a delete ran while a container was starting")
	d.startEnd()
	ended := time.Now()
	require.True(t, ranWithin(j, deleteMaxWait), "the delete never ran")
	assert.GreaterOrEqual(t, time.Since(ended), deleteQuiet-5*time.Millisecond, "the delete did not wait for a quiet moment")

	// A start of the same container hurries it.
	d.startBegin()
	urgent := newRuntimeDelete("b", fakeRuntime)
	go d.add(urgent, log)
	urgent.hurry(d)
	assert.True(t, ranWithin(urgent, deleteQuiet/2), "a hurried delete waited")
	d.startEnd()
}

func TestRuntimeDeletesFlushAtShutdown(t *testing.T) {
	d, log, stop := runLoop(t)
	d.startBegin() // never quiet: only the shutdown lets it run
	j := newRuntimeDelete("a", fakeRuntime)
	go d.add(j, log)
	assert.False(t, ranWithin(j, 2*deleteQuiet))
	stop()
	assert.True(t, ran(j), "shutdown did not run the queued delete")
	// After the loop ended a delete runs in its caller.
	late := newRuntimeDelete("late", fakeRuntime)
	d.add(late, log)
	assert.True(t, ran(late), "a delete added after shutdown did not run in its caller")
}

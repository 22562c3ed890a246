package main

import (
	"os"
	"os/signal"
	"sync"

	"golang.org/x/sys/unix"
)

// reaper is the only place that waits for children. The shim is a child
// subreaper, so the container process reparents to it; waiting for any
// child also reaps the runtime's own processes, so nothing else may call
// wait (we never call os.Process.Wait).
type reaper struct {
	mu     sync.Mutex
	cond   *sync.Cond
	exited map[int]unix.WaitStatus
}

// newReaper must run before the first child starts, or its SIGCHLD is lost.
func newReaper() *reaper {
	r := &reaper{exited: map[int]unix.WaitStatus{}}
	r.cond = sync.NewCond(&r.mu)
	ch := make(chan os.Signal, 16)
	signal.Notify(ch, unix.SIGCHLD)
	go func() {
		for range ch {
			r.reap()
		}
	}()
	return r
}

func (r *reaper) reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		r.mu.Lock()
		r.exited[pid] = ws
		r.cond.Broadcast()
		r.mu.Unlock()
	}
}

// wait blocks until pid has been reaped and returns its status.
func (r *reaper) wait(pid int) unix.WaitStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if ws, ok := r.exited[pid]; ok {
			delete(r.exited, pid)
			return ws
		}
		r.cond.Wait()
	}
}

// exitCode follows the shell: 128+signal for a killed process.
func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

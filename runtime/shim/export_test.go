package shim

import "time"

// SparePid is the pid of l's spare shim; 0 while it has none.
func SparePid(l *Launcher) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.spare == nil {
		return 0
	}
	return l.spare.cmd.Process.Pid
}

// SetSpareIdle changes how long l keeps an unused spare.
func SetSpareIdle(l *Launcher, d time.Duration) { l.idle = d }

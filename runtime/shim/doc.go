// Package shim launches and talks to wharf-shim, the per-process monitor
// that owns a container's init (or one exec'd process), its stdio, its log
// and its exit record, and that outlives the daemon.
//
// Lifecycle: Create starts a shim and returns once the process exists but
// has not run; callers attach (OpenAttach/Attach) and then Start it, so no
// output is lost. Wait reports the exit; Close drops the daemon's side only.
// After a daemon restart Connect finds the shim again, and ReadExit reads
// the record of a process that exited while no daemon was watching.
package shim

// Package snapshot defines how wharf stores layered root filesystems: a
// Snapshotter keeps committed (read-only, shared) and active (writable)
// snapshots and describes each as mounts the caller performs.
package snapshot

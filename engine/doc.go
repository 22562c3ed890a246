// Package engine is the daemon's core: it wires the image, snapshot, volume and
// runtime stores together and owns the container lifecycle (create, start,
// stop, restart policies, exec, logs, events) and its recovery at start-up.
//
// Lock order: Engine.mu (the container and name maps) may be held while
// taking a Container.mu, never the other way round. Engine.execMu and
// the pending trackers' locks guard single maps and may be taken while holding a
// Container.mu; nothing is locked while holding them.
package engine
